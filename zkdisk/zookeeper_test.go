package zkdisk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
	"zkd/jute"
)

// TestMain removes the zkd binary the round-trip test builds and the data the
// benchmarks generate.
func TestMain(m *testing.M) { testutil.Main(m, removeMillionDirs) }

// Debian's zookeeper.jar (its manifest names the rest of the classpath) and the
// jars the manifest misses: netty's codec, resolver and unix-common for the client
// port, an slf4j binding with log4j 1.2 for the log.
const (
	zkJar       = "/usr/share/java/zookeeper.jar"
	zkExtraJars = "/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:" +
		"/usr/share/java/netty-transport-native-unix-common.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
	zkMainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

const log4jProperties = `log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

// startTimeout bounds a server's start-up (a cold JVM takes a few seconds).
const startTimeout = 60 * time.Second

// server is a ZooKeeper or zkd process started by a test.
type server struct {
	addr  string
	admin string // zkd's AdminServer, http://127.0.0.1:port; "" when off
	proc  *testutil.Process
	log   string
}

// zooKeeperCmd returns java and the classpath of Debian's Apache ZooKeeper 3.8,
// or skips (fails in CI) when they are missing.
func zooKeeperCmd(t *testing.T) (java, classpath string) {
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
	return java, strings.Join(cp, ":")
}

// startZooKeeper runs Apache ZooKeeper 3.8 standalone on dataDir (which outlives
// it) on a free loopback port; cfg is appended to its zoo.cfg and jvm to its
// command line. Containers and TTL nodes are never reaped during a test.
func startZooKeeper(t *testing.T, dataDir, cfg string, jvm ...string) *server {
	t.Helper()
	java, cp := zooKeeperCmd(t)
	for attempt := 0; ; attempt++ {
		dir := t.TempDir()
		port := testutil.FreePort(t)
		text := testutil.ZooCfg(dataDir, port, "4lw.commands.whitelist=*\nextendedTypesEnabled=true\nautopurge.purgeInterval=0\n"+cfg)
		if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "log4j.properties"), []byte(log4jProperties), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{
			"-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.net.preferIPv4Stack=true",
			"-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties"),
			"-Dzookeeper.jmx.log4j.disable=true", "-Dzookeeper.log.dir=" + dir,
			"-Dznode.container.checkIntervalMs=3600000",
		}, jvm...)
		args = append(args, "-cp", cp, zkMainClass, filepath.Join(dir, "zoo.cfg"))
		s := &server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), log: filepath.Join(dir, "zookeeper.out")}
		s.proc = testutil.StartProcess(t, dir, s.log, java, args...)
		if waitServing(t, s) {
			return s
		}
		if attempt == 2 {
			t.Fatalf("ZooKeeper failed to start three times; log:\n%s", testutil.TailFile(s.log, 30))
		}
	}
}

// startZkd runs bin/zkd on a zoo.cfg with dataDir; with admin, its AdminServer
// listens on a free loopback port with the snapshot command enabled (no rate
// limit).
func startZkd(t *testing.T, bin, dataDir string, admin bool) *server {
	t.Helper()
	for attempt := 0; ; attempt++ {
		dir := t.TempDir()
		port := testutil.FreePort(t)
		extra := "4lw.commands.whitelist=*\nextendedTypesEnabled=true\nznode.container.checkIntervalMs=3600000\n"
		adminURL := ""
		if admin {
			adminPort := testutil.FreePort(t)
			extra += fmt.Sprintf("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%d\n"+
				"admin.snapshot.enabled=true\nadmin.rateLimiterIntervalInMS=0\n", adminPort)
			adminURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))
		}
		text := testutil.ZooCfg(dataDir, port, extra)
		cfg := filepath.Join(dir, "zoo.cfg")
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		s := &server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), admin: adminURL, log: filepath.Join(dir, "zkd.out")}
		s.proc = testutil.StartProcess(t, dir, s.log, bin, "-config", cfg, "-log-level", "warn")
		if waitServing(t, s) {
			return s
		}
		if attempt == 2 {
			t.Fatalf("zkd failed to start three times; log:\n%s", testutil.TailFile(s.log, 30))
		}
	}
}

// waitServing polls srvr until the server serves; false if the process exited.
func waitServing(t *testing.T, s *server) bool {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		if out, err := fourLetter(s.addr, "srvr"); err == nil && strings.Contains(out, "Mode:") {
			return true
		}
		select {
		case <-s.proc.Exited():
			t.Logf("server exited during start-up; log:\n%s", testutil.TailFile(s.log, 20))
			return false
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server on %s not serving within %v; log:\n%s", s.addr, startTimeout, testutil.TailFile(s.log, 30))
		}
	}
}

// fourLetter sends a four-letter word and returns the reply.
func fourLetter(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// mntrValue returns one key of the mntr reply.
func mntrValue(t *testing.T, addr, key string) string {
	t.Helper()
	out, err := fourLetter(addr, "mntr")
	if err != nil {
		t.Fatalf("mntr: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "\t"); ok && k == key {
			return v
		}
	}
	t.Fatalf("mntr has no %s:\n%s", key, out)
	return ""
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// connect opens a go-zookeeper session to addr and waits until it has one. It is
// closed in Cleanup (a no-op if the test closed it).
func connect(t *testing.T, addr string, timeout time.Duration) *zk.Conn {
	t.Helper()
	c, events, err := zk.Connect([]string{addr}, timeout, zk.WithLogger(nopLogger{}), zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	t.Cleanup(c.Close)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return c
			}
		case <-deadline:
			t.Fatalf("no session with %s", addr)
		}
	}
}

// servedTree reads every node a server serves through a real client.
func servedTree(t *testing.T, c *zk.Conn) map[string]nodeState {
	t.Helper()
	out := make(map[string]nodeState)
	stack := []string{"/"}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		data, st, err := c.Get(p)
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		acl, _, err := c.GetACL(p)
		if err != nil {
			t.Fatalf("getACL %s: %v", p, err)
		}
		kids, _, err := c.Children(p)
		if err != nil {
			t.Fatalf("children %s: %v", p, err)
		}
		n := nodeState{Path: p, Data: data, Stat: jute.Stat{Czxid: st.Czxid, Mzxid: st.Mzxid, Ctime: st.Ctime, Mtime: st.Mtime,
			Version: st.Version, Cversion: st.Cversion, Aversion: st.Aversion, EphemeralOwner: st.EphemeralOwner,
			DataLength: st.DataLength, NumChildren: st.NumChildren, Pzxid: st.Pzxid}}
		for _, a := range acl {
			n.ACL = append(n.ACL, jute.ACL{Perms: a.Perms, ID: jute.Id{Scheme: a.Scheme, ID: a.ID}})
		}
		out[p] = n
		slices.Sort(kids)
		for _, k := range kids {
			stack = append(stack, strings.TrimSuffix(p, "/")+"/"+k)
		}
	}
	return out
}

// describeDir lists a version-2 directory for failure messages.
func describeDir(dir string) string {
	ents, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, e := range ents {
		info, _ := e.Info()
		fmt.Fprintf(&b, "%s (%d) ", e.Name(), info.Size())
	}
	return b.String()
}

// rawSession is a session opened with a hand-made handshake, so that the test
// knows the password the server gave it.
type rawSession struct {
	conn   net.Conn
	id     int64
	passwd []byte
	xid    int32
}

func writeFrame(c net.Conn, b []byte) error {
	_, err := c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	if err == nil {
		_, err = c.Write(b)
	}
	return err
}

func readFrame(c net.Conn) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

// rawConnect opens (sid 0) or resumes a session and returns the server's answer.
func rawConnect(t *testing.T, addr string, sid int64, passwd []byte) (*rawSession, jute.ConnectResponse) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	req := jute.ConnectRequest{TimeOut: 30000, SessionID: sid, Passwd: passwd}
	if err := writeFrame(c, req.Append(nil)); err != nil {
		t.Fatal(err)
	}
	b, err := readFrame(c)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	var resp jute.ConnectResponse
	d := jute.NewDecoder(b)
	resp.Decode(&d)
	return &rawSession{conn: c, id: resp.SessionID, passwd: bytes.Clone(resp.Passwd)}, resp
}

// createEphemeral creates an ephemeral node on the raw session.
func (s *rawSession) createEphemeral(t *testing.T, path string) {
	t.Helper()
	s.xid++
	b := (&jute.RequestHeader{Xid: s.xid, Type: jute.OpCreate}).Append(nil)
	b = (&jute.CreateRequest{Path: path, Data: []byte("held"), ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeral)}).Append(b)
	if err := writeFrame(s.conn, b); err != nil {
		t.Fatal(err)
	}
	reply, err := readFrame(s.conn)
	if err != nil {
		t.Fatal(err)
	}
	var h jute.ReplyHeader
	d := jute.NewDecoder(reply)
	h.Decode(&d)
	if h.Err != jute.CodeOK {
		t.Fatalf("create %s: %v", path, h.Err)
	}
}
