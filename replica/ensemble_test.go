package replica_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/internal/testutil"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/replica"
	"zkd/replica/replicatest"
)

const steps = 20000

func exists(m *replicatest.Member, path string) bool {
	_, code := m.Rep.Tree().Exists(path, nil, nil)
	return code == jute.CodeOK
}

func others(c *replicatest.Cluster, id uint64) []uint64 {
	var out []uint64
	for _, m := range c.IDs() {
		if m != id {
			out = append(out, m)
		}
	}
	return out
}

// Writes sent to any member (followers forward them) are applied in one order
// on every member, with the same digest after every entry.
func TestWritesThroughEveryMemberApplyEverywhereAlike(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 1, Voters: 3, CheckDigests: true})
	c.WaitLeader(steps)
	var clients []*replicatest.Client
	for _, id := range c.IDs() {
		clients = append(clients, c.NewClient(id, 30000))
	}
	var outs []*replicatest.Outcome
	for i := range 30 {
		cl := clients[i%3]
		outs = append(outs, cl.Create(fmt.Sprintf("/n%02d", i), []byte{byte(i)}, jute.ModePersistent))
	}
	c.RunUntil("every write is answered", steps, func() bool {
		for _, o := range outs {
			if o.Pending() {
				return false
			}
		}
		return true
	})
	var last jute.Zxid
	for i, o := range outs {
		if o.Err != nil || o.Res.Err != jute.CodeOK {
			t.Fatalf("write %d: %v %v", i, o.Err, o.Res.Err)
		}
		last = max(last, o.Zxid)
	}
	c.WaitApplied(last, steps)
	for _, id := range c.IDs() {
		for i := range 30 {
			if !exists(c.Member(id), fmt.Sprintf("/n%02d", i)) {
				t.Fatalf("member %d lacks /n%02d", id, i)
			}
		}
	}
}

// A client's writes on one connection keep their order even though a follower
// forwards them: sequential creates get increasing sequence numbers in send order.
func TestForwardedWritesKeepTheirConnectionsOrder(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 2, Voters: 3, MaxDelay: 5})
	lead := c.WaitLeader(steps)
	cl := c.NewClient(others(c, lead)[0], 30000)
	var outs []*replicatest.Outcome
	for range 20 {
		outs = append(outs, cl.Create("/seq-", nil, jute.ModePersistentSequential))
	}
	c.RunUntil("the writes are answered", steps, func() bool { return !outs[len(outs)-1].Pending() })
	prev := ""
	for i, o := range outs {
		if o.Err != nil || o.Res.Err != jute.CodeOK {
			t.Fatalf("write %d: %v %v", i, o.Err, o.Res.Err)
		}
		var path string
		d := jute.NewDecoder(o.Res.Body)
		path = d.String()
		if path <= prev {
			t.Fatalf("write %d created %s after %s", i, path, prev)
		}
		prev = path
	}
}

// consensus.md §5.11 case 1: the leader crashes with a write in flight. The
// client is told the outcome is unknown, and the write is all or nothing: every
// member has it, or none does.
func TestLeaderCrashWithAWriteInFlightIsAllOrNothing(t *testing.T) {
	for _, after := range []int{0, 1, 2, 3, 5, 8} {
		t.Run(fmt.Sprintf("crash_after_steps=%d", after), func(t *testing.T) {
			c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: uint64(10 + after), Voters: 3, CheckDigests: true})
			lead := c.WaitLeader(steps)
			onLeader := c.NewClient(lead, 30000)
			onFollower := c.NewClient(others(c, lead)[0], 30000)
			a := onLeader.Create("/a", nil, jute.ModePersistent)
			b := onFollower.Create("/b", nil, jute.ModePersistent)
			c.Run(after)
			c.Crash(lead, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
			next := c.WaitLeader(steps)
			c.RunUntil("the follower's client hears", steps, func() bool { return b.Done })
			if b.Err != nil && !errors.Is(b.Err, replica.ErrLeaderChanged) && !errors.Is(b.Err, replica.ErrDropped) {
				t.Fatalf("follower client: unexpected error %v", b.Err)
			}
			_ = a // the crashed leader's own client is gone with it
			c.Restart(lead)
			// A later write commits everywhere, so every member has applied past /a and /b.
			probe := c.NewClient(next, 30000)
			o := probe.Create("/probe", nil, jute.ModePersistent)
			c.RunUntil("the probe write", steps, func() bool { return o.Done })
			c.WaitApplied(o.Zxid, steps)
			for _, p := range []string{"/a", "/b"} {
				n := 0
				for _, id := range c.IDs() {
					if exists(c.Member(id), p) {
						n++
					}
				}
				if n != 0 && n != 3 {
					t.Fatalf("%s is on %d of 3 members", p, n)
				}
			}
			if b.Done && b.Err == nil && !exists(c.Member(next), "/b") {
				t.Fatal("an acknowledged write is missing")
			}
		})
	}
}

// A write lost on its way to the leader is never overtaken by a later write of
// the same connection: the later one is refused at apply (design/consensus.md §5.4).
func TestLaterWriteIsRefusedAfterAnEarlierOneWasLost(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 3, Voters: 3})
	lead := c.WaitLeader(steps)
	follower := others(c, lead)[0]
	cl := c.NewClient(follower, 30000)
	c.BlockOneWay(follower, lead)
	lost := cl.Create("/lost", nil, jute.ModePersistent)
	c.Step()
	c.Heal()
	later := cl.Create("/later", nil, jute.ModePersistent)
	c.RunUntil("the later write is decided", steps, func() bool { return later.Done })
	if later.Err == nil && later.Res.Err != datatree.CodeOutOfOrder {
		t.Fatalf("later write after a lost one: %v, want out of order", later.Res.Err)
	}
	c.Run(200)
	for _, id := range c.IDs() {
		if exists(c.Member(id), "/later") {
			t.Fatalf("member %d applied a write whose predecessor was lost", id)
		}
	}
	_ = lost
}

// Writes of a connection the session has left (it moved to another member) are
// refused as SESSIONMOVED.
func TestWritesOfAStaleConnectionAreRefused(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 4, Voters: 3})
	lead := c.WaitLeader(steps)
	cl := c.NewClient(lead, 30000)
	stale := *cl
	if o := cl.Move(others(c, lead)[0]); o.Err != nil || o.Res.Err != jute.CodeOK {
		t.Fatalf("move: %v %v", o.Err, o.Res.Err)
	}
	o := stale.Create("/stale", nil, jute.ModePersistent)
	c.RunUntil("the stale write is decided", steps, func() bool { return o.Done })
	if o.Err == nil && o.Res.Err != jute.CodeSessionMoved {
		t.Fatalf("write from the old connection: %v, want SESSIONMOVED", o.Res.Err)
	}
	ok := cl.Create("/moved", nil, jute.ModePersistent)
	c.RunUntil("the moved client's write", steps, func() bool { return ok.Done })
	if ok.Err != nil || ok.Res.Err != jute.CodeOK {
		t.Fatalf("write after the move: %v %v", ok.Err, ok.Res.Err)
	}
}

// consensus.md §5.11 case 3: a leader cut off from the majority steps down; its
// clients' writes fail; the majority elects a leader whose tracker expires the
// sessions nobody touches any more, deleting their ephemerals.
func TestMinorityLeaderStepsDownAndItsSilentSessionsExpire(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 5, Voters: 3})
	lead := c.WaitLeader(steps)
	stranded := c.NewClient(lead, 2000)
	eph := stranded.Create("/eph", nil, jute.ModeEphemeral)
	c.RunUntil("the ephemeral", steps, func() bool { return eph.Done })
	c.WaitApplied(eph.Zxid, steps)
	c.Partition([]uint64{lead}, others(c, lead))
	w := stranded.Create("/never", nil, jute.ModePersistent)
	c.RunUntil("the old leader steps down", steps, func() bool { return !c.Member(lead).Rep.IsLeader() })
	c.RunUntil("the stranded write fails", steps, func() bool { return w.Done })
	if w.Err == nil {
		t.Fatalf("a write on a leader cut off from the majority succeeded: %v", w.Res.Err)
	}
	var next uint64
	c.RunUntil("a majority leader", steps, func() bool {
		next = c.Leader()
		return next != 0 && next != lead
	})
	c.RunUntil("the stranded session expires on the majority", steps, func() bool { return !exists(c.Member(next), "/eph") })
	// The new leader expired it (mntr's stale_sessions_expired); the others did not.
	for _, id := range c.IDs() {
		want := uint64(0)
		if id == next {
			want = 1
		}
		if got := c.Member(id).Rep.Stats().SessionsExpired; got != want {
			t.Errorf("%d expired %d sessions, want %d", id, got, want)
		}
	}
	if c.Member(lead).LostLeader == 0 {
		t.Fatal("the cut-off member never told its clients to move")
	}
	c.Heal()
	c.RunUntil("the old leader catches up", steps, func() bool { return !exists(c.Member(lead), "/eph") })
}

// consensus.md §5.7: a new leader gives every session a full timeout from the
// moment it arms its tracker, so a leader change alone expires nobody.
func TestNewLeaderRestartsEverySessionsClock(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 6, Voters: 3, StepTime: 10 * time.Millisecond})
	lead := c.WaitLeader(steps)
	follower := others(c, lead)[0]
	cl := c.NewClient(follower, 4000)
	eph := cl.Create("/mine", nil, jute.ModeEphemeral)
	c.RunUntil("the ephemeral", steps, func() bool { return eph.Done })
	// Silent for 3 s of its 4 s timeout, then the leader dies.
	c.Run(300)
	c.Crash(lead, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
	next := c.WaitLeader(steps)
	// 2 s after the new leader took over (5 s of silence in all) it is still there.
	c.Run(200)
	if !exists(c.Member(next), "/mine") {
		t.Fatal("a leader change expired a session before its timeout")
	}
	// Pinging keeps it alive through the follower's touch reports.
	for range 100 {
		cl.Ping()
		c.Run(10)
	}
	if !exists(c.Member(next), "/mine") {
		t.Fatal("a pinging session expired")
	}
	// Silent for good: it goes.
	c.RunUntil("the silent session expires", steps, func() bool { return !exists(c.Member(next), "/mine") })
}

// Sync on a follower returns only once the follower has applied everything
// committed before it, even with the leader's write still on its way.
func TestSyncOnAFollowerCoversEarlierCommits(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 7, Voters: 3, MaxDelay: 6})
	lead := c.WaitLeader(steps)
	writer := c.NewClient(lead, 30000)
	w := writer.Create("/w", nil, jute.ModePersistent)
	c.RunUntil("the write is acknowledged", steps, func() bool { return w.Done })
	follower := others(c, lead)[0]
	s := c.Sync(follower)
	c.RunUntil("the sync", steps, func() bool { return s.Done })
	if s.Err != nil || s.Zxid < w.Zxid {
		t.Fatalf("sync on %d answered at %v (err %v) before the write at %v", follower, s.Zxid, s.Err, w.Zxid)
	}
	if !exists(c.Member(follower), "/w") {
		t.Fatal("after sync the follower does not show the write")
	}
}

// consensus.md §5.11 case 9: a sync asked while there is no reachable leader is
// asked again, under a fresh context, once there is one.
func TestSyncSurvivesALeaderChange(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 8, Voters: 3})
	lead := c.WaitLeader(steps)
	follower := others(c, lead)[0]
	c.BlockOneWay(follower, lead)
	s := c.Sync(follower)
	c.Run(30)
	c.Crash(lead, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
	c.Heal()
	c.WaitLeader(steps)
	c.RunUntil("the sync completes under the new leader", steps, func() bool { return s.Done })
	if s.Err != nil {
		t.Fatalf("sync: %v", s.Err)
	}
}

// Observers (raft learners) apply everything, forward their clients' writes, and
// do not count towards the quorum.
func TestObserverServesAndForwards(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 9, Voters: 3, Learners: 1, CheckDigests: true})
	c.WaitLeader(steps)
	observer := c.IDs()[3]
	obs := c.NewClient(observer, 30000)
	w := obs.Create("/from-observer", nil, jute.ModePersistent)
	c.RunUntil("the observer's write", steps, func() bool { return w.Done })
	if w.Err != nil || w.Res.Err != jute.CodeOK {
		t.Fatalf("write through the observer: %v %v", w.Err, w.Res.Err)
	}
	c.WaitApplied(w.Zxid, steps)
	if c.Member(observer).Rep.Node().Status().Membership.IsVoter(observer) {
		t.Fatal("the observer is a voter")
	}
}

// Members restart from their snapshots and logs after kill -9 and converge on
// the same tree; with messages lost and delayed at random, every member applies
// the same entries with the same digest.
func TestLossyNetworkCrashesAndSnapshotsConverge(t *testing.T) {
	for _, seed := range testutil.SimSeeds(30, 4) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: seed, Voters: 3, DropRate: 0.05,
				MaxDelay: 5, SnapCount: 40, CheckDigests: true})
			var last jute.Zxid
			for round := range 6 {
				lead := c.WaitLeader(steps)
				cl := c.NewClient(others(c, lead)[round%2], 30000)
				var outs []*replicatest.Outcome
				for i := range 15 {
					outs = append(outs, cl.Create(fmt.Sprintf("/r%d-%02d", round, i), nil, jute.ModePersistent))
				}
				c.RunUntil("the round's writes finish", steps, func() bool {
					for _, o := range outs {
						if o.Pending() {
							return false
						}
					}
					return true
				})
				for _, o := range outs {
					if o.Err == nil && o.Res.Err == jute.CodeOK {
						last = max(last, o.Zxid)
					}
				}
				if round%2 == 1 {
					victim := c.IDs()[round%3]
					c.Crash(victim, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
					c.Run(50)
					c.Restart(victim)
				}
			}
			c.WaitApplied(last, steps*2)
			first := c.Member(c.IDs()[0])
			ref := replicatest.TreeDigest(t, first.Rep.Tree())
			for _, id := range c.IDs()[1:] {
				if d := replicatest.TreeDigest(t, c.Member(id).Rep.Tree()); d != ref || c.Member(id).Rep.Applied() != first.Rep.Applied() {
					c.Run(500) // let the last member catch up, then compare once more
					if d := replicatest.TreeDigest(t, c.Member(id).Rep.Tree()); d != ref {
						t.Fatalf("member %d digest %x, the first member %x (%s)", id, d, ref, c)
					}
				}
			}
		})
	}
}

// consensus.md §5.11 case 4: a leader whose disk fails never acknowledges the
// write it could not make durable.
func TestDiskFailureOnTheLeaderAcknowledgesNothing(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 12, Voters: 3})
	lead := c.WaitLeader(steps)
	cl := c.NewClient(lead, 30000)
	// Every fdatasync fails from now on. Failing only the next one on the disk
	// could miss the log's: it can be the zero-fill of the next segment, which a
	// goroutine of the log prepares whenever it gets a core, and whose failure
	// only stops a later roll.
	c.Member(lead).FS.SetInjector(func(op vfs.Op) vfs.Fault {
		if op.Kind == vfs.OpSync {
			return vfs.Fault{Err: errors.New("EIO")}
		}
		return vfs.Fault{}
	})
	o := cl.Create("/doomed", nil, jute.ModePersistent)
	c.Run(200)
	if o.Done && o.Err == nil && o.Res.Err == jute.CodeOK {
		// Acknowledged: then it must be durable on a quorum, i.e. on the other two.
		for _, id := range others(c, lead) {
			if !exists(c.Member(id), "/doomed") {
				t.Fatalf("acknowledged write missing on member %d", id)
			}
		}
	}
	select {
	case err := <-c.Member(lead).Rep.Failed():
		if err == nil {
			t.Fatal("nil failure")
		}
	default:
		t.Fatal("the leader kept running on a disk that failed an fdatasync")
	}
}

// consensus.md §5.11 case 6: a member whose disk was wiped, and one that fell
// behind the leader's compacted log, catch up from the leader's snapshot.
func TestWipedAndFarBehindMembersCatchUpFromASnapshot(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 40, Voters: 3, SnapCount: 40, CheckDigests: true})
	lead := c.WaitLeader(steps)
	wiped, behind := others(c, lead)[0], others(c, lead)[1]
	cl := c.NewClient(lead, 30000)
	write := func(prefix string, n int) jute.Zxid {
		var last *replicatest.Outcome
		for i := range n {
			last = cl.Create(fmt.Sprintf("/%s%03d", prefix, i), []byte(prefix), jute.ModePersistent)
		}
		c.RunUntil("the writes", steps, func() bool { return last.Done })
		if last.Err != nil {
			t.Fatalf("write: %v", last.Err)
		}
		return last.Zxid
	}
	write("a", 100)
	// Behind is cut off while the others move on and the leader compacts its log
	// (autopurge keeps only the log after the third newest snapshot).
	c.Partition([]uint64{lead, wiped}, []uint64{behind})
	last := write("b", 150)
	c.Member(lead).Rep.Purge()
	c.Heal()
	c.WaitApplied(last, steps*2)
	if c.SnapshotsSent == 0 {
		t.Fatal("no snapshot was sent to the member behind the compacted log")
	}
	if n := c.Member(lead).Rep.Node().Counters().SnapshotsSent; n == 0 {
		t.Fatal("the leader did not count the snapshot it sent (mntr snap_count)")
	}
	// Wiped loses its disk and comes back empty.
	c.Crash(wiped, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
	c.Wipe(wiped)
	c.Restart(wiped)
	sent := c.SnapshotsSent
	last = write("c", 20)
	c.WaitApplied(last, steps*2)
	if c.SnapshotsSent == sent {
		t.Fatal("no snapshot was sent to the wiped member")
	}
	if !c.Member(lead).Rep.Node().Status().Membership.IsVoter(wiped) {
		t.Fatalf("the wiped member is not a voter again: %+v", c.Member(lead).Rep.Node().Status().Membership)
	}
	ref := replicatest.TreeDigest(t, c.Member(lead).Rep.Tree())
	for _, id := range []uint64{wiped, behind} {
		if d := replicatest.TreeDigest(t, c.Member(id).Rep.Tree()); d != ref {
			t.Fatalf("member %d digest %x after catching up, leader %x", id, d, ref)
		}
	}
	// The member keeps working afterwards, and restarts from what it installed.
	more := write("d", 10)
	c.WaitApplied(more, steps)
	c.Crash(wiped, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
	c.Restart(wiped)
	c.WaitApplied(more, steps)
}

// readonlymode.enabled: a member cut off from its quorum turns read-only after
// ReadOnlyAfterTicks without a leader, and tells its clients to reconnect (as
// ZooKeeper's follower restarts as a read-only server); once it hears from a
// leader again it leaves read-only mode and tells them again. The majority
// never turns read-only.
func TestPartitionedMemberTurnsReadOnlyAndBack(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 21, Voters: 3, ReadOnlyMode: true})
	lead := c.WaitLeader(steps)
	cut := others(c, lead)[0]
	m := c.Member(cut)
	c.Partition([]uint64{cut}, others(c, cut))
	c.RunUntil("the cut-off member turns read-only", steps, func() bool { return m.Rep.ReadOnly() })
	if got := m.Rep.Mode(); got != "read-only" {
		t.Fatalf("mode %q, want read-only", got)
	}
	if m.LostLeader == 0 {
		t.Fatal("the member turned read-only without closing its clients' connections")
	}
	for _, id := range others(c, cut) {
		if c.Member(id).Rep.ReadOnly() {
			t.Fatalf("member %d of the majority turned read-only", id)
		}
	}
	before := m.LostLeader
	c.Heal()
	c.RunUntil("the member follows again", steps, func() bool { return m.Rep.Mode() == "follower" })
	if m.Rep.ReadOnly() || m.LostLeader == before {
		t.Fatalf("read-only %v, disconnects %d -> %d: the read-only sessions were not ended", m.Rep.ReadOnly(), before, m.LostLeader)
	}
}

// An observer cut off from the leader stops serving as if all were well: raft
// never has a learner campaign, so without the silence check it kept its leader
// and served ever staler reads. It turns read-only like a follower, takes no
// writes, and once healed observes again with what was written meanwhile.
func TestCutOffObserverTurnsReadOnlyAndBack(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 22, Voters: 3, Learners: 1, ReadOnlyMode: true})
	c.WaitLeader(steps)
	observer := c.IDs()[3]
	m := c.Member(observer)
	c.RunUntil("the observer serves", steps, func() bool { return m.Rep.Serving() && m.Rep.Mode() == "observer" })
	c.Partition([]uint64{observer}, c.IDs()[:3])
	c.RunUntil("the cut-off observer turns read-only", steps, func() bool { return m.Rep.ReadOnly() })
	if m.Rep.Serving() || m.Rep.Leader() != 0 || m.LostLeader == 0 {
		t.Fatalf("serving %v, leader %d, disconnects %d", m.Rep.Serving(), m.Rep.Leader(), m.LostLeader)
	}
	w := c.NewClient(c.Leader(), 30000).Create("/while-cut-off", nil, jute.ModePersistent)
	c.RunUntil("the write", steps, func() bool { return w.Done })
	if w.Err != nil || w.Res.Err != jute.CodeOK {
		t.Fatalf("write: %v %v", w.Err, w.Res.Err)
	}
	c.Heal()
	c.RunUntil("the observer observes again", steps, func() bool { return m.Rep.Mode() == "observer" && m.Rep.Serving() })
	c.RunUntil("the observer has the write", steps, func() bool { return m.Rep.Applied() >= w.Zxid })
}

// A local session's writes replicate like any other without the session ever
// entering the tree; an ephemeral is refused EPHEMERALONLOCALSESSION; only its
// own member expires it, and only once its client stops pinging.
func TestLocalSessionWritesAndExpiresOnItsMember(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 22, Voters: 3, CheckDigests: true})
	lead := c.WaitLeader(steps)
	home := others(c, lead)[0]
	cl := c.NewLocalClient(home, 1000)
	w := cl.Create("/local", []byte("v"), jute.ModePersistent)
	c.RunUntil("the local session's write", steps, func() bool { return w.Done })
	if w.Err != nil || w.Res.Err != jute.CodeOK {
		t.Fatalf("write of a local session: %v %v", w.Err, w.Res.Err)
	}
	eph := cl.Create("/eph", nil, jute.ModeEphemeral)
	c.RunUntil("the ephemeral", steps, func() bool { return eph.Done })
	if eph.Res.Err != jute.CodeEphemeralOnLocalSession {
		t.Fatalf("ephemeral of a local session: %v %v, want EPHEMERALONLOCALSESSION", eph.Err, eph.Res.Err)
	}
	c.WaitApplied(eph.Zxid, steps)
	for _, id := range c.IDs() {
		if _, live := c.Member(id).Rep.Tree().Session(cl.Session); live {
			t.Fatalf("member %d has the local session in its tree", id)
		}
		if !exists(c.Member(id), "/local") {
			t.Fatalf("member %d lacks the local session's write", id)
		}
	}
	// Pinged for three timeouts: alive. Then silent: expired, on its member only.
	for range 30 {
		cl.Ping()
		c.Run(10)
	}
	if n := len(c.Member(home).LocalExpired); n != 0 {
		t.Fatalf("a pinged local session expired")
	}
	c.RunUntil("the silent local session expires", steps, func() bool { return len(c.Member(home).LocalExpired) == 1 })
	if got := c.Member(home).LocalExpired[0]; got != cl.Session {
		t.Fatalf("expired %v, want %v", got, cl.Session)
	}
	for _, id := range others(c, home) {
		if n := len(c.Member(id).LocalExpired); n != 0 {
			t.Fatalf("member %d expired %d local sessions it never had", id, n)
		}
	}
}

// The counters behind mntr: the leader counts what it proposes and commits and
// the syncs it has not answered, with the sizes of its proposals; a follower
// counts the entries it receives and applies; both count the times they were
// without a leader.
func TestMembersCountTheirWork(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 23, Voters: 3, AckSampleEvery: 4})
	lead := c.WaitLeader(steps)
	follower := others(c, lead)[0]
	cl := c.NewClient(follower, 30000)
	var last *replicatest.Outcome
	for i := range 10 {
		last = cl.Create(fmt.Sprintf("/n%d", i), make([]byte, 10*i), jute.ModePersistent)
	}
	c.RunUntil("the writes", steps, func() bool { return last.Done })
	s := c.Sync(follower)
	c.RunUntil("the sync", steps, func() bool { return s.Done })
	c.WaitApplied(last.Zxid, steps)

	ls, fs := c.Member(lead).Rep.Stats(), c.Member(follower).Rep.Stats()
	if ls.Proposals < 11 || ls.Commits < 11 || ls.LeaderSince.IsZero() {
		t.Fatalf("leader: %+v, want at least 11 proposals and commits (a session and 10 writes) and a leader time", ls)
	}
	if ls.MinProposal <= 0 || ls.MaxProposal < ls.MinProposal+90 || ls.LastProposal != ls.MaxProposal {
		t.Fatalf("leader's proposal sizes last %d min %d max %d: the last write is the largest, 90 bytes over the smallest",
			ls.LastProposal, ls.MinProposal, ls.MaxProposal)
	}
	if fs.Proposals != 0 || fs.Commits != 0 || fs.LearnerCommits < 11 || !fs.LeaderSince.IsZero() {
		t.Fatalf("follower: %+v, want only learner commits", fs)
	}
	if n := c.Member(follower).Rep.Node().Counters().EntriesReceived; n < 11 {
		t.Fatalf("follower received %d entries, want at least 11", n)
	}
	for _, st := range []replica.Stats{ls, fs} {
		if st.Lookings < 1 || st.PendingSyncs != 0 {
			t.Fatalf("lookings %d pending syncs %d, want at least 1 and 0", st.Lookings, st.PendingSyncs)
		}
	}

	// ZooKeeper's latencies between members, from the leader's stamp on each
	// entry: the leader times the quorum's acknowledgement, a follower the
	// proposal's and the commit's arrival, both the apply. Each timed its start
	// as one election, one wait until serving, and (the follower) one sync.
	lt, ft := c.Member(lead).Timings, c.Member(follower).Timings
	atLeast := func(who string, timings map[string][]int64, name string, n int) {
		t.Helper()
		if got := len(timings[name]); got < n {
			t.Errorf("%s: %d observations of %s, want at least %d", who, got, name, n)
		}
		for _, v := range timings[name] {
			if v < 0 || v > 60_000 {
				t.Errorf("%s: %s observed %d ms", who, name, v)
			}
		}
	}
	none := func(who string, timings map[string][]int64, names ...string) {
		t.Helper()
		for _, name := range names {
			if len(timings[name]) != 0 {
				t.Errorf("%s observed %s: %v", who, name, timings[name])
			}
		}
	}
	for _, name := range []string{"quorum_ack_latency", "propagation_latency", "proposal_ack_creation_latency"} {
		atLeast("leader", lt, name, 11)
	}
	for _, name := range []string{"proposal_latency", "commit_propagation_latency", "propagation_latency",
		"proposal_ack_creation_latency"} {
		atLeast("follower", ft, name, 11)
	}
	// The leader timed the acknowledgements of the entries it sampled (every 4th
	// index here) that came before each committed, by server id: its own, and
	// for each entry the follower's that made the quorum.
	atLeast("leader", lt, fmt.Sprintf("ack_latency/%d", replica.ServerID(lead)), 2)
	fromFollowers := 0
	for _, id := range others(c, lead) {
		fromFollowers += len(lt[fmt.Sprintf("ack_latency/%d", replica.ServerID(id))])
	}
	if n := len(lt[fmt.Sprintf("ack_latency/%d", replica.ServerID(lead))]); fromFollowers != n {
		t.Errorf("leader timed %d acknowledgements of followers for %d sampled entries, want one each", fromFollowers, n)
	}
	none("leader", lt, "proposal_latency", "commit_propagation_latency", "follower_sync_time", "observer_sync_time")
	none("follower", ft, "quorum_ack_latency", "leader_unavailable_time", "observer_sync_time")
	for who, want := range map[string]map[string]int{
		"leader":   {"election_time": 1, "unavailable_time": 1, "leader_unavailable_time": 1},
		"follower": {"election_time": 1, "unavailable_time": 1, "follower_sync_time": 1},
	} {
		timings := lt
		if who == "follower" {
			timings = ft
		}
		for name, n := range want {
			if got := len(timings[name]); got != n {
				t.Errorf("%s: %d observations of %s (%v), want %d", who, got, name, timings[name], n)
			}
		}
	}
	// A member is unavailable from its start until it has caught up, which is
	// after the election ended.
	if ft["unavailable_time"][0] < ft["election_time"][0] || ft["unavailable_time"][0] < ft["follower_sync_time"][0] {
		t.Errorf("follower: unavailable %v, election %v, sync %v", ft["unavailable_time"], ft["election_time"], ft["follower_sync_time"])
	}
}
