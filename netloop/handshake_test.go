package netloop_test

import (
	"testing"
	"time"

	"zkd/internal/zktest"
	"zkd/jute"
	"zkd/netloop"
	"zkd/session"
)

// Connections that never complete a handshake, silent or trickling it one byte at
// a time, are closed at the handshake deadline and counted, freeing their
// maxClientCnxns slots; a connection whose handshake completed in time stays.
func TestHandshakeDeadlineClosesSilentAndTricklingConnections(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	s := newServer(t, func(c *session.Config, n *netloop.Config) {
		c.MaxClientCnxns = 5
		n.HandshakeTimeout = timeout
	})
	good := s.connect(t)
	var silent []*zktest.Client
	for range 3 {
		silent = append(silent, s.dial(t))
	}
	trickler := s.dial(t)
	trickled := make(chan int, 1) // bytes written before the server closed it
	go func() {
		n := 0
		for _, b := range connectFrame() {
			if err := trickler.Raw().Write([]byte{b}); err != nil {
				break
			}
			n++
			time.Sleep(timeout / 10)
		}
		trickled <- n
	}()
	checkConns(t, s, 5)
	// All five slots of 127.0.0.1 are taken: a sixth connection is refused.
	if got := s.dial(t).ReadAll(); len(got) != 0 {
		t.Fatalf("sixth connection over maxClientCnxns=5 got % x", got)
	}

	for i, c := range silent {
		if got := c.ReadAll(); len(got) != 0 {
			t.Fatalf("silent connection %d got % x", i, got)
		}
	}
	if got := trickler.ReadAll(); len(got) != 0 {
		t.Fatalf("trickled handshake was answered: % x", got)
	}
	if n, total := <-trickled, len(connectFrame()); n >= total {
		t.Fatalf("the trickler wrote its whole %d-byte ConnectRequest before being closed", total)
	}
	checkConns(t, s, 1)
	if got := s.nl.Stats().HandshakeTimeouts; got != 4 {
		t.Errorf("netloop counted %d handshake timeouts, want 4", got)
	}
	if got := s.sess.NetStats().HandshakeTimeouts; got != 4 {
		t.Errorf("session counted %d handshake timeouts, want 4", got)
	}
	for _, st := range s.sess.Monitor() {
		if st.Key == "sessionless_connections_expired" && st.Value != int64(4) {
			t.Errorf("mntr sessionless_connections_expired = %v, want 4", st.Value)
		}
	}
	// The slots are free again, and the established session was left alone.
	s.connect(t)
	if r := call(good, jute.XidPing, jute.OpPing, nil); r.hdr.Err != 0 {
		t.Fatalf("ping on the established session: %+v", r.hdr)
	}
}

// A four-letter word or a ConnectRequest that comes in time completes the
// exchange, and the deadline never closes a connection that did.
func TestHandshakeDeadlineLeavesCompletedExchangesAlone(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	s := newServer(t, func(_ *session.Config, n *netloop.Config) { n.HandshakeTimeout = timeout })
	for range 3 {
		c := s.dial(t)
		time.Sleep(timeout / 5)
		c.Write([]byte("srvr"))
		if got := c.ReadAll(); len(got) == 0 {
			t.Fatal("srvr not answered")
		}
	}
	sessions := make([]*zktest.Client, 5)
	for i := range sessions {
		sessions[i] = s.connect(t)
	}
	// Wait out several deadlines (an absence cannot be polled for): nothing that
	// completed its handshake is closed.
	time.Sleep(3 * timeout)
	for i, c := range sessions {
		if r := call(c, jute.XidPing, jute.OpPing, nil); r.hdr.Err != 0 {
			t.Fatalf("session %d: ping %+v", i, r.hdr)
		}
	}
	if got := s.nl.Stats().HandshakeTimeouts; got != 0 {
		t.Fatalf("HandshakeTimeouts = %d, want 0", got)
	}
}
