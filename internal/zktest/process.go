package zktest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"zkd/internal/testutil"
)

// startTimeout bounds a zkd process's start-up: a limit against hangs on a loaded
// machine, not an assertion on how fast zkd starts.
const startTimeout = 60 * time.Second

// ProcessOptions shape the zkd processes StartProcess and StartProcessCluster run.
type ProcessOptions struct {
	// TickTime is the zoo.cfg tickTime; 0 means 2 s standalone, 200 ms in a cluster.
	TickTime time.Duration
	// Extra holds more zoo.cfg lines (keys the generated file does not set).
	Extra string
	// Args are flags given before the config file (-log-level warn, say).
	Args []string
	// MaxOpenFiles, when above zero, is the process's RLIMIT_NOFILE, soft and
	// hard (the Go runtime raises the soft limit to the hard one).
	MaxOpenFiles int
	// Observers, in StartProcessCluster, makes the last Observers members
	// observers: their server.N lines end in :observer in every member's zoo.cfg,
	// and their own zoo.cfg also says peerType=observer, as ZooKeeper's asks.
	Observers int
}

// Process is a zkd binary a test runs: built once per test binary
// (testutil.BuildZkd), started from a zoo.cfg of its own in a temporary
// directory, with its output in a log file that is printed if the test fails.
// Its methods belong to the test's goroutine.
type Process struct {
	t       testing.TB
	bin     string
	dir     string // holds zoo.cfg, zkd.log and data/
	cfgPath string
	logPath string
	addr    string
	opts    ProcessOptions
	proc    *testutil.Process // the current incarnation
	paused  bool
}

// StartProcess runs a standalone zkd on a free loopback port and waits until it
// serves. A port taken between choosing it and the bind is tried again with
// another, up to three times.
func StartProcess(t testing.TB, opts ProcessOptions) *Process {
	t.Helper()
	if opts.TickTime == 0 {
		opts.TickTime = 2 * time.Second
	}
	for attempt := 1; ; attempt++ {
		p := newProcess(t, opts)
		port := testutil.FreePort(t)
		p.addr = fmt.Sprintf("127.0.0.1:%d", port)
		p.writeConfig(fmt.Sprintf("clientPort=%d\nclientPortAddress=127.0.0.1\n", port))
		p.launch()
		err := p.waitReady()
		if err == nil {
			return p
		}
		if attempt == 3 || !strings.Contains(p.Log(), "address already in use") {
			t.Fatalf("%v; log:\n%s", err, testutil.TailFile(p.logPath, 60))
		}
		t.Logf("zkd could not bind %s, trying another port: %v", p.addr, err)
	}
}

func newProcess(t testing.TB, opts ProcessOptions) *Process {
	t.Helper()
	dir := t.TempDir()
	p := &Process{t: t, bin: testutil.BuildZkd(t), dir: dir, cfgPath: filepath.Join(dir, "zoo.cfg"),
		logPath: filepath.Join(dir, "zkd.log"), opts: opts}
	t.Cleanup(func() {
		if p.paused && p.proc != nil {
			_ = p.proc.Cmd.Process.Signal(syscall.SIGCONT) // else SIGTERM waits for ever
		}
		if t.Failed() {
			t.Logf("zkd log %s (tail):\n%s", p.logPath, testutil.TailFile(p.logPath, 60))
		}
	})
	return p
}

// writeConfig writes zoo.cfg: the common keys, then where the client port is,
// then opts.Extra.
func (p *Process) writeConfig(clientKeys string) {
	p.t.Helper()
	text := fmt.Sprintf("tickTime=%d\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nmaxClientCnxns=0\nadmin.enableServer=false\n%s%s\n",
		p.opts.TickTime.Milliseconds(), p.DataDir(), clientKeys, p.opts.Extra)
	if err := os.WriteFile(p.cfgPath, []byte(text), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// launch starts the binary; under a shell when the descriptor limit is lowered.
func (p *Process) launch() {
	p.t.Helper()
	args := append(append([]string{}, p.opts.Args...), p.cfgPath)
	name := p.bin
	if p.opts.MaxOpenFiles > 0 {
		script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, p.opts.MaxOpenFiles)
		args = append([]string{"-c", script, p.bin}, args...)
		name = "sh"
	}
	p.proc = testutil.StartProcess(p.t, p.dir, p.logPath, name, args...)
	p.paused = false
}

// waitReady waits until the client port answers srvr (or ruok, where srvr is
// not whitelisted).
func (p *Process) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.proc.Exited():
			return fmt.Errorf("zkd exited during start-up: %v", p.proc.Cmd.ProcessState)
		default:
		}
		out, err := FourLetterWord(p.addr, "srvr")
		if err == nil && strings.HasPrefix(out, "Zookeeper version") {
			return nil
		}
		if ok, _ := FourLetterWord(p.addr, "ruok"); ok == "imok" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zkd did not serve %s within %v (srvr: %q %v)", p.addr, startTimeout, out, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ConnectString is the client address, host:port.
func (p *Process) ConnectString() string { return p.addr }

// DataDir is the process's dataDir; it outlives restarts.
func (p *Process) DataDir() string { return filepath.Join(p.dir, "data") }

// ConfigPath is the zoo.cfg the process runs from.
func (p *Process) ConfigPath() string { return p.cfgPath }

// LogPath is the file the process's output goes to, across restarts.
func (p *Process) LogPath() string { return p.logPath }

// Log returns the whole log so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// PID is the current incarnation's process id.
func (p *Process) PID() int { return p.proc.Cmd.Process.Pid }

// Exited is closed once the current incarnation has exited.
func (p *Process) Exited() <-chan struct{} { return p.proc.Exited() }

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	p.proc.Kill()
	p.paused = false
}

// Stop sends SIGTERM and waits; it reports whether SIGTERM alone stopped it
// (after 15 s it is killed).
func (p *Process) Stop() bool {
	if p.paused {
		p.Resume()
	}
	return p.proc.Stop()
}

// Pause stops the process with SIGSTOP: alive, holding its ports and files, and
// answering nothing, as a process stalled by the machine would be.
func (p *Process) Pause() {
	p.t.Helper()
	if err := p.proc.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("SIGSTOP: %v", err)
	}
	p.paused = true
}

// Resume continues a paused process with SIGCONT.
func (p *Process) Resume() {
	p.t.Helper()
	if err := p.proc.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		p.t.Fatalf("SIGCONT: %v", err)
	}
	p.paused = false
}

// Restart kills the process if it still runs, starts it again from the same
// zoo.cfg and data directory, and waits until it serves.
func (p *Process) Restart() {
	p.t.Helper()
	p.Kill()
	p.launch()
	if err := p.waitReady(); err != nil {
		p.t.Fatal(err)
	}
}

// ProcessCluster is an ensemble of zkd processes, each from its own zoo.cfg with
// the same server.N lines and its own myid file. Members are numbered from 0;
// member i has myid i+1.
type ProcessCluster struct {
	t       testing.TB
	members []*Process
}

// StartProcessCluster starts n zkd processes as an ensemble on free loopback
// ports and waits until each serves (not until a leader is elected: see Leader).
// Every port in the ensemble is different; if one is taken between choosing it
// and the bind, the whole ensemble starts again on others, up to three times.
func StartProcessCluster(t testing.TB, n int, opts ProcessOptions) *ProcessCluster {
	t.Helper()
	if opts.TickTime == 0 {
		opts.TickTime = 200 * time.Millisecond
	}
	for attempt := 1; ; attempt++ {
		c, err := startProcessCluster(t, n, opts)
		if err == nil {
			return c
		}
		inUse := false
		for _, p := range c.members {
			inUse = inUse || strings.Contains(p.Log(), "address already in use")
		}
		if attempt == 3 || !inUse {
			t.Fatal(err)
		}
		// A port chosen free was taken before the member bound it (by another
		// process, or as the source port of a connection): start again with others.
		t.Logf("an ensemble member could not bind its ports, trying others: %v", err)
		for _, p := range c.members {
			p.Kill()
		}
	}
}

// startProcessCluster is one attempt of StartProcessCluster; it fails the test
// only for errors no other choice of ports can cure.
func startProcessCluster(t testing.TB, n int, opts ProcessOptions) (*ProcessCluster, error) {
	t.Helper()
	c := &ProcessCluster{t: t}
	var lines []string
	observer := func(i int) bool { return i >= n-opts.Observers }
	ports := distinctFreePorts(t, 3*n)
	for i := range n {
		p := newProcess(t, opts)
		p.addr = fmt.Sprintf("127.0.0.1:%d", ports[3*i])
		role := ""
		if observer(i) {
			role = ":observer"
		}
		lines = append(lines, fmt.Sprintf("server.%d=127.0.0.1:%d:%d%s;%s", i+1,
			ports[3*i+1], ports[3*i+2], role, p.addr))
		c.members = append(c.members, p)
	}
	servers := strings.Join(lines, "\n") + "\n"
	for i, p := range c.members {
		if err := os.MkdirAll(p.DataDir(), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.DataDir(), "myid"), fmt.Appendf(nil, "%d\n", i+1), 0o644); err != nil {
			t.Fatal(err)
		}
		if observer(i) {
			p.writeConfig(servers + "peerType=observer\n")
		} else {
			p.writeConfig(servers)
		}
		p.launch()
	}
	for i, p := range c.members {
		if err := p.waitReady(); err != nil {
			return c, fmt.Errorf("member %d: %w", i, err)
		}
	}
	return c, nil
}

// distinctFreePorts returns n different free loopback ports.
func distinctFreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = testutil.FreePort(t) // never the same port twice
	}
	return ports
}

// N is the number of members.
func (c *ProcessCluster) N() int { return len(c.members) }

// Member returns member i.
func (c *ProcessCluster) Member(i int) *Process { return c.members[i] }

// ConnectString lists every member's client address.
func (c *ProcessCluster) ConnectString() string {
	addrs := make([]string, len(c.members))
	for i, p := range c.members {
		addrs[i] = p.addr
	}
	return strings.Join(addrs, ",")
}

// Leader waits until a member that runs and is not paused reports Mode: leader
// in srvr, and returns its index.
func (c *ProcessCluster) Leader() int {
	c.t.Helper()
	deadline := time.Now().Add(electionTimeout)
	for {
		for i, p := range c.members {
			select {
			case <-p.Exited():
				continue
			default:
			}
			if !p.paused && Mode(p.addr) == "leader" {
				return i
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader elected within %v", electionTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
