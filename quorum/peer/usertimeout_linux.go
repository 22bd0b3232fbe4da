package peer

import (
	"syscall"
	"time"
)

// tcpUserTimeout is Linux's TCP_USER_TIMEOUT socket option (linux/tcp.h),
// which package syscall does not name.
const tcpUserTimeout = 0x12

// setUserTimeout bounds how long data sent on a peer connection may go
// unacknowledged before the kernel drops the connection. Without it a link
// that silently stops delivering (a black-holed network, a peer's machine
// gone) keeps an established stream "up" for as long as TCP retransmits,
// about fifteen minutes, since the few bytes of heartbeats never fill the
// send buffer that WriteTimeout watches; with it the writer sees an error,
// redials, and reaches the member at another of its addresses if it has one.
func setUserTimeout(rc syscall.RawConn, d time.Duration) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(d.Milliseconds()))
	})
	if err != nil {
		return err
	}
	return serr
}
