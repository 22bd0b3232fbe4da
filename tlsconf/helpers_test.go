package tlsconf

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
)

// testNow is the clock every test Manager runs on; certificates are valid around it.
var testNow = time.Date(2031, 5, 4, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

// pki is a throw-away certificate authority.
type pki struct {
	t      *testing.T
	cert   *x509.Certificate
	key    crypto.Signer
	serial int64
}

func newPKI(t *testing.T, cn string) *pki {
	t.Helper()
	key := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"zkd test"}},
		NotBefore:             testNow.Add(-24 * time.Hour),
		NotAfter:              testNow.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{t: t, cert: cert, key: key, serial: 1}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// leafOpts shapes one issued certificate.
type leafOpts struct {
	cn         string
	rawSubject []byte // overrides cn
	dns        []string
	ips        []net.IP
	notBefore  time.Time // zero: a day before testNow
	notAfter   time.Time // zero: a year after testNow
	unparsed   bool      // return the DER only (for subjects Go's parser refuses)
	crl, ocsp  []string  // CRL distribution points and OCSP responders
}

// issue signs a leaf usable by both TLS servers and clients.
func (p *pki) issue(o leafOpts) (tls.Certificate, *ecdsa.PrivateKey) {
	p.t.Helper()
	key := mustKey(p.t)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: o.cn},
		RawSubject:   o.rawSubject,
		DNSNames:     o.dns,
		IPAddresses:  o.ips,
		NotBefore:    o.notBefore,
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},

		CRLDistributionPoints: o.crl,
		OCSPServer:            o.ocsp,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = testNow.Add(-24 * time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = testNow.Add(365 * 24 * time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, key.Public(), p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	if o.unparsed {
		return tls.Certificate{Certificate: [][]byte{der}}, key
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, p.cert.Raw}, PrivateKey: key, Leaf: leaf}, key
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemPKCS8(t *testing.T, key crypto.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writePEMKeyStore writes key and chain as ZooKeeper's PEM key store (one file).
func writePEMKeyStore(t *testing.T, path string, c tls.Certificate) {
	t.Helper()
	var b []byte
	b = append(b, pemPKCS8(t, c.PrivateKey)...)
	for _, der := range c.Certificate {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	writeFile(t, path, b)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// pemManager builds a Manager on PEM files for a server key pair and a trust anchor.
func pemManager(t *testing.T, f Family, leaf tls.Certificate, ca *x509.Certificate, edit func(*Config)) *Manager {
	t.Helper()
	dir := t.TempDir()
	ks, ts := filepath.Join(dir, "key.pem"), filepath.Join(dir, "trust.pem")
	writePEMKeyStore(t, ks, leaf)
	writeFile(t, ts, pemCert(ca))
	cfg := DefaultConfig(f)
	cfg.KeyStore = Store{Location: ks}
	cfg.TrustStore = Store{Location: ts}
	if edit != nil {
		edit(&cfg)
	}
	m, err := NewManager(cfg, Env{Now: fixedClock, Resolve: noResolve, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func noResolve(_ context.Context, addr string) ([]string, error) {
	return nil, &net.DNSError{Err: "no lookups in tests", Name: addr}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// requireTool returns the path of name, or fails (CI) / skips the test.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testutil.Missing(t, name)
	}
	return p
}

// run runs a command with a deadline and fails the test with its output on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s: timed out", name, strings.Join(args, " "))
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func bigOne() *big.Int { return big.NewInt(99) }

func pkixName(cn string) pkix.Name { return pkix.Name{CommonName: cn} }
