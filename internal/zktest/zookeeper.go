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
	if opts.TickTime == 0 {
		opts.TickTime = 2 * time.Second
	}
	if opts.Heap == "" {
		opts.Heap = "512m"
	}
	for attempt := 1; ; attempt++ {
		z, err := launchZooKeeper(t, java, strings.Join(cp, ":"), opts)
		if err == nil {
			return z
		}
		if attempt == 3 {
			t.Fatalf("Apache ZooKeeper failed to start three times: %v", err)
		}
		t.Logf("Apache ZooKeeper did not start, trying other ports: %v", err)
	}
}

const log4jProperties = `log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

func launchZooKeeper(t testing.TB, java, classpath string, opts ZooKeeperOptions) (*ZooKeeper, error) {
	t.Helper()
	dir := t.TempDir()
	port := testutil.FreePort(t)
	admin := "admin.enableServer=false\n"
	if opts.AdminPort > 0 {
		admin = fmt.Sprintf("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%d\n", opts.AdminPort)
	}
	cfg := fmt.Sprintf("tickTime=%d\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"maxClientCnxns=0\n4lw.commands.whitelist=*\nautopurge.purgeInterval=0\n%s%s\n",
		opts.TickTime.Milliseconds(), filepath.Join(dir, "data"), port, admin, opts.Extra)
	for name, text := range map[string]string{"zoo.cfg": cfg, "log4j.properties": log4jProperties} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-Xms64m", "-Xmx" + opts.Heap, "-XX:+UseG1GC", "-Djava.net.preferIPv4Stack=true",
		"-Dfile.encoding=UTF-8", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties"),
		"-Dzookeeper.jmx.log4j.disable=true", "-Dzookeeper.log.dir=" + dir}
	args = append(args, opts.JVMFlags...)
	args = append(args, "-cp", classpath, zkMainClass, filepath.Join(dir, "zoo.cfg"))
	z := &ZooKeeper{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, LogPath: filepath.Join(dir, "zookeeper.out")}
	z.Proc = testutil.StartProcess(t, dir, z.LogPath, java, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Apache ZooKeeper log %s (tail):\n%s", z.LogPath, testutil.TailFile(z.LogPath, 40))
		}
	})
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
