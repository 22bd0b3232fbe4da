package netloop_test

import (
	"crypto/tls"
	"net"
	"testing"

	"zkd/internal/zktest"
	"zkd/netloop"
	"zkd/session"
)

// ListenBacklog applies to both ports, as ZooKeeper's clientPortListenBacklog
// does to each connection factory's socket.
func TestListenBacklogOnEachPort(t *testing.T) {
	t.Parallel()
	s := newTLSServer(t, newPKI(t, 10), tls.NoClientCert, func(_ *session.Config, n *netloop.Config) { n.ListenBacklog = 9 })
	for _, addr := range []string{s.addr, s.tlsAddr} {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		p, err := net.LookupPort("tcp", port)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := zktest.ListenBacklog(p); err != nil || got != 9 {
			t.Fatalf("%s: backlog %d (%v), want 9", addr, got, err)
		}
	}
}
