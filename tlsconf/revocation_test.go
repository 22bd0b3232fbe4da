package tlsconf

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// revocationService serves a CA's CRL at /ca.crl and answers OCSP at /ocsp,
// on loopback, as the CA says at the moment of each request.
type revocationService struct {
	t   *testing.T
	ca  *pki
	url string

	mu          sync.Mutex
	revoked     []*big.Int
	unknown     map[string]bool // OCSP answers "unknown" for these serials
	crlOverride []byte          // served instead of the CA's CRL when set
	crlFetches  atomic.Int64
}

func newRevocationService(t *testing.T, ca *pki) *revocationService {
	rs := &revocationService{t: t, ca: ca, unknown: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ca.crl", func(w http.ResponseWriter, _ *http.Request) {
		rs.crlFetches.Add(1)
		rs.mu.Lock()
		der := rs.crlOverride
		rs.mu.Unlock()
		if der == nil {
			der = rs.crl(testNow.Add(-time.Hour), testNow.Add(24*time.Hour))
		}
		_, _ = w.Write(der)
	})
	mux.HandleFunc("/ocsp", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: testNow.Add(-time.Minute), NextUpdate: testNow.Add(time.Hour)}
		rs.mu.Lock()
		for _, s := range rs.revoked {
			if s.Cmp(req.SerialNumber) == 0 {
				tmpl.Status, tmpl.RevokedAt = ocsp.Revoked, testNow.Add(-time.Hour)
			}
		}
		if rs.unknown[req.SerialNumber.String()] {
			tmpl.Status = ocsp.Unknown
		}
		rs.mu.Unlock()
		resp, err := ocsp.CreateResponse(ca.cert, ca.cert, tmpl, ca.key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(resp)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rs.url = srv.URL
	return rs
}

// crl is the CA's CRL listing the revoked serials.
func (rs *revocationService) crl(thisUpdate, nextUpdate time.Time) []byte {
	rs.t.Helper()
	rs.mu.Lock()
	var entries []x509.RevocationListEntry
	for _, s := range rs.revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: testNow.Add(-time.Hour)})
	}
	rs.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: thisUpdate, NextUpdate: nextUpdate, RevokedCertificateEntries: entries}, rs.ca.cert, rs.ca.key)
	if err != nil {
		rs.t.Fatal(err)
	}
	return der
}

func (rs *revocationService) revoke(c tls.Certificate) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.revoked = append(rs.revoked, c.Leaf.SerialNumber)
}

// clientCertChecked handshakes a Go client presenting cert with a server of m;
// it returns the server's error.
func clientCertChecked(t *testing.T, m *Manager, ca *pki, cert tls.Certificate) error {
	t.Helper()
	addr, results := listen(t, m.ServerConfig())
	_, _ = dial(t, addr, goClient(ca.cert, &cert, 0), nil, "")
	return waitResult(t, results).err
}

// TestCRLChecking: with ssl.crl the server refuses a client certificate its CA's
// CRL lists, and one whose status it cannot find, as the JDK's PKIX checker does
// with ZooKeeper's settings; a dialing member refuses a revoked server likewise.
func TestCRLChecking(t *testing.T) {
	ca := newPKI(t, "ca")
	rs := newRevocationService(t, ca)
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}, crl: []string{rs.url + "/ca.crl"}})
	good, _ := ca.issue(leafOpts{cn: "good", crl: []string{rs.url + "/ca.crl"}})
	bad, _ := ca.issue(leafOpts{cn: "revoked", crl: []string{rs.url + "/ca.crl"}})
	noDP, _ := ca.issue(leafOpts{cn: "no distribution point"})
	unreachable, _ := ca.issue(leafOpts{cn: "unreachable", crl: []string{"http://127.0.0.1:1/ca.crl"}})
	rs.revoke(bad)
	m := pemManager(t, Client, srv, ca.cert, func(c *Config) { c.ClientAuth, c.CRL = Need, true })

	for _, tc := range []struct {
		name string
		cert tls.Certificate
		want error
	}{
		{"not revoked", good, nil},
		{"revoked", bad, ErrRevoked},
		{"no distribution point", noDP, ErrRevocationUnknown},
		{"distribution point down", unreachable, ErrRevocationUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := clientCertChecked(t, m, ca, tc.cert); !errors.Is(err, tc.want) {
				t.Fatalf("server err %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("without ssl.crl", func(t *testing.T) {
		plain := pemManager(t, Client, srv, ca.cert, func(c *Config) { c.ClientAuth = Need })
		if err := clientCertChecked(t, plain, ca, bad); err != nil {
			t.Fatalf("server err %v", err)
		}
	})
	for _, tc := range []struct {
		name string
		crl  func() []byte
	}{
		{"CRL out of date", func() []byte { return rs.crl(testNow.Add(-48*time.Hour), testNow.Add(-24*time.Hour)) }},
		{"CRL of another CA", func() []byte {
			other := newPKI(t, "other")
			return (&revocationService{t: t, ca: other}).crl(testNow.Add(-time.Hour), testNow.Add(time.Hour))
		}},
		{"not a CRL", func() []byte { return []byte("<html>maintenance</html>") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			override := tc.crl()
			rs.mu.Lock()
			rs.crlOverride = override
			rs.mu.Unlock()
			defer func() { rs.mu.Lock(); rs.crlOverride = nil; rs.mu.Unlock() }()
			fresh := pemManager(t, Client, srv, ca.cert, func(c *Config) { c.ClientAuth, c.CRL = Need, true })
			if err := clientCertChecked(t, fresh, ca, good); !errors.Is(err, ErrRevocationUnknown) {
				t.Fatalf("server err %v, want ErrRevocationUnknown", err)
			}
		})
	}
	t.Run("a CRL in a PEM file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ca.crl.pem")
		writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: rs.crl(testNow.Add(-time.Hour), testNow.Add(time.Hour))}))
		fileGood, _ := ca.issue(leafOpts{cn: "file good", crl: []string{"file://" + path}})
		fileBad, _ := ca.issue(leafOpts{cn: "file revoked", crl: []string{"file://" + path}})
		rs.revoke(fileBad)
		writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: rs.crl(testNow.Add(-time.Hour), testNow.Add(time.Hour))}))
		if err := clientCertChecked(t, m, ca, fileGood); err != nil {
			t.Fatalf("not revoked: %v", err)
		}
		if err := clientCertChecked(t, m, ca, fileBad); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked: %v", err)
		}
	})
	t.Run("a dialing member checks the server", func(t *testing.T) {
		revokedSrv, _ := ca.issue(leafOpts{cn: "revoked server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}, crl: []string{rs.url + "/ca.crl"}})
		rs.revoke(revokedSrv)
		peer, _ := ca.issue(leafOpts{cn: "peer", ips: []net.IP{net.IPv4(127, 0, 0, 1)}, crl: []string{rs.url + "/ca.crl"}})
		cli := pemManager(t, Quorum, peer, ca.cert, func(c *Config) { c.CRL = true })
		for _, tc := range []struct {
			leaf tls.Certificate
			want error
		}{{srv, nil}, {revokedSrv, ErrRevoked}} {
			srvM := pemManager(t, Quorum, tc.leaf, ca.cert, func(c *Config) { c.ClientAuth = None })
			addr, _ := listen(t, srvM.ServerConfig())
			if _, err := dial(t, addr, nil, cli, "127.0.0.1"); !errors.Is(err, tc.want) {
				t.Fatalf("server %s: err %v, want %v", tc.leaf.Leaf.Subject, err, tc.want)
			}
		}
	})
}

// TestCRLFetchedAgainAfterItsRecheck: a fetched CRL serves 30 s of handshakes,
// as the JDK's cached CRL does; a revocation is seen once that has passed.
func TestCRLFetchedAgainAfterItsRecheck(t *testing.T) {
	ca := newPKI(t, "ca")
	rs := newRevocationService(t, ca)
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	cli, _ := ca.issue(leafOpts{cn: "client", crl: []string{rs.url + "/ca.crl"}})
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	dir := t.TempDir()
	writePEMKeyStore(t, filepath.Join(dir, "key.pem"), srv)
	writeFile(t, filepath.Join(dir, "trust.pem"), pemCert(ca.cert))
	cfg := DefaultConfig(Client)
	cfg.KeyStore, cfg.TrustStore = Store{Location: filepath.Join(dir, "key.pem")}, Store{Location: filepath.Join(dir, "trust.pem")}
	cfg.ClientAuth, cfg.CRL = Need, true
	m, err := NewManager(cfg, Env{Now: clock, Resolve: noResolve, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := clientCertChecked(t, m, ca, cli); err != nil {
		t.Fatal(err)
	}
	rs.revoke(cli)
	now.Add(int64(29 * time.Second))
	if err := clientCertChecked(t, m, ca, cli); err != nil {
		t.Fatalf("within the recheck interval: %v", err)
	}
	if n := rs.crlFetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the recheck interval", n)
	}
	now.Add(int64(2 * time.Second))
	if err := clientCertChecked(t, m, ca, cli); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after the recheck interval: %v", err)
	}
}

// TestOCSPChecking: with ssl.ocsp the responder is asked first; its "unknown"
// or its absence falls back to the CRL, and a certificate neither can vouch
// for is refused.
func TestOCSPChecking(t *testing.T) {
	ca := newPKI(t, "ca")
	rs := newRevocationService(t, ca)
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	both := leafOpts{crl: []string{rs.url + "/ca.crl"}, ocsp: []string{rs.url + "/ocsp"}}
	good, _ := ca.issue(leafOpts{cn: "good", ocsp: both.ocsp})
	bad, _ := ca.issue(leafOpts{cn: "revoked", ocsp: both.ocsp})
	unknownButListed, _ := ca.issue(leafOpts{cn: "unknown to OCSP, revoked by CRL", crl: both.crl, ocsp: both.ocsp})
	unknownGood, _ := ca.issue(leafOpts{cn: "unknown to OCSP, not in the CRL", crl: both.crl, ocsp: both.ocsp})
	responderDown, _ := ca.issue(leafOpts{cn: "responder down", ocsp: []string{"http://127.0.0.1:1/ocsp"}})
	downWithCRL, _ := ca.issue(leafOpts{cn: "responder down, CRL", crl: both.crl, ocsp: []string{"http://127.0.0.1:1/ocsp"}})
	rs.revoke(bad)
	rs.revoke(unknownButListed)
	rs.unknown[unknownButListed.Leaf.SerialNumber.String()] = true
	rs.unknown[unknownGood.Leaf.SerialNumber.String()] = true
	m := pemManager(t, Client, srv, ca.cert, func(c *Config) { c.ClientAuth, c.OCSP = Need, true })

	for _, tc := range []struct {
		name string
		cert tls.Certificate
		want error
	}{
		{"good", good, nil},
		{"revoked", bad, ErrRevoked},
		{"unknown, then revoked by the CRL", unknownButListed, ErrRevoked},
		{"unknown, then not in the CRL", unknownGood, nil},
		{"responder down, no CRL", responderDown, ErrRevocationUnknown},
		{"responder down, CRL", downWithCRL, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := clientCertChecked(t, m, ca, tc.cert); !errors.Is(err, tc.want) {
				t.Fatalf("server err %v, want %v", err, tc.want)
			}
		})
	}
}
