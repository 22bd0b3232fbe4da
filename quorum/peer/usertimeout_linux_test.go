package peer

import (
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// userTimeoutOf reads a TCP connection's TCP_USER_TIMEOUT.
func userTimeoutOf(c *net.TCPConn) (time.Duration, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var ms int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		ms, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
	}); err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, gerr
}

// Every peer connection, dialed or accepted, gives up on data left
// unacknowledged for WriteTimeout, so that a link that silently stops
// delivering is dropped and redialed, at another address if there is one.
func TestPeerConnectionsBoundUnacknowledgedData(t *testing.T) {
	var mu sync.Mutex
	var seen []time.Duration
	startMembers(t, 2, func(_ uint64, cfg *Config) {
		cfg.WriteTimeout = 3 * time.Second
		cfg.wrapConn = func(_ byte, _ uint64, c net.Conn) net.Conn {
			d, err := userTimeoutOf(c.(*net.TCPConn))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			seen = append(seen, d)
			mu.Unlock()
			return c
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 4 { // each member's stream to the other, from both ends
		t.Fatalf("%d connections seen, want at least 4", len(seen))
	}
	for _, d := range seen {
		if d != 3*time.Second {
			t.Fatalf("TCP_USER_TIMEOUT %v, want 3s: %v", d, seen)
		}
	}
}
