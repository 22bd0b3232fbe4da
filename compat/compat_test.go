package compat

// Shared harness: tool checks, building and starting zkd, starting Apache ZooKeeper
// through the conformance kit, free ports, and running each suite once per server
// with a per-check record of results.

import (
	"bufio"
	"errors"
	"fmt"
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
	"zkd/internal/zktest"
)

// Bounds on waits. They stop hangs; none of them asserts how fast a server is.
const (
	stopTimeout = 20 * time.Second // a client process to exit
)

// envReference set to "0" skips the Apache ZooKeeper runs.
const envReference = "ZKD_COMPAT_REFERENCE"

// Debian paths of the clients and the JDK.
const (
	javaBin   = "/usr/bin/java"
	python3   = "/usr/bin/python3" // Debian's, which has python3-kazoo; not a pyenv shim
	cliMT     = "/usr/lib/zookeeper/bin/cli_mt"
	kazooDir  = "/usr/lib/python3/dist-packages/kazoo"
	debianJar = "/usr/share/java/"
)

// zkJars is the classpath of zkCli, and with curatorJars of the Curator program:
// zookeeper.jar's manifest pulls in jute, netty and friends; the rest is what
// Debian's manifest misses (internal/zktest/zookeeper.go lists the server's).
var zkJars = []string{
	"zookeeper.jar", "zookeeper-jute.jar", "netty-codec.jar", "netty-resolver.jar",
	"netty-transport-native-unix-common.jar", "slf4j-api.jar", "slf4j-log4j12.jar", "log4j-1.2.jar",
}

var curatorJars = []string{"curator-recipes.jar", "curator-framework.jar", "curator-client.jar", "guava.jar"}

func classpath(jars ...[]string) string {
	var cp []string
	for _, list := range jars {
		for _, j := range list {
			cp = append(cp, debianJar+j)
		}
	}
	return strings.Join(cp, ":")
}

// pkgDir holds what the whole package shares: the zkd binary and compiled Java.
var pkgDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zkd-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		os.Exit(1)
	}
	pkgDir = dir
	testutil.Main(m, func() { os.RemoveAll(dir) }, curatorCompat.Remove)
}

// missing reports an absent prerequisite: a failure under CI, a skip elsewhere.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	testutil.Missing(t, fmt.Sprintf(format, args...))
}

// need checks that each file exists, or that each bare name is on PATH.
func need(t *testing.T, files ...string) {
	t.Helper()
	for _, f := range files {
		if !strings.Contains(f, "/") {
			if _, err := exec.LookPath(f); err != nil {
				missing(t, "%s not found on PATH", f)
			}
			continue
		}
		if _, err := os.Stat(f); err != nil {
			missing(t, "missing %s", f)
		}
	}
}

func needJars(t *testing.T, jars ...[]string) {
	t.Helper()
	for _, list := range jars {
		for _, j := range list {
			need(t, debianJar+j)
		}
	}
}

// long skips the calling test under -short.
func long(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real servers and clients; skipped with -short")
	}
}

// testdata returns the absolute path of a file in testdata.
func testdata(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// killGroup sends sig to the process group led by pid.
func killGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// --- servers ---

// server is one running server under test.
type server struct {
	kind string // "zookeeper" or "zkd"
	addr string // 127.0.0.1:port
}

// The zoo.cfg settings both servers get, so that clients see the same rules:
// TTL nodes on, and a container/TTL reaper that runs every 500 ms instead of every
// minute. ZooKeeper reads znode.container.checkIntervalMs only as a JVM property.
const (
	commonCfg        = "extendedTypesEnabled=true\n"
	containerCheckMs = "500"
)

// startZkd starts bin/zkd from a zoo.cfg on a free port; it is stopped in
// Cleanup, where it must exit on SIGTERM alone.
func startZkd(t *testing.T) *server {
	t.Helper()
	p := zktest.StartProcess(t, zktest.ProcessOptions{
		Extra: "4lw.commands.whitelist=*\n" + commonCfg + "znode.container.checkIntervalMs=" + containerCheckMs + "\n"})
	t.Cleanup(func() {
		if !p.Stop() {
			t.Errorf("zkd did not exit after SIGTERM; killed it")
		}
	})
	return &server{kind: "zkd", addr: p.ConnectString()}
}

// startZooKeeper starts Apache ZooKeeper 3.8 (Debian's jars, java run directly)
// on a free port, with the same settings as startZkd; it is stopped in Cleanup.
func startZooKeeper(t *testing.T) *server {
	t.Helper()
	z := zktest.StartZooKeeper(t, zktest.ZooKeeperOptions{Extra: commonCfg,
		JVMFlags: []string{"-Dznode.container.checkIntervalMs=" + containerCheckMs}})
	return &server{kind: "zookeeper", addr: z.Addr}
}

// --- running a suite on both servers ---

// record remembers, per server kind, whether each named check passed.
type record struct {
	mu    sync.Mutex
	order []string                   // check names in first-seen order
	res   map[string]map[string]bool // kind -> check -> passed
}

func (r *record) set(kind, check string, ok bool) {
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

// suite is what a client test runs against one server.
type suite struct {
	t      *testing.T
	server *server
	rec    *record
}

// check runs one named check as a subtest and records its result.
// The record uses the subtest's own name, which the testing package makes unique.
func (s *suite) check(name string, f func(t *testing.T)) bool {
	var full string
	ok := s.t.Run(name, func(t *testing.T) {
		full = t.Name()
		f(t)
	})
	s.rec.set(s.server.kind, strings.TrimPrefix(full, s.t.Name()+"/"), ok)
	return ok
}

// forEachServer runs body against Apache ZooKeeper (unless ZKD_COMPAT_REFERENCE=0)
// and then zkd, each in subtest server=<kind> with a fresh server, and logs which
// checks only zkd fails.
func forEachServer(t *testing.T, body func(s *suite)) {
	t.Helper()
	rec := &record{}
	kinds := []struct {
		name  string
		start func(*testing.T) *server
	}{{"zookeeper", startZooKeeper}, {"zkd", startZkd}}
	for _, k := range kinds {
		t.Run("server="+k.name, func(t *testing.T) {
			if k.name == "zookeeper" && os.Getenv(envReference) == "0" {
				t.Skip(envReference + "=0: reference run against Apache ZooKeeper skipped")
			}
			body(&suite{t: t, server: k.start(t), rec: rec})
		})
	}
	summarize(t, rec)
}

// summarize logs pass counts per server and every check that fails only on zkd.
func summarize(t *testing.T, rec *record) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, kind := range []string{"zookeeper", "zkd"} {
		res, ok := rec.res[kind]
		if !ok {
			continue
		}
		n := 0
		for _, passed := range res {
			if passed {
				n++
			}
		}
		t.Logf("server=%s: %d/%d checks passed", kind, n, len(res))
	}
	zk, zkd := rec.res["zookeeper"], rec.res["zkd"]
	if zk == nil || zkd == nil {
		return
	}
	var only, both, missingOnZkd []string
	for _, name := range rec.order {
		okZK, ranZK := zk[name]
		okZkd, ranZkd := zkd[name]
		switch {
		case ranZK && okZK && ranZkd && !okZkd:
			only = append(only, name)
		case ranZK && !okZK && ranZkd && !okZkd:
			both = append(both, name)
		case ranZK && okZK && !ranZkd:
			missingOnZkd = append(missingOnZkd, name)
		}
	}
	if len(only) > 0 {
		t.Errorf("zkd divergences (pass on Apache ZooKeeper, fail on zkd):\n  %s", strings.Join(only, "\n  "))
	}
	if len(missingOnZkd) > 0 {
		t.Errorf("checks that ran on Apache ZooKeeper but never reported on zkd:\n  %s", strings.Join(missingOnZkd, "\n  "))
	}
	if len(both) > 0 {
		t.Logf("checks failing on both servers (a test or client problem, not a zkd divergence):\n  %s", strings.Join(both, "\n  "))
	}
}

// --- client processes ---

// proc is a client process whose stdout and stderr arrive, merged, as lines.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin *os.File // nil unless requested
	lines chan string
	done  chan struct{} // closed when the process has exited and its output is read
	err   error         // exit status; valid after done
}

// startProc starts argv[0] in its own process group; t's Cleanup kills the group.
// It does not fail t, so a subtest may start a process that outlives it.
func startProc(t *testing.T, name string, env []string, withStdin bool, argv ...string) (*proc, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = pw, pw // one pipe: the client's own interleaving is kept
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 4096), done: make(chan struct{})}
	var stdinR *os.File
	if withStdin {
		if stdinR, p.stdin, err = os.Pipe(); err != nil {
			pr.Close()
			pw.Close()
			return nil, err
		}
		cmd.Stdin = stdinR
	}
	err = cmd.Start()
	pw.Close()
	if stdinR != nil {
		stdinR.Close()
	}
	if err != nil {
		pr.Close()
		if p.stdin != nil {
			p.stdin.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		r := bufio.NewReaderSize(pr, 64<<10)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				p.lines <- strings.TrimRight(line, "\r\n")
			}
			if err != nil {
				break
			}
		}
		pr.Close()
		p.err = cmd.Wait()
		close(p.lines)
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.stdin != nil {
			p.stdin.Close()
		}
		select {
		case <-p.done: // reaped: its pid, and so its group id, may be reused
		default:
			killGroup(cmd.Process.Pid, syscall.SIGKILL)
		}
		go func() { // nobody may be reading any more
			for range p.lines {
			}
		}()
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			t.Errorf("%s: output not closed %v after SIGKILL", name, stopTimeout)
		}
	})
	return p, nil
}

// send writes one line to the process's stdin.
func (p *proc) send(line string) error {
	if p.stdin == nil {
		return errors.New(p.name + ": no stdin")
	}
	_, err := p.stdin.WriteString(line + "\n")
	return err
}

// wait waits at most d for the process to exit.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s still running after %v", p.name, d)
	}
}
