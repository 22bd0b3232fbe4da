//go:build unix

package netloop

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// reserveFD is one descriptor held open (on /dev/null) so that the accept loop
// can tell it is at the limit before accepting; on Linux it then becomes a
// second descriptor of the accepted connection while it is handed over (keep).
// Accept goroutine only.
type reserveFD struct {
	fd     int  // fd+1: 0 when none is held
	socket bool // fd is a connection's socket, not /dev/null (keep)
}

// take opens the reserve descriptor unless it is held.
func (r *reserveFD) take() error {
	if r.fd != 0 {
		return nil
	}
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netloop: open reserve descriptor: %w", err)
	}
	r.fd = fd + 1
	return nil
}

// release closes the reserve descriptor if it is held.
func (r *reserveFD) release() {
	if r.fd != 0 {
		_ = syscall.Close(r.fd - 1)
		r.fd, r.socket = 0, false
	}
}

// maxFDs returns the soft limit on open files, or -1.
func maxFDs() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return -1
	}
	return int64(rl.Cur)
}

// peekByte waits for the first byte of c's input and returns it, leaving it to
// be read; io.EOF if the peer closed first. c's read deadline applies.
func peekByte(c *net.TCPConn) (byte, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		b    [1]byte
		n    int
		rerr error
	)
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		return rerr != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, os.NewSyscallError("recvfrom", rerr)
	case n == 0:
		return 0, io.EOF
	}
	return b[0], nil
}

// setBacklog sets the accept queue's length of a listening socket. Go listens
// with somaxconn and has no option for it; listening again on a listening
// socket only changes its backlog (Linux and the BSDs alike).
func setBacklog(ln *net.TCPListener, backlog int) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), backlog) }); err != nil {
		return err
	}
	return lerr
}
