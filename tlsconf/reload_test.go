package tlsconf

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReloadSwapsCertificatesForNewHandshakesOnly(t *testing.T) {
	ca := newPKI(t, "ca")
	first, _ := ca.issue(leafOpts{cn: "first", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	second, _ := ca.issue(leafOpts{cn: "second", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	client, _ := ca.issue(leafOpts{cn: "client"})
	m := pemManager(t, Client, first, ca.cert, nil)
	ks := m.cfg.KeyStore.Location
	addr, results := listen(t, m.ServerConfig())

	// An established connection, kept open across the reload.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	old := tls.Client(raw, goClient(ca.cert, &client, 0))
	_ = old.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(old, buf); err != nil {
		t.Fatal(err)
	}
	waitResult(t, results)
	if cn := old.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "first" {
		t.Fatalf("server presented %q", cn)
	}

	if reloaded, err := m.Check(); reloaded || err != nil {
		t.Fatalf("Check with no change: %v, %v", reloaded, err)
	}

	// Replace the key store the way operators do: write aside, rename over.
	tmp := ks + ".tmp"
	writePEMKeyStore(t, tmp, second)
	if err := os.Rename(tmp, ks); err != nil {
		t.Fatal(err)
	}
	if reloaded, err := m.Check(); !reloaded || err != nil {
		t.Fatalf("Check after replacing the key store: %v, %v", reloaded, err)
	}
	if m.Reloads() != 1 {
		t.Fatalf("Reloads = %d", m.Reloads())
	}
	st, err := dial(t, addr, goClient(ca.cert, &client, 0), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	waitResult(t, results)
	if cn := st.PeerCertificates[0].Subject.CommonName; cn != "second" {
		t.Fatalf("after reload the server presented %q", cn)
	}
	// The old connection is untouched and still carries data.
	if _, err := old.Write([]byte("still here")); err != nil {
		t.Fatalf("old connection broken by the reload: %v", err)
	}

	// A broken file keeps the current certificates; fixing it reloads again.
	writeFile(t, ks, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	if reloaded, err := m.Check(); reloaded || err == nil {
		t.Fatalf("Check on a broken key store: %v, %v", reloaded, err)
	}
	if reloaded, err := m.Check(); reloaded || err != nil {
		t.Fatalf("a failed version must not be retried until the file changes: %v, %v", reloaded, err)
	}
	if st, err := dial(t, addr, goClient(ca.cert, &client, 0), nil, ""); err != nil || st.PeerCertificates[0].Subject.CommonName != "second" {
		t.Fatalf("after a failed reload: %v", err)
	}
	waitResult(t, results)

	// A deleted file is ignored (ZooKeeper ignores delete events).
	if err := os.Remove(ks); err != nil {
		t.Fatal(err)
	}
	if reloaded, err := m.Check(); reloaded || err != nil {
		t.Fatalf("Check after delete: %v, %v", reloaded, err)
	}
	writePEMKeyStore(t, ks, first)
	if reloaded, err := m.Check(); !reloaded || err != nil {
		t.Fatalf("Check after the file came back: %v, %v", reloaded, err)
	}
}

func TestReloadOfTrustStore(t *testing.T) {
	ca, next := newPKI(t, "ca"), newPKI(t, "next ca")
	srv, _ := ca.issue(leafOpts{cn: "server", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	fromNext, _ := next.issue(leafOpts{cn: "new client"})
	m := pemManager(t, Client, srv, ca.cert, nil)
	addr, results := listen(t, m.ServerConfig())
	forced := goClient(ca.cert, nil, 0)
	forced.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &fromNext, nil }
	if _, err := dial(t, addr, forced, nil, ""); err == nil {
		t.Fatal("client of an untrusted CA accepted")
	}
	waitResult(t, results)
	ts := filepath.Join(filepath.Dir(m.cfg.TrustStore.Location), "trust.pem")
	writeFile(t, ts, append(pemCert(ca.cert), pemCert(next.cert)...))
	if reloaded, err := m.Check(); !reloaded || err != nil {
		t.Fatalf("Check: %v %v", reloaded, err)
	}
	if _, err := dial(t, addr, forced, nil, ""); err != nil {
		t.Fatalf("client of the newly trusted CA: %v", err)
	}
	if r := waitResult(t, results); r.err != nil {
		t.Fatal(r.err)
	}
}
