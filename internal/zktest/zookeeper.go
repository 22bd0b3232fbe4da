package zktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
)

// Debian's zookeeper.jar and the jars its manifest misses: netty
// codec/resolver/unix-common for the client port, an slf4j binding with log4j 1.2
// for the log, the servlet API for the AdminServer.
const (
	zkJar       = "/usr/share/java/zookeeper.jar"
	zkMainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

var zkExtraJars = []string{
	"/usr/share/java/servlet-api.jar", "/usr/share/java/netty-codec.jar", "/usr/share/java/netty-resolver.jar",
	"/usr/share/java/netty-transport-native-unix-common.jar", "/usr/share/java/slf4j-log4j12.jar",
	"/usr/share/java/log4j-1.2.jar",
}

// zkStartTimeout bounds Apache ZooKeeper's start-up; a cold JVM takes seconds.
const zkStartTimeout = 90 * time.Second

// ZooKeeperOptions shape the Apache ZooKeeper StartZooKeeper runs.
type ZooKeeperOptions struct {
	// TickTime is the zoo.cfg tickTime; 0 means 2 s.
	TickTime time.Duration
	// Extra holds more zoo.cfg lines.
	Extra string
	// JVMFlags are added to the java command line (-Dkey=value properties, say).
	JVMFlags []string
	// Heap is the JVM's -Xmx; "" means 512m.
	Heap string
	// AdminPort, when above zero, runs the AdminServer on 127.0.0.1 at that port.
	AdminPort int
}

// ZooKeeper is an Apache ZooKeeper 3.8 a test runs, from Debian's jars with java
// run directly: the reference zkd is compared with.
type ZooKeeper struct {
	Addr    string // client address, host:port
	Dir     string // holds zoo.cfg, log4j.properties, data/ and zookeeper.out
	LogPath string
	Proc    *testutil.Process
}

// StartZooKeeper starts Apache ZooKeeper standalone on a free loopback port with
// every four-letter word, and waits until ruok and srvr answer. It stops in
// Cleanup. Without java or Debian's zookeeper package the test fails under CI
// and is skipped elsewhere (testutil.Missing).
func StartZooKeeper(t testing.TB, opts ZooKeeperOptions) *ZooKeeper {
	t.Helper()
	java, cp := zooKeeperJava(t)
	opts = opts.withDefaults()
	for attempt := 1; ; attempt++ {
		z, err := launchZooKeeper(t, java, cp, opts)
		if err == nil {
			return z
		}
		if attempt == 3 {
			t.Fatalf("Apache ZooKeeper failed to start three times: %v", err)
		}
		t.Logf("Apache ZooKeeper did not start, trying other ports: %v", err)
	}
}

// zooKeeperJava returns the java binary and the classpath that runs Debian's
// ZooKeeper, or fails (under CI) or skips the test when either is missing.
func zooKeeperJava(t testing.TB) (java, classpath string) {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		testutil.Missing(t, "java")
	}
	if _, err := os.Stat(zkJar); err != nil {
		testutil.Missing(t, "Apache ZooKeeper ("+zkJar+")")
	}
	cp := []string{zkJar}
	for _, j := range zkExtraJars {
		if _, err := os.Stat(j); err == nil {
			cp = append(cp, j)
		}
	}
	return java, strings.Join(cp, ":")
}

func (opts ZooKeeperOptions) withDefaults() ZooKeeperOptions {
	if opts.TickTime == 0 {
		opts.TickTime = 2 * time.Second
	}
	if opts.Heap == "" {
		opts.Heap = "512m"
	}
	return opts
}

const log4jProperties = `log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

// startZooKeeperProcess writes zoo.cfg (the common keys, then keys, then
// opts.Extra), log4j.properties and data/ (with myid when myid > 0) into a new
// temporary directory and starts QuorumPeerMain on it, without waiting.
func startZooKeeperProcess(t testing.TB, java, classpath string, opts ZooKeeperOptions, addr string, myid int, keys string) *ZooKeeper {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("tickTime=%d\ninitLimit=10\nsyncLimit=5\ndataDir=%s\n"+
		"maxClientCnxns=0\n4lw.commands.whitelist=*\nautopurge.purgeInterval=0\n%s%s\n",
		opts.TickTime.Milliseconds(), filepath.Join(dir, "data"), keys, opts.Extra)
	for name, text := range map[string]string{"zoo.cfg": cfg, "log4j.properties": log4jProperties} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if myid > 0 {
		if err := os.WriteFile(filepath.Join(dir, "data", "myid"), fmt.Appendf(nil, "%d\n", myid), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-Xms64m", "-Xmx" + opts.Heap, "-XX:+UseG1GC", "-Djava.net.preferIPv4Stack=true",
		"-Dfile.encoding=UTF-8", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties"),
		"-Dzookeeper.jmx.log4j.disable=true", "-Dzookeeper.log.dir=" + dir}
	args = append(args, opts.JVMFlags...)
	args = append(args, "-cp", classpath, zkMainClass, filepath.Join(dir, "zoo.cfg"))
	z := &ZooKeeper{Addr: addr, Dir: dir, LogPath: filepath.Join(dir, "zookeeper.out")}
	z.Proc = testutil.StartProcess(t, dir, z.LogPath, java, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Apache ZooKeeper %s log %s (tail):\n%s", z.Addr, z.LogPath, testutil.TailFile(z.LogPath, 40))
		}
	})
	return z
}

func launchZooKeeper(t testing.TB, java, classpath string, opts ZooKeeperOptions) (*ZooKeeper, error) {
	t.Helper()
	port := testutil.FreePort(t)
	keys := fmt.Sprintf("clientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n", port)
	if opts.AdminPort > 0 {
		keys = fmt.Sprintf("clientPort=%d\nclientPortAddress=127.0.0.1\n"+
			"admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%d\n", port, opts.AdminPort)
	}
	z := startZooKeeperProcess(t, java, classpath, opts, fmt.Sprintf("127.0.0.1:%d", port), 0, keys)
	deadline := time.Now().Add(zkStartTimeout)
	for {
		select {
		case <-z.Proc.Exited():
			return nil, fmt.Errorf("exited during start-up: %v\n%s", z.Proc.Cmd.ProcessState, testutil.TailFile(z.LogPath, 20))
		default:
		}
		if ok, _ := FourLetterWord(z.Addr, "ruok"); ok == "imok" && Mode(z.Addr) != "" {
			return z, nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("Apache ZooKeeper did not serve %s within %v; log:\n%s", z.Addr, zkStartTimeout, testutil.TailFile(z.LogPath, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ZooKeeperEnsemble is an Apache ZooKeeper 3.8 ensemble a test runs: n
// QuorumPeerMain processes, each from its own zoo.cfg with the same server.N
// lines and its own myid file. Members are numbered from 0; member i has myid i+1.
type ZooKeeperEnsemble struct {
	Members []*ZooKeeper
}

// StartZooKeeperEnsemble starts n Apache ZooKeeper processes as an ensemble on
// free loopback ports (client, quorum and election port each) and waits until
// one member reports Mode: leader and every other one Mode: follower. The
// AdminServer stays off (opts.AdminPort is ignored). A member that exits during
// start-up (a port taken between choosing it and the bind) makes the whole
// ensemble start again on other ports, up to three times; no leader within
// the start-up bound fails the test. Missing java or ZooKeeper is handled as by
// StartZooKeeper.
func StartZooKeeperEnsemble(t testing.TB, n int, opts ZooKeeperOptions) *ZooKeeperEnsemble {
	t.Helper()
	java, cp := zooKeeperJava(t)
	opts = opts.withDefaults()
	for attempt := 1; ; attempt++ {
		e, err := launchZooKeeperEnsemble(t, java, cp, n, opts)
		if err == nil {
			return e
		}
		for _, z := range e.Members {
			z.Proc.Stop()
		}
		if attempt == 3 {
			t.Fatalf("Apache ZooKeeper ensemble failed to start three times: %v", err)
		}
		t.Logf("Apache ZooKeeper ensemble did not start, trying other ports: %v", err)
	}
}

func launchZooKeeperEnsemble(t testing.TB, java, classpath string, n int, opts ZooKeeperOptions) (*ZooKeeperEnsemble, error) {
	t.Helper()
	e := &ZooKeeperEnsemble{}
	ports := make([]int, n)
	var servers strings.Builder
	for i := range n {
		ports[i] = testutil.FreePort(t)
		fmt.Fprintf(&servers, "server.%d=127.0.0.1:%d:%d\n", i+1, testutil.FreePort(t), testutil.FreePort(t))
	}
	for i := range n {
		keys := fmt.Sprintf("clientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n%s", ports[i], servers.String())
		e.Members = append(e.Members, startZooKeeperProcess(t, java, classpath, opts, fmt.Sprintf("127.0.0.1:%d", ports[i]), i+1, keys))
	}
	deadline := time.Now().Add(zkStartTimeout)
	for {
		leaders, followers := 0, 0
		for i, z := range e.Members {
			select {
			case <-z.Proc.Exited():
				return e, fmt.Errorf("member %d exited during start-up: %v\n%s", i, z.Proc.Cmd.ProcessState, testutil.TailFile(z.LogPath, 20))
			default:
			}
			switch Mode(z.Addr) {
			case "leader":
				leaders++
			case "follower":
				followers++
			}
		}
		if leaders == 1 && followers == n-1 {
			return e, nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("Apache ZooKeeper ensemble: no leader and %d followers within %v", n-1, zkStartTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Addrs lists every member's client address, member i at index i.
func (e *ZooKeeperEnsemble) Addrs() []string {
	addrs := make([]string, len(e.Members))
	for i, z := range e.Members {
		addrs[i] = z.Addr
	}
	return addrs
}

// ConnectString lists every member's client address, separated by commas.
func (e *ZooKeeperEnsemble) ConnectString() string { return strings.Join(e.Addrs(), ",") }
