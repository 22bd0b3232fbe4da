package server

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"zkd/internal/testutil"
	"zkd/internal/zktest/raw"
)

// TestSecurityInteropRevocation: with ssl.crl, then ssl.ocsp, and client
// certificates required, Apache ZooKeeper 3.8 and zkd take and refuse the same
// client certificates: one its CA has not revoked, one it has, and ones whose
// status cannot be found (no distribution point, a responder that is down).
// The CA's CRL and OCSP responder run on loopback.
func TestSecurityInteropRevocation(t *testing.T) {
	interopPrereqs(t, false)
	dir := t.TempDir()
	p := testutil.NewPKI(t, dir)
	ca := &loopbackCA{t: t, pki: p}
	srv := httptest.NewServer(ca)
	t.Cleanup(srv.Close)
	crlURL, ocspURL, deadURL := srv.URL+"/ca.crl", srv.URL+"/ocsp", "http://127.0.0.1:1/"
	o := func(cn string) pkix.Name { return pkix.Name{CommonName: cn, Organization: []string{"zkd"}} }
	p.Issue(t, "server", o("server"), testutil.CertOptions{})

	type client struct {
		name    string
		opts    testutil.CertOptions
		revoked bool
	}
	for _, tc := range []struct {
		setting string
		clients []client
		want    map[string]bool // taken, for the clients whose fate is the point
	}{
		{"ssl.crl", []client{
			{"good", testutil.CertOptions{CRLURLs: []string{crlURL}}, false},
			{"revoked", testutil.CertOptions{CRLURLs: []string{crlURL}}, true},
			{"no-distribution-point", testutil.CertOptions{}, false},
			{"distribution-point-down", testutil.CertOptions{CRLURLs: []string{deadURL + "ca.crl"}}, false},
		}, map[string]bool{"good": true, "revoked": false}},
		{"ssl.ocsp", []client{
			{"good", testutil.CertOptions{OCSPURLs: []string{ocspURL}}, false},
			{"revoked", testutil.CertOptions{OCSPURLs: []string{ocspURL}}, true},
			{"responder-down-crl-good", testutil.CertOptions{OCSPURLs: []string{deadURL + "ocsp"}, CRLURLs: []string{crlURL}}, false},
			{"responder-down-crl-revoked", testutil.CertOptions{OCSPURLs: []string{deadURL + "ocsp"}, CRLURLs: []string{crlURL}}, true},
			{"responder-down-only", testutil.CertOptions{OCSPURLs: []string{deadURL + "ocsp"}}, false},
		}, map[string]bool{"good": true, "revoked": false}},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			certs := map[string]testutil.Cert{}
			for _, c := range tc.clients {
				certs[c.name] = p.Issue(t, tc.setting+"-"+c.name, o(c.name), c.opts)
				if c.revoked {
					ca.revoke(certs[c.name].Leaf)
				}
			}
			d := deployment{cfg: strings.Join([]string{
				"ssl.keyStore.location=" + filepath.Join(dir, "server.pem"),
				"ssl.keyStore.type=PEM",
				"ssl.trustStore.location=" + p.CAFile,
				"ssl.trustStore.type=PEM",
				"ssl.clientAuth=need",
				tc.setting + "=true",
			}, "\n") + "\n"}
			forBothServers(t, d, true, func(t *testing.T, r *running, rec func(string, bool)) {
				for _, c := range tc.clients {
					cert := certs[c.name]
					taken := takesTLSClient(r.secure, p, &cert)
					rec(c.name+"/taken", taken)
					rec(c.name+"/refused", !taken)
					if want, ok := tc.want[c.name]; ok && taken != want {
						t.Errorf("%s: client %s taken %v, want %v", r.kind, c.name, taken, want)
					}
					t.Logf("%s %s: client %s taken %v", r.kind, tc.setting, c.name, taken)
				}
			})
		})
	}
}

// takesTLSClient reports whether the server at addr gives a session to a TLS
// client presenting cert (none when nil).
func takesTLSClient(addr string, p *testutil.PKI, cert *testutil.Cert) bool {
	c := p.ClientConfig(cert)
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, c)
	if err != nil {
		return false
	}
	defer nc.Close()
	// TLS 1.3 finishes the client's handshake before the server has checked the
	// client's certificate: a refusal shows on the first read.
	resp, err := raw.NewConn(nc, 20*time.Second).Handshake(30000, 0, nil)
	return err == nil && resp.SessionID != 0
}

// loopbackCA serves a PKI's CRL at /ca.crl and answers OCSP requests at /ocsp
// (POST, or GET with the request in the path, as the JDK may send it).
type loopbackCA struct {
	t   *testing.T
	pki *testutil.PKI

	mu      sync.Mutex
	revoked []*x509.Certificate
}

func (ca *loopbackCA) revoke(c *x509.Certificate) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.revoked = append(ca.revoked, c)
}

func (ca *loopbackCA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ca.mu.Lock()
	revoked := slices.Clone(ca.revoked)
	ca.mu.Unlock()
	switch {
	case r.URL.Path == "/ca.crl":
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(ca.pki.CRL(ca.t, revoked...))
	case strings.HasPrefix(r.URL.Path, "/ocsp"):
		var body []byte
		if r.Method == http.MethodPost {
			body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
		} else if body = ocspGETRequest(r.URL.Path); body == nil {
			http.Error(w, "bad OCSP GET", http.StatusBadRequest)
			return
		}
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		for _, c := range revoked {
			if c.SerialNumber.Cmp(req.SerialNumber) == 0 {
				tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, time.Now().Add(-time.Hour), ocsp.KeyCompromise
			}
		}
		resp, err := ocsp.CreateResponse(ca.pki.CA, ca.pki.CA, tmpl, ca.pki.Signer())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(resp)
	default:
		http.NotFound(w, r)
	}
}

// ocspGETRequest decodes the base64 request of an OCSP GET (RFC 6960 A.1).
func ocspGETRequest(path string) []byte {
	enc := strings.TrimPrefix(strings.TrimPrefix(path, "/ocsp"), "/")
	if unescaped, err := url.PathUnescape(enc); err == nil {
		enc = unescaped
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil
	}
	return b
}

// TestSecurityInteropX509ProviderRegistration: without authProvider.x509 in
// zoo.cfg, Apache ZooKeeper 3.8 registers the x509 provider itself when it has
// a secure client port (QuorumPeerConfig.configureSSLAuth), so a client
// presenting a certificate gets a session there; on a unified plain port alone
// the provider is missing and such a client is closed. zkd takes and refuses
// the same clients, and one without a certificate gets a session on both.
func TestSecurityInteropX509ProviderRegistration(t *testing.T) {
	interopPrereqs(t, false)
	dir := t.TempDir()
	p := testutil.NewPKI(t, dir)
	o := func(cn string) pkix.Name { return pkix.Name{CommonName: cn, Organization: []string{"zkd"}} }
	p.Issue(t, "server", o("server"), testutil.CertOptions{})
	alice := p.Issue(t, "alice", o("alice"), testutil.CertOptions{})
	stores := strings.Join([]string{
		"ssl.keyStore.location=" + filepath.Join(dir, "server.pem"),
		"ssl.keyStore.type=PEM",
		"ssl.trustStore.location=" + p.CAFile,
		"ssl.trustStore.type=PEM",
		"ssl.clientAuth=want",
	}, "\n") + "\n"
	for _, tc := range []struct {
		name     string
		d        deployment
		secure   bool
		wantCert bool // the certificate's client gets a session
	}{
		{"secure port", deployment{cfg: stores}, true, true},
		{"unified port alone", deployment{cfg: stores + "client.portUnification=true\n"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forBothServers(t, tc.d, tc.secure, func(t *testing.T, r *running, rec func(string, bool)) {
				addr := r.secure
				if !tc.secure {
					addr = r.plain
				}
				for name, cert := range map[string]*testutil.Cert{"certificate": &alice, "no-certificate": nil} {
					taken := takesTLSClient(addr, p, cert)
					rec(name+"/taken", taken)
					rec(name+"/refused", !taken)
					if want := cert == nil || tc.wantCert; taken != want {
						t.Errorf("%s: client with %s taken %v, want %v", r.kind, name, taken, want)
					}
				}
			})
		})
	}
}
