package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serverResult is what the accepting side saw of one handshake.
type serverResult struct {
	state tls.ConnectionState
	err   error
}

// listen starts a TLS listener on loopback that accepts connections until the test
// ends; each accepted connection handshakes, reports, writes "ok" and stays open
// until the client closes it.
func listen(t *testing.T, cfg *tls.Config) (addr string, results <-chan serverResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan serverResult, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				err := tc.Handshake()
				out <- serverResult{state: tc.ConnectionState(), err: err}
				if err != nil {
					return
				}
				if _, err := tc.Write([]byte("ok")); err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, tc)
			}()
		}
	}()
	return ln.Addr().String(), out
}

// dial connects with cfg (or, when m is set, m's client config for host) and
// returns the client's state once the server's "ok" arrived, so a server-side
// refusal that TLS 1.3 reports late is still seen. The connection is closed.
func dial(t *testing.T, addr string, cfg *tls.Config, m *Manager, host string) (tls.ConnectionState, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var tc *tls.Conn
	if m != nil {
		tc = m.Client(raw, host)
	} else {
		tc = tls.Client(raw, cfg)
	}
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(tc, buf); err != nil {
		return tls.ConnectionState{}, err
	}
	return tc.ConnectionState(), nil
}

func waitResult(t *testing.T, ch <-chan serverResult) serverResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no handshake on the server")
	}
	return serverResult{}
}

// goClient is a plain Go TLS client trusting ca, presenting cert (if any).
func goClient(ca *x509.Certificate, cert *tls.Certificate, maxVersion uint16) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: maxVersion, Time: fixedClock}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func TestHandshakeNegotiatesTLS12AndTLS13(t *testing.T) {
	ca := newPKI(t, "ca")
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	cli, _ := ca.issue(leafOpts{cn: "client"})
	m := pemManager(t, Client, srv, ca.cert, nil)
	addr, results := listen(t, m.ServerConfig())
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		st, err := dial(t, addr, goClient(ca.cert, &cli, v), nil, "")
		if err != nil {
			t.Fatalf("%s: %v", tls.VersionName(v), err)
		}
		r := waitResult(t, results)
		if r.err != nil || st.Version != v || r.state.Version != v {
			t.Fatalf("%s: client %s, server %s, err %v", tls.VersionName(v), tls.VersionName(st.Version), tls.VersionName(r.state.Version), r.err)
		}
	}

	// ssl.protocol=TLSv1.2 with no enabled list: a TLS 1.3-only client is refused.
	m12 := pemManager(t, Client, srv, ca.cert, func(c *Config) { c.Protocol = "TLSv1.2" })
	addr12, results12 := listen(t, m12.ServerConfig())
	c13 := goClient(ca.cert, &cli, tls.VersionTLS13)
	c13.MinVersion = tls.VersionTLS13
	if _, err := dial(t, addr12, c13, nil, ""); err == nil {
		t.Fatal("TLS 1.3-only client accepted by a TLSv1.2 server")
	}
	if r := waitResult(t, results12); r.err == nil {
		t.Fatal("server reported success for a version it does not enable")
	}
}

func TestHandshakeCipherSuitesRestrictTLS12(t *testing.T) {
	ca := newPKI(t, "ca")
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	cli, _ := ca.issue(leafOpts{cn: "client"})
	m := pemManager(t, Client, srv, ca.cert, func(c *Config) {
		c.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}
	})
	addr, _ := listen(t, m.ServerConfig())
	st, err := dial(t, addr, goClient(ca.cert, &cli, tls.VersionTLS12), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("negotiated %s", tls.CipherSuiteName(st.CipherSuite))
	}
	c := goClient(ca.cert, &cli, tls.VersionTLS12)
	c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	if _, err := dial(t, addr, c, nil, ""); err == nil {
		t.Fatal("a client without the configured suite was accepted")
	}
}

func TestClientAuthModes(t *testing.T) {
	ca := newPKI(t, "ca")
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	cli, _ := ca.issue(leafOpts{cn: "alice"})
	prov := X509Provider{}
	cases := []struct {
		mode       ClientAuth
		sendCert   bool
		accepted   bool
		wantIdents []ID
	}{
		{Need, true, true, []ID{{"x509", "CN=alice"}}},
		{Need, false, false, nil},
		{Want, true, true, []ID{{"x509", "CN=alice"}}},
		{Want, false, true, nil},
		{None, true, true, nil}, // not requested, so not sent
		{None, false, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String()+map[bool]string{true: "/cert", false: "/nocert"}[tc.sendCert], func(t *testing.T) {
			m := pemManager(t, Client, srv, ca.cert, func(c *Config) { c.ClientAuth = tc.mode })
			addr, results := listen(t, m.ServerConfig())
			var cert *tls.Certificate
			if tc.sendCert {
				cert = &cli
			}
			_, err := dial(t, addr, goClient(ca.cert, cert, 0), nil, "")
			r := waitResult(t, results)
			if tc.accepted != (err == nil && r.err == nil) {
				t.Fatalf("accepted=%v: client err %v, server err %v", tc.accepted, err, r.err)
			}
			if !tc.accepted {
				return
			}
			ids, err := prov.Authenticate(r.state)
			if tc.wantIdents == nil {
				if !errors.Is(err, ErrNoClientCertificate) {
					t.Fatalf("ids %v, err %v; want ErrNoClientCertificate", ids, err)
				}
				return
			}
			if err != nil || len(ids) != len(tc.wantIdents) || ids[0] != tc.wantIdents[0] {
				t.Fatalf("ids %v, err %v; want %v", ids, err, tc.wantIdents)
			}
		})
	}
}

func TestX509SuperUser(t *testing.T) {
	ca := newPKI(t, "ca")
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	admin, _ := ca.issue(leafOpts{cn: "admin"})
	m := pemManager(t, Client, srv, ca.cert, nil)
	addr, results := listen(t, m.ServerConfig())
	if _, err := dial(t, addr, goClient(ca.cert, &admin, 0), nil, ""); err != nil {
		t.Fatal(err)
	}
	r := waitResult(t, results)
	p := X509Provider{SuperUser: "CN=admin"}
	ids, err := p.Authenticate(r.state)
	want := []ID{{"super", "CN=admin"}, {"x509", "CN=admin"}}
	if err != nil || len(ids) != 2 || ids[0] != want[0] || ids[1] != want[1] {
		t.Fatalf("ids %v err %v, want %v", ids, err, want)
	}
	if !p.Matches("CN=admin", "CN=someone") || p.Matches("CN=bob", "CN=someone") || !p.Matches("CN=bob", "CN=bob") {
		t.Fatal("super user must match every x509 ACL, others only their own")
	}
}

func TestExpiredAndNotYetValidCertificatesRefused(t *testing.T) {
	ca := newPKI(t, "ca")
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	expired, _ := ca.issue(leafOpts{cn: "old", notAfter: testNow.Add(-time.Hour)})
	future, _ := ca.issue(leafOpts{cn: "new", notBefore: testNow.Add(time.Hour)})
	m := pemManager(t, Client, srv, ca.cert, nil)
	addr, results := listen(t, m.ServerConfig())
	for _, c := range []tls.Certificate{expired, future} {
		_, err := dial(t, addr, goClient(ca.cert, &c, 0), nil, "")
		r := waitResult(t, results)
		if err == nil || r.err == nil || !strings.Contains(r.err.Error(), "expired or is not yet valid") {
			t.Fatalf("%s accepted: client %v, server %v", c.Leaf.Subject, err, r.err)
		}
	}

	// A peer dialling a server whose certificate has expired refuses it.
	oldSrv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}, notAfter: testNow.Add(-time.Minute)})
	srvM := pemManager(t, Quorum, oldSrv, ca.cert, func(c *Config) { c.ClientAuth = None })
	cliM := pemManager(t, Quorum, srv, ca.cert, nil)
	addr2, _ := listen(t, srvM.ServerConfig())
	if _, err := dial(t, addr2, nil, cliM, "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired server certificate accepted: %v", err)
	}
}

func TestWrongCARefused(t *testing.T) {
	ca, other := newPKI(t, "ca"), newPKI(t, "other ca")
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	stranger, _ := other.issue(leafOpts{cn: "stranger"})
	for _, mode := range []ClientAuth{Need, Want} {
		m := pemManager(t, Client, srv, ca.cert, func(c *Config) { c.ClientAuth = mode })
		addr, results := listen(t, m.ServerConfig())
		// Present the certificate even though the server's CA list does not name its
		// issuer (Go's and Java's clients would otherwise send none).
		c := goClient(ca.cert, nil, 0)
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }
		_, err := dial(t, addr, c, nil, "")
		r := waitResult(t, results)
		if err == nil || r.err == nil {
			t.Fatalf("%v: certificate from an unknown CA accepted (client %v, server %v)", mode, err, r.err)
		}
	}
	// And a server with a certificate from the wrong CA is refused by a peer.
	strangeSrv, _ := other.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	srvM := pemManager(t, Quorum, strangeSrv, other.cert, func(c *Config) { c.ClientAuth = None })
	cliM := pemManager(t, Quorum, srv, ca.cert, nil)
	addr, _ := listen(t, srvM.ServerConfig())
	var uae x509.UnknownAuthorityError
	if _, err := dial(t, addr, nil, cliM, "127.0.0.1"); !errors.As(err, &uae) {
		t.Fatalf("server from the wrong CA: err %v, want UnknownAuthorityError", err)
	}
}

func TestDiallingPeerVerifiesServerHostname(t *testing.T) {
	ca := newPKI(t, "ca")
	peer, _ := ca.issue(leafOpts{cn: "peer", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	cases := []struct {
		name   string
		leaf   leafOpts
		host   string
		verify bool
		ok     bool
	}{
		{"ip SAN matches address", leafOpts{cn: "zk1", ips: []net.IP{net.IPv4(127, 0, 0, 1)}}, "127.0.0.1", true, true},
		{"dns SAN matches dialled name", leafOpts{cn: "zk1", dns: []string{"zk1.example"}}, "zk1.example", true, true},
		{"wildcard SAN", leafOpts{cn: "zk1", dns: []string{"*.example"}}, "zk1.example", true, true},
		{"dns SAN for another host", leafOpts{cn: "zk1", dns: []string{"zk2.example"}}, "zk1.example", true, false},
		{"SANs present: CN ignored", leafOpts{cn: "zk1.example", dns: []string{"zk2.example"}}, "zk1.example", true, false},
		{"no SANs: CN fallback", leafOpts{cn: "zk1.example"}, "zk1.example", true, true},
		{"no SANs: CN is the address", leafOpts{cn: "127.0.0.1"}, "127.0.0.1", true, true},
		{"address only, no reverse lookup", leafOpts{cn: "zk1", dns: []string{"zk1.example"}}, "127.0.0.1", true, false},
		{"verification off", leafOpts{cn: "zk1", dns: []string{"zk2.example"}}, "zk1.example", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := ca.issue(tc.leaf)
			srvM := pemManager(t, Quorum, srv, ca.cert, func(c *Config) { c.ClientAuth = None })
			cliM := pemManager(t, Quorum, peer, ca.cert, func(c *Config) {
				c.HostnameVerification = tc.verify
				c.AllowReverseDNSLookup = false
			})
			addr, _ := listen(t, srvM.ServerConfig())
			_, err := dial(t, addr, nil, cliM, tc.host)
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v, err %v", tc.ok, err)
			}
			if err != nil && !errors.Is(err, ErrHostname) {
				t.Fatalf("err %v is not ErrHostname", err)
			}
		})
	}
}

func TestQuorumServerVerifiesClientHostname(t *testing.T) {
	ca := newPKI(t, "ca")
	srv, _ := ca.issue(leafOpts{cn: "zk1", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	byIP, _ := ca.issue(leafOpts{cn: "zk2", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	byName, _ := ca.issue(leafOpts{cn: "zk2", dns: []string{"zk2.example"}})
	elsewhere, _ := ca.issue(leafOpts{cn: "zk3", ips: []net.IP{net.IPv4(10, 1, 2, 3)}})
	resolve := func(_ context.Context, addr string) ([]string, error) {
		if addr == "127.0.0.1" {
			return []string{"zk2.example."}, nil
		}
		return nil, errors.New("unknown")
	}
	cases := []struct {
		name    string
		family  Family
		client  tls.Certificate
		reverse bool
		ok      bool
	}{
		{"quorum: address SAN", Quorum, byIP, false, true},
		{"quorum: name via reverse lookup", Quorum, byName, true, true},
		{"quorum: name, reverse lookup off", Quorum, byName, false, false},
		{"quorum: other address", Quorum, elsewhere, true, false},
		{"client port never checks", Client, elsewhere, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ks, ts := dir+"/k.pem", dir+"/t.pem"
			writePEMKeyStore(t, ks, srv)
			writeFile(t, ts, pemCert(ca.cert))
			cfg := DefaultConfig(tc.family)
			cfg.KeyStore, cfg.TrustStore = Store{Location: ks}, Store{Location: ts}
			cfg.AllowReverseDNSLookup = tc.reverse
			m, err := NewManager(cfg, Env{Now: fixedClock, Resolve: resolve, Log: discardLog()})
			if err != nil {
				t.Fatal(err)
			}
			addr, results := listen(t, m.ServerConfig())
			_, cerr := dial(t, addr, goClient(ca.cert, &tc.client, 0), nil, "")
			r := waitResult(t, results)
			if tc.ok != (r.err == nil && cerr == nil) {
				t.Fatalf("ok=%v: server %v, client %v", tc.ok, r.err, cerr)
			}
			if r.err != nil && !errors.Is(r.err, ErrHostname) {
				t.Fatalf("server err %v is not ErrHostname", r.err)
			}
		})
	}
}

func TestServerWithoutKeyStoreRefusesHandshakes(t *testing.T) {
	ca := newPKI(t, "ca")
	dir := t.TempDir()
	writeFile(t, dir+"/t.pem", pemCert(ca.cert))
	cfg := DefaultConfig(Client)
	cfg.TrustStore = Store{Location: dir + "/t.pem"}
	m, err := NewManager(cfg, Env{Now: fixedClock, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	addr, results := listen(t, m.ServerConfig())
	if _, err := dial(t, addr, goClient(ca.cert, nil, 0), nil, ""); err == nil {
		t.Fatal("handshake without a server certificate succeeded")
	}
	if r := waitResult(t, results); !errors.Is(r.err, ErrNoCertificate) {
		t.Fatalf("server err %v, want ErrNoCertificate", r.err)
	}
}
