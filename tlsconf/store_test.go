package tlsconf

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// managerFor builds a Quorum-family Manager on the given stores (clientAuth need,
// so both directions of a handshake between two such managers are checked).
func managerFor(t *testing.T, ks, ts Store) (*Manager, error) {
	t.Helper()
	cfg := DefaultConfig(Quorum)
	cfg.KeyStore, cfg.TrustStore = ks, ts
	return NewManager(cfg, Env{Now: fixedClock, Resolve: noResolve, Log: discardLog()})
}

// mutualHandshake runs server and client managers against each other on loopback.
func mutualHandshake(t *testing.T, server, client *Manager) (serverSaw, clientSaw *x509.Certificate) {
	t.Helper()
	addr, results := listen(t, server.ServerConfig())
	st, err := dial(t, addr, nil, client, "127.0.0.1")
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	r := waitResult(t, results)
	if r.err != nil {
		t.Fatalf("server: %v", r.err)
	}
	return r.state.PeerCertificates[0], st.PeerCertificates[0]
}

func TestCommittedJavaStores(t *testing.T) {
	const pw = "zkd-test"
	jksTrust := Store{Location: "testdata/truststore.jks", Password: pw}
	p12Trust := Store{Location: "testdata/truststore.p12", Password: pw}
	zk1, err := managerFor(t, Store{Location: "testdata/keystore.jks", Password: pw}, p12Trust)
	if err != nil {
		t.Fatal(err)
	}
	zk2, err := managerFor(t, Store{Location: "testdata/keystore.p12", Password: pw}, jksTrust)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Manager{zk1, zk2} {
		if n := len(m.cur.Load().trust); n != 2 {
			t.Fatalf("%s: %d trust anchors, want 2", m.cfg.TrustStore.Location, n)
		}
	}
	serverSaw, clientSaw := mutualHandshake(t, zk1, zk2)
	if got, _ := SubjectName(serverSaw); got != "CN=zk2.example,OU=Ops,O=zkd test" {
		t.Errorf("server saw %q", got)
	}
	if got, _ := SubjectName(clientSaw); got != "CN=zk1.example,OU=Ops,O=zkd test" {
		t.Errorf("client saw %q", got)
	}
	if _, ok := zk2.Certificates()[0].PrivateKey.(*rsa.PrivateKey); !ok {
		t.Errorf("keystore.p12 key is %T, want RSA", zk2.Certificates()[0].PrivateKey)
	}

	// The declared type only separates Java stores from PEM: a "JKS" store that is
	// PKCS #12 inside loads, as it does on a JDK 9+ KeyStore.
	if _, err := managerFor(t, Store{Location: "testdata/keystore.p12", Password: pw, Type: TypeJKS},
		Store{Location: "testdata/truststore.jks", Password: pw, Type: TypePKCS12}); err != nil {
		t.Fatalf("content sniffing: %v", err)
	}
	// Wrong passwords are refused for key and trust stores of both formats.
	for _, s := range []Store{
		{Location: "testdata/keystore.jks", Password: "nope"},
		{Location: "testdata/keystore.p12", Password: "nope"},
	} {
		if _, err := managerFor(t, s, Store{}); err == nil {
			t.Errorf("%s opened with a wrong password", s.Location)
		}
	}
	for _, s := range []Store{
		{Location: "testdata/truststore.jks", Password: ""},
		{Location: "testdata/truststore.p12", Password: "nope"},
	} {
		if _, err := managerFor(t, Store{}, s); err == nil {
			t.Errorf("%s opened with a wrong password", s.Location)
		}
	}
	// A key store has no trusted entries, and a PKCS #12 trust store with a key is
	// not read (Java would take only its trusted entries).
	if _, err := managerFor(t, Store{}, Store{Location: "testdata/keystore.jks", Password: pw}); !errors.Is(err, ErrNoTrust) {
		t.Errorf("JKS key store as trust store: %v, want ErrNoTrust", err)
	}
	if _, err := managerFor(t, Store{}, Store{Location: "testdata/keystore.p12", Password: pw}); !errors.Is(err, ErrUnsupportedStore) {
		t.Errorf("PKCS #12 key store as trust store: %v, want ErrUnsupportedStore", err)
	}
	if _, err := managerFor(t, Store{Location: "testdata/truststore.jks", Password: pw}, Store{}); !errors.Is(err, ErrNoKey) {
		t.Errorf("trust store as key store: %v, want ErrNoKey", err)
	}
}

// TestKeytoolStoresMadeNow has this machine's keytool write every store flavour
// ZooKeeper users make, then runs handshakes between them.
func TestKeytoolStoresMadeNow(t *testing.T) {
	keytool := requireTool(t, "keytool")
	dir := t.TempDir()
	const pw = "changeit"
	kt := func(args ...string) {
		t.Helper()
		run(t, keytool, append([]string{"-noprompt", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"}, args...)...)
	}
	gen := func(alias, store, storeType string) {
		args := []string{"-genkeypair", "-alias", alias, "-keyalg", "EC", "-groupname", "secp256r1",
			"-dname", "CN=" + alias + ", O=zkd", "-ext", "SAN=ip:127.0.0.1",
			"-startdate", "2031/05/01", "-validity", "30",
			"-keystore", filepath.Join(dir, store), "-storepass", pw, "-keypass", pw}
		if storeType != "" {
			args = append(args, "-storetype", storeType)
		}
		kt(args...)
		kt("-exportcert", "-alias", alias, "-keystore", filepath.Join(dir, store), "-storepass", pw,
			"-rfc", "-file", filepath.Join(dir, alias+".crt"))
	}
	gen("a", "a.jks", "JKS")
	gen("b", "b.p12", "PKCS12")
	gen("c", "c.jks", "") // keytool's default since JDK 9: PKCS #12 inside a .jks name
	for _, st := range []struct{ file, typ string }{{"trust.jks", "JKS"}, {"trust.p12", "PKCS12"}} {
		for _, alias := range []string{"a", "b", "c"} {
			kt("-importcert", "-alias", alias, "-file", filepath.Join(dir, alias+".crt"),
				"-keystore", filepath.Join(dir, st.file), "-storetype", st.typ, "-storepass", pw)
		}
	}
	pemTrust := filepath.Join(dir, "trust.pem")
	var all []byte
	for _, alias := range []string{"a", "b", "c"} {
		b, err := os.ReadFile(filepath.Join(dir, alias+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	writeFile(t, pemTrust, all)

	keyStores := []string{"a.jks", "b.p12", "c.jks"}
	trustStores := []string{"trust.jks", "trust.p12", "trust.pem"}
	for i, ks := range keyStores {
		ts := trustStores[i]
		peer := keyStores[(i+1)%len(keyStores)]
		t.Run(ks+"+"+ts, func(t *testing.T) {
			srv, err := managerFor(t, Store{Location: filepath.Join(dir, ks), Password: pw}, Store{Location: filepath.Join(dir, ts), Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			cli, err := managerFor(t, Store{Location: filepath.Join(dir, peer), Password: pw}, Store{Location: filepath.Join(dir, "trust.p12"), Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			serverSaw, clientSaw := mutualHandshake(t, srv, cli)
			wantServer := "CN=" + strings.TrimSuffix(filepath.Base(peer), filepath.Ext(peer)) + ",O=zkd"
			wantClient := "CN=" + strings.TrimSuffix(ks, filepath.Ext(ks)) + ",O=zkd"
			if got, _ := SubjectName(serverSaw); got != wantServer {
				t.Errorf("server saw %q, want %q", got, wantServer)
			}
			if got, _ := SubjectName(clientSaw); got != wantClient {
				t.Errorf("client saw %q, want %q", got, wantClient)
			}
		})
	}
}

func TestPEMKeyStoreFlavours(t *testing.T) {
	ca := newPKI(t, "ca")
	leaf, key := ca.issue(leafOpts{cn: "pem", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	chain := append(pemCert(leaf.Leaf), pemCert(ca.cert)...)
	dir := t.TempDir()
	trust := filepath.Join(dir, "ca.pem")
	writeFile(t, trust, pemCert(ca.cert))

	ecDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaLeafCA := newPKI(t, "rsa ca")
	rsaLeaf := rsaLeafCA.issueWithKey(t, rsaKey, "rsa")

	cases := []struct {
		name     string
		contents []byte
		password string
		wantErr  error
	}{
		{"PKCS #8, key first", append(pemPKCS8(t, key), chain...), "", nil},
		{"PKCS #8, key last", append(append([]byte{}, chain...), pemPKCS8(t, key)...), "", nil},
		{"SEC 1 EC key", append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), chain...), "", nil},
		{"PKCS #1 RSA key", append(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), pemCert(rsaLeaf)...), "", nil},
		{"no key", chain, "", nil},
		{"no certificate", pemPKCS8(t, key), "", nil},
		{"key of another certificate", append(pemPKCS8(t, rsaKey), chain...), "", nil},
		{"legacy encrypted PEM", append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: ecDER}), chain...), "pw", ErrUnsupportedStore},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ks := filepath.Join(t.TempDir(), "k.pem")
			writeFile(t, ks, tc.contents)
			certs, err := loadKeyStore(Store{Location: ks, Password: tc.password})
			wantOK := !strings.HasPrefix(tc.name, "no ") && tc.name != "key of another certificate" && tc.wantErr == nil
			if wantOK != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && len(certs) != 1 {
				t.Fatalf("%d certificates", len(certs))
			}
		})
	}
}

// issueWithKey signs a certificate for an existing key.
func (p *pki) issueWithKey(t *testing.T, key *rsa.PrivateKey, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: bigOne(), Subject: pkixName(cn), NotBefore: testNow.Add(-1e12), NotAfter: testNow.Add(1e15)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEncryptedPKCS8FromOpenSSL decrypts keys that openssl wrote with the PBES2
// variants in use, and refuses a wrong password and a PBES1 key.
func TestEncryptedPKCS8FromOpenSSL(t *testing.T) {
	openssl := requireTool(t, "openssl")
	ca := newPKI(t, "ca")
	leaf, _ := ca.issue(leafOpts{cn: "enc", ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.pem")
	writeFile(t, plain, pemPKCS8(t, leaf.PrivateKey))
	variants := [][]string{
		{"-v2", "aes-256-cbc"},
		{"-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"},
		{"-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA512"},
		{"-v2", "des3"},
	}
	for i, v := range variants {
		out := filepath.Join(dir, "enc.pem")
		run(t, openssl, append([]string{"pkcs8", "-topk8", "-in", plain, "-out", out, "-passout", "pass:s3cret"}, v...)...)
		enc, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		ks := filepath.Join(dir, "ks.pem")
		writeFile(t, ks, append(enc, pemCert(leaf.Leaf)...))
		if _, err := loadKeyStore(Store{Location: ks, Password: "s3cret"}); err != nil {
			t.Errorf("variant %d %v: %v", i, v, err)
		}
		if _, err := loadKeyStore(Store{Location: ks, Password: "wrong"}); err == nil {
			t.Errorf("variant %d %v: wrong password accepted", i, v)
		}
		if _, err := loadKeyStore(Store{Location: ks}); err == nil {
			t.Errorf("variant %d %v: no password accepted", i, v)
		}
	}
	out := filepath.Join(dir, "v1.pem")
	run(t, openssl, "pkcs8", "-topk8", "-in", plain, "-out", out, "-passout", "pass:s3cret", "-v1", "PBE-SHA1-3DES")
	enc, _ := os.ReadFile(out)
	ks := filepath.Join(dir, "v1ks.pem")
	writeFile(t, ks, append(enc, pemCert(leaf.Leaf)...))
	if _, err := loadKeyStore(Store{Location: ks, Password: "s3cret"}); err == nil || !strings.Contains(err.Error(), "PBES2") {
		t.Errorf("PBES1 key: %v", err)
	}
}

func TestStoreFileErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.p12")
	writeFile(t, junk, []byte("not a store"))
	jceks := filepath.Join(dir, "old.jks")
	writeFile(t, jceks, []byte{0xCE, 0xCE, 0xCE, 0xCE, 0, 0, 0, 2})
	bc := filepath.Join(dir, "x.bcfks")
	writeFile(t, bc, []byte{0x30, 0})
	for _, s := range []Store{
		{Location: filepath.Join(dir, "missing.jks")},
		{Location: junk, Password: "x"},
		{Location: jceks, Password: "x"},
		{Location: bc},
	} {
		if _, err := loadKeyStore(s); err == nil {
			t.Errorf("%s: loaded", s.Location)
		}
	}
	if _, err := loadKeyStore(Store{Location: jceks}); !errors.Is(err, ErrUnsupportedStore) {
		t.Errorf("JCEKS: %v", err)
	}
	if _, err := loadKeyStore(Store{Location: bc}); !errors.Is(err, ErrUnsupportedStore) {
		t.Errorf("BCFKS: %v", err)
	}
}
