package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PKI is a throw-away certificate authority writing PEM files that zkd, Apache
// ZooKeeper (ssl.*.type=PEM), kazoo and Go clients all read:
//
//	<dir>/ca.pem           the CA certificate (a trust store)
//	<dir>/<name>.pem       private key (PKCS #8) then certificate chain (a key store)
//	<dir>/<name>.crt       the certificate alone
//	<dir>/<name>.key       the private key alone (PKCS #8)
type PKI struct {
	Dir    string
	CAFile string
	CA     *x509.Certificate
	Pool   *x509.CertPool

	caKey *ecdsa.PrivateKey
	mu    sync.Mutex
	seq   int64
}

// Cert is one issued certificate and where its files are.
type Cert struct {
	PEM, CertFile, KeyFile string
	TLS                    tls.Certificate
	Leaf                   *x509.Certificate
}

// NewPKI makes a CA valid from an hour ago for a day, with its files in dir.
func NewPKI(t testing.TB, dir string) *PKI {
	t.Helper()
	p := &PKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), Pool: x509.NewCertPool()}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zkd test CA", Organization: []string{"zkd"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.CA, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.Pool.AddCert(p.CA)
	writePEM(t, p.CAFile, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	return p
}

// CertOptions shape an issued certificate; the zero value is a certificate for
// 127.0.0.1 and localhost, valid from an hour ago for a day.
type CertOptions struct {
	NotBefore, NotAfter time.Time
	IPs                 []net.IP // default 127.0.0.1
	DNSNames            []string // default localhost
	// CRLURLs and OCSPURLs are the certificate's CRL distribution points and
	// OCSP responders (none by default).
	CRLURLs, OCSPURLs []string
}

// Issue issues a certificate for subject, usable by servers and clients, and
// writes its files under name.
func (p *PKI) Issue(t testing.TB, name string, subject pkix.Name, o CertOptions) Cert {
	t.Helper()
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if o.IPs == nil {
		o.IPs = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if o.DNSNames == nil {
		o.DNSNames = []string{"localhost"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.seq++
	serial := p.seq + 1
	p.mu.Unlock()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: subject,
		NotBefore: o.NotBefore, NotAfter: o.NotAfter, IPAddresses: o.IPs, DNSNames: o.DNSNames,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		CRLDistributionPoints: o.CRLURLs, OCSPServer: o.OCSPURLs}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyBlock := &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}
	certBlock := &pem.Block{Type: "CERTIFICATE", Bytes: der}
	c := Cert{PEM: filepath.Join(p.Dir, name+".pem"), CertFile: filepath.Join(p.Dir, name+".crt"),
		KeyFile: filepath.Join(p.Dir, name+".key"),
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Leaf: leaf}
	writePEM(t, c.PEM, keyBlock, certBlock)
	writePEM(t, c.CertFile, certBlock)
	writePEM(t, c.KeyFile, keyBlock)
	return c
}

// CRL is the CA's certificate revocation list, in DER, listing revoked and
// valid from an hour ago for a day.
func (p *PKI) CRL(t testing.TB, revoked ...*x509.Certificate) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	p.mu.Lock()
	p.seq++
	number := big.NewInt(p.seq)
	p.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: number, ThisUpdate: time.Now().Add(-time.Hour),
		NextUpdate: time.Now().Add(24 * time.Hour), RevokedCertificateEntries: entries}, p.CA, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Signer is the CA's key, for tests that sign other things as the CA (an OCSP
// responder's answers).
func (p *PKI) Signer() *ecdsa.PrivateKey { return p.caKey }

// ClientConfig is a Go client's TLS configuration trusting the CA, presenting
// cert when it is not nil.
func (p *PKI) ClientConfig(cert *Cert) *tls.Config {
	c := &tls.Config{RootCAs: p.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{cert.TLS}
	}
	return c
}

func writePEM(t testing.TB, path string, blocks ...*pem.Block) {
	t.Helper()
	var b []byte
	for _, bl := range blocks {
		b = append(b, pem.EncodeToMemory(bl)...)
	}
	// Write then rename, so that a reloading reader never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
