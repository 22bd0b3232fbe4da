package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
	"zkd/zoocfg"
)

const x509Provider = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"

// secureConfig is testConfig with a secure client port on 127.0.0.1, the server's
// certificate from p, and the x509 provider registered; props are added on top.
func secureConfig(t *testing.T, p *testutil.PKI, props map[string]string) zoocfg.Config {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.SecureClientPort, cfg.SecureClientPortAddr = testutil.FreePort(t), "127.0.0.1"
	server := p.Issue(t, "server", pkix.Name{CommonName: "zkd server"}, testutil.CertOptions{})
	cfg.SystemProperties = map[string]string{
		"zookeeper.ssl.keyStore.location":   server.PEM,
		"zookeeper.ssl.trustStore.location": p.CAFile,
		"zookeeper.authProvider.x509":       x509Provider,
	}
	for k, v := range props {
		cfg.SystemProperties[k] = v
	}
	return cfg
}

// tlsDialer is a go-zookeeper dialer over TLS.
func tlsDialer(c *tls.Config) zk.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, network, address, c)
	}
}

func connectTLS(t *testing.T, addr string, c *tls.Config) *zk.Conn {
	t.Helper()
	conn, ev, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogger(nopLogger{}), zk.WithDialer(tlsDialer(c)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-ev:
			if e.State == zk.StateHasSession {
				return conn
			}
		case <-deadline:
			t.Fatalf("no session over TLS at %s", addr)
		}
	}
}

func TestSecureClientPortWithX509ACLs(t *testing.T) {
	p := testutil.NewPKI(t, t.TempDir())
	s := start(t, secureConfig(t, p, map[string]string{
		"zookeeper.X509AuthenticationProvider.superUser": "CN=admin,O=ops",
	}))
	if s.SecureAddr() == nil || s.Addr() == nil {
		t.Fatalf("ports: plain %v, secure %v", s.Addr(), s.SecureAddr())
	}
	alice := p.Issue(t, "alice", pkix.Name{CommonName: "alice", Organization: []string{"Acme, Inc."}}, testutil.CertOptions{})
	bob := p.Issue(t, "bob", pkix.Name{CommonName: "bob"}, testutil.CertOptions{})
	admin := p.Issue(t, "admin", pkix.Name{CommonName: "admin", Organization: []string{"ops"}}, testutil.CertOptions{})
	const aliceID = `CN=alice,O=Acme\, Inc.`

	a := connectTLS(t, s.SecureAddr().String(), p.ClientConfig(&alice))
	if _, err := a.Create("/alice", []byte("secret"), 0, []zk.ACL{{Perms: zk.PermAll, Scheme: "x509", ID: aliceID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create("/invalid", nil, 0, []zk.ACL{{Perms: zk.PermAll, Scheme: "x509", ID: "not a name"}}); !errors.Is(err, zk.ErrInvalidACL) {
		t.Fatalf("invalid x509 id: %v", err)
	}
	if data, _, err := a.Get("/alice"); err != nil || string(data) != "secret" {
		t.Fatalf("alice: %q %v", data, err)
	}
	b := connectTLS(t, s.SecureAddr().String(), p.ClientConfig(&bob))
	if _, _, err := b.Get("/alice"); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("bob: %v, want NOAUTH", err)
	}
	plain, _, err := zk.Connect([]string{s.Addr().String()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, _, err := plain.Get("/alice"); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("plain port: %v, want NOAUTH", err)
	}
	su := connectTLS(t, s.SecureAddr().String(), p.ClientConfig(&admin))
	if data, _, err := su.Get("/alice"); err != nil || string(data) != "secret" {
		t.Fatalf("x509 super user: %q %v", data, err)
	}

	// A client without a certificate (ssl.clientAuth defaults to need) is refused;
	// the others go on.
	raw, err := tls.Dial("tcp", s.SecureAddr().String(), p.ClientConfig(nil))
	if err == nil {
		_, err = raw.Write([]byte{0, 0, 0, 1, 0})
		if err == nil {
			_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = raw.Read(make([]byte, 1))
		}
		raw.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if _, _, err := a.Get("/alice"); err != nil {
		t.Fatalf("alice after the refusal: %v", err)
	}
	// mntr counts the refusal as ZooKeeper's TLS port does, and no handshake is
	// left under way.
	monitor := func() map[string]any {
		m := map[string]any{}
		for _, st := range s.Sessions().Monitor() {
			m[st.Key] = st.Value
		}
		return m
	}
	m := monitor()
	for deadline := time.Now().Add(10 * time.Second); m["auth_failed_count"] != int64(1) && time.Now().Before(deadline); m = monitor() {
		time.Sleep(20 * time.Millisecond)
	}
	if m["auth_failed_count"] != int64(1) || m["outstanding_tls_handshake"] != int64(0) {
		t.Errorf("auth_failed_count %v, outstanding_tls_handshake %v; want 1 and 0", m["auth_failed_count"], m["outstanding_tls_handshake"])
	}
}

func TestSecureClientPortAlone(t *testing.T) {
	p := testutil.NewPKI(t, t.TempDir())
	cfg := secureConfig(t, p, map[string]string{"zookeeper.ssl.clientAuth": "none"})
	cfg.ClientAddr = ""
	s := start(t, cfg)
	if s.Addr() != nil {
		t.Fatalf("a plain port at %v", s.Addr())
	}
	c := connectTLS(t, s.SecureAddr().String(), p.ClientConfig(nil))
	if _, err := c.Create("/x", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
}

// With zookeeper.client.certReload the secure port serves a replaced key store's
// certificate to new connections, without a restart.
func TestSecureClientPortReloadsCertificates(t *testing.T) {
	p := testutil.NewPKI(t, t.TempDir())
	cfg := secureConfig(t, p, map[string]string{"zookeeper.client.certReload": "true", "zookeeper.ssl.clientAuth": "none"})
	s := start(t, cfg)
	serverCN := func() string {
		c, err := tls.Dial("tcp", s.SecureAddr().String(), p.ClientConfig(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := serverCN(); cn != "zkd server" {
		t.Fatalf("served %q", cn)
	}
	old := connectTLS(t, s.SecureAddr().String(), p.ClientConfig(nil))
	p.Issue(t, "server", pkix.Name{CommonName: "zkd server, renewed"}, testutil.CertOptions{})
	deadline := time.Now().Add(30 * time.Second)
	for serverCN() != "zkd server, renewed" {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := old.Create("/still", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("a connection made before the reload: %v", err)
	}
}

func TestSecuritySettingsRefusedAtStart(t *testing.T) {
	p := testutil.NewPKI(t, t.TempDir())
	jaas := filepath.Join(t.TempDir(), "jaas.conf")
	if err := os.WriteFile(jaas, []byte(`Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a="b"; };`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		props map[string]string
		edit  func(*zoocfg.Config)
		want  string
	}{
		{"unknown provider class", map[string]string{"zookeeper.authProvider.1": "com.example.MyAuthProvider"}, nil,
			"unknown authentication provider class"},
		{"ZooKeeper's ensemble provider", map[string]string{"zookeeper.authProvider.2": "org.apache.zookeeper.server.auth.EnsembleAuthenticationProvider"}, nil,
			"unknown authentication provider class"},
		{"enforce without schemes", map[string]string{"zookeeper.enforce.auth.enabled": "true"}, nil,
			"zookeeper.enforce.auth.schemes must be configured"},
		{"enforced sasl without its provider", map[string]string{"zookeeper.sessionRequireClientSASLAuth": "true"}, nil,
			"not available"},
		{"missing JAAS file", map[string]string{"java.security.auth.login.config": "/nonexistent/jaas.conf"}, nil,
			"jaas.conf"},
		{"secure port without a key store", map[string]string{"zookeeper.ssl.keyStore.location": ""}, nil,
			"keyStore.location"},
		{"a Java context supplier", map[string]string{"zookeeper.ssl.context.supplier.class": "com.example.Ctx"}, nil, "names a Java class"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := secureConfig(t, p, tc.props)
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			_, err := Start(context.Background(), cfg, Options{Logger: quiet})
			if !errors.Is(err, ErrSecurityConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want an ErrSecurityConfig naming %q", err, tc.want)
			}
			// Nothing was left running: the directory can be used at once.
			cfg.SystemProperties = nil
			cfg.SecureClientPort, cfg.SecureClientPortAddr = 0, ""
			start(t, cfg)
		})
	}
	t.Run("known classes", func(t *testing.T) {
		start(t, secureConfig(t, p, map[string]string{
			"zookeeper.authProvider.1":               "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
			"zookeeper.authProvider.2":               "org.apache.zookeeper.server.auth.DigestAuthenticationProvider",
			"zookeeper.authProvider.3":               "org.apache.zookeeper.server.auth.IPAuthenticationProvider",
			"zookeeper.sessionRequireClientSASLAuth": "true",
			"java.security.auth.login.config":        jaas,
		}))
	})
}

// startSecureEnsemble starts n members on loopback; extra(i) is added to member
// i's zoo.cfg (0-based).
func startSecureEnsemble(t *testing.T, n int, extra func(i int) string) []*Server {
	t.Helper()
	var lines []string
	for i := range n {
		lines = append(lines, fmt.Sprintf("server.%d=127.0.0.1:%d:%d;127.0.0.1:%d", i+1,
			testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)))
	}
	servers := make([]*Server, n)
	errs := make(chan error, n)
	for i := range n {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "myid"), fmt.Appendf(nil, "%d\n", i+1), 0o644); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("tickTime=100\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nadmin.enableServer=false\npreAllocSize=1024\n%s\n%s\n",
			dir, strings.Join(lines, "\n"), extra(i))
		cfg, err := zoocfg.Parse(filepath.Join(dir, "zoo.cfg"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Warnings) > 0 {
			t.Fatalf("member %d: %v", i+1, cfg.Warnings)
		}
		go func() {
			s, err := Start(context.Background(), cfg, Options{Version: "test", Logger: quiet})
			servers[i] = s
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if s != nil {
				_ = s.Stop()
			}
		}
	})
	return servers
}

const quorumJAAS = `QuorumServer {
	org.apache.zookeeper.server.auth.DigestLoginModule required
	user_zkpeer="peer-secret";
};
QuorumLearner {
	org.apache.zookeeper.server.auth.DigestLoginModule required
	username="zkpeer"
	password="%s";
};
`

// TestEnsembleWithSSLQuorumAndQuorumSASL: three members that talk TLS to each
// other (each with its own certificate, host names verified) and authenticate
// each other with DIGEST-MD5 form an ensemble; a fourth configuration whose
// certificate comes from another CA, or whose password is wrong, is kept out.
func TestEnsembleWithSSLQuorumAndQuorumSASL(t *testing.T) {
	p := testutil.NewPKI(t, t.TempDir())
	other := testutil.NewPKI(t, t.TempDir())
	dir := t.TempDir()
	member := func(i int, ca *testutil.PKI, password string, o testutil.CertOptions) string {
		cert := ca.Issue(t, fmt.Sprintf("member%d", i+1), pkix.Name{CommonName: fmt.Sprintf("zkd member %d", i+1)}, o)
		jaas := filepath.Join(dir, fmt.Sprintf("jaas%d.conf", i+1))
		if err := os.WriteFile(jaas, fmt.Appendf(nil, quorumJAAS, password), 0o600); err != nil {
			t.Fatal(err)
		}
		return strings.Join([]string{
			"sslQuorum=true",
			"ssl.quorum.keyStore.location=" + cert.PEM,
			"ssl.quorum.trustStore.location=" + p.CAFile,
			"quorum.auth.enableSasl=true",
			"quorum.auth.learnerRequireSasl=true",
			"quorum.auth.serverRequireSasl=true",
			"java.security.auth.login.config=" + jaas,
		}, "\n")
	}
	t.Run("members that trust each other", func(t *testing.T) {
		servers := startSecureEnsemble(t, 3, func(i int) string { return member(i, p, "peer-secret", testutil.CertOptions{}) })
		requireReplicated(t, servers, "/over-tls-quorum")
	})
	for _, tc := range []struct {
		name string
		bad  func(i int) string
	}{
		{"a member with a certificate from another CA", func(i int) string {
			return member(i, other, "peer-secret", testutil.CertOptions{})
		}},
		{"a member whose certificate names another host", func(i int) string {
			return member(i, p, "peer-secret", testutil.CertOptions{IPs: []net.IP{net.IPv4(10, 9, 9, 9)}, DNSNames: []string{"elsewhere.example"}})
		}},
		{"a member with the wrong quorum password", func(i int) string { return member(i, p, "wrong", testutil.CertOptions{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			servers := startSecureEnsemble(t, 3, func(i int) string {
				if i == 2 {
					return tc.bad(i)
				}
				return member(i, p, "peer-secret", testutil.CertOptions{})
			})
			requireThirdKeptOut(t, servers)
		})
	}
}

// requireReplicated writes path through a follower and waits for every member
// to apply it.
func requireReplicated(t *testing.T, servers []*Server, path string) {
	t.Helper()
	c := clientOf(t, servers[(leaderOf(t, servers)+1)%len(servers)])
	if _, err := c.Create(path, []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		checkForT(t, fmt.Sprintf("member %d applies the write", i+1), func() bool {
			_, code := s.Replica().Tree().Exists(path, nil, nil)
			return code == 0
		})
	}
}

// requireThirdKeptOut writes through the leader the first two members elect
// and checks that the third, which they do not let in, never gets the write.
func requireThirdKeptOut(t *testing.T, servers []*Server) {
	t.Helper()
	lead := leaderOf(t, servers[:2])
	c, _, err := zk.Connect([]string{servers[lead].Addr().String()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Create("/without-3", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	// Member 3 never hears from the others: no leader, no data. Give it time to
	// try (this bounds a wait; nothing is asserted about speed).
	time.Sleep(2 * time.Second)
	if _, code := servers[2].Replica().Tree().Exists("/without-3", nil, nil); code == 0 {
		t.Fatal("member 3 got the data")
	}
}

// checkForT polls cond until it holds or 30 s pass.
func checkForT(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The stores as keytool writes them: a PKCS #12 key store (keytool's default,
// even for a .jks name) and a JKS trust store, passwords from a file and inline.
func TestSecureClientPortWithJavaKeyStores(t *testing.T) {
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		testutil.Missing(t, "keytool (a JDK)")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, keytool, args...).CombinedOutput(); err != nil {
			t.Fatalf("keytool %v: %v\n%s", args, err, out)
		}
	}
	keyStore := filepath.Join(dir, "server.jks")
	trustStore := filepath.Join(dir, "trust.jks")
	certFile := filepath.Join(dir, "server.crt")
	run("-genkeypair", "-keystore", keyStore, "-storepass", "keypass1", "-keypass", "keypass1", "-alias", "zkd",
		"-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=zkd server,O=zkd", "-ext", "SAN=ip:127.0.0.1", "-validity", "2")
	run("-exportcert", "-keystore", keyStore, "-storepass", "keypass1", "-alias", "zkd", "-rfc", "-file", certFile)
	run("-importcert", "-noprompt", "-keystore", trustStore, "-storetype", "JKS", "-storepass", "trustpass", "-alias", "ca", "-file", certFile)
	pwFile := filepath.Join(dir, "keystore.pw")
	if err := os.WriteFile(pwFile, []byte("keypass1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, t.TempDir())
	cfg.SecureClientPort, cfg.SecureClientPortAddr = testutil.FreePort(t), "127.0.0.1"
	cfg.SystemProperties = map[string]string{
		"zookeeper.ssl.keyStore.location":     keyStore,
		"zookeeper.ssl.keyStore.passwordPath": pwFile,
		"zookeeper.ssl.trustStore.location":   trustStore,
		"zookeeper.ssl.trustStore.password":   "trustpass",
		"zookeeper.ssl.clientAuth":            "none",
	}
	s := start(t, cfg)
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := connectTLS(t, s.SecureAddr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if _, err := c.Create("/jks", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
}

// leaderOf waits until one of servers leads and returns its index.
func leaderOf(t *testing.T, servers []*Server) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, s := range servers {
			if s != nil && s.Replica().Mode() == "leader" {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return -1
}
