package zkcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"zkd/internal/testutil"
)

// Debian's zookeeper.jar and the jars its manifest misses (the conformance kit's
// lib/common.sh): netty codec/resolver/unix-common for the client port, an slf4j
// binding with log4j 1.2 for the log.
const (
	zkJar       = "/usr/share/java/zookeeper.jar"
	zkExtraJars = "/usr/share/java/servlet-api.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:" +
		"/usr/share/java/netty-transport-native-unix-common.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
	zkMainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// zkLog4j logs warnings, and the quorum peer's role changes, which say who led when.
const zkLog4j = `log4j.rootLogger=WARN, CONSOLE
log4j.logger.org.apache.zookeeper.server.quorum.QuorumPeer=INFO
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

// zooKeeperKind runs Apache ZooKeeper 3.8 from Debian's jars, java run directly.
type zooKeeperKind struct {
	java string
	cp   string
}

// ZooKeeper returns the kind that runs Apache ZooKeeper 3.8 (Debian's package) with
// QuorumPeerMain. Without java or the jars the test fails under CI and skips
// elsewhere (testutil.Missing).
func ZooKeeper(t testing.TB) ServerKind {
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
	return &zooKeeperKind{java: java, cp: strings.Join(cp, ":")}
}

func (k *zooKeeperKind) Name() string { return "zookeeper" }

func (k *zooKeeperKind) LinearizableSync() bool { return false }

// DivergenceMark is the start of DataTree's error when the digest a txn carries
// does not match the tree after applying it.
func (k *zooKeeperKind) DivergenceMark() string { return "First digest mismatch on txn" }

func (k *zooKeeperKind) Prepare(dir string) error {
	return os.WriteFile(filepath.Join(dir, "log4j.properties"), []byte(zkLog4j), 0o644)
}

func (k *zooKeeperKind) Command(dir string) (string, []string) {
	return k.java, []string{
		"-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true",
		"-Dfile.encoding=UTF-8", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties"),
		"-Dzookeeper.jmx.log4j.disable=true", "-Dzookeeper.admin.enableServer=false",
		"-Dzookeeper.log.dir=" + dir,
		"-cp", k.cp, zkMainClass, filepath.Join(dir, "zoo.cfg"),
	}
}

// zkdKind runs a zkd binary.
type zkdKind struct{ bin string }

// Zkd returns the kind that runs the zkd binary at bin as `zkd <dir>/zoo.cfg`.
func Zkd(bin string) ServerKind { return zkdKind{bin: bin} }

func (k zkdKind) Name() string             { return "zkd" }
func (k zkdKind) Prepare(dir string) error { return nil }
func (k zkdKind) LinearizableSync() bool   { return true }
func (k zkdKind) DivergenceMark() string   { return "" }
func (k zkdKind) Command(dir string) (string, []string) {
	return k.bin, []string{filepath.Join(dir, "zoo.cfg")}
}
