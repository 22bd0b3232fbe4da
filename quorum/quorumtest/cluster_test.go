package quorumtest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"zkd/internal/testutil"
	"zkd/internal/vfs"
	"zkd/quorum"
)

func proposeAll(t *testing.T, c *Cluster, at uint64, prefix string, n int) []string {
	t.Helper()
	var want []string
	for i := range n {
		d := fmt.Sprintf("%s-%d", prefix, i)
		want = append(want, d)
		if err := *c.Propose(at, []byte(d)); err != nil {
			t.Fatalf("propose %s at %d: %v", d, at, err)
		}
	}
	return want
}

// appliedData returns the non-empty data member id applied, in order.
func appliedData(c *Cluster, id uint64) []string {
	var out []string
	for _, e := range c.Member(id).Applied {
		if len(e.Data) > 0 && e.Membership == nil {
			out = append(out, string(e.Data))
		}
	}
	return out
}

func containsInOrder(have, want []string) bool {
	i := 0
	for _, h := range have {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestThreeVotersElectAndReplicate(t *testing.T) {
	c := New(t, Options{Seed: 1, Voters: 3})
	lead := c.WaitLeader(2000)
	want := proposeAll(t, c, lead, "a", 50)
	c.RunUntil("every member applies the 50 entries", 2000, func() bool {
		for _, id := range c.IDs() {
			if !containsInOrder(appliedData(c, id), want) {
				return false
			}
		}
		return true
	})
}

func TestFollowerProposalIsDroppedNotForwarded(t *testing.T) {
	c := New(t, Options{Seed: 2, Voters: 3})
	lead := c.WaitLeader(2000)
	follower := c.IDs()[0]
	if follower == lead {
		follower = c.IDs()[1]
	}
	rejected := c.Propose(follower, []byte("x"))
	c.Run(20)
	if *rejected == nil {
		t.Fatal("a follower accepted a proposal; forwarding is the replica's job, over its own FIFO stream")
	}
}

func TestLeaderCrashLosesNoCommittedEntry(t *testing.T) {
	for _, seed := range testutil.SimSeeds(1, 5) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c := New(t, Options{Seed: seed, Voters: 3, MaxDelay: 4})
			lead := c.WaitLeader(3000)
			want := proposeAll(t, c, lead, "before", 20)
			c.RunUntil("the entries commit everywhere", 3000, func() bool {
				for _, id := range c.IDs() {
					if !containsInOrder(appliedData(c, id), want) {
						return false
					}
				}
				return true
			})
			// Entries proposed just before the crash may or may not survive; the
			// committed ones above must.
			proposeAll(t, c, lead, "inflight", 5)
			c.Step()
			c.Crash(lead, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
			next := c.WaitLeader(5000)
			if next == lead {
				t.Fatalf("crashed member %d still leads", lead)
			}
			more := proposeAll(t, c, next, "after", 20)
			c.Restart(lead)
			c.RunUntil("every member, the old leader included, applies what was committed", 5000, func() bool {
				if !containsInOrder(appliedData(c, lead), append(slices.Clone(want), more...)) {
					return false
				}
				for _, id := range c.IDs() {
					if !containsInOrder(appliedData(c, id), more) {
						return false
					}
				}
				return true
			})
		})
	}
}

func TestMinorityLeaderStepsDownAndMajorityMovesOn(t *testing.T) {
	c := New(t, Options{Seed: 7, Voters: 3})
	lead := c.WaitLeader(2000)
	var others []uint64
	for _, id := range c.IDs() {
		if id != lead {
			others = append(others, id)
		}
	}
	c.Partition([]uint64{lead}, others)
	stranded := c.Propose(lead, []byte("stranded"))
	c.RunUntil("the isolated leader steps down (CheckQuorum)", 3000, func() bool { return !c.Member(lead).Node.IsLeader() })
	c.RunUntil("the majority elects a leader", 3000, func() bool {
		l := c.Leader()
		return l != 0 && l != lead
	})
	newLead := c.Leader()
	want := proposeAll(t, c, newLead, "majority", 10)
	c.Heal()
	c.RunUntil("the healed member follows and applies the majority's entries", 5000, func() bool {
		return containsInOrder(appliedData(c, lead), want)
	})
	for _, d := range appliedData(c, lead) {
		if d == "stranded" {
			t.Fatal("an entry proposed by an isolated leader was applied")
		}
	}
	_ = stranded
}

func TestPreVoteKeepsAHealedFollowerFromDisruptingTheLeader(t *testing.T) {
	c := New(t, Options{Seed: 9, Voters: 3})
	lead := c.WaitLeader(2000)
	var follower uint64
	for _, id := range c.IDs() {
		if id != lead {
			follower = id
			break
		}
	}
	term := c.Member(lead).Node.Term()
	var rest []uint64
	for _, id := range c.IDs() {
		if id != follower {
			rest = append(rest, id)
		}
	}
	c.Partition([]uint64{follower}, rest)
	c.Run(1000) // many election timeouts for the isolated follower
	c.Heal()
	c.Run(500)
	if c.Leader() != lead || c.Member(lead).Node.Term() != term {
		t.Fatalf("leader moved from %d (term %d) to %d (term %d) after a partitioned follower came back",
			lead, term, c.Leader(), c.Member(c.Leader()).Node.Term())
	}
}

func TestOneWayLinkFromLeaderDoesNotStopTheGroup(t *testing.T) {
	c := New(t, Options{Seed: 11, Voters: 3})
	lead := c.WaitLeader(2000)
	var follower uint64
	for _, id := range c.IDs() {
		if id != lead {
			follower = id
			break
		}
	}
	c.BlockOneWay(lead, follower)
	c.Run(500)
	l := c.WaitLeader(5000)
	want := proposeAll(t, c, l, "oneway", 10)
	c.RunUntil("a quorum applies entries despite the one-way link", 5000, func() bool {
		n := 0
		for _, id := range c.IDs() {
			if containsInOrder(appliedData(c, id), want) {
				n++
			}
		}
		return n >= 2
	})
}

func TestLossyNetworkKeepsAppliedLogsIdentical(t *testing.T) {
	for _, seed := range testutil.SimSeeds(20, 6) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c := New(t, Options{Seed: seed, Voters: 5, DropRate: 0.1, MaxDelay: 6})
			for round := range 5 {
				lead := c.WaitLeader(20000)
				// A crash may lose what was proposed: the check is that every
				// member ends with the same log, not that it holds all of it.
				proposeAll(t, c, lead, fmt.Sprintf("r%d", round), 5)
				c.Run(200)
				if round == 2 {
					c.Crash(lead, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
					c.Run(100)
					c.Restart(lead)
				}
			}
			// The cluster checks identical data per index on every apply; here,
			// every member must apply the same sequence in the end.
			c.RunUntil("all members converge", 50000, func() bool {
				ref := appliedData(c, 1)
				for _, id := range c.IDs()[1:] {
					if !slices.Equal(appliedData(c, id)[max(0, len(appliedData(c, id))-len(ref)):], ref[max(0, len(ref)-len(appliedData(c, id))):]) {
						return false
					}
				}
				return c.Member(1).last == c.Member(5).last && c.Member(1).last == c.Member(3).last
			})
		})
	}
}

func TestLearnerReplicatesButNeverVotes(t *testing.T) {
	c := New(t, Options{Seed: 3, Voters: 3, Learners: 1})
	lead := c.WaitLeader(2000)
	want := proposeAll(t, c, lead, "l", 10)
	c.RunUntil("the learner applies", 2000, func() bool { return containsInOrder(appliedData(c, 4), want) })
	// With two voters down the learner cannot help form a quorum.
	var down []uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != lead && len(down) < 1 {
			down = append(down, id)
		}
	}
	down = append(down, lead)
	for _, id := range down {
		c.Crash(id, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
	}
	c.Run(2000)
	if l := c.Leader(); l != 0 {
		t.Fatalf("member %d leads with a single voter and a learner up", l)
	}
}

func TestSameSeedSameHistory(t *testing.T) {
	trace := func() string {
		c := New(t, Options{Seed: 42, Voters: 3, DropRate: 0.05})
		lead := c.WaitLeader(5000)
		proposeAll(t, c, lead, "d", 10)
		c.Run(300)
		c.Crash(lead, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
		c.WaitLeader(5000)
		c.Run(100)
		return c.String() + fmt.Sprint(c.Member(1).Leads, c.Member(2).Leads, c.Member(3).Leads)
	}
	if a, b := trace(), trace(); a != b {
		t.Fatalf("the same seed gave two histories:\n%s\n%s", a, b)
	}
}

// A leader applies the entries it has on disk and that its followers have just
// committed before it writes the next batch: under a steady stream of writes
// one Ready carries both, and making the older entries wait for the newer
// ones' sync added a whole sync to every write's reply.
func TestCommittedEntriesGoUpBeforeTheNextBatchIsSynced(t *testing.T) {
	c := New(t, Options{Seed: 7, Voters: 3, MaxDelay: 1})
	lead := c.WaitLeader(2000)
	c.Run(20)
	m := c.Member(lead)
	if err := *c.Propose(lead, []byte("a")); err != nil {
		t.Fatal(err)
	}
	c.Step() // the leader writes a and sends it
	c.Step() // the followers write a and acknowledge it
	if slices.ContainsFunc(m.Applied, func(e quorum.Entry) bool { return string(e.Data) == "a" }) {
		t.Fatal("a applied before a quorum acknowledged it")
	}
	if err := *c.Propose(lead, []byte("b")); err != nil {
		t.Fatal(err)
	}
	var appliedAtSync []uint64 // the leader's applied index as each sync begins
	m.FS.SetInjector(func(op vfs.Op) vfs.Fault {
		if op.Kind == vfs.OpSync {
			appliedAtSync = append(appliedAtSync, m.last)
		}
		return vfs.Fault{}
	})
	c.Step() // the acknowledgements commit a; b is written
	m.FS.SetInjector(nil)
	i := slices.IndexFunc(m.Applied, func(e quorum.Entry) bool { return string(e.Data) == "a" })
	if i < 0 || len(appliedAtSync) == 0 {
		t.Fatalf("a applied: %v; syncs: %v", i >= 0, appliedAtSync)
	}
	if a := m.Applied[i].Index; appliedAtSync[0] < a {
		t.Fatalf("b's sync began with index %d applied: a (index %d) was committed and durable, yet waited for it", appliedAtSync[0], a)
	}
}

// A rejection that arrives after the member has acknowledged more than it
// rejected (delayed, or from a connection since replaced) is stale, as raft
// itself judges it: the leader must not take its hint for a lost log and
// remove a healthy voter. TestLeaderCrashLosesNoCommittedEntry, run over seeds
// 1000-1500, did that by chance at seeds 1272 and 1286, then lost the leader,
// and the two members left of three were no quorum.
func TestStaleRejectionDoesNotRemoveAHealthyVoter(t *testing.T) {
	c := New(t, Options{Seed: 9, Voters: 3, MaxDelay: 1})
	lead := c.WaitLeader(2000)
	proposeAll(t, c, lead, "w", 20)
	c.Run(50)
	follower := others(c, lead)[0]
	term := c.Member(lead).Node.Term()
	stale := &pb.Message{Type: pb.MessageType_MsgAppResp.Enum(), From: new(follower), To: new(lead),
		Term: new(term), Index: new(uint64(3)), Reject: new(true), RejectHint: new(uint64(2))}
	changes := func() (n int) {
		for _, e := range c.Member(lead).Applied {
			if e.Membership != nil {
				n++
			}
		}
		return n
	}
	before := changes()
	c.queue = append(c.queue, envelope{from: follower, to: lead, at: c.now + 1, msg: stale})
	c.Run(100)
	if n := changes() - before; n > 0 {
		t.Fatalf("a stale rejection changed the membership %d times (voter %d removed and added back)", n, follower)
	}
	more := proposeAll(t, c, lead, "after", 5)
	c.RunUntil("the follower applies later writes", 2000, func() bool {
		return containsInOrder(appliedData(c, follower), more)
	})
}

func others(c *Cluster, id uint64) []uint64 {
	return slices.DeleteFunc(c.IDs(), func(x uint64) bool { return x == id })
}

// TestConfChangeOfANewLeaderIsAppliedOrRefused: a leader elected over entries of an
// earlier term that it has not applied yet is where raft turns a membership change
// into an empty entry without a word (its pendingConfIndex starts at the log's
// end), so the node must refuse the change itself: every change proposed ends
// applied or refused, never neither, or a reconfig would wait for ever.
func TestConfChangeOfANewLeaderIsAppliedOrRefused(t *testing.T) {
	for _, seed := range testutil.SimSeeds(1, 10) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c := New(t, Options{Seed: seed, Voters: 3, Learners: 1})
			old := c.WaitLeader(3000)
			followers := slices.DeleteFunc(c.IDs()[:3], func(id uint64) bool { return id == old })
			last := c.Member(old).Log.LastIndex() + 5
			proposeAll(t, c, old, "tail", 5)
			c.RunUntil("the leader writes the tail", 200, func() bool { return c.Member(old).Log.LastIndex() >= last })
			// Cut the old leader off once a follower holds the tail and none has
			// learned that it committed: whichever wins next holds it unapplied.
			c.RunUntil("a follower holds the tail, unapplied", 200, func() bool {
				held := false
				for _, id := range followers {
					m := c.Member(id)
					if m.last >= last {
						return false
					}
					held = held || m.Log.LastIndex() >= last
				}
				return held
			})
			c.Partition([]uint64{old}, append(slices.Clone(followers), 4))
			var next uint64
			c.RunUntil("a new leader", 3000, func() bool {
				for _, id := range followers {
					if c.Member(id).Node.IsLeader() {
						next = id
						return true
					}
				}
				return false
			})
			if m := c.Member(next); m.last >= last {
				t.Fatalf("new leader %d applied %d before its first entry committed; the case is not reached", next, m.last)
			}
			var refused error
			cc := quorum.ConfChange{Changes: []quorum.MemberChange{{Type: quorum.AddVoter, ID: 4}}}
			if err := c.Member(next).Node.ProposeConfChange(cc, func(err error) { refused = err }); err != nil {
				t.Fatal(err)
			}
			applied := func() bool {
				for _, e := range c.Member(next).Applied {
					if e.Membership != nil && slices.Contains(e.Membership.Voters, 4) {
						return true
					}
				}
				return false
			}
			c.RunUntil("the change is applied or refused", 3000, func() bool { return refused != nil || applied() })
			if refused != nil && !errors.Is(refused, quorum.ErrConfChangePending) {
				t.Fatalf("refused with %v, want ErrConfChangePending", refused)
			}
		})
	}
}
