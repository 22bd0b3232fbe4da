package server

// Security interop: one secured deployment (the same zoo.cfg lines, JAAS files,
// certificates and JVM system properties) run on Apache ZooKeeper 3.8 (Debian's
// jars, Netty connection factory) and on zkd (the built binary), each driven by
// the same real clients: kazoo with pure-sasl, Curator and the ZooKeeper Java
// client, and zkCli. Every check runs as a subtest server=<kind>/<client>/<check>;
// a check that passes on ZooKeeper and fails on zkd is reported as a divergence.
//
// These tests start JVMs and a KDC: they are skipped under -short, and a missing
// tool skips them outside CI (testutil.Missing) and fails them in CI.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zkd/internal/testutil"
)

const (
	javaBin    = "/usr/bin/java"
	javacBin   = "/usr/bin/javac"
	python3Bin = "/usr/bin/python3" // Debian's, with python3-kazoo and python3-puresasl
	jarDir     = "/usr/share/java/"

	interopStart  = 90 * time.Second // a server to answer ruok (a JVM on a loaded machine)
	interopClient = 4 * time.Minute  // one client program to finish
)

// Jars: ZooKeeper's server and client (zookeeper.jar's manifest brings netty's
// handler, buffer and transport; Debian misses codec, resolver and unix-common,
// without which the Netty factory and TLS fail), a log4j binding, and Curator.
var (
	zkServerJars = []string{"zookeeper.jar", "zookeeper-jute.jar", "servlet-api.jar", "netty-codec.jar",
		"netty-resolver.jar", "netty-transport-native-unix-common.jar", "slf4j-api.jar", "slf4j-log4j12.jar", "log4j-1.2.jar"}
	curatorJars = []string{"curator-recipes.jar", "curator-framework.jar", "curator-client.jar", "guava.jar"}
	// jettyJars run ZooKeeper's AdminServer (deployment.admin).
	jettyJars = []string{"jetty9-server.jar", "jetty9-servlet.jar", "jetty9-security.jar", "jetty9-http.jar",
		"jetty9-io.jar", "jetty9-util.jar", "jetty9-util-ajax.jar"}
)

func jarPath(lists ...[]string) string {
	var cp []string
	for _, l := range lists {
		for _, j := range l {
			cp = append(cp, jarDir+j)
		}
	}
	return strings.Join(cp, ":")
}

// interopPrereqs skips or fails (testutil.Missing) without the clients and JDK.
func interopPrereqs(t *testing.T, python bool) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts JVMs, zkd and real clients; skipped with -short")
	}
	need := []string{javaBin, javacBin}
	if python {
		need = append(need, python3Bin, "/usr/lib/python3/dist-packages/kazoo", "/usr/lib/python3/dist-packages/puresasl")
	}
	for _, j := range slices.Concat(zkServerJars, curatorJars, jettyJars) {
		need = append(need, jarDir+j)
	}
	for _, f := range need {
		if _, err := os.Stat(f); err != nil {
			testutil.Missing(t, f)
		}
	}
}

// deployment is one security set-up, given alike to both servers.
type deployment struct {
	cfg   string   // zoo.cfg lines beyond dataDir and the client ports
	jvm   []string // -D system properties (ZooKeeper's SERVER_JVMFLAGS; zkd takes them too)
	admin bool     // the AdminServer runs, on a port of its own (running.admin)
	audit bool     // the audit log goes to running.auditLog
}

// running is one started server.
type running struct {
	kind           string // zookeeper or zkd
	plain, secure  string // host:port; secure "" without a TLS port
	admin          string // host:port of the AdminServer; "" without one
	auditLog       string // the audit log's file (deployment.audit)
	stop           func() // stops the server (SIGTERM), as the test's end would
	log            string
	secureWithHost string // localhost:port of the plain port, for Kerberos clients
}

// serverCfg is the zoo.cfg both servers get.
func serverCfg(dir string, plain, secure, admin int, d deployment) string {
	s := fmt.Sprintf("tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"maxClientCnxns=0\n4lw.commands.whitelist=*\n", filepath.Join(dir, "data"), plain)
	if admin != 0 {
		s += fmt.Sprintf("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%d\n", admin)
	} else {
		s += "admin.enableServer=false\n"
	}
	if secure != 0 {
		s += fmt.Sprintf("secureClientPort=%d\nsecureClientPortAddress=127.0.0.1\n", secure)
	}
	return s + d.cfg
}

// waitServing waits until the server answers ruok on its plain port and, when
// it has one, accepts connections on its TLS port. Apache ZooKeeper binds the
// TLS port only after the plain port's factory has started the server, so an
// imok alone leaves a moment in which a TLS client is refused.
func waitServing(t *testing.T, r *running, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(interopStart)
	ready := func(addr string, ruok bool) bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		if !ruok {
			return true
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("ruok"))
		b := make([]byte, 4)
		n, _ := c.Read(b)
		return string(b[:n]) == "imok"
	}
	for _, port := range []struct {
		addr string
		ruok bool
	}{{r.plain, true}, {r.secure, false}} {
		for port.addr != "" && !ready(port.addr, port.ruok) {
			select {
			case <-exited:
				t.Fatalf("server exited during start-up; log:\n%s", testutil.TailFile(r.log, 40))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not serving on %s within %v; log:\n%s", r.kind, port.addr, interopStart, testutil.TailFile(r.log, 40))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// interopPorts picks a server's plain client port, and its TLS and AdminServer
// ports when the deployment has them (0 otherwise).
func interopPorts(t *testing.T, secure bool, d deployment) (plain, sec, adm int) {
	plain = testutil.FreePort(t)
	if secure {
		sec = testutil.FreePort(t)
	}
	if d.admin {
		adm = testutil.FreePort(t)
	}
	return plain, sec, adm
}

func startInteropZkd(t *testing.T, d deployment, secure bool) *running {
	t.Helper()
	bin := testutil.BuildZkd(t)
	dir := t.TempDir()
	plain, sec, adm := interopPorts(t, secure, d)
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(serverCfg(dir, plain, sec, adm, d)), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "zkd.log")
	args := slices.Clone(d.jvm)
	if d.audit {
		args = append(args, "-Dzookeeper.log.dir="+dir)
	}
	args = append(args, cfgPath)
	p := testutil.StartProcess(t, "", logPath, bin, args...)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("zkd log:\n%s", testutil.TailFile(logPath, 60))
		}
	})
	r := &running{kind: "zkd", plain: fmt.Sprintf("127.0.0.1:%d", plain), log: logPath,
		secureWithHost: fmt.Sprintf("localhost:%d", plain), auditLog: filepath.Join(dir, defaultAuditFile),
		stop: func() { p.Stop() }}
	if secure {
		r.secure = fmt.Sprintf("127.0.0.1:%d", sec)
	}
	if adm != 0 {
		r.admin = fmt.Sprintf("127.0.0.1:%d", adm)
	}
	waitServing(t, r, p.Exited())
	return r
}

func startInteropZooKeeper(t *testing.T, d deployment, secure bool) *running {
	t.Helper()
	dir := t.TempDir()
	plain, sec, adm := interopPorts(t, secure, d)
	// Netty: the NIO factory cannot serve TLS.
	cfg := serverCfg(dir, plain, sec, adm, d) + "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
	cfgPath := filepath.Join(dir, "zoo.cfg")
	log4j := filepath.Join(dir, "log4j.properties")
	logging := "log4j.rootLogger=INFO, CONSOLE\n" +
		"log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\nlog4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n" +
		"log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n\n"
	if d.audit {
		// The audit appender of ZooKeeper's shipped logging configuration.
		logging += "log4j.logger.org.apache.zookeeper.audit.Slf4jAuditLogger=INFO, RFAAUDIT\n" +
			"log4j.additivity.org.apache.zookeeper.audit.Slf4jAuditLogger=false\n" +
			"log4j.appender.RFAAUDIT=org.apache.log4j.FileAppender\n" +
			"log4j.appender.RFAAUDIT.File=" + filepath.Join(dir, defaultAuditFile) + "\n" +
			"log4j.appender.RFAAUDIT.layout=org.apache.log4j.PatternLayout\n" +
			"log4j.appender.RFAAUDIT.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n"
	}
	for path, text := range map[string]string{cfgPath: cfg, log4j: logging} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(dir, "zookeeper.out")
	args := []string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true",
		"-Dlog4j.configuration=file:" + log4j, "-Dzookeeper.log.dir=" + dir}
	args = append(args, d.jvm...)
	args = append(args, "-cp", jarPath(zkServerJars, jettyJars), "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfgPath)
	p := testutil.StartProcess(t, "", logPath, javaBin, args...)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("ZooKeeper log:\n%s", testutil.TailFile(logPath, 60))
		}
	})
	r := &running{kind: "zookeeper", plain: fmt.Sprintf("127.0.0.1:%d", plain), log: logPath,
		secureWithHost: fmt.Sprintf("localhost:%d", plain), auditLog: filepath.Join(dir, defaultAuditFile),
		stop: func() { p.Stop() }}
	if secure {
		r.secure = fmt.Sprintf("127.0.0.1:%d", sec)
	}
	if adm != 0 {
		r.admin = fmt.Sprintf("127.0.0.1:%d", adm)
	}
	waitServing(t, r, p.Exited())
	return r
}

// results records, per server kind, whether each check passed.
type results struct {
	mu    sync.Mutex
	order []string
	res   map[string]map[string]bool
}

func (r *results) set(kind, check string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res == nil {
		r.res = map[string]map[string]bool{}
	}
	if r.res[kind] == nil {
		r.res[kind] = map[string]bool{}
	}
	if !slices.Contains(r.order, check) {
		r.order = append(r.order, check)
	}
	r.res[kind][check] = ok
}

// forBothServers runs body against Apache ZooKeeper, then zkd, each a fresh
// server with deployment d, and reports the checks only zkd fails.
func forBothServers(t *testing.T, d deployment, secure bool, body func(t *testing.T, r *running, rec func(check string, ok bool))) {
	rec := &results{}
	for _, kind := range []string{"zookeeper", "zkd"} {
		t.Run("server="+kind, func(t *testing.T) {
			var r *running
			if kind == "zookeeper" {
				if os.Getenv("ZKD_COMPAT_REFERENCE") == "0" {
					t.Skip("ZKD_COMPAT_REFERENCE=0: the reference run against Apache ZooKeeper is skipped")
				}
				r = startInteropZooKeeper(t, d, secure)
			} else {
				r = startInteropZkd(t, d, secure)
			}
			body(t, r, func(check string, ok bool) { rec.set(kind, check, ok) })
		})
	}
	zk, zkd := rec.res["zookeeper"], rec.res["zkd"]
	var only []string
	for _, c := range rec.order {
		if okZK, ran := zk[c]; ran && okZK {
			if okZkd, ran := zkd[c]; !ran || !okZkd {
				only = append(only, c)
			}
		}
	}
	if len(only) > 0 {
		t.Errorf("zkd divergences (pass on Apache ZooKeeper, fail or missing on zkd):\n  %s", strings.Join(only, "\n  "))
	}
}

// runCheckLines runs a client program that prints "ok NAME" / "FAIL NAME: DETAIL"
// lines, one subtest each, and requires its "# done".
func runCheckLines(t *testing.T, rec func(string, bool), prefix string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopClient)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var context []string
	done := false
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok "):
			check := prefix + strings.TrimSpace(line[3:])
			rec(check, t.Run(strings.TrimPrefix(check, prefix), func(*testing.T) {}))
			context = context[:0]
		case strings.HasPrefix(line, "FAIL "):
			n, detail, _ := strings.Cut(line[5:], ": ")
			ctxLines := strings.Join(context, "\n")
			check := prefix + strings.TrimSpace(n)
			rec(check, t.Run(strings.TrimSpace(n), func(t *testing.T) { t.Errorf("%s\n%s", detail, ctxLines) }))
			context = context[:0]
		case line == "# done":
			done = true
		case strings.HasPrefix(line, "# "):
			context = append(context, line)
			if len(context) > 40 {
				context = context[1:]
			}
		}
	}
	werr := cmd.Wait()
	if !done || werr != nil {
		se := stderr.String()
		if len(se) > 4000 {
			se = se[len(se)-4000:]
		}
		t.Errorf("%s stopped before its end (%v); context:\n%s\nstderr:\n%s", filepath.Base(name), werr, strings.Join(context, "\n"), se)
	}
}

// securityEnv is the certificates and JAAS files of the TLS and DIGEST-MD5
// deployments.
type securityEnv struct {
	dir        string
	pki        *testutil.PKI
	serverJAAS string
	clientJAAS string
	log4j      string // quiet client logging
}

func newSecurityEnv(t *testing.T) *securityEnv {
	t.Helper()
	dir := t.TempDir()
	e := &securityEnv{dir: dir, pki: testutil.NewPKI(t, dir)}
	o := func(cn string) pkix.Name { return pkix.Name{CommonName: cn, Organization: []string{"zkd"}} }
	e.pki.Issue(t, "server", o("server"), testutil.CertOptions{})
	for _, n := range []string{"alice", "bob", "admin"} {
		e.pki.Issue(t, n, o(n), testutil.CertOptions{})
	}
	e.pki.Issue(t, "expired", o("expired"), testutil.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	// Signed by another CA, written beside the others.
	other := testutil.NewPKI(t, t.TempDir())
	foreign := other.Issue(t, "foreign", o("foreign"), testutil.CertOptions{})
	for _, ext := range []string{".pem", ".crt", ".key"} {
		b, err := os.ReadFile(strings.TrimSuffix(foreign.PEM, ".pem") + ext)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "foreign"+ext), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.serverJAAS = filepath.Join(dir, "server-jaas.conf")
	e.clientJAAS = filepath.Join(dir, "client-jaas.conf")
	e.log4j = filepath.Join(dir, "log4j-client.properties")
	const digest = "org.apache.zookeeper.server.auth.DigestLoginModule"
	for path, text := range map[string]string{
		e.serverJAAS: `Server {
	` + digest + ` required
	user_bob="bobsecret"
	user_super="supersecret";
};
`,
		e.clientJAAS: `ClientBob { ` + digest + ` required username="bob" password="bobsecret"; };
ClientWrong { ` + digest + ` required username="bob" password="wrong"; };
ClientSuper { ` + digest + ` required username="super" password="supersecret"; };
`,
		e.log4j: "log4j.rootLogger=ERROR, STDERR\nlog4j.appender.STDERR=org.apache.log4j.ConsoleAppender\n" +
			"log4j.appender.STDERR.Target=System.err\nlog4j.appender.STDERR.layout=org.apache.log4j.PatternLayout\n" +
			"log4j.appender.STDERR.layout.ConversionPattern=%d %-5p %c{1} - %m%n\n",
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// mainDeployment is a Kafka-style secured server: TLS beside the plain port with
// client certificates wanted, x509 and sasl providers, DIGEST-MD5 users, an x509
// and a SASL super user.
func (e *securityEnv) mainDeployment() deployment {
	return deployment{cfg: strings.Join([]string{
		"authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider",
		"authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
		"X509AuthenticationProvider.superUser=CN=admin,O=zkd",
		"superUser=super",
		"ssl.keyStore.location=" + filepath.Join(e.dir, "server.pem"),
		"ssl.keyStore.type=PEM",
		"ssl.trustStore.location=" + e.pki.CAFile,
		"ssl.trustStore.type=PEM",
		"ssl.clientAuth=want",
	}, "\n") + "\n", jvm: []string{"-Djava.security.auth.login.config=" + e.serverJAAS}}
}

func (e *securityEnv) javaClient(t *testing.T, rec func(string, bool), r *running, mode string, jvm []string, extra ...string) {
	t.Helper()
	classes := javaClasses(t, securityClients, filepath.Join("security", "SecurityClients.java"))
	args := []string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true",
		"-Dlog4j.configuration=file:" + e.log4j, "-Djava.security.auth.login.config=" + e.clientJAAS}
	args = append(args, jvm...)
	args = append(args, "-cp", classes+":"+jarPath(zkServerJars, curatorJars), "SecurityClients", r.plain, r.secure, e.dir, mode)
	runCheckLines(t, rec, "java/", nil, javaBin, append(args, extra...)...)
}

func TestSecurityInteropTLSAndDigest(t *testing.T) {
	interopPrereqs(t, true)
	e := newSecurityEnv(t)
	script, _ := filepath.Abs(filepath.Join("testdata", "security", "security_kazoo.py"))
	var reference string // ZooKeeper's whoami, in its order
	forBothServers(t, e.mainDeployment(), true, func(t *testing.T, r *running, rec func(string, bool)) {
		t.Run("kazoo", func(t *testing.T) {
			runCheckLines(t, rec, "kazoo/", []string{"PYTHONDONTWRITEBYTECODE=1"}, python3Bin, "-u", script, r.plain, r.secure, e.dir, "main")
		})
		t.Run("java", func(t *testing.T) { e.javaClient(t, rec, r, "main", nil) })
		t.Run("zkCli", func(t *testing.T) {
			out := e.zkCliCheck(t, rec, "zkCli/whoami-over-tls", "x509: CN=alice,O=zkd", r.secure, "alice", "whoami")
			// The ids in the same order (ZooKeeper's is its hash set's).
			got := whoamiLines(out)
			if r.kind == "zookeeper" {
				reference = got
			} else if reference != "" {
				rec("zkCli/whoami-order-like-zookeeper", got == reference)
				if got != reference {
					t.Errorf("zkCli whoami over TLS lists %q, against ZooKeeper %q", got, reference)
				}
			}
		})
	})
}

// TestSecurityInteropPortUnification: with client.portUnification one client
// port takes TLS and plain clients (ZooKeeper's way to move clients to TLS one
// by one); kazoo's checks run on it in the clear and over TLS.
func TestSecurityInteropPortUnification(t *testing.T) {
	interopPrereqs(t, true)
	e := newSecurityEnv(t)
	d := e.mainDeployment()
	d.cfg += "client.portUnification=true\n"
	script, _ := filepath.Abs(filepath.Join("testdata", "security", "security_kazoo.py"))
	forBothServers(t, d, false, func(t *testing.T, r *running, rec func(string, bool)) {
		t.Run("kazoo", func(t *testing.T) {
			runCheckLines(t, rec, "kazoo/", []string{"PYTHONDONTWRITEBYTECODE=1"}, python3Bin, "-u", script, r.plain, r.plain, e.dir, "unified")
		})
		t.Run("zkCli", func(t *testing.T) {
			e.zkCliCheck(t, rec, "zkCli/create-in-the-clear", "Created /unified", r.plain, "", "create", "/unified", "in-the-clear")
			e.zkCliCheck(t, rec, "zkCli/get-over-tls", "in-the-clear", r.plain, "alice", "get", "/unified")
			e.zkCliCheck(t, rec, "zkCli/whoami-over-tls", "x509: CN=alice,O=zkd", r.plain, "alice", "whoami")
		})
	})
}

func TestSecurityInteropEnforcedSASL(t *testing.T) {
	interopPrereqs(t, true)
	e := newSecurityEnv(t)
	d := e.mainDeployment()
	d.cfg += "sessionRequireClientSASLAuth=true\n"
	script, _ := filepath.Abs(filepath.Join("testdata", "security", "security_kazoo.py"))
	forBothServers(t, d, true, func(t *testing.T, r *running, rec func(string, bool)) {
		t.Run("kazoo", func(t *testing.T) {
			runCheckLines(t, rec, "kazoo/", []string{"PYTHONDONTWRITEBYTECODE=1"}, python3Bin, "-u", script, r.plain, r.secure, e.dir, "enforce")
		})
		t.Run("java", func(t *testing.T) { e.javaClient(t, rec, r, "enforce", nil) })
	})
}

// TestSecurityInteropKerberos: GSSAPI with a loopback MIT KDC, the server's
// principal from a Krb5LoginModule keytab, the Java client's from its own;
// kerberos.removeRealmFromPrincipal shortens the sasl id.
func TestSecurityInteropKerberos(t *testing.T) {
	interopPrereqs(t, false)
	const realm = "ZKD.TEST"
	kdc := testutil.StartKDC(t, realm, map[string]string{
		"zookeeper/localhost": "zk.keytab",
		"zkcli/app1.example":  "client.keytab",
	})
	e := newSecurityEnv(t)
	serverJAAS := filepath.Join(kdc.Dir, "server-jaas.conf")
	clientJAAS := filepath.Join(kdc.Dir, "client-jaas.conf")
	const krb5 = "com.sun.security.auth.module.Krb5LoginModule"
	for path, text := range map[string]string{
		serverJAAS: fmt.Sprintf(`Server {
	%s required useKeyTab=true keyTab="%s" storeKey=true useTicketCache=false
	principal="zookeeper/localhost@%s";
};
`, krb5, kdc.Keytab("zk.keytab"), realm),
		clientJAAS: fmt.Sprintf(`Client {
	%s required useKeyTab=true keyTab="%s" storeKey=true useTicketCache=false doNotPrompt=true
	principal="zkcli/app1.example@%s";
};
ClientBob { org.apache.zookeeper.server.auth.DigestLoginModule required username="bob" password="bobsecret"; };
`, krb5, kdc.Keytab("client.keytab"), realm),
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	krbJVM := []string{"-Djava.security.krb5.conf=" + kdc.Conf, "-Dsun.security.krb5.disableReferrals=true"}
	d := deployment{
		cfg: "authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n" +
			"kerberos.removeRealmFromPrincipal=true\n",
		jvm: append([]string{"-Djava.security.auth.login.config=" + serverJAAS}, krbJVM...),
	}
	forBothServers(t, d, false, func(t *testing.T, r *running, rec func(string, bool)) {
		kr := *r
		kr.plain = r.secureWithHost // the service principal is zookeeper/localhost
		jvm := append([]string{"-Djava.security.auth.login.config=" + clientJAAS,
			"-Dzookeeper.server.principal=zookeeper/localhost@" + realm}, krbJVM...)
		classes := javaClasses(t, securityClients, filepath.Join("security", "SecurityClients.java"))
		args := []string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true",
			"-Dlog4j.configuration=file:" + e.log4j}
		args = append(args, jvm...)
		args = append(args, "-cp", classes+":"+jarPath(zkServerJars, curatorJars), "SecurityClients",
			kr.plain, "", e.dir, "kerberos", "zkcli/app1.example")
		runCheckLines(t, rec, "java/", nil, javaBin, args...)
	})
}

// zkCliCheck runs zkCli (see zkCli) and records check as whether its output
// holds want; it returns the output.
func (e *securityEnv) zkCliCheck(t *testing.T, rec func(string, bool), check, want, addr, cert string, cmd ...string) string {
	t.Helper()
	out := zkCli(t, e, addr, cert, cmd...)
	ok := strings.Contains(out, want)
	rec(check, ok)
	if !ok {
		t.Errorf("%s: zkCli %s printed:\n%s", check, strings.Join(cmd, " "), out)
	}
	return out
}

// whoamiLines is the "scheme: user" lines zkCli's whoami printed, in order.
func whoamiLines(out string) string {
	var ids []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "ip: ") || strings.HasPrefix(l, "x509: ") || strings.HasPrefix(l, "digest: ") ||
			strings.HasPrefix(l, "sasl: ") || strings.HasPrefix(l, "super: ") {
			ids = append(ids, strings.TrimSpace(l))
		}
	}
	return strings.Join(ids, "; ")
}

// zkCli runs `zkCli -server addr cmd` over TLS with cert ("": in the clear)
// and returns its output.
func zkCli(t *testing.T, e *securityEnv, addr, cert string, cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-Xmx256m", "-XX:TieredStopAtLevel=1", "-Dlog4j.configuration=file:" + e.log4j, "-Dzookeeper.sasl.client=false"}
	if cert != "" {
		args = append(args, "-Dzookeeper.client.secure=true", "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
			"-Dzookeeper.ssl.keyStore.location="+filepath.Join(e.dir, cert+".pem"), "-Dzookeeper.ssl.keyStore.type=PEM",
			"-Dzookeeper.ssl.trustStore.location="+e.pki.CAFile, "-Dzookeeper.ssl.trustStore.type=PEM")
	}
	args = append(args, "-cp", jarPath(zkServerJars), "org.apache.zookeeper.ZooKeeperMain", "-server", addr)
	c := exec.CommandContext(ctx, javaBin, append(args, cmd...)...)
	out, err := c.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		t.Fatalf("zkCli did not finish: %v\n%s", err, out)
	}
	return string(out)
}

// TestSecurityInteropAdminHTTPS: the AdminServer over HTTPS with the quorum's key
// store, only HTTPS (admin.forceHttps) or HTTPS and HTTP on one port
// (admin.portUnification), on ZooKeeper's Jetty and on zkd: the same answer,
// plain HTTP refused or served alike, and no client certificate asked for.
func TestSecurityInteropAdminHTTPS(t *testing.T) {
	interopPrereqs(t, false)
	e := newSecurityEnv(t)
	// With both keys, HTTPS only: forceHttps wins in ZooKeeper's JettyAdminServer.
	for _, mode := range []string{"forceHttps", "portUnification", "forceHttps+portUnification"} {
		t.Run(mode, func(t *testing.T) {
			var keys []string
			for _, k := range strings.Split(mode, "+") {
				keys = append(keys, "admin."+k+"=true")
			}
			d := deployment{admin: true, cfg: strings.Join(append(keys,
				"ssl.quorum.keyStore.location="+filepath.Join(e.dir, "server.pem"),
				"ssl.quorum.keyStore.type=PEM",
				"ssl.quorum.trustStore.location="+e.pki.CAFile,
				"ssl.quorum.trustStore.type=PEM",
			), "\n") + "\n"}
			var reference string // ZooKeeper's answer over HTTPS
			forBothServers(t, d, false, func(t *testing.T, r *running, rec func(string, bool)) {
				asked := false
				tc := e.pki.ClientConfig(nil)
				tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					asked = true
					return &tls.Certificate{}, nil
				}
				fetch := func(c *http.Client, url string) (int, string) {
					resp, err := c.Get(url)
					if err != nil {
						return 0, err.Error()
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					return resp.StatusCode, string(b)
				}
				code, body := fetch(&http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}},
					"https://"+r.admin+"/commands/ruok")
				ok := code == http.StatusOK && strings.Contains(body, `"command" : "ruok"`)
				rec("admin/ruok-over-https", ok)
				if !ok {
					t.Errorf("ruok over HTTPS: %d %q", code, body)
				}
				if r.kind == "zookeeper" {
					reference = body
				} else if reference != "" {
					rec("admin/https-answer-like-zookeeper", body == reference)
					if body != reference {
						t.Errorf("ruok over HTTPS: %q, ZooKeeper answered %q", body, reference)
					}
				}
				rec("admin/no-client-certificate-asked", !asked)
				if asked {
					t.Error("the AdminServer asked for a client certificate")
				}
				code, body = fetch(&http.Client{Timeout: 20 * time.Second}, "http://"+r.admin+"/commands/ruok")
				served := code == http.StatusOK && strings.Contains(body, `"command" : "ruok"`)
				if mode == "portUnification" { // alone
					rec("admin/ruok-over-http-on-the-unified-port", served)
					if !served {
						t.Errorf("ruok over HTTP on the unified port: %d %q", code, body)
					}
				} else {
					rec("admin/http-refused", !served)
					if served {
						t.Error("an HTTPS-only AdminServer answered plain HTTP")
					}
				}
			})
		})
	}
}

// TestAuditLogLikeZooKeeper: with audit.enable, the same writes through kazoo
// (every kind the audit log records, successful and failed, with reads mixed in,
// and a session whose close deletes its ephemerals) give zkd's audit log the
// lines of ZooKeeper 3.8's, from serverStart to serverStop. Compared without the
// time stamps, with session ids named by first appearance, and with the
// ephemeral deletions of one session's end as a set: ZooKeeper deletes them in
// the order of a hash set, zkd in path order.
func TestAuditLogLikeZooKeeper(t *testing.T) {
	interopPrereqs(t, true)
	script, _ := filepath.Abs(filepath.Join("testdata", "security", "audit_kazoo.py"))
	d := deployment{cfg: "audit.enable=true\n", audit: true}
	logs := map[string][]string{}
	forBothServers(t, d, false, func(t *testing.T, r *running, rec func(string, bool)) {
		ctx, cancel := context.WithTimeout(context.Background(), interopClient)
		defer cancel()
		out, err := exec.CommandContext(ctx, python3Bin, "-u", script, r.plain).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "# done") {
			t.Fatalf("audit_kazoo.py: %v\n%s", err, out)
		}
		r.stop()
		b, err := os.ReadFile(r.auditLog)
		if err != nil {
			t.Fatal(err)
		}
		logs[r.kind] = normalizeAudit(string(b))
		rec("audit/lines", len(logs[r.kind]) > 2)
		if ref, ok := logs["zookeeper"]; ok && r.kind == "zkd" {
			same := slices.Equal(logs["zkd"], ref)
			rec("audit/same-lines-as-zookeeper", same)
			if !same {
				t.Errorf("audit log:\n%s\nZooKeeper's:\n%s", strings.Join(logs["zkd"], "\n"), strings.Join(ref, "\n"))
			}
		}
	})
}

// normalizeAudit drops the time stamps of an audit log's lines, names session
// ids s1, s2, ... by first appearance, and sorts each run of ephemeral-deletion
// lines.
func normalizeAudit(text string) []string {
	sessions := map[string]string{}
	var out []string
	run := 0 // start of the current run of ephemeral deletions in out
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if f := strings.SplitN(line, " ", 3); len(f) == 3 {
			line = f[2] // after the date and the time
		}
		head, rest, _ := strings.Cut(line, ": ") // the level and the logger, then the fields
		fields := strings.Split(rest, "\t")
		for i, f := range fields {
			if v, ok := strings.CutPrefix(f, "session="); ok {
				if sessions[v] == "" {
					sessions[v] = fmt.Sprintf("s%d", len(sessions)+1)
				}
				fields[i] = "session=" + sessions[v]
			}
		}
		line = head + ": " + strings.Join(fields, "\t")
		if !strings.Contains(line, "operation=ephemeralZNodeDeletionOnSessionCloseOrExpire") {
			run = len(out) + 1
		}
		out = append(out, line)
		slices.Sort(out[min(run, len(out)):])
	}
	return out
}
