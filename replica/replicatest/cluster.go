package replicatest

import (
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/quorum"
	"zkd/replica"
	"zkd/txnlog"
)

// ClusterOptions configure a Cluster.
type ClusterOptions struct {
	Seed     uint64
	Voters   int // members 1..Voters vote
	Learners int // the next Learners members only learn (observers)
	// TickEvery is how many steps make one tick (default 5); StepTime is how much
	// the shared clock moves per step (default 10ms).
	TickEvery int
	StepTime  time.Duration
	// MaxDelay is the most steps a message may be delayed (default 3).
	MaxDelay int
	// DropRate is the probability that a message (raft or replica) is lost.
	DropRate float64
	// SnapCount is each member's snapCount (0: no snapshots).
	SnapCount int
	// AckSampleEvery is quorum.Config.AckSampleEvery (0: its default).
	AckSampleEvery uint64
	Tree           datatree.Config
	// CheckDigests compares each member's tree digest after every entry and
	// fails the test when two members differ at the same index (the running
	// digest; under -tags invariants the tree also checks it against a full sum).
	CheckDigests bool
	// ReadOnlyMode is readonlymode.enabled on every member.
	ReadOnlyMode bool
	// Logger receives every member's log (nil: discarded, or stderr with
	// REPLICATEST_LOG set).
	Logger *slog.Logger
	// ReconfigEnabled is every member's reconfigEnabled.
	ReconfigEnabled bool
	// CatchUpTicks bounds how long a reconfig waits for new servers (0: the default).
	CatchUpTicks int
	// NoInitialConfig bootstraps every member with an empty /zookeeper/config, as
	// a data directory written before zkd kept the configuration has; restarts
	// then pass the configuration as a server does.
	NoInitialConfig bool
}

// Cluster is an in-process ensemble of replicas on a simulated network and a
// shared manual clock, driven step by step from a seed (see the package doc of
// quorum/quorumtest for the stepping rules, which are the same). Replica
// messages (forwarded writes, touches) travel on the same per-link FIFO as raft
// messages, as they do over the real peer transport.
type Cluster struct {
	t          testing.TB
	opts       ClusterOptions
	rng        *rand.Rand
	now        int
	Clock      *ManualClock
	members    map[uint64]*Member
	ids        []uint64
	boot       quorum.Membership
	bootConfig []byte

	queue   []message
	lastAt  map[[2]uint64]int // per link: the delivery step of the last message, for FIFO
	blocked map[[2]uint64]bool
	digests map[uint64]uint64 // index -> digest of the first member that applied it
	configs map[uint64]string // index -> /zookeeper/config after it, first member to apply it
	log     *slog.Logger
	// SnapshotsSent counts snapshots streamed to members too far behind.
	SnapshotsSent int
	// AfterStep, when set, runs at the end of every step, including those taken
	// inside RunUntil, NewClient and Move: clients that ping, checks that must
	// hold at every step.
	AfterStep func()
}

type message struct {
	from, to uint64
	at       int
	raft     *quorum.Message
	app      []byte
}

// Member is one simulated server.
type Member struct {
	c  *Cluster
	ID uint64 // raft id: replica.RaftID(server id, incarnation)
	// Joining is set for a server started to join the running ensemble: until it
	// is in /zookeeper/config, every tick it asks the other members to be known,
	// as the server's join loop does over the peer transport.
	Joining bool
	FS      *vfs.MemFS
	Log     *txnlog.Log
	Rep     *replica.Replica
	Up      bool
	// Closed lists the sessions whose closeSession this member applied.
	Closed []jute.SessionID
	// LostLeader counts the times the member told its clients to move away
	// (entering or leaving read-only mode included).
	LostLeader int
	// LocalExpired lists the local sessions this member expired.
	LocalExpired []jute.SessionID
	// Timings are the member's observations by summary name
	// (replica.TimingNoter), in order.
	Timings map[string][]int64
	// Ensembles lists every membership the member applied, in order.
	Ensembles []replica.Ensemble
	started   bool                    // started once
	touched   map[jute.SessionID]bool // clients heard from since the last tick
	// leaderless counts the ticks the member has been a member without a leader.
	leaderless int
}

// askViewEvery is how many ticks without a leader a member waits before it asks
// the others for their views, and between asks, as the server's removal check
// does.
const askViewEvery = 20

// NewCluster starts an ensemble with every member up.
func NewCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.TickEvery <= 0 {
		opts.TickEvery = 5
	}
	if opts.StepTime <= 0 {
		opts.StepTime = 10 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 3
	}
	if tt, ok := t.(*testing.T); ok {
		cryptotest.SetGlobalRandom(tt, opts.Seed)
	}
	c := &Cluster{t: t, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, ^opts.Seed)), Clock: NewManualClock(),
		members: make(map[uint64]*Member), lastAt: make(map[[2]uint64]int), blocked: make(map[[2]uint64]bool),
		digests: make(map[uint64]uint64), configs: make(map[uint64]string), log: slog.New(slog.DiscardHandler)}
	switch {
	case opts.Logger != nil:
		c.log = opts.Logger
	case os.Getenv("REPLICATEST_LOG") != "":
		c.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var text strings.Builder
	for i := 1; i <= opts.Voters+opts.Learners; i++ {
		id := replica.RaftID(int64(i), 1)
		c.ids = append(c.ids, id)
		role := "participant"
		if i <= opts.Voters {
			c.boot.Voters = append(c.boot.Voters, id)
		} else {
			c.boot.Learners = append(c.boot.Learners, id)
			role = "observer"
		}
		fmt.Fprintf(&text, "%s:%s%s\n", ServerLine(int64(i)), role, ClientPart(int64(i)))
	}
	text.WriteString("version=0")
	c.bootConfig = []byte(text.String())
	for _, id := range c.ids {
		m := &Member{c: c, ID: id, FS: vfs.NewMem()}
		c.members[id] = m
		m.start()
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			if m.Up {
				m.stop()
			}
		}
	})
	return c
}

func (m *Member) start() {
	c := m.c
	l, err := txnlog.Open(m.FS, "/log", txnlog.Options{SegmentSize: 256 << 10, Logger: c.log})
	if err != nil {
		c.t.Fatalf("replicatest: member %d: open log: %v", m.ID, err)
	}
	cfg := replica.DefaultConfig()
	cfg.ID, cfg.MyID, cfg.Manual = m.ID, replica.ServerID(m.ID), true
	cfg.Quorum.Log, cfg.Quorum.Logger = l, c.log
	cfg.Quorum.Transport = raftTransport{c: c, from: m.ID}
	cfg.Quorum.AckSampleEvery = c.opts.AckSampleEvery
	cfg.Peers = appPeers{c: c, from: m.ID}
	cfg.Bootstrap, cfg.BootstrapConfig, cfg.Tree, cfg.Clock, cfg.Logger = c.boot, c.bootConfig, c.opts.Tree, c.Clock, c.log
	if m.Joining {
		cfg.Bootstrap, cfg.BootstrapConfig = quorum.Membership{}, nil
	}
	if c.opts.NoInitialConfig && !m.started {
		cfg.BootstrapConfig = nil
	}
	m.started = true
	cfg.ReconfigEnabled, cfg.CatchUpTicks = c.opts.ReconfigEnabled, c.opts.CatchUpTicks
	cfg.ConfigListener = memberListener{m}
	cfg.LeaderlessTicks = 20
	cfg.ReadOnlyMode = c.opts.ReadOnlyMode
	if c.opts.SnapCount > 0 {
		cfg.FS, cfg.SnapshotDir, cfg.SnapCount = m.FS, "/snap", c.opts.SnapCount
	}
	if c.opts.CheckDigests {
		cfg.OnApplied = func(index uint64, tree *datatree.Tree) {
			c.checkDigest(m, index, tree)
			c.checkConfig(m, index, tree)
		}
	}
	r, err := replica.Open(cfg)
	if err != nil {
		c.t.Fatalf("replicatest: member %d: open: %v", m.ID, err)
	}
	m.Log, m.Rep, m.Up = l, r, true
	r.SetListener(memberListener{m})
}

func (m *Member) stop() {
	m.Rep.Stop()
	_ = m.Log.Close()
	m.Up = false
}

type memberListener struct{ m *Member }

func (l memberListener) SessionClosed(id jute.SessionID)      { l.m.Closed = append(l.m.Closed, id) }
func (memberListener) SessionAttached(jute.SessionID, uint64) {}
func (l memberListener) CollectTouched(dst []jute.SessionID) []jute.SessionID {
	dst = append(dst, slices.Sorted(maps.Keys(l.m.touched))...)
	clear(l.m.touched)
	return dst
}
func (l memberListener) DisconnectClients(string) { l.m.LostLeader++ }
func (l memberListener) EnsembleChanged(e replica.Ensemble) {
	l.m.Ensembles = append(l.m.Ensembles, e)
}

func (l memberListener) NoteTiming(name string, v int64) {
	if l.m.Timings == nil {
		l.m.Timings = map[string][]int64{}
	}
	l.m.Timings[name] = append(l.m.Timings[name], v)
}

func (l memberListener) NoteTimingOf(name, label string, v int64) {
	l.NoteTiming(name+"/"+label, v)
}

var _ replica.TimingNoter = memberListener{}

func (l memberListener) LocalSessionExpired(id jute.SessionID) {
	l.m.LocalExpired = append(l.m.LocalExpired, id)
}

type raftTransport struct {
	c    *Cluster
	from uint64
}

func (tr raftTransport) Send(msgs []*quorum.Message) {
	for _, msg := range msgs {
		tr.c.send(message{from: tr.from, to: quorum.To(msg), raft: msg})
	}
}

type appPeers struct {
	c    *Cluster
	from uint64
}

func (p appPeers) SendApp(to uint64, msg []byte) bool {
	p.c.send(message{from: p.from, to: to, app: append([]byte(nil), msg...)})
	return true
}

func (c *Cluster) send(m message) {
	link := [2]uint64{m.from, m.to}
	if c.blocked[link] || c.opts.DropRate > 0 && c.rng.Float64() < c.opts.DropRate {
		return
	}
	m.at = max(c.now+1+c.rng.IntN(c.opts.MaxDelay), c.lastAt[link])
	c.lastAt[link] = m.at
	c.queue = append(c.queue, m)
}

// Step advances the cluster by one step: the clock moves, due messages are
// delivered in order, ticks happen when due, and every member processes.
func (c *Cluster) Step() {
	c.now++
	c.Clock.Add(c.opts.StepTime)
	var later []message
	for _, msg := range c.queue {
		if msg.at > c.now {
			later = append(later, msg)
			continue
		}
		m := c.members[msg.to]
		if m == nil || !m.Up || c.blocked[[2]uint64{msg.from, msg.to}] {
			continue
		}
		if msg.raft != nil {
			if index, ok := quorum.SnapshotIndex(msg.raft); ok {
				c.transferSnapshot(msg.from, m, index)
			}
			m.Rep.Node().Step(msg.raft)
		} else {
			m.Rep.HandleApp(msg.from, msg.app)
		}
	}
	c.queue = later
	tick := c.now%c.opts.TickEvery == 0
	for _, id := range c.ids {
		m := c.members[id]
		if !m.Up {
			continue
		}
		if tick {
			m.Rep.Node().Tick()
			m.Rep.Tick()
			if m.Joining && m.Rep.Member() && m.Rep.Applied() > 0 {
				m.Joining = false
			}
			if m.Joining {
				c.ask(m, false)
			}
			if m.Joining || !m.Rep.Member() || m.Rep.Leader() != 0 {
				m.leaderless = 0
			} else if m.leaderless++; m.leaderless%askViewEvery == 0 {
				for _, v := range c.ask(m, true) {
					m.Rep.NoteView(v)
				}
			}
		}
		m.Rep.Node().Process()
	}
	if c.AfterStep != nil {
		c.AfterStep()
	}
}

// ServerLine is the server.N line of server id in the simulated ensemble, without
// its role: every server has its own quorum, election and client ports.
func ServerLine(myid int64) string {
	return fmt.Sprintf("server.%d=127.0.0.1:%d:%d", myid, 20000+myid, 30000+myid)
}

// ClientPart is the ";host:port" client part of server id's line.
func ClientPart(myid int64) string { return fmt.Sprintf(";127.0.0.1:%d", 40000+myid) }

// ask delivers m's join request (viewOnly: a request for the view only) to
// every member it can reach, as the server's join loop and removal check do,
// and returns their views.
func (c *Cluster) ask(m *Member, viewOnly bool) []replica.JoinView {
	req := replica.JoinRequest{MyID: replica.ServerID(m.ID), ID: m.ID,
		Addr: fmt.Sprintf("127.0.0.1:%d", 20000+replica.ServerID(m.ID)), ViewOnly: viewOnly}.Marshal()
	var views []replica.JoinView
	for _, id := range c.ids {
		o := c.members[id]
		if id == m.ID || !o.Up || c.blocked[[2]uint64{m.ID, id}] || c.blocked[[2]uint64{id, m.ID}] {
			continue
		}
		v, err := replica.UnmarshalJoinView(o.Rep.HandleJoin(req))
		if err != nil {
			c.t.Fatalf("replicatest: view of %d: %v", id, err)
		}
		views = append(views, v)
	}
	return views
}

// AddJoiner starts a new server, with server id myid in the given incarnation,
// that joins the running ensemble: it starts empty and asks the members to be
// known until a reconfig adds it.
func (c *Cluster) AddJoiner(myid int64, incarnation uint32) *Member {
	id := replica.RaftID(myid, incarnation)
	if c.members[id] != nil {
		c.t.Fatalf("replicatest: member %s exists", replica.Label(id))
	}
	m := &Member{c: c, ID: id, FS: vfs.NewMem(), Joining: true}
	c.members[id] = m
	c.ids = append(c.ids, id)
	m.start()
	return m
}

// transferSnapshot streams the sender's snapshot file to the receiver before its
// MsgSnap is delivered, as the peer transport does, and reports the outcome to
// the sender's raft.
func (c *Cluster) transferSnapshot(from uint64, to *Member, index uint64) {
	sender := c.members[from]
	failed := true
	defer func() {
		if sender.Up {
			sender.Rep.Node().ReportSnapshot(to.ID, failed)
		}
	}()
	if !sender.Up {
		return
	}
	f, _, err := sender.Rep.OpenSnapshot(index)
	if err != nil {
		c.t.Fatalf("replicatest: member %d cannot open its snapshot %d: %v", from, index, err)
	}
	defer f.Close()
	if err := to.Rep.ReceiveSnapshot(index, f); err != nil {
		c.t.Fatalf("replicatest: member %d cannot receive snapshot %d: %v", to.ID, index, err)
	}
	c.SnapshotsSent++
	failed = false
}

// Wipe replaces a stopped member's disk with an empty one, as after losing it.
func (c *Cluster) Wipe(id uint64) {
	m := c.members[id]
	if m.Up {
		c.t.Fatalf("replicatest: wipe of running member %d", id)
	}
	m.FS = vfs.NewMem()
}

// Run steps n times.
func (c *Cluster) Run(n int) {
	for range n {
		c.Step()
	}
}

// RunUntil steps until cond holds, failing the test after maxSteps.
func (c *Cluster) RunUntil(what string, maxSteps int, cond func() bool) {
	c.t.Helper()
	for range maxSteps {
		if cond() {
			return
		}
		c.Step()
	}
	if !cond() {
		c.t.Fatalf("replicatest: seed %d: %s did not happen within %d steps (%s)", c.opts.Seed, what, maxSteps, c)
	}
}

// Member returns member id.
func (c *Cluster) Member(id uint64) *Member { return c.members[id] }

// IDs returns every member id in order.
func (c *Cluster) IDs() []uint64 { return slices.Clone(c.ids) }

// Leader returns the member that is up and leads with the highest term, or 0.
func (c *Cluster) Leader() uint64 {
	var lead, term uint64
	for _, id := range c.ids {
		m := c.members[id]
		if m.Up && m.Rep.IsLeader() && m.Rep.Node().Term() >= term {
			lead, term = id, m.Rep.Node().Term()
		}
	}
	return lead
}

// WaitLeader steps until a leader is up, every connected member of the
// configuration that is up follows it, and the leader has applied an entry of its own term (so that its
// session tracker is armed).
func (c *Cluster) WaitLeader(maxSteps int) uint64 {
	c.t.Helper()
	c.RunUntil("a stable leader", maxSteps, func() bool {
		lead := c.Leader()
		if lead == 0 {
			return false
		}
		for _, id := range c.ids {
			m := c.members[id]
			// Servers outside the configuration (joining, or removed) follow no one.
			if m.Up && m.Rep.Member() && !c.blocked[[2]uint64{lead, id}] && !c.blocked[[2]uint64{id, lead}] && m.Rep.Leader() != lead {
				return false
			}
		}
		return c.members[lead].Rep.Node().Status().Commit >= 1 && c.members[lead].Rep.Applied() > 1
	})
	return c.Leader()
}

// WaitApplied steps until every member that is up has applied index.
func (c *Cluster) WaitApplied(index jute.Zxid, maxSteps int) {
	c.t.Helper()
	c.RunUntil(fmt.Sprintf("every member applies %v", index), maxSteps, func() bool {
		for _, id := range c.ids {
			if m := c.members[id]; m.Up && m.Rep.Applied() < index {
				return false
			}
		}
		return true
	})
}

// Crash stops member id as kill -9 would: its disk keeps what opts keep of what
// was not yet synced.
func (c *Cluster) Crash(id uint64, opts vfs.CrashOptions) {
	m := c.members[id]
	if !m.Up {
		return
	}
	crashed := m.FS.CrashClone(opts)
	m.stop()
	m.FS = crashed
	c.queue = slices.DeleteFunc(c.queue, func(msg message) bool { return msg.to == id || msg.from == id })
}

// Restart starts a crashed member from its disk.
func (c *Cluster) Restart(id uint64) {
	if m := c.members[id]; !m.Up {
		m.start()
	}
}

// Partition cuts every link between members of different groups; members not
// named are cut off from everyone.
func (c *Cluster) Partition(groups ...[]uint64) {
	group := make(map[uint64]int)
	for g, ids := range groups {
		for _, id := range ids {
			group[id] = g + 1
		}
	}
	clear(c.blocked)
	for _, a := range c.ids {
		for _, b := range c.ids {
			if a != b && (group[a] == 0 || group[a] != group[b]) {
				c.blocked[[2]uint64{a, b}] = true
			}
		}
	}
}

// BlockOneWay drops every message from -> to.
func (c *Cluster) BlockOneWay(from, to uint64) { c.blocked[[2]uint64{from, to}] = true }

// Heal restores every link.
func (c *Cluster) Heal() { clear(c.blocked) }

// checkConfig fails the test when two members have a different /zookeeper/config
// after the same index (the digest leaves /zookeeper out).
func (c *Cluster) checkConfig(m *Member, index uint64, tree *datatree.Tree) {
	data, _ := tree.Config()
	if prev, ok := c.configs[index]; ok && prev != string(data) {
		c.t.Fatalf("replicatest: seed %d: member %s's /zookeeper/config after index %d is %q, another member had %q",
			c.opts.Seed, replica.Label(m.ID), index, data, prev)
	}
	c.configs[index] = string(data)
}

func (c *Cluster) checkDigest(m *Member, index uint64, tree *datatree.Tree) {
	d := tree.Digest()
	if prev, ok := c.digests[index]; ok && prev != d {
		c.t.Fatalf("replicatest: seed %d: member %d's tree digest after index %d is %x, another member had %x",
			c.opts.Seed, m.ID, index, d, prev)
	}
	c.digests[index] = d
}

// TreeDigest is the sum of ZooKeeper's node digests over the whole tree.
func TreeDigest(t testing.TB, tree *datatree.Tree) uint64 {
	t.Helper()
	im, err := tree.Freeze()
	if err != nil {
		t.Fatalf("replicatest: digest: %v", err)
	}
	defer im.Release()
	var sum uint64
	if err := im.Nodes(func(n *datatree.NodeImage) error {
		sum += datatree.NodeDigest(n)
		return nil
	}); err != nil {
		t.Fatalf("replicatest: digest: %v", err)
	}
	return sum
}

// String summarises the cluster for failure messages.
func (c *Cluster) String() string {
	s := fmt.Sprintf("step %d;", c.now)
	for _, id := range c.ids {
		m := c.members[id]
		if !m.Up {
			s += fmt.Sprintf(" %s:down", replica.Label(id))
			continue
		}
		s += fmt.Sprintf(" %s:lead=%s term=%d applied=%d", replica.Label(id), replica.Label(m.Rep.Leader()),
			m.Rep.Node().Term(), m.Rep.Applied())
	}
	return s
}
