package netloop_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"zkd/internal/zktest"
	"zkd/jute"
	"zkd/netloop"
	"zkd/session"
	"zkd/tlsconf"
)

// newUnifiedServer starts a server whose plain port takes TLS clients too, and
// returns it twice: as it is, and with its TLS dialer aimed at the plain port.
func newUnifiedServer(t *testing.T, p *pki, timeout time.Duration) (plain, viaTLS *testServer) {
	t.Helper()
	s := newServer(t, func(c *session.Config, n *netloop.Config) {
		n.TLS, n.Unified, n.HandshakeTimeout = p.serverConfig(tls.VerifyClientCertIfGiven), true, timeout
		c.Auth.X509 = &tlsconf.X509Provider{}
		c.FourLetterWords = []string{"*"}
	})
	if s.tlsAddr != "" {
		t.Fatalf("a TLS port %s was opened", s.tlsAddr)
	}
	u := *s
	u.tlsAddr = s.addr
	return s, &u
}

// One port serves plain and TLS clients alike, sessions and four-letter words,
// a TLS client with its certificate's id.
func TestUnifiedPortServesPlainAndTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t, 8)
	s, u := newUnifiedServer(t, p, netloop.DefaultHandshakeTimeout)
	cert := p.leaf(pkix.Name{CommonName: "app"}, time.Now().Add(time.Hour))

	c := u.connectTLS(t, p, &cert)
	if r := call(c, 1, jute.OpCreate, &jute.CreateRequest{Path: "/u", Data: []byte("over tls"), ACL: jute.OpenACLUnsafe}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("create over TLS: %+v", r.hdr)
	}
	if got := whoAmI(c); len(got) != 2 || !slices.Contains(got, jute.ClientInfo{AuthScheme: "x509", User: "CN=app"}) {
		t.Fatalf("whoAmI over TLS: %+v", got)
	}
	plain := s.connect(t)
	if data, _ := plain.GetData("/u"); string(data) != "over tls" {
		t.Fatalf("the plain client reads %q", data)
	}
	if got := whoAmI(plain); len(got) != 1 {
		t.Fatalf("whoAmI in the clear: %+v", got)
	}
	for _, tc := range []struct {
		name string
		dial func() net.Conn
	}{
		{"plain", func() net.Conn { return s.dial(t).NetConn() }},
		{"tls", func() net.Conn {
			c, err := u.dialTLS(t, p, nil)
			if err != nil {
				t.Fatalf("TLS handshake without a certificate: %v", err)
			}
			return c.NetConn()
		}},
	} {
		t.Run("ruok "+tc.name, func(t *testing.T) {
			c := tc.dial()
			if _, err := c.Write([]byte("ruok")); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(waitLimit))
			b := make([]byte, 16)
			n, _ := c.Read(b)
			if string(b[:n]) != "imok" {
				t.Fatalf("ruok answered %q", b[:n])
			}
		})
	}
	// The byte that decides is only looked at: a plain client whose
	// ConnectRequest comes in two pieces still gets its session.
	t.Run("split ConnectRequest", func(t *testing.T) {
		c := s.dial(t)
		frame := connectFrame()
		c.Write(frame[:1])
		time.Sleep(20 * time.Millisecond)
		c.Write(frame[1:])
		var resp jute.ConnectResponse
		d := jute.NewDecoder(c.ReadFrame())
		resp.Decode(&d)
		if d.Err() != nil || resp.SessionID == 0 || resp.TimeOut != 30000 {
			t.Fatalf("ConnectResponse %+v %v", resp, d.Err())
		}
	})
}

// A connection that sends nothing is closed at the handshake deadline and
// counted; one that is gone before its first byte costs nothing; Stop closes
// one still waiting.
func TestUnifiedPortDeadlineAndStop(t *testing.T) {
	t.Parallel()
	p := newPKI(t, 9)
	s, _ := newUnifiedServer(t, p, 300*time.Millisecond)
	silent, err := net.DialTimeout("tcp", s.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	expectClosed(t, silent)
	if n := s.nl.Stats().HandshakeTimeouts; n != 1 {
		t.Errorf("handshake timeouts counted: %d, want 1", n)
	}
	gone, err := net.DialTimeout("tcp", s.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	_ = gone.Close()
	if c := s.connect(t); c.SessionID() == 0 {
		t.Fatal("no session after a connection closed unheard")
	}

	w, stop, err := startServer(func(c *session.Config, n *netloop.Config) {
		n.TLS, n.Unified = p.serverConfig(tls.NoClientCert), true
	})
	if err != nil {
		t.Fatal(err)
	}
	idle, err := net.DialTimeout("tcp", w.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(20 * time.Millisecond) // accepted, waiting for its first byte
	stop()
	expectClosed(t, idle)
}

func TestUnifiedPortNeedsTLS(t *testing.T) {
	cfg := netloop.DefaultConfig()
	cfg.Unified = true
	if err := cfg.Validate(); err == nil {
		t.Fatal("port unification without a TLS configuration accepted")
	}
}

// maxCnxns bounds each port's connections, as ZooKeeper's does per connection
// factory: a connection over it is closed at once and counted as rejected; a
// closed connection frees its place; the TLS port has its own count.
func TestMaxConnsPerPort(t *testing.T) {
	t.Parallel()
	p := newPKI(t, 10)
	s := newTLSServer(t, p, tls.NoClientCert, func(_ *session.Config, n *netloop.Config) { n.MaxConns = 2 })
	a, b := s.connect(t), s.connect(t)
	extra := s.dial(t)
	extra.Write(connectFrame())
	if got := extra.ReadAll(); len(got) != 0 {
		t.Fatalf("a third plain connection was answered % x", got)
	}
	s.connectTLS(t, p, nil)
	s.connectTLS(t, p, nil)
	if _, err := s.dialTLS(t, p, nil); err == nil {
		t.Fatal("a third TLS connection was let through")
	}
	// Once one closes, another gets in (the server notices the close a moment
	// later, hence the retries).
	a.Close()
	zktest.CheckFor(t, waitLimit, 10*time.Millisecond, func() error {
		c, err := net.DialTimeout("tcp", s.addr, waitLimit)
		if err != nil {
			return err
		}
		defer c.Close()
		_, _ = c.Write([]byte("ruok"))
		_ = c.SetReadDeadline(time.Now().Add(waitLimit))
		buf := make([]byte, 4)
		if n, _ := c.Read(buf); string(buf[:n]) != "imok" {
			return fmt.Errorf("ruok answered %q", buf[:n])
		}
		return nil
	})
	if r := call(b, 1, jute.OpExists, &jute.PathWatchRequest{Path: "/"}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("the session within the limit: %+v", r.hdr)
	}
}
