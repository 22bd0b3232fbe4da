package difftest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
	"zkd/jute"
)

// Debian's zookeeper.jar and the jars its manifest misses (see the conformance kit's
// lib/common.sh): netty codec/resolver/unix-common for the client port, an slf4j
// binding with log4j 1.2 for the log.
const (
	zkJar       = "/usr/share/java/zookeeper.jar"
	zkExtraJars = "/usr/share/java/servlet-api.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:" +
		"/usr/share/java/netty-transport-native-unix-common.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
	zkMainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// startTimeout bounds a server's start-up (a cold JVM takes a few seconds).
const startTimeout = 60 * time.Second

// containerCheckMs is the container/TTL reaper interval of both servers: an hour, so
// that no node is reaped during a test. Reaping runs on a timer, at moments the
// lock-step driver cannot line up between the two servers.
const containerCheckMs = 3_600_000

// tickMs is both servers' tickTime; a 30 s session timeout is within its bounds.
const tickMs = 2000

const log4jProperties = `log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Threshold=WARN
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

// process is a server started by a test; it is stopped in Cleanup.
type process struct {
	name string
	addr string
	log  string
	proc *testutil.Process
}

// startProcess runs name with args in dir, output to dir/server.out, and waits until
// addr accepts a session. ok is false if the process exited during start-up (a port
// taken between freePort and the server's bind, for instance).
func startProcess(t *testing.T, label, dir, addr, name string, args ...string) (p *process, ok bool) {
	t.Helper()
	logPath := filepath.Join(dir, "server.out")
	proc := testutil.StartProcess(t, dir, logPath, name, args...)
	p = &process{name: label, addr: addr, log: logPath, proc: proc}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", label, testutil.TailFile(logPath, 30))
		}
	})

	deadline := time.Now().Add(startTimeout)
	for {
		c, ok, err := dialSession(addr, 2*time.Second, 30000, 0, nil)
		if err == nil && ok {
			_, _ = c.call(0, jute.OpCloseSession, nil)
			c.close()
			return p, true
		}
		select {
		case <-p.proc.Exited():
			t.Logf("%s exited during start-up; log:\n%s", label, testutil.TailFile(logPath, 20))
			return p, false
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept a session on %s within %v; log:\n%s", label, addr, startTimeout, testutil.TailFile(logPath, 20))
		}
	}
}

// zooCfg is the zoo.cfg both servers start from.
func zooCfg(dir string, port int) string {
	return fmt.Sprintf(`tickTime=%d
initLimit=10
syncLimit=5
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
autopurge.purgeInterval=0
`, tickMs, filepath.Join(dir, "data"), port)
}

// startZooKeeper starts Apache ZooKeeper 3.8 from Debian's jars (java run directly)
// with TTL nodes enabled, and returns its address.
func startZooKeeper(t *testing.T) string {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		testutil.Missing(t, "java")
	}
	if _, err := os.Stat(zkJar); err != nil {
		testutil.Missing(t, "Apache ZooKeeper ("+zkJar+")")
	}
	cp := []string{zkJar}
	for _, j := range strings.Split(zkExtraJars, ":") {
		if _, err := os.Stat(j); err == nil {
			cp = append(cp, j)
		}
	}
	for attempt := 0; ; attempt++ {
		dir := t.TempDir()
		port := testutil.FreePort(t)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(zooCfg(dir, port)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "log4j.properties"), []byte(log4jProperties), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{
			"-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.net.preferIPv4Stack=true",
			"-Dfile.encoding=UTF-8", "-Djava.awt.headless=true",
			"-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties"),
			"-Dzookeeper.jmx.log4j.disable=true", "-Dzookeeper.admin.enableServer=false",
			"-Dzookeeper.log.dir=" + dir,
			// The tests' data is throwaway: no fsync per txn.
			"-Dzookeeper.forceSync=no",
			"-Dzookeeper.extendedTypesEnabled=true",
			"-Dznode.container.checkIntervalMs=" + strconv.Itoa(containerCheckMs),
			"-cp", strings.Join(cp, ":"), zkMainClass, filepath.Join(dir, "zoo.cfg"),
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if _, ok := startProcess(t, "zookeeper", dir, addr, java, args...); ok {
			return addr
		}
		if attempt == 2 {
			t.Fatal("ZooKeeper failed to start three times")
		}
	}
}

// startZkd builds zkd from the module root into a temporary directory and starts it
// from a zoo.cfg with TTL nodes enabled, and returns its address.
func startZkd(t *testing.T) string {
	t.Helper()
	bin := testutil.BuildZkd(t)
	for attempt := 0; ; attempt++ {
		dir := t.TempDir()
		port := testutil.FreePort(t)
		cfg := zooCfg(dir, port) + "extendedTypesEnabled=true\n" +
			"znode.container.checkIntervalMs=" + strconv.Itoa(containerCheckMs) + "\n"
		if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if _, ok := startProcess(t, "zkd", dir, addr, bin, "-config", filepath.Join(dir, "zoo.cfg"), "-log-level", "warn"); ok {
			return addr
		}
		if attempt == 2 {
			t.Fatal("zkd failed to start three times")
		}
	}
}
