// Package quorumtest runs whole raft groups of quorum.Nodes inside one test, on a
// simulated network and clock, from a seed: elections, replication, partitions,
// drops, delays, and crash-restart on a durable log, repeatable step for step.
//
// Every node runs in quorum's Manual mode, so nothing happens except when the
// cluster steps it: a step delivers the messages that are due, in the order they
// were sent, then lets every member process, in id order. Time is a step counter;
// a tick happens every TickEvery steps. Message delays and drops come from one
// seeded source, and raft's own election timeouts from crypto/rand seeded with the
// same seed (testing/cryptotest), so a failing run is replayed exactly by its seed.
//
// Each member's log lives on its own vfs.MemFS; Crash keeps only what was synced
// (or whatever CrashOptions say) and Restart reopens the log from it, as a server
// restarting after kill -9 would. The cluster checks on every apply that no two
// members ever apply different data at the same index (raft's state machine
// safety), and fails the test at once if they do.
package quorumtest

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/cryptotest"

	pb "go.etcd.io/raft/v3/raftpb"

	"zkd/internal/vfs"
	"zkd/quorum"
	"zkd/txnlog"
)

// Options configure a Cluster.
type Options struct {
	Seed     uint64
	Voters   int // members 1..Voters vote
	Learners int // members Voters+1..Voters+Learners only learn
	// TickEvery is how many steps make one raft tick (default 5).
	TickEvery int
	// MaxDelay is the most steps a message may be delayed (default 3; at least 1).
	MaxDelay int
	// DropRate is the probability that a message is lost.
	DropRate float64
	// ElectionTicks and HeartbeatTicks default to 10 and 1.
	ElectionTicks, HeartbeatTicks int
}

// Cluster is a simulated raft group.
type Cluster struct {
	t       testing.TB
	opts    Options
	rng     *rand.Rand
	now     int
	members map[uint64]*Member
	ids     []uint64

	queue   []envelope
	blocked map[[2]uint64]bool // (from, to) links that drop everything
	sent    int
	dropped int
	applied map[uint64]appliedEntry // index -> what was applied there (first member to apply it)
	boot    quorum.Membership
	log     *slog.Logger
}

type envelope struct {
	from, to uint64
	at       int
	msg      *pb.Message
}

type appliedEntry struct {
	term uint64
	data []byte
}

// Member is one simulated server.
type Member struct {
	c       *Cluster
	ID      uint64
	FS      *vfs.MemFS
	Log     *txnlog.Log
	Node    *quorum.Node
	Up      bool
	Applied []quorum.Entry // every entry applied since the last (re)start
	Leads   []uint64       // leaders reported, in order
	last    uint64         // index of the last entry applied
}

const logDir = "/log"

// New starts a cluster of opts.Voters voters and opts.Learners learners, all up.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.TickEvery <= 0 {
		opts.TickEvery = 5
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 3
	}
	if opts.ElectionTicks == 0 {
		opts.ElectionTicks, opts.HeartbeatTicks = 10, 1
	}
	// raft draws its randomized election timeouts from crypto/rand: seed that
	// too, or elections (and everything after them) differ from run to run.
	if tt, ok := t.(*testing.T); ok {
		cryptotest.SetGlobalRandom(tt, opts.Seed)
	}
	c := &Cluster{t: t, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		members: make(map[uint64]*Member), blocked: make(map[[2]uint64]bool),
		applied: make(map[uint64]appliedEntry), log: slog.New(slog.DiscardHandler)}
	for i := 1; i <= opts.Voters+opts.Learners; i++ {
		id := uint64(i)
		c.ids = append(c.ids, id)
		if i <= opts.Voters {
			c.boot.Voters = append(c.boot.Voters, id)
		} else {
			c.boot.Learners = append(c.boot.Learners, id)
		}
	}
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
	l, err := txnlog.Open(m.FS, logDir, txnlog.Options{SegmentSize: 64 << 10, Logger: c.log})
	if err != nil {
		c.t.Fatalf("quorumtest: member %d: open log: %v", m.ID, err)
	}
	cfg := quorum.DefaultConfig()
	cfg.ID, cfg.Log, cfg.Logger, cfg.Manual = m.ID, l, c.log, true
	cfg.ElectionTicks, cfg.HeartbeatTicks = c.opts.ElectionTicks, c.opts.HeartbeatTicks
	cfg.Snapshot = quorum.SnapshotMeta{Index: 1, Term: 1, Membership: c.boot}
	cfg.Transport = transport{c: c, from: m.ID}
	cfg.Applier = applier{m}
	n, err := quorum.Start(cfg)
	if err != nil {
		c.t.Fatalf("quorumtest: member %d: start: %v", m.ID, err)
	}
	m.Log, m.Node, m.Up = l, n, true
	m.Applied, m.Leads, m.last = nil, nil, 1
}

func (m *Member) stop() {
	m.Node.Stop()
	_ = m.Log.Close()
	m.Up = false
}

type transport struct {
	c    *Cluster
	from uint64
}

func (tr transport) Send(msgs []*pb.Message) {
	c := tr.c
	for _, msg := range msgs {
		c.sent++
		to := msg.GetTo()
		if c.blocked[[2]uint64{tr.from, to}] || c.opts.DropRate > 0 && c.rng.Float64() < c.opts.DropRate {
			c.dropped++
			continue
		}
		c.queue = append(c.queue, envelope{from: tr.from, to: to, at: c.now + 1 + c.rng.IntN(c.opts.MaxDelay), msg: msg})
	}
}

type applier struct{ m *Member }

func (a applier) Apply(ents []quorum.Entry) {
	m, c := a.m, a.m.c
	for _, e := range ents {
		if e.Index != m.last+1 {
			c.t.Fatalf("quorumtest: member %d applied index %d after %d", m.ID, e.Index, m.last)
		}
		m.last = e.Index
		if prev, ok := c.applied[e.Index]; ok {
			if prev.term != e.Term || !bytes.Equal(prev.data, e.Data) {
				c.t.Fatalf("quorumtest: seed %d: member %d applied (term %d, %q) at index %d where another applied (term %d, %q)",
					c.opts.Seed, m.ID, e.Term, e.Data, e.Index, prev.term, prev.data)
			}
		} else {
			c.applied[e.Index] = appliedEntry{term: e.Term, data: bytes.Clone(e.Data)}
		}
		m.Applied = append(m.Applied, e)
	}
}

func (a applier) LeaderChanged(lead, _ uint64) { a.m.Leads = append(a.m.Leads, lead) }

// InstallSnapshot is never called here: quorumtest never compacts a log.
func (a applier) InstallSnapshot(meta quorum.SnapshotMeta) {
	a.m.c.t.Fatalf("quorumtest: member %d was sent a snapshot at %d", a.m.ID, meta.Index)
}

// Step advances simulated time by one step: due messages are delivered, a tick
// happens if one is due, and every member that is up processes.
func (c *Cluster) Step() {
	c.now++
	var later []envelope
	for _, e := range c.queue {
		if e.at > c.now {
			later = append(later, e)
			continue
		}
		if m := c.members[e.to]; m != nil && m.Up && !c.blocked[[2]uint64{e.from, e.to}] {
			m.Node.Step(e.msg)
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
			m.Node.Tick()
		}
		m.Node.Process()
	}
}

// RunUntil steps until cond holds, failing the test after maxSteps.
func (c *Cluster) RunUntil(what string, maxSteps int, cond func() bool) {
	c.t.Helper()
	for i := 0; i < maxSteps; i++ {
		if cond() {
			return
		}
		c.Step()
	}
	if !cond() {
		c.t.Fatalf("quorumtest: seed %d: %s did not happen within %d steps (%s)", c.opts.Seed, what, maxSteps, c)
	}
}

// Run steps n times.
func (c *Cluster) Run(n int) {
	for range n {
		c.Step()
	}
}

// Member returns member id.
func (c *Cluster) Member(id uint64) *Member { return c.members[id] }

// IDs returns every member id in order.
func (c *Cluster) IDs() []uint64 { return slices.Clone(c.ids) }

// Leader returns the member that is up and believes it leads with the highest
// term, or 0.
func (c *Cluster) Leader() uint64 {
	var lead, term uint64
	for _, id := range c.ids {
		m := c.members[id]
		if m.Up && m.Node.IsLeader() && m.Node.Term() >= term {
			lead, term = id, m.Node.Term()
		}
	}
	return lead
}

// WaitLeader steps until a leader is up and every other member that is up and
// connected to it follows it; it returns the leader.
func (c *Cluster) WaitLeader(maxSteps int) uint64 {
	c.t.Helper()
	c.RunUntil("a stable leader", maxSteps, func() bool {
		lead := c.Leader()
		if lead == 0 {
			return false
		}
		for _, id := range c.ids {
			m := c.members[id]
			if m.Up && !c.blocked[[2]uint64{lead, id}] && !c.blocked[[2]uint64{id, lead}] && m.Node.Leader() != lead {
				return false
			}
		}
		return true
	})
	return c.Leader()
}

// Propose proposes data at member id; rejections are recorded in the returned
// pointer's target once they happen.
func (c *Cluster) Propose(id uint64, data []byte) *error {
	c.t.Helper()
	var rejected error
	if err := c.members[id].Node.Propose(data, func(err error) { rejected = err }); err != nil {
		rejected = err
	}
	return &rejected
}

// Crash stops member id as kill -9 would: its log keeps what opts keep of what was
// not yet synced (DropUnsynced: only what was synced).
func (c *Cluster) Crash(id uint64, opts vfs.CrashOptions) {
	m := c.members[id]
	if !m.Up {
		return
	}
	crashed := m.FS.CrashClone(opts)
	m.stop()
	m.FS = crashed
	c.dropQueuedTo(id)
}

// Restart starts a crashed or stopped member from its disk.
func (c *Cluster) Restart(id uint64) {
	if m := c.members[id]; !m.Up {
		m.start()
	}
}

func (c *Cluster) dropQueuedTo(id uint64) {
	c.queue = slices.DeleteFunc(c.queue, func(e envelope) bool { return e.to == id })
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

// BlockOneWay drops every message from -> to (the reverse direction still works).
func (c *Cluster) BlockOneWay(from, to uint64) { c.blocked[[2]uint64{from, to}] = true }

// Heal restores every link.
func (c *Cluster) Heal() { clear(c.blocked) }

// Committed returns the data applied at every index so far, by any member.
func (c *Cluster) Committed(index uint64) ([]byte, bool) {
	e, ok := c.applied[index]
	return e.data, ok
}

// String summarises the cluster for failure messages.
func (c *Cluster) String() string {
	s := fmt.Sprintf("step %d, sent %d, dropped %d;", c.now, c.sent, c.dropped)
	for _, id := range c.ids {
		m := c.members[id]
		s += fmt.Sprintf(" %d:up=%v lead=%d term=%d applied=%d", id, m.Up, m.Node.Leader(), m.Node.Term(), m.last)
	}
	return s
}
