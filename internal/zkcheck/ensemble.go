package zkcheck

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zkd/internal/testutil"
)

// ServerKind says how to run one server of an Ensemble. Every kind runs from the
// same files: a zoo.cfg with ZooKeeper's keys and server.N lines, and a myid file
// in its dataDir. That is the whole contract, so a new server plugs in here and
// nothing else changes.
type ServerKind interface {
	// Name names the kind in logs and reports: "zookeeper", "zkd".
	Name() string
	// Command returns the program and arguments that run the server whose
	// directory is dir and whose configuration is dir/zoo.cfg.
	Command(dir string) (name string, args []string)
	// Prepare writes whatever else the server needs in dir before it starts (a
	// logging configuration, say).
	Prepare(dir string) error
	// LinearizableSync reports whether sync then getData on one session is
	// linearizable even while a deposed leader has not yet noticed. True of zkd,
	// whose sync is a ReadIndex round a quorum must answer; false of ZooKeeper 3.8,
	// whose leader answers a sync from what it has committed itself, so that for
	// moments after a paused leader resumes it serves state the next leader has
	// already overwritten (ZOOKEEPER-1675, TestSyncAfterLeaderPause).
	LinearizableSync() bool
	// DivergenceMark is what a server of this kind writes to its log when its own
	// check finds that its data no longer matches the leader's, or "" if it has
	// no such check. ZooKeeper 3.8 compares a digest of its tree with the one
	// each txn carries and logs "First digest mismatch on txn" (Ensemble.Diverged).
	DivergenceMark() string
}

// EnsembleConfig describes an Ensemble. The zero value of a field means its default.
type EnsembleConfig struct {
	Kind ServerKind
	Size int // servers; default 3
	// Observers of them, the last ones, are observers (":observer" in every
	// server line, peerType=observer in their own zoo.cfg); the rest vote.
	Observers int
	// TickTime, InitLimit and SyncLimit go to zoo.cfg. The defaults (250 ms, 10,
	// 8) let a follower notice a dead or paused leader in 2 s and allow client
	// sessions from 0.5 s to 5 s.
	TickTime  time.Duration
	InitLimit int
	SyncLimit int
	// Extra holds more zoo.cfg lines, appended to every server's file.
	Extra string
	// StartTimeout bounds the wait for a leader at start; default 90 s.
	StartTimeout time.Duration
	// Networks is how many networks join the servers (default 1). With more,
	// every server.N line has one address per network (ZooKeeper's
	// multiAddress, enabled in every zoo.cfg), each network its own proxies,
	// and DownNetwork cuts one network on every link at once.
	Networks int
}

func (c *EnsembleConfig) setDefaults() {
	if c.Size == 0 {
		c.Size = 3
	}
	if c.TickTime == 0 {
		c.TickTime = 250 * time.Millisecond
	}
	if c.InitLimit == 0 {
		c.InitLimit = 10
	}
	if c.SyncLimit == 0 {
		c.SyncLimit = 8
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 90 * time.Second
	}
	if c.Networks == 0 {
		c.Networks = 1
	}
}

// Ensemble is a Cluster of server processes on loopback, each started from its own
// directory (zoo.cfg, data/myid, server.out). Peer traffic goes through one
// testutil.LinkProxy per ordered pair of servers and port: server i's zoo.cfg lists
// itself at its real quorum and election ports and every other server j at the
// proxies for the link i->j, so every connection i opens to j crosses the link's
// proxy, and a fault on a link is a fault on the proxies. (ZooKeeper with reconfig
// off, its default, takes its peers' addresses from its own zoo.cfg only; a zkd
// ensemble must do the same.)
//
//	server i --dial--> proxy(i->j, quorum)   --> server j's quorum port
//	server i --dial--> proxy(i->j, election) --> server j's election port
//
// Forward traffic of proxy(i->j) flows from i to j, backward traffic from j to i.
type Ensemble struct {
	t       testing.TB
	cfg     EnsembleConfig
	dir     string
	servers []*server // index id-1

	// links[i][j] are the proxies for connections server i+1 opens to server
	// j+1 (nil when i == j): per network, its quorum and its election port's.
	// Immutable after start.
	links [][][]*testutil.LinkProxy

	mu sync.Mutex // serializes the fault methods and guards every server's proc and state
}

// server is one member of an Ensemble.
type server struct {
	id         int
	dir        string
	clientAddr string
	proc       *testutil.Process // guarded by Ensemble.mu; nil before start
	state      serverState       // guarded by Ensemble.mu
}

type serverState int

const (
	running serverState = iota
	killed
	paused
)

// StartEnsemble starts an ensemble of cfg.Kind servers and waits until one leads
// and every other follows. It retries twice with fresh ports when a server dies at
// start (a free port taken by someone else meanwhile). The ensemble stops in
// Cleanup.
func StartEnsemble(t testing.TB, cfg EnsembleConfig) *Ensemble {
	t.Helper()
	cfg.setDefaults()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		e, err := startEnsemble(t, cfg)
		if err == nil {
			return e
		}
		if errors.Is(err, ErrNotEnsemble) {
			t.Fatalf("%s servers do not form an ensemble from server.N lines: %v", cfg.Kind.Name(), err)
		}
		lastErr = err
		t.Logf("ensemble of %s: %v; retrying with new ports", cfg.Kind.Name(), err)
	}
	t.Fatalf("ensemble of %s did not start: %v", cfg.Kind.Name(), lastErr)
	return nil
}

func startEnsemble(t testing.TB, cfg EnsembleConfig) (*Ensemble, error) {
	e := &Ensemble{t: t, cfg: cfg, dir: t.TempDir()}
	n := cfg.Size
	type ports struct {
		client           int
		quorum, election []int // per network
	}
	ps := make([]ports, n)
	for i := range ps {
		ps[i].client = testutil.FreePort(t)
		for range cfg.Networks {
			ps[i].quorum = append(ps[i].quorum, testutil.FreePort(t))
			ps[i].election = append(ps[i].election, testutil.FreePort(t))
		}
	}
	e.links = make([][][]*testutil.LinkProxy, n)
	for i := range n {
		e.links[i] = make([][]*testutil.LinkProxy, n)
		for j := range n {
			if i == j {
				continue
			}
			for k := range cfg.Networks {
				e.links[i][j] = append(e.links[i][j],
					testutil.StartLinkProxy(t, loopback(ps[j].quorum[k])),
					testutil.StartLinkProxy(t, loopback(ps[j].election[k])))
			}
		}
	}
	// serverLine is server.N's value: an address per network.
	serverLine := func(quorum, election func(k int) string) string {
		var addrs []string
		for k := range cfg.Networks {
			addrs = append(addrs, "127.0.0.1:"+quorum(k)+":"+election(k))
		}
		return strings.Join(addrs, "|")
	}
	for i := range n {
		id := i + 1
		dir := filepath.Join(e.dir, "srv"+strconv.Itoa(id))
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "data", "myid"), []byte(strconv.Itoa(id)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "tickTime=%d\ninitLimit=%d\nsyncLimit=%d\n", cfg.TickTime.Milliseconds(), cfg.InitLimit, cfg.SyncLimit)
		fmt.Fprintf(&b, "dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n", filepath.Join(dir, "data"), ps[i].client)
		b.WriteString("maxClientCnxns=0\n4lw.commands.whitelist=*\nadmin.enableServer=false\nautopurge.purgeInterval=0\n")
		// The data is thrown away after the test, and kill -9 keeps what the page
		// cache holds: fsync would only slow the servers down.
		b.WriteString("forceSync=no\n")
		role := func(j int) string {
			if j >= n-cfg.Observers {
				return ":observer"
			}
			return ""
		}
		if role(i) != "" {
			b.WriteString("peerType=observer\n")
		}
		if cfg.Networks > 1 {
			b.WriteString("multiAddress.enabled=true\n")
		}
		for j := range n {
			if j == i {
				line := serverLine(func(k int) string { return strconv.Itoa(ps[j].quorum[k]) },
					func(k int) string { return strconv.Itoa(ps[j].election[k]) })
				fmt.Fprintf(&b, "server.%d=%s%s\n", j+1, line, role(j))
				continue
			}
			l := e.links[i][j]
			line := serverLine(func(k int) string { return portOf(l[2*k].Addr()) },
				func(k int) string { return portOf(l[2*k+1].Addr()) })
			fmt.Fprintf(&b, "server.%d=%s%s\n", j+1, line, role(j))
		}
		b.WriteString(cfg.Extra)
		if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Kind.Prepare(dir); err != nil {
			t.Fatal(err)
		}
		e.servers = append(e.servers, &server{id: id, dir: dir, clientAddr: loopback(ps[i].client)})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range e.servers {
				t.Logf("server %d (%s) log tail:\n%s", s.id, cfg.Kind.Name(), testutil.TailFile(s.logPath(), 15))
			}
		}
		e.Close()
	})
	e.mu.Lock()
	for _, s := range e.servers {
		e.startLocked(s)
	}
	e.mu.Unlock()
	if err := e.WaitHealthy(cfg.StartTimeout); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func (s *server) logPath() string { return filepath.Join(s.dir, "server.out") }

// Diverged returns the lines in which a server of e, by its kind's own check,
// said that its data no longer matched the leader's (ServerKind.DivergenceMark),
// the first of each server's, prefixed with the server's id. A history recorded
// while that happened says nothing about the model: the servers broke their own
// promise and knew it.
func (e *Ensemble) Diverged() []string {
	mark := e.cfg.Kind.DivergenceMark()
	if mark == "" {
		return nil
	}
	var found []string
	for _, s := range e.servers {
		b, err := os.ReadFile(s.logPath())
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, mark) {
				found = append(found, fmt.Sprintf("server %d: %s", s.id, strings.TrimSpace(line)))
				break
			}
		}
	}
	return found
}

// startLocked runs s's process. REQUIRES: e.mu held.
func (e *Ensemble) startLocked(s *server) {
	name, args := e.cfg.Kind.Command(s.dir)
	p := testutil.StartProcess(e.t, s.dir, s.logPath(), name, args...)
	s.proc, s.state = p, running
	// NB: registered after StartProcess's own cleanup, so it runs first: a
	// stopped process would ignore that cleanup's SIGTERM for its whole grace
	// period. The data is thrown away, so SIGKILL is enough.
	e.t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if s.proc == p && s.state == paused {
			_ = p.Cmd.Process.Signal(syscall.SIGCONT)
		}
		p.Kill()
	})
}

// Close stops every server with SIGKILL (the data is thrown away), resuming paused
// ones first. It is called in Cleanup and may be called before.
func (e *Ensemble) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.servers {
		if s.proc == nil {
			continue
		}
		if s.state == paused {
			_ = s.proc.Cmd.Process.Signal(syscall.SIGCONT)
		}
		s.proc.Kill()
		s.state = killed
	}
}

// Dir returns the directory holding every server's directory srv<id>.
func (e *Ensemble) Dir() string { return e.dir }

// Kind returns the kind of server the ensemble runs.
func (e *Ensemble) Kind() ServerKind { return e.cfg.Kind }

// Size implements Cluster.
func (e *Ensemble) Size() int { return len(e.servers) }

// ClientAddr returns server id's client address.
func (e *Ensemble) ClientAddr(id int) string { return e.servers[id-1].clientAddr }

// ConnectString implements Cluster.
func (e *Ensemble) ConnectString() string {
	addrs := make([]string, len(e.servers))
	for i, s := range e.servers {
		addrs[i] = s.clientAddr
	}
	return strings.Join(addrs, ",")
}

// Modes returns each running server's srvr mode ("" when it does not answer within
// timeout, or is killed or paused), indexed by id-1.
func (e *Ensemble) Modes(timeout time.Duration) []string {
	e.mu.Lock()
	up := make([]bool, len(e.servers))
	for i, s := range e.servers {
		up[i] = s.state == running
	}
	e.mu.Unlock()
	modes := make([]string, len(e.servers))
	var wg sync.WaitGroup
	for i, s := range e.servers {
		if !up[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			modes[i], _ = Mode(s.clientAddr, timeout)
		}()
	}
	wg.Wait()
	return modes
}

// Leader implements Cluster.
func (e *Ensemble) Leader() (int, error) {
	leader := 0
	for i, m := range e.Modes(time.Second) {
		if m == "leader" {
			if leader != 0 {
				return 0, ErrNoLeader
			}
			leader = i + 1
		}
	}
	if leader == 0 {
		return 0, ErrNoLeader
	}
	return leader, nil
}

// WaitHealthy waits until one running server leads and every other running server
// follows, or fails after timeout naming each server's mode. A server whose
// process exited, or that runs standalone (ErrNotEnsemble), is reported at once.
func (e *Ensemble) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		e.mu.Lock()
		for _, s := range e.servers {
			if s.state != running {
				continue
			}
			select {
			case <-s.proc.Exited():
				e.mu.Unlock()
				return fmt.Errorf("server %d exited; log tail:\n%s", s.id, testutil.TailFile(s.logPath(), 20))
			default:
			}
		}
		e.mu.Unlock()
		modes := e.Modes(time.Second)
		leaders, others := 0, 0
		healthy := true
		for i, m := range modes {
			e.mu.Lock()
			up := e.servers[i].state == running
			e.mu.Unlock()
			switch {
			case !up:
			case m == "leader":
				leaders++
			case m == "follower" || m == "observer":
				others++
			default:
				healthy = false
			}
		}
		if healthy && leaders == 1 {
			return nil
		}
		for i, m := range modes {
			if m == "standalone" {
				return fmt.Errorf("%w: server %d says Mode: standalone", ErrNotEnsemble, i+1)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v: modes %q", ErrNoLeader, timeout, modes)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serverLocked returns server id in state want. REQUIRES: e.mu held.
func (e *Ensemble) serverLocked(id int, want serverState) (*server, error) {
	if id < 1 || id > len(e.servers) {
		return nil, fmt.Errorf("%w: no server %d", ErrServerState, id)
	}
	s := e.servers[id-1]
	if s.state != want {
		return nil, fmt.Errorf("%w: server %d is %v", ErrServerState, id, s.state)
	}
	return s, nil
}

func (st serverState) String() string {
	return [...]string{running: "running", killed: "killed", paused: "paused"}[st]
}

// Kill implements Cluster with SIGKILL. A paused server may be killed too.
func (e *Ensemble) Kill(id int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.serverLocked(id, running)
	if err != nil {
		if s, err = e.serverLocked(id, paused); err != nil {
			return err
		}
	}
	s.proc.Kill()
	s.state = killed
	return nil
}

// Restart implements Cluster.
func (e *Ensemble) Restart(id int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.serverLocked(id, killed)
	if err != nil {
		return err
	}
	e.startLocked(s)
	return nil
}

// Pause implements Cluster with SIGSTOP.
func (e *Ensemble) Pause(id int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.serverLocked(id, running)
	if err != nil {
		return err
	}
	if err := s.proc.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	s.state = paused
	return nil
}

// Resume implements Cluster with SIGCONT.
func (e *Ensemble) Resume(id int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.serverLocked(id, paused)
	if err != nil {
		return err
	}
	if err := s.proc.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	s.state = running
	return nil
}

// Partition implements Cluster.
func (e *Ensemble) Partition(groups ...[]int) error {
	group := make([]int, len(e.servers)) // 0: in no group
	for g, ids := range groups {
		for _, id := range ids {
			if id < 1 || id > len(e.servers) {
				return fmt.Errorf("%w: no server %d", ErrServerState, id)
			}
			group[id-1] = g + 1
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.servers {
		for j := range e.servers {
			if i != j && (group[i] == 0 || group[i] != group[j]) {
				for _, p := range e.links[i][j] {
					p.Cut()
				}
			}
		}
	}
	return nil
}

// linkPairs returns the proxies carrying traffic from server from to server to:
// those of connections from opens (forward) and those to opens (backward).
func (e *Ensemble) linkPairs(from, to int) (fwd, back []*testutil.LinkProxy, err error) {
	if from < 1 || from > len(e.servers) || to < 1 || to > len(e.servers) || from == to {
		return nil, nil, fmt.Errorf("%w: no link %d->%d", ErrServerState, from, to)
	}
	return e.links[from-1][to-1], e.links[to-1][from-1], nil
}

// DropLink implements Cluster.
func (e *Ensemble) DropLink(from, to int) error {
	fwd, back, err := e.linkPairs(from, to)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range fwd {
		p.Drop(testutil.Forward)
	}
	for _, p := range back {
		p.Drop(testutil.Backward)
	}
	return nil
}

// DelayLink implements Cluster.
func (e *Ensemble) DelayLink(from, to int, d time.Duration) error {
	fwd, back, err := e.linkPairs(from, to)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range fwd {
		p.Delay(testutil.Forward, d)
	}
	for _, p := range back {
		p.Delay(testutil.Backward, d)
	}
	return nil
}

// Networks returns how many networks join the servers.
func (e *Ensemble) Networks() int { return e.cfg.Networks }

// DownNetwork cuts network k (from 0) on every link, as a switch failing would:
// the servers can still reach each other over the other networks. Heal ends it.
func (e *Ensemble) DownNetwork(k int) error {
	if k < 0 || k >= e.cfg.Networks {
		return fmt.Errorf("%w: no network %d of %d", ErrServerState, k, e.cfg.Networks)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.links {
		for j := range e.links[i] {
			if l := e.links[i][j]; l != nil {
				l[2*k].Cut()
				l[2*k+1].Cut()
			}
		}
	}
	return nil
}

// Heal implements Cluster.
func (e *Ensemble) Heal() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.links {
		for j := range e.links[i] {
			for _, p := range e.links[i][j] {
				p.Heal()
			}
		}
	}
	return nil
}

// Recover undoes every fault: heals the links, resumes paused servers and restarts
// killed ones, then waits until the ensemble is healthy again.
func (e *Ensemble) Recover(timeout time.Duration) error {
	_ = e.Heal()
	e.mu.Lock()
	for _, s := range e.servers {
		switch s.state {
		case paused:
			_ = s.proc.Cmd.Process.Signal(syscall.SIGCONT)
			s.state = running
		case killed:
			e.startLocked(s)
		}
	}
	e.mu.Unlock()
	return e.WaitHealthy(timeout)
}
