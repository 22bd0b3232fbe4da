package netloop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"zkd/internal/zktest"
	"zkd/jute"
	"zkd/netloop"
	"zkd/session"
	"zkd/tlsconf"
)

// pki is a throw-away certificate authority with a server certificate for
// 127.0.0.1 and client certificates signed by it.
type pki struct {
	t      testing.TB
	rnd    *rand.Rand
	serial atomic.Int64
	caKey  *ecdsa.PrivateKey
	ca     *x509.Certificate
	pool   *x509.CertPool
	server tls.Certificate
}

func newPKI(t testing.TB, seed int64) *pki {
	t.Helper()
	p := &pki{t: t, rnd: rand.New(rand.NewSource(seed))}
	p.caKey = p.key()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial.Add(1)), Subject: pkix.Name{CommonName: "zkd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(p.rnd, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.server = p.leaf(pkix.Name{CommonName: "zkd"}, time.Now().Add(24*time.Hour))
	return p
}

func (p *pki) key() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), p.rnd)
	if err != nil {
		p.t.Fatal(err)
	}
	return k
}

// leaf issues a certificate for subject (with IP SAN 127.0.0.1) valid until notAfter.
func (p *pki) leaf(subject pkix.Name, notAfter time.Time) tls.Certificate {
	k := p.key()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial.Add(1)), Subject: subject,
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(p.rnd, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

func (p *pki) serverConfig(auth tls.ClientAuthType) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool, ClientAuth: auth,
		MinVersion: tls.VersionTLS12}
}

// newTLSServer starts a server with both ports; clients' x509 ids are registered.
func newTLSServer(t testing.TB, p *pki, auth tls.ClientAuthType, mutate func(*session.Config, *netloop.Config)) *testServer {
	t.Helper()
	return newServer(t, func(c *session.Config, n *netloop.Config) {
		n.TLSAddr = "127.0.0.1:0"
		n.TLS = p.serverConfig(auth)
		c.Auth.X509 = &tlsconf.X509Provider{}
		c.FourLetterWords = []string{"*"}
		if mutate != nil {
			mutate(c, n)
		}
	})
}

// dialTLS opens a TLS connection with the client certificate cert (none if nil)
// and completes the TLS handshake.
func (s *testServer) dialTLS(t testing.TB, p *pki, cert *tls.Certificate) (*zktest.Client, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	raw, err := net.DialTimeout("tcp", s.tlsAddr, waitLimit)
	if err != nil {
		t.Fatalf("dial %s: %v", s.tlsAddr, err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	_ = raw.SetDeadline(time.Now().Add(waitLimit))
	tc := tls.Client(raw, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return zktest.Wrap(t, tc), nil
}

// connectTLS is connect over TLS.
func (s *testServer) connectTLS(t testing.TB, p *pki, cert *tls.Certificate) *zktest.Client {
	t.Helper()
	c, err := s.dialTLS(t, p, cert)
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	if resp := c.Handshake(30000, 0, nil); resp.SessionID == 0 {
		t.Fatalf("ConnectResponse %+v", resp)
	}
	return c
}

func whoAmI(c *zktest.Client) []jute.ClientInfo {
	c.T.Helper()
	r := call(c, 5, jute.OpWhoAmI, nil)
	var resp jute.WhoAmIResponse
	d := jute.NewDecoder(r.body)
	resp.Decode(&d)
	if r.hdr.Err != jute.CodeOK || d.Err() != nil {
		c.T.Fatalf("whoAmI %+v %v", r.hdr, d.Err())
	}
	return resp.ClientInfo
}

// expectClosed checks that the server closes c: a read error or EOF, never data.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	b := make([]byte, 64)
	n, err := c.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server kept the connection open")
	}
	if n > 0 {
		t.Fatalf("the server answered % x", b[:n])
	}
}

func TestTLSPortServesSessions(t *testing.T) {
	t.Parallel()
	p := newPKI(t, 1)
	s := newTLSServer(t, p, tls.RequireAndVerifyClientCert, nil)
	cert := p.leaf(pkix.Name{CommonName: "app", Organization: []string{"Acme"}}, time.Now().Add(time.Hour))

	c := s.connectTLS(t, p, &cert)
	if r := call(c, 1, jute.OpCreate, &jute.CreateRequest{Path: "/tls", Data: []byte("over tls"), ACL: jute.OpenACLUnsafe}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("create: %+v", r.hdr)
	}
	plain := s.connect(t)
	r := call(plain, 2, jute.OpGetData, &jute.PathWatchRequest{Path: "/tls"})
	var gd jute.GetDataResponse
	d := jute.NewDecoder(r.body)
	gd.Decode(&d)
	if r.hdr.Err != jute.CodeOK || string(gd.Data) != "over tls" {
		t.Fatalf("plain port sees %+v %q", r.hdr, gd.Data)
	}
	got := whoAmI(c)
	if len(got) != 2 || !slices.Contains(got, jute.ClientInfo{AuthScheme: "x509", User: "CN=app,O=Acme"}) {
		t.Fatalf("whoAmI over TLS: %+v", got)
	}
	if ids := whoAmI(plain); len(ids) != 1 {
		t.Fatalf("whoAmI on the plain port: %+v", ids)
	}

	t.Run("four-letter word", func(t *testing.T) {
		c, err := s.dialTLS(t, p, &cert)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("ruok"))
		if got := c.ReadAll(); string(got) != "imok" {
			t.Fatalf("ruok over TLS: %q", got)
		}
	})
	t.Run("pipelined requests under back-pressure", func(t *testing.T) {
		c := s.connectTLS(t, p, &cert)
		const n = 300
		var batch []byte
		for i := 1; i <= n; i++ {
			batch = append(batch, requestFrame(int32(i), jute.OpGetData, &jute.PathWatchRequest{Path: "/tls"})...)
		}
		c.Write(batch)
		for i := 1; i <= n; i++ {
			if r := readReply(c); r.hdr.Xid != int32(i) || r.hdr.Err != jute.CodeOK {
				t.Fatalf("reply %d: %+v", i, r.hdr)
			}
		}
	})
	t.Run("oversize frame", func(t *testing.T) {
		c := s.connectTLS(t, p, &cert)
		c.Write([]byte{0x7f, 0, 0, 0})
		if got := c.ReadAll(); len(got) != 0 {
			t.Fatalf("server answered % x", got)
		}
	})
}

func TestTLSClientCertificates(t *testing.T) {
	t.Parallel()
	p := newPKI(t, 2)
	other := newPKI(t, 3)
	good := p.leaf(pkix.Name{CommonName: "good"}, time.Now().Add(time.Hour))
	expired := p.leaf(pkix.Name{CommonName: "expired"}, time.Now().Add(-time.Hour))
	foreign := other.leaf(pkix.Name{CommonName: "foreign"}, time.Now().Add(time.Hour))

	s := newTLSServer(t, p, tls.RequireAndVerifyClientCert, nil)
	keep := s.connectTLS(t, p, &good)
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
	}{
		{"none", nil},
		{"expired", &expired},
		{"from another CA", &foreign},
	} {
		t.Run("need/"+tc.name, func(t *testing.T) {
			// TLS 1.3 clients finish their half before the server checks the
			// certificate: the refusal then shows on the first read.
			c, err := s.dialTLS(t, p, tc.cert)
			if err == nil {
				c.Write(connectFrame())
				if _, err = readFrameErr(c.NetConn()); err == nil {
					t.Fatal("served a client without a valid certificate")
				}
			}
		})
	}
	if r := call(keep, 9, jute.OpExists, &jute.PathWatchRequest{Path: "/"}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("a good client after the refusals: %+v", r.hdr)
	}
	// The client can see the refusal before the server's loop has counted it.
	zktest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := s.nl.Stats().TLSFailures; n != 3 {
			return fmt.Errorf("TLS failures counted: %d, want 3", n)
		}
		return nil
	})

	t.Run("want", func(t *testing.T) {
		s := newTLSServer(t, p, tls.VerifyClientCertIfGiven, nil)
		anon := s.connectTLS(t, p, nil)
		if got := whoAmI(anon); len(got) != 1 || got[0].AuthScheme != "ip" {
			t.Fatalf("whoAmI without a certificate: %+v", got)
		}
		withCert := s.connectTLS(t, p, &good)
		if got := whoAmI(withCert); len(got) != 2 || !slices.Contains(got, jute.ClientInfo{AuthScheme: "x509", User: "CN=good"}) {
			t.Fatalf("whoAmI with a certificate: %+v", got)
		}
		c, err := s.dialTLS(t, p, &expired)
		if err == nil {
			c.Write(connectFrame())
			if _, err := readFrameErr(c.NetConn()); err == nil {
				t.Fatal("want: an expired certificate was accepted")
			}
		}
	})
	t.Run("no x509 provider", func(t *testing.T) {
		s := newTLSServer(t, p, tls.VerifyClientCertIfGiven, func(c *session.Config, _ *netloop.Config) { c.Auth.X509 = nil })
		c, err := s.dialTLS(t, p, &good)
		if err == nil {
			c.Write(connectFrame())
			if _, err := readFrameErr(c.NetConn()); err == nil {
				t.Fatal("a certificate was accepted without an x509 provider")
			}
		}
		s.connectTLS(t, p, nil) // without a certificate the client is served
	})
}

func TestTLSHandshakeDeadline(t *testing.T) {
	t.Parallel()
	p := newPKI(t, 4)
	const timeout = 300 * time.Millisecond
	s := newTLSServer(t, p, tls.RequireAndVerifyClientCert, func(_ *session.Config, n *netloop.Config) { n.HandshakeTimeout = timeout })
	cert := p.leaf(pkix.Name{CommonName: "c"}, time.Now().Add(time.Hour))

	t.Run("silent", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", s.tlsAddr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		expectClosed(t, c)
	})
	t.Run("half a ClientHello", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", s.tlsAddr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
	})
	t.Run("TLS done, no ConnectRequest", func(t *testing.T) {
		c, err := s.dialTLS(t, p, &cert)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(c.NetConn()); len(got) != 0 || (err != nil && !isReset(err)) {
			t.Fatalf("read %q %v", got, err)
		}
	})
	if n := s.nl.Stats().HandshakeTimeouts; n != 3 {
		t.Errorf("handshake timeouts counted: %d, want 3", n)
	}
	// A session made in time is not touched by the deadline.
	c := s.connectTLS(t, p, &cert)
	time.Sleep(2 * timeout)
	if r := call(c, 1, jute.OpExists, &jute.PathWatchRequest{Path: "/"}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("exists after the deadline: %+v", r.hdr)
	}
}

// maxClientCnxns counts the connections of one address on both ports together,
// and a TLS connection over the limit is closed before its TLS handshake.
func TestMaxClientCnxnsAcrossPorts(t *testing.T) {
	t.Parallel()
	p := newPKI(t, 5)
	s := newTLSServer(t, p, tls.RequireAndVerifyClientCert, func(c *session.Config, _ *netloop.Config) { c.MaxClientCnxns = 2 })
	cert := p.leaf(pkix.Name{CommonName: "c"}, time.Now().Add(time.Hour))
	s.connect(t)
	s.connectTLS(t, p, &cert)
	if _, err := s.dialTLS(t, p, &cert); err == nil {
		t.Fatal("a third connection (TLS) was let through")
	}
	extra := s.dial(t)
	extra.Write(connectFrame())
	if got := extra.ReadAll(); len(got) != 0 {
		t.Fatalf("a third connection (plain) was answered % x", got)
	}
}

// TestTLSStopClosesConnections: Stop ends every TLS connection and returns.
func TestTLSStopClosesConnections(t *testing.T) {
	t.Parallel()
	p := newPKI(t, 6)
	s, stop, err := startServer(func(c *session.Config, n *netloop.Config) {
		n.Addr, n.TLSAddr, n.TLS = "", "127.0.0.1:0", p.serverConfig(tls.NoClientCert)
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.addr != "" {
		t.Fatalf("plain port %s without an address", s.addr)
	}
	c := s.connectTLS(t, p, nil)
	idle, err := net.DialTimeout("tcp", s.tlsAddr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	stop()
	if got := c.ReadAll(); len(got) != 0 {
		t.Fatalf("read % x after Stop", got)
	}
	expectClosed(t, idle)
}

// FuzzTLSFirstBytes writes arbitrary bytes as the opening of a TLS connection
// (a malformed or truncated ClientHello, plain ZooKeeper frames, four-letter
// words) and half-closes. The server must close that connection without
// answering in the clear, and keep serving a client on another connection.
func FuzzTLSFirstBytes(f *testing.F) {
	p := newPKI(f, 7)
	s := newTLSServer(f, p, tls.VerifyClientCertIfGiven, func(c *session.Config, _ *netloop.Config) {
		c.MaxSessionTimeout = 24 * time.Hour
	})
	good := s.connectTLS(f, p, nil)
	_ = good.NetConn().SetDeadline(time.Time{})

	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte{0x16, 0x03, 0x03, 0xff, 0xff})
	f.Add([]byte("ruok"))
	f.Add(connectFrame())
	f.Add([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28})
	f.Add([]byte{0x80, 0x2e, 0x01, 0x03, 0x01}) // an SSLv2-style hello
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			data = data[:1<<14]
		}
		c, err := netDial(s.tlsAddr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		if _, err := c.Write(data); err == nil {
			_ = c.(*net.TCPConn).CloseWrite()
		}
		got, err := io.ReadAll(c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("server kept the connection open (input % x)", data)
		}
		// Anything sent back is a TLS record (an alert or a ServerHello).
		if len(got) > 0 && (got[0] < 0x14 || got[0] > 0x17 || strings.HasPrefix(string(got), "imok")) {
			t.Fatalf("server answered outside TLS: % x", got[:min(len(got), 16)])
		}
		good.T = t
		_ = good.NetConn().SetDeadline(time.Now().Add(waitLimit))
		if r := call(good, jute.XidPing, jute.OpPing, nil); r.hdr.Err != jute.CodeOK {
			t.Fatalf("ping after fuzz input: %+v", r.hdr)
		}
	})
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// netDial opens a plain connection, safe from any goroutine.
func netDial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	return c, nil
}
