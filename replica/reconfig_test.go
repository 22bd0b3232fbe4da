package replica_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"zkd/internal/testutil"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/replica"
	"zkd/replica/replicatest"
	"zkd/zoocfg"
)

// joining is the joining list that adds server myid with role.
func joining(myid int64, role string) *string {
	return replicatest.Str(replicatest.ServerLine(myid) + ":" + role + replicatest.ClientPart(myid))
}

// reconfigCluster is a 3-voter cluster with reconfig enabled and a super client
// on a follower.
func reconfigCluster(t *testing.T, seed uint64) (*replicatest.Cluster, *replicatest.Client) {
	t.Helper()
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: seed, Voters: 3, CheckDigests: true,
		ReconfigEnabled: true, CatchUpTicks: 60, SnapCount: 50})
	lead := c.WaitLeader(steps)
	// The first leader gives the initial configuration a version.
	c.RunUntil("the configuration is established", steps, func() bool {
		for _, id := range c.IDs() {
			if c.Member(id).Rep.Ensemble().Version == 0 {
				return false
			}
		}
		return true
	})
	cl := c.NewClient(others(c, lead)[0], 30000)
	cl.Identity = replicatest.Super
	return c, cl
}

// bystander returns a member that neither leads nor serves cl.
func bystander(c *replicatest.Cluster, cl *replicatest.Client) uint64 {
	for _, id := range others(c, c.Leader()) {
		if id != cl.Member {
			return id
		}
	}
	return 0
}

// wait steps until o is answered and returns it.
func wait(t *testing.T, c *replicatest.Cluster, what string, o *replicatest.Outcome) *replicatest.Outcome {
	t.Helper()
	c.RunUntil(what, steps, func() bool { return o.Done })
	return o
}

// configReply decodes a reconfig's GetDataResponse.
func configReply(t *testing.T, o *replicatest.Outcome) (zoocfg.Membership, jute.Stat) {
	t.Helper()
	if o.Err != nil || o.Res.Err != jute.CodeOK {
		t.Fatalf("reconfig failed: %v %v", o.Err, o.Res.Err)
	}
	d := jute.NewDecoder(o.Res.Body)
	data := d.Buffer()
	var st jute.Stat
	st.Decode(&d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("reply %q: %v", o.Res.Body, d.Err())
	}
	m, err := zoocfg.ParseMembership(string(data))
	if err != nil {
		t.Fatalf("reply %q: %v", data, err)
	}
	if m.Version != int64(o.Zxid) || st.Version != -1 || st.Mzxid != int64(o.Zxid) || st.DataLength != int32(len(data)) {
		t.Fatalf("reply version %x, stat %+v at zxid %v", m.Version, st, o.Zxid)
	}
	return m, st
}

// servers returns the server ids of m, by role.
func servers(m zoocfg.Membership) (participants, observers []int64) {
	for _, s := range m.Servers {
		if s.Voting() {
			participants = append(participants, s.ID)
		} else {
			observers = append(observers, s.ID)
		}
	}
	return participants, observers
}

// settle steps until every member that is up has applied what the leader has,
// raft has left any joint configuration and no learner is left over, then checks
// that every member's /zookeeper/config and raft membership agree with each
// other and with want.
func settle(t *testing.T, c *replicatest.Cluster, want zoocfg.Membership) {
	t.Helper()
	wantP, wantO := servers(want)
	c.RunUntil("the membership settles", steps, func() bool {
		lead := c.Leader()
		if lead == 0 {
			return false
		}
		applied := c.Member(lead).Rep.Applied()
		for _, id := range c.IDs() {
			m := c.Member(id)
			if !m.Up || !m.Rep.Member() {
				continue // joining servers not added, and removed ones, do not follow the log
			}
			e := m.Rep.Ensemble()
			p, o := servers(e.Members)
			if m.Rep.Applied() < applied || len(e.Raft.VotersOutgoing) > 0 || !slices.Equal(p, wantP) || !slices.Equal(o, wantO) ||
				len(e.Raft.Voters) != len(wantP) || len(e.Raft.Learners) != len(wantO) {
				return false
			}
		}
		return true
	})
	for _, id := range c.IDs() {
		m := c.Member(id)
		if !m.Up || !m.Rep.Member() {
			continue
		}
		e := m.Rep.Ensemble()
		for _, rid := range e.Raft.Voters {
			if s, ok := e.Members.Lookup(replica.ServerID(rid)); !ok || !s.Voting() {
				t.Fatalf("%s: voter %s is not a participant of %q", replica.Label(id), replica.Label(rid), e.Config)
			}
		}
		for _, rid := range e.Raft.Learners {
			if s, ok := e.Members.Lookup(replica.ServerID(rid)); !ok || s.Voting() {
				t.Fatalf("%s: learner %s is not an observer of %q", replica.Label(id), replica.Label(rid), e.Config)
			}
		}
	}
}

// A server that asked to join is added as a learner, caught up, promoted in one
// membership change; the client gets /zookeeper/config with the change's zxid as
// version, every member ends with the same text, and the new member serves.
func TestReconfigAddsAMemberAndPromotesIt(t *testing.T) {
	c, cl := reconfigCluster(t, 101)
	// Enough history that the new server needs the leader's snapshot.
	for i := range 20 {
		wait(t, c, "a write", cl.Create(fmt.Sprintf("/pre%02d", i), []byte("x"), jute.ModePersistent))
	}
	joiner := c.AddJoiner(4, 7)
	c.Run(20) // it asks to join
	o := wait(t, c, "the reconfig", cl.Reconfig(joining(4, "participant"), nil, nil, -1))
	m, _ := configReply(t, o)
	if p, _ := servers(m); !slices.Equal(p, []int64{1, 2, 3, 4}) {
		t.Fatalf("new config %v", m)
	}
	settle(t, c, m)
	if len(joiner.Ensembles) == 0 || joiner.Ensembles[0].Member {
		t.Fatal("the joining server started as a member")
	}
	if !joiner.Rep.Member() || !joiner.Rep.Ensemble().Raft.IsVoter(joiner.ID) {
		t.Fatal("the new server is not a voting member")
	}
	text, _ := joiner.Rep.Tree().Config()
	if string(text) != m.String() {
		t.Fatalf("the new member's config %q, want %q", text, m.String())
	}
	if !exists(joiner, "/pre00") {
		t.Fatal("the new member lacks the data written before it joined")
	}
	if e := joiner.Ensembles[len(joiner.Ensembles)-1]; len(e.Peers) != 3 || e.Self != "127.0.0.1:20004" {
		t.Fatalf("the new member's ensemble: peers %v self %q", e.Peers, e.Self)
	}
	// The new member forwards writes, and a quorum of four needs it or two others.
	cl4 := c.NewClient(joiner.ID, 30000)
	w := wait(t, c, "a write through the new member", cl4.Create("/from-4", nil, jute.ModePersistent))
	if w.Err != nil || w.Res.Err != jute.CodeOK {
		t.Fatalf("write through server.4: %v %v", w.Err, w.Res.Err)
	}
}

// Removing a follower: one joint change, after which the removed server knows
// it left, stops serving and drops its clients.
func TestReconfigRemovesAFollower(t *testing.T) {
	c, cl := reconfigCluster(t, 102)
	victim := bystander(c, cl)
	o := wait(t, c, "the reconfig", cl.Reconfig(nil, replicatest.Str(strconv.FormatInt(replica.ServerID(victim), 10)), nil, -1))
	m, _ := configReply(t, o)
	if _, ok := m.Lookup(replica.ServerID(victim)); ok || len(m.Servers) != 2 {
		t.Fatalf("new config %v", m)
	}
	settle(t, c, m)
	v := c.Member(victim)
	c.RunUntil("the removed server learns it", steps, func() bool { return !v.Rep.Member() && v.LostLeader > 0 })
	if v.Rep.Serving() {
		t.Fatal("the removed server still serves")
	}
	// The two remaining members commit on their own.
	c.Crash(victim, vfs.CrashOptions{})
	w := wait(t, c, "a write without the removed server", cl.Create("/after", nil, jute.ModePersistent))
	if w.Err != nil || w.Res.Err != jute.CodeOK {
		t.Fatalf("write: %v %v", w.Err, w.Res.Err)
	}
}

// A follower removed while it was cut off never gets the entry that removes it:
// the leader no longer sends it anything. Without a leader, it asks the others
// for their views, learns from their newer configuration that it was removed,
// stops serving and drops its clients, as if it had applied the change.
func TestMemberRemovedWhileCutOffLearnsItFromTheOthers(t *testing.T) {
	c, cl := reconfigCluster(t, 106)
	lead := c.Leader()
	victim := bystander(c, cl)
	v := c.Member(victim)
	c.Partition([]uint64{lead, cl.Member})
	o := wait(t, c, "the reconfig", cl.Reconfig(nil, replicatest.Str(strconv.FormatInt(replica.ServerID(victim), 10)), nil, -1))
	m, _ := configReply(t, o)
	c.RunUntil("the others leave the joint configuration", steps, func() bool {
		for _, id := range []uint64{lead, cl.Member} {
			if e := c.Member(id).Rep.Ensemble(); e.Version != m.Version || len(e.Raft.VotersOutgoing) > 0 {
				return false
			}
		}
		return true
	})
	applied := v.Rep.Applied()
	c.Heal()
	c.RunUntil("the removed server learns it", steps, func() bool { return !v.Rep.Member() && v.LostLeader > 0 })
	if v.Rep.Serving() || v.Rep.Applied() != applied {
		t.Fatalf("the removed server serves (%v) or applied more (%v, was %v)", v.Rep.Serving(), v.Rep.Applied(), applied)
	}
	if e := v.Ensembles[len(v.Ensembles)-1]; e.Member || e.Version >= m.Version {
		t.Fatalf("its last ensemble: member %v, version %x (the new one is %x)", e.Member, e.Version, m.Version)
	}
	// The others go on without it, and a member's view is no reason to leave.
	w := wait(t, c, "a write", cl.Create("/after", nil, jute.ModePersistent))
	if w.Err != nil || w.Res.Err != jute.CodeOK {
		t.Fatalf("write: %v %v", w.Err, w.Res.Err)
	}
	for _, id := range []uint64{lead, cl.Member} {
		if r := c.Member(id).Rep; !r.Member() || r.NoteView(v.Rep.JoinView()) {
			t.Fatalf("member %s left the ensemble", replica.Label(id))
		}
	}
}

// An observer removed while cut off learns it too. raft never has a learner
// campaign, so it must first notice that its leader went silent: until then it
// believed itself an observer in good standing, serving the old configuration.
func TestObserverRemovedWhileCutOffLearnsIt(t *testing.T) {
	c, cl := reconfigCluster(t, 107)
	obs := c.AddJoiner(4, 1)
	c.Run(20)
	m, _ := configReply(t, wait(t, c, "adding an observer", cl.Reconfig(joining(4, "observer"), nil, nil, -1)))
	settle(t, c, m)
	c.RunUntil("the observer serves", steps, func() bool { return obs.Rep.Serving() && obs.Rep.Mode() == "observer" })
	var rest []uint64
	for _, id := range c.IDs() {
		if id != obs.ID {
			rest = append(rest, id)
		}
	}
	c.Partition(rest)
	m2, _ := configReply(t, wait(t, c, "removing it", cl.Reconfig(nil, replicatest.Str("4"), nil, -1)))
	c.RunUntil("the others apply the change", steps, func() bool {
		for _, id := range rest {
			if c.Member(id).Rep.Ensemble().Version != m2.Version {
				return false
			}
		}
		return true
	})
	c.Heal()
	c.RunUntil("the removed observer learns it", steps, func() bool { return !obs.Rep.Member() && obs.LostLeader > 0 })
	if obs.Rep.Serving() {
		t.Fatal("the removed observer still serves")
	}
}

// Removing the leader: it carries the change out, steps down, and the others
// elect a leader among themselves.
func TestReconfigRemovesTheLeader(t *testing.T) {
	c, cl := reconfigCluster(t, 103)
	lead := c.Leader()
	o := wait(t, c, "the reconfig", cl.Reconfig(nil, replicatest.Str(strconv.FormatInt(replica.ServerID(lead), 10)), nil, -1))
	m, _ := configReply(t, o)
	settle(t, c, m)
	next := c.WaitLeader(steps)
	if next == lead || next == 0 {
		t.Fatalf("leader %s after removing %s", replica.Label(next), replica.Label(lead))
	}
	old := c.Member(lead)
	c.RunUntil("the old leader stops serving", steps, func() bool { return !old.Rep.Serving() && old.LostLeader > 0 })
	w := wait(t, c, "a write under the new leader", cl.Create("/after", nil, jute.ModePersistent))
	if w.Err != nil || w.Res.Err != jute.CodeOK {
		t.Fatalf("write: %v %v", w.Err, w.Res.Err)
	}
}

// A follower is swapped for a new observer, then an observer is promoted and a
// participant demoted, in one change each.
func TestReconfigSwapsAFollowerForAnObserverAndChangesRoles(t *testing.T) {
	c, cl := reconfigCluster(t, 104)
	victim := bystander(c, cl)
	obs := c.AddJoiner(5, 3)
	c.Run(20)
	o := wait(t, c, "the swap", cl.Reconfig(joining(5, "observer"),
		replicatest.Str(strconv.FormatInt(replica.ServerID(victim), 10)), nil, -1))
	m, _ := configReply(t, o)
	settle(t, c, m)
	if p, ob := servers(m); len(p) != 2 || !slices.Equal(ob, []int64{5}) {
		t.Fatalf("config %v", m)
	}
	if st := obs.Rep.Ensemble().Raft; !slices.Contains(st.Learners, obs.ID) {
		t.Fatalf("the observer is not a learner: %+v", st)
	}
	c.RunUntil("the observer serves", steps, func() bool { return obs.Rep.Serving() })
	if obs.Rep.Mode() != "observer" {
		t.Fatalf("observer mode %q", obs.Rep.Mode())
	}

	// Promote server.5, demote the participant that is neither the client's server nor the leader.
	// The leader counts server.5 among the voters it needs only once it has heard
	// from it (NEWCONFIGNOQUORUM otherwise, as ZooKeeper answers for a server
	// that is not synced).
	c.RunUntil("the leader hears from the observer", steps, func() bool {
		st := c.Member(c.Leader()).Rep.Node().Status()
		pr, ok := st.Progress[obs.ID]
		return ok && pr.Match >= st.Commit
	})
	lead := c.Leader()
	var demote int64
	for _, s := range m.Servers {
		if rid := replica.RaftID(s.ID, 1); s.Voting() && rid != lead {
			demote = s.ID
		}
	}
	if demote == 0 {
		demote = replica.ServerID(lead)
	}
	line := func(myid int64, role string) string {
		s, _ := m.Lookup(myid)
		s.Type = zoocfg.Participant
		if role == "observer" {
			s.Type = zoocfg.Observer
		}
		return s.String()
	}
	o = wait(t, c, "the role change", cl.Reconfig(replicatest.Str(line(5, "participant")+","+line(demote, "observer")), nil, nil, m.Version))
	m2, _ := configReply(t, o)
	settle(t, c, m2)
	if p, ob := servers(m2); !slices.Contains(p, 5) || !slices.Equal(ob, []int64{demote}) {
		t.Fatalf("config %v", m2)
	}
}

// A non-incremental reconfig replaces the member list: server.3 leaves and a
// new server.4 joins in one change.
func TestReconfigNewMemberList(t *testing.T) {
	c, cl := reconfigCluster(t, 105)
	c.AddJoiner(4, 2)
	c.Run(20)
	var lines []string
	for _, id := range []int64{1, 2, 4} {
		lines = append(lines, replicatest.ServerLine(id)+":participant"+replicatest.ClientPart(id))
	}
	o := wait(t, c, "the reconfig", cl.Reconfig(nil, nil, replicatest.Str(strings.Join(lines, ",")), -1))
	m, _ := configReply(t, o)
	if p, _ := servers(m); !slices.Equal(p, []int64{1, 2, 4}) {
		t.Fatalf("config %v", m)
	}
	settle(t, c, m)
}

// Every refusal has ZooKeeper's code, is answered in order, and changes nothing.
func TestReconfigRefusals(t *testing.T) {
	c, cl := reconfigCluster(t, 106)
	before, _ := c.Member(cl.Member).Rep.Tree().Config()
	cur, _ := zoocfg.ParseMembership(string(before))
	anon := c.NewClient(cl.Member, 30000)
	cases := []struct {
		name string
		cl   *replicatest.Client
		send func(cl *replicatest.Client) *replicatest.Outcome
		want jute.Code
	}{
		{"not super", anon, func(cl *replicatest.Client) *replicatest.Outcome {
			return cl.Reconfig(nil, replicatest.Str("3"), nil, -1)
		}, jute.CodeNoAuth},
		{"stale version", cl, func(cl *replicatest.Client) *replicatest.Outcome {
			return cl.Reconfig(nil, replicatest.Str("3"), nil, cur.Version+5)
		}, jute.CodeBadVersion},
		{"too few participants", cl, func(cl *replicatest.Client) *replicatest.Outcome {
			return cl.Reconfig(nil, replicatest.Str("2,3"), nil, -1)
		}, jute.CodeBadArguments},
		{"bad server line", cl, func(cl *replicatest.Client) *replicatest.Outcome {
			return cl.Reconfig(replicatest.Str("server.4=nohost"), nil, nil, -1)
		}, jute.CodeBadArguments},
		{"leaving id not a number", cl, func(cl *replicatest.Client) *replicatest.Outcome {
			return cl.Reconfig(nil, replicatest.Str("three"), nil, -1)
		}, jute.CodeMarshallingError},
		{"server that did not ask to join", cl, func(cl *replicatest.Client) *replicatest.Outcome {
			return cl.Reconfig(joining(9, "participant"), nil, nil, -1)
		}, jute.CodeNewConfigNoQuorum},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := wait(t, c, tc.name, tc.send(tc.cl))
			if o.Err != nil || o.Res.Err != tc.want {
				t.Fatalf("got %v %v, want %v", o.Err, o.Res.Err, tc.want)
			}
		})
	}
	after, _ := c.Member(cl.Member).Rep.Tree().Config()
	if string(after) != string(before) {
		t.Fatalf("a refused reconfig changed the config: %q", after)
	}

	// Disabled, on a cluster without reconfigEnabled.
	off := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 107, Voters: 3})
	off.WaitLeader(steps)
	sc := off.NewClient(off.IDs()[0], 30000)
	sc.Identity = replicatest.Super
	if o := wait(t, off, "disabled", sc.Reconfig(nil, replicatest.Str("3"), nil, -1)); o.Res.Err != jute.CodeReconfigDisabled {
		t.Fatalf("disabled: %v %v", o.Err, o.Res.Err)
	}
}

// A second reconfig while one waits for a new server to catch up gets
// RECONFIGINPROGRESS; a new server that stops before catching up makes the
// first fail with NEWCONFIGNOQUORUM, and the learner it was added as is removed.
func TestReconfigInProgressAndNoQuorum(t *testing.T) {
	c, cl := reconfigCluster(t, 108)
	before, _ := c.Member(c.Leader()).Rep.Tree().Config()
	other := c.NewClient(cl.Member, 30000)
	other.Identity = replicatest.Super
	joiner := c.AddJoiner(4, 9)
	c.Run(20)
	// Cut the joiner off the leader once it asked: it is staged but never catches up.
	lead := c.Leader()
	c.BlockOneWay(lead, joiner.ID)
	c.BlockOneWay(joiner.ID, lead)
	first := cl.Reconfig(joining(4, "participant"), nil, nil, -1)
	c.RunUntil("the learner is added", steps, func() bool {
		return c.Member(lead).Rep.Ensemble().Raft.Contains(joiner.ID)
	})
	second := wait(t, c, "the second reconfig", other.Reconfig(nil, replicatest.Str("3"), nil, -1))
	if second.Res.Err != jute.CodeReconfigInProgress {
		t.Fatalf("second: %v %v", second.Err, second.Res.Err)
	}
	wait(t, c, "the first reconfig", first)
	if first.Err != nil || first.Res.Err != jute.CodeNewConfigNoQuorum {
		t.Fatalf("first: %v %v", first.Err, first.Res.Err)
	}
	c.RunUntil("the learner is removed", steps, func() bool {
		return !c.Member(lead).Rep.Ensemble().Raft.Contains(joiner.ID)
	})
	text, _ := c.Member(lead).Rep.Tree().Config()
	m, _ := zoocfg.ParseMembership(string(text))
	if string(text) != string(before) {
		t.Fatalf("config after the failed reconfig: %q, before it %q", text, before)
	}
	settle(t, c, m)
}

// The connection's writes keep their order around a reconfig, whether it is
// carried out (a new server catching up holds the later writes back) or refused.
func TestReconfigKeepsItsConnectionsOrder(t *testing.T) {
	c, cl := reconfigCluster(t, 109)
	c.AddJoiner(4, 4)
	c.Run(20)
	a := cl.Create("/a", []byte("1"), jute.ModePersistent)
	r := cl.Reconfig(joining(4, "participant"), nil, nil, -1)
	b := cl.SetData("/a", []byte("2"), -1)
	refused := cl.Reconfig(nil, nil, nil, 12345)
	d := cl.Create("/seq-", nil, jute.ModePersistentSequential)
	for _, o := range []*replicatest.Outcome{a, r, b, refused, d} {
		wait(t, c, "the pipelined requests", o)
	}
	for i, o := range []*replicatest.Outcome{a, r, b, d} {
		if o.Err != nil || o.Res.Err != jute.CodeOK {
			t.Fatalf("request %d: %v %v", i, o.Err, o.Res.Err)
		}
	}
	if refused.Res.Err != jute.CodeBadVersion {
		t.Fatalf("refused: %v %v", refused.Err, refused.Res.Err)
	}
	if !(a.Zxid < r.Zxid && r.Zxid < b.Zxid && b.Zxid < refused.Zxid && refused.Zxid < d.Zxid) {
		t.Fatalf("zxids out of order: %v %v %v %v %v", a.Zxid, r.Zxid, b.Zxid, refused.Zxid, d.Zxid)
	}
	m, _ := configReply(t, r)
	settle(t, c, m)
}

// consensus.md §5.11 case 7: the leader crashes while a reconfig is under way,
// at every point of it. The membership changes all or nothing: every member ends
// with one /zookeeper/config that raft's membership matches, with no learner
// left over.
func TestReconfigRacingALeaderCrashIsAllOrNothing(t *testing.T) {
	for _, after := range []int{0, 2, 5, 10, 15, 20, 25, 30, 35, 40, 80} {
		t.Run(fmt.Sprintf("crash_after_steps=%d", after), func(t *testing.T) {
			c, cl := reconfigCluster(t, uint64(200+after))
			joiner := c.AddJoiner(4, 5)
			c.Run(20)
			lead := c.Leader()
			o := cl.Reconfig(joining(4, "participant"), nil, nil, -1)
			c.Run(after)
			c.Crash(lead, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
			c.WaitLeader(steps)
			wait(t, c, "the client hears", o)
			c.Restart(lead)
			c.RunUntil("the new leader has no reconfig pending", steps, func() bool {
				l := c.Leader()
				if l == 0 {
					return false
				}
				st := c.Member(l).Rep.Ensemble()
				return len(st.Raft.VotersOutgoing) == 0 && len(st.Raft.Members()) == len(st.Members.Servers)
			})
			text, _ := c.Member(c.Leader()).Rep.Tree().Config()
			m, err := zoocfg.ParseMembership(string(text))
			if err != nil {
				t.Fatal(err)
			}
			settle(t, c, m)
			_, added := m.Lookup(4)
			t.Logf("client: %v %v; server.4 added: %v", o.Err, o.Res.Err, added)
			if o.Err == nil && o.Res.Err == jute.CodeOK && !added {
				t.Fatal("the client was told the reconfig succeeded, but server.4 is not in the config")
			}
			if added != joiner.Rep.Member() {
				c.RunUntil("the joiner agrees", steps, func() bool { return joiner.Rep.Member() == added })
			}
		})
	}
}

// A reconfig that changes a server's client port and nothing raft knows still
// takes a membership change (a no-op one) to carry the new text and version.
func TestReconfigWithoutMembershipChange(t *testing.T) {
	c, cl := reconfigCluster(t, 110)
	line := replicatest.ServerLine(2) + ":participant;127.0.0.1:45002"
	o := wait(t, c, "the reconfig", cl.Reconfig(replicatest.Str(line), nil, nil, -1))
	m, _ := configReply(t, o)
	if s, _ := m.Lookup(2); s.ClientAddr != "127.0.0.1:45002" {
		t.Fatalf("config %v", m)
	}
	settle(t, c, m)
	for _, id := range c.IDs() {
		if text, _ := c.Member(id).Rep.Tree().Config(); string(text) != m.String() {
			t.Fatalf("%s has %q", replica.Label(id), text)
		}
	}
	// The version it printed is the one to give next.
	o = wait(t, c, "a second reconfig", cl.Reconfig(nil, nil, nil, m.Version))
	if m2, _ := configReply(t, o); m2.Version <= m.Version {
		t.Fatalf("version %x after %x", m2.Version, m.Version)
	}
}

// A server id used again after its server was removed gets another raft id: the
// new server.3 joins with a fresh incarnation while the old one is still up.
func TestReconfigReusesAServerIDUnderANewRaftID(t *testing.T) {
	c, cl := reconfigCluster(t, 111)
	old := bystander(c, cl)
	myid := replica.ServerID(old)
	o := wait(t, c, "removing the server", cl.Reconfig(nil, replicatest.Str(strconv.FormatInt(myid, 10)), nil, -1))
	m, _ := configReply(t, o)
	settle(t, c, m)
	again := c.AddJoiner(myid, 2)
	c.Run(20)
	o = wait(t, c, "adding the server id again", cl.Reconfig(joining(myid, "participant"), nil, nil, -1))
	m, _ = configReply(t, o)
	settle(t, c, m)
	raft := c.Member(c.Leader()).Rep.Ensemble().Raft
	if !raft.IsVoter(again.ID) || raft.Contains(old) || again.ID == old {
		t.Fatalf("membership %+v: new %s, old %s", raft, replica.Label(again.ID), replica.Label(old))
	}
	if c.Member(old).Rep.Serving() || c.Member(old).Rep.Mode() != "" {
		t.Fatalf("the old server.%d serves (mode %q)", myid, c.Member(old).Rep.Mode())
	}
}

// A data directory written before zkd kept /zookeeper/config has it empty; once
// members restart with their zoo.cfg membership, the leader writes it there.
func TestEmptyConfigIsFilledFromTheMembership(t *testing.T) {
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 112, Voters: 3, CheckDigests: true,
		NoInitialConfig: true, SnapCount: 50})
	c.WaitLeader(steps)
	c.Run(200)
	for _, id := range c.IDs() {
		if text, _ := c.Member(id).Rep.Tree().Config(); len(text) != 0 {
			t.Fatalf("%s: config %q without a bootstrap configuration", replica.Label(id), text)
		}
		if !c.Member(id).Rep.Member() {
			t.Fatalf("%s is not a member without a configuration", replica.Label(id))
		}
	}
	for _, id := range c.IDs() {
		c.Crash(id, vfs.CrashOptions{})
		c.Restart(id)
	}
	c.WaitLeader(steps)
	c.RunUntil("the configuration is written", steps, func() bool {
		for _, id := range c.IDs() {
			if e := c.Member(id).Rep.Ensemble(); len(e.Members.Servers) != 3 || !e.Member {
				return false
			}
		}
		return true
	})
	text, st := c.Member(c.IDs()[0]).Rep.Tree().Config()
	if !strings.HasSuffix(string(text), "\nversion=0") || st.Version != -1 {
		t.Fatalf("config %q %+v", text, st)
	}
}

// A client answered for one reconfig may send the next at once, before the
// leader has applied the change or left raft's joint configuration, and on
// another connection: it is taken up once the change is complete, as
// ZooKeeper takes it up once the change is committed (here: a stale version,
// BADVERSION), never refused as RECONFIGINPROGRESS.
func TestReconfigRightAfterAnotherIsTakenUp(t *testing.T) {
	for _, seed := range testutil.SimSeeds(120, 6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			c, cl := reconfigCluster(t, seed)
			lead := c.Leader()
			victim, other := bystander(c, cl), uint64(0)
			for _, id := range c.IDs() {
				if id != victim && id != cl.Member {
					other = id
				}
			}
			before := c.Member(lead).Rep.Ensemble().Version
			leave := replicatest.Str(strconv.FormatInt(replica.ServerID(victim), 10))
			cl2 := c.NewClient(other, 30000)
			cl2.Identity = replicatest.Super
			configReply(t, wait(t, c, "the reconfig", cl.Reconfig(nil, leave, nil, -1)))
			// No step between the answer and the next request.
			o := wait(t, c, "the next reconfig", cl2.Reconfig(nil, leave, nil, before))
			if o.Err != nil || o.Res.Err != jute.CodeBadVersion {
				t.Fatalf("a reconfig from the old version right after the change: %v %v, want BADVERSION", o.Err, o.Res.Err)
			}
		})
	}
}

// A reconfig that reaches a leader elected over entries it has not applied yet is
// carried out: the leader proposes its membership change only once it has applied
// an entry of its own term, before which raft takes any change for one still
// pending and replaces it with an empty entry (the reconfig would wait for ever).
func TestReconfigAtANewLeaderIsCarriedOut(t *testing.T) {
	for _, seed := range testutil.SimSeeds(700, 4) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c, _ := reconfigCluster(t, seed)
			old := c.Leader()
			followers := others(c, old)
			clients := make(map[uint64]*replicatest.Client)
			for _, id := range followers {
				clients[id] = c.NewClient(id, 30000)
				clients[id].Identity = replicatest.Super
			}
			joiner := c.AddJoiner(4, 5)
			c.Run(20)
			// A write the followers hold when the old leader is cut off, before
			// they learn that it committed.
			tail := c.Member(old).Log.LastIndex() + 1
			clients[followers[0]].Create("/tail", nil, 0)
			c.RunUntil("a follower holds the write, unapplied", steps, func() bool {
				held := false
				for _, id := range followers {
					m := c.Member(id)
					if uint64(m.Rep.Tree().LastZxid()) >= tail {
						return false
					}
					held = held || m.Log.LastIndex() >= tail
				}
				return held
			})
			c.Partition([]uint64{old}, append(slices.Clone(followers), joiner.ID))
			var next uint64
			c.RunUntil("a new leader", steps, func() bool {
				for _, id := range followers {
					if c.Member(id).Rep.IsLeader() {
						next = id
						return true
					}
				}
				return false
			})
			if uint64(c.Member(next).Rep.Tree().LastZxid()) >= tail {
				t.Fatalf("the new leader %d applied the write before its own first entry; the case is not reached", next)
			}
			o := wait(t, c, "the reconfig", clients[next].Reconfig(joining(4, "participant"), nil, nil, -1))
			if o.Err != nil || o.Res.Err != jute.CodeOK {
				t.Fatalf("reconfig at a new leader: %v %v", o.Err, o.Res.Err)
			}
			m, _ := configReply(t, o)
			if _, ok := m.Lookup(4); !ok {
				t.Fatalf("server.4 is not in the new configuration %v", m.Lines())
			}
		})
	}
}

// A reconfig that comes while another's change is decided but not yet applied is
// held until that change is complete; the writes its connection sends after it
// are held with it, so that they do not overtake it (which closed the
// connection: OUTOFORDER). Swept across the moments of the first reconfig.
func TestWritesAfterAHeldReconfigKeepTheirOrder(t *testing.T) {
	for after := 0; after <= 45; after++ {
		t.Run(fmt.Sprintf("second_after_steps=%d", after), func(t *testing.T) {
			c, first := reconfigCluster(t, uint64(900+after))
			second := c.NewClient(bystander(c, first), 30000)
			second.Identity = replicatest.Super
			c.AddJoiner(4, 6)
			c.Run(20)
			r1 := first.Reconfig(joining(4, "participant"), nil, nil, -1)
			c.Run(after)
			r2 := second.Reconfig(nil, nil, nil, 12345)
			w := second.Create("/after-r2", nil, jute.ModePersistent)
			for _, o := range []*replicatest.Outcome{r1, r2, w} {
				wait(t, c, "the reconfigs and the write", o)
			}
			if r1.Err != nil || r1.Res.Err != jute.CodeOK {
				t.Fatalf("first reconfig: %v %v", r1.Err, r1.Res.Err)
			}
			// RECONFIGINPROGRESS while the first is under way, BADVERSION once
			// its change is decided (held, then checked against the new version).
			if r2.Err != nil || r2.Res.Err != jute.CodeBadVersion && r2.Res.Err != jute.CodeReconfigInProgress {
				t.Fatalf("second reconfig: %v %v", r2.Err, r2.Res.Err)
			}
			t.Logf("second reconfig: %v", r2.Res.Err)
			if w.Err != nil || w.Res.Err != jute.CodeOK {
				t.Fatalf("the write after it: %v %v", w.Err, w.Res.Err)
			}
			if r2.Zxid >= w.Zxid {
				t.Fatalf("the write (zxid %v) overtook the reconfig sent before it (zxid %v)", w.Zxid, r2.Zxid)
			}
		})
	}
}
