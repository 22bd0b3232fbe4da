package replica_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
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

// Writes from several sessions go on while a seeded schedule of faults runs:
// crashes that lose what was not synced (the leader's among them), two members
// down at once, a member cut off, one-way links, sessions moving between
// members, and reconfigs that add participants and observers, remove them and
// change their roles (the leader's too).
// After every fault the network heals, and at the end:
//   - every member of the last configuration has the same tree (and, at every
//     index, the same digest: CheckDigests);
//   - every acknowledged write is there: each session's counter holds its last
//     acknowledged value or a later one it sent, and every acknowledged
//     sequential node exists under the name it was given, no name twice;
//   - one session's acknowledged writes have zxids in the order it sent them;
//   - no two members led in the same term;
//   - once every session is closed, no ephemeral of it is left on any member,
//     nor of a session found expired.
func TestRandomFaultsAndReconfigsLoseNoAcknowledgedWrite(t *testing.T) {
	for _, seed := range testutil.SimSeeds(200, 4) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runNemesis(t, seed) })
	}
}

// nemesisRounds is how many rounds of writes and one fault each a run has.
const nemesisRounds = 14

type nemesis struct {
	t   *testing.T
	c   *replicatest.Cluster
	rng *rand.Rand
	// leaders is the member seen leading each term.
	leaders map[uint64]uint64
	clients []*nemesisClient
	// crashed are members down for a while, to be restarted; removed members
	// are stopped for good, as an operator stops a server it took out.
	crashed map[uint64]bool
	// incarnation is the newest raft incarnation of each server id.
	incarnation map[int64]uint32
	// opening is a session being set up, not yet among the clients.
	opening *replicatest.Client
	// expired are sessions a move found expired: their ephemerals must go.
	expired []jute.SessionID
	// actions is the schedule so far, for failure messages.
	actions []string
}

type nemesisClient struct {
	cl      *replicatest.Client
	counter string
	timeout int32 // ms, of each session the client opens
	// next is the next value the counter is set to: values only grow.
	next int
	// writes are the round's, done the earlier rounds', in the order sent.
	writes, done []nemesisWrite
	// moveFailed is set when the session's last move was not answered OK.
	moveFailed bool
}

type nemesisWrite struct {
	value int // -1 for a sequential create
	o     *replicatest.Outcome
}

func runNemesis(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6e656d))
	// The ensemble's size, the network and the snapshot rate vary by seed too:
	// three or five voters, from a clean network to one losing a message in
	// twenty, and snapshots from every 20 entries (members often catch up from
	// one) to every 80.
	opts := replicatest.ClusterOptions{Seed: seed, Voters: 3 + 2*rng.IntN(2), CheckDigests: true, ReconfigEnabled: true,
		CatchUpTicks: 60, SnapCount: []int{20, 40, 80}[rng.IntN(3)], DropRate: []float64{0, 0.01, 0.05}[rng.IntN(3)],
		MaxDelay: 2 + rng.IntN(7)}
	c := replicatest.NewCluster(t, opts)
	n := &nemesis{t: t, c: c, rng: rng, leaders: map[uint64]uint64{}, crashed: map[uint64]bool{}, incarnation: map[int64]uint32{}}
	for myid := range int64(opts.Voters) {
		n.incarnation[myid+1] = 1
	}
	n.note("%d voters, snapCount %d, drop rate %.2f, delay up to %d steps", opts.Voters, opts.SnapCount, opts.DropRate, opts.MaxDelay)
	c.AfterStep = n.afterStep
	n.heal()
	n.runUntil("the configuration is established", func() bool {
		return c.Leader() != 0 && c.Member(c.Leader()).Rep.Ensemble().Version != 0
	})
	setup := c.NewClient(c.Leader(), 30000)
	for _, p := range []string{"/n", "/n/seq", "/n/e"} {
		n.retry(setup, "create "+p, func() *replicatest.Outcome { return setup.Create(p, nil, jute.ModePersistent) }, jute.CodeNodeExists)
	}
	for k := range 4 {
		nc := &nemesisClient{counter: fmt.Sprintf("/n/c%d", k), next: 1}
		// Two sessions have a short timeout, so that faults expire them.
		nc.timeout = int32(30000)
		if k < 2 {
			nc.timeout = 2000
		}
		nc.cl = n.newClient(n.randomMember(), nc.timeout)
		n.clients = append(n.clients, nc)
		n.retry(nc.cl, "create "+nc.counter, func() *replicatest.Outcome {
			return nc.cl.Create(nc.counter, []byte("0"), jute.ModePersistent)
		}, jute.CodeNodeExists)
	}

	for round := range nemesisRounds {
		n.placeClients()
		for _, nc := range n.clients {
			nc.done, nc.writes = append(nc.done, nc.writes...), nil
			for range 1 + n.rng.IntN(5) {
				nc.writes = append(nc.writes, nemesisWrite{value: nc.next,
					o: nc.cl.SetData(nc.counter, []byte(strconv.Itoa(nc.next)), -1)})
				nc.next++
			}
			nc.writes = append(nc.writes, nemesisWrite{value: -1, o: nc.cl.Create("/n/seq/s-", nil, jute.ModePersistentSequential)})
		}
		n.fault(round)
		n.heal()
		n.runUntil("the round's writes are answered", func() bool {
			for _, nc := range n.clients {
				for _, w := range nc.writes {
					if w.o.Pending() {
						return false
					}
				}
			}
			return true
		})
	}
	n.heal()
	n.placeClients()
	n.check()
}

// afterStep, run after every step, has every open session heard from and
// checks that no term has two leaders.
func (n *nemesis) afterStep() {
	for _, nc := range n.clients {
		nc.cl.Ping()
	}
	if n.opening != nil {
		n.opening.Ping()
	}
	for _, id := range n.c.IDs() {
		m := n.c.Member(id)
		if !m.Up || !m.Rep.IsLeader() {
			continue
		}
		term := m.Rep.Node().Term()
		if prev, ok := n.leaders[term]; ok && prev != id {
			n.fatalf("term %d has two leaders, %s and %s", term, replica.Label(prev), replica.Label(id))
		}
		n.leaders[term] = id
	}
}

func (n *nemesis) run(steps int) { n.c.Run(steps) }

func (n *nemesis) runUntil(what string, cond func() bool) {
	n.t.Helper()
	for range steps {
		if cond() {
			return
		}
		n.c.Step()
	}
	if !cond() {
		n.fatalf("%s did not happen within %d steps", what, steps)
	}
}

// waitApplied steps until every member of the configuration has applied index.
func (n *nemesis) waitApplied(index jute.Zxid) {
	n.t.Helper()
	n.runUntil(fmt.Sprintf("every member applies %v", index), func() bool {
		for _, id := range n.members() {
			if n.c.Member(id).Rep.Applied() < index {
				return false
			}
		}
		return true
	})
}

func (n *nemesis) wait(what string, o *replicatest.Outcome) *replicatest.Outcome {
	n.t.Helper()
	n.runUntil(what, func() bool { return o.Done })
	return o
}

func (n *nemesis) fatalf(format string, args ...any) {
	n.t.Helper()
	n.t.Fatalf("%s\nschedule: %s\ncluster: %s", fmt.Sprintf(format, args...), strings.Join(n.actions, "; "), n.c)
}

func (n *nemesis) note(format string, args ...any) {
	n.actions = append(n.actions, fmt.Sprintf(format, args...))
}

// members returns the servers of the leader's configuration that are up.
func (n *nemesis) members() []uint64 {
	var out []uint64
	for _, id := range n.c.IDs() {
		if m := n.c.Member(id); m.Up && m.Rep.Member() && !m.Joining {
			out = append(out, id)
		}
	}
	return out
}

func (n *nemesis) randomMember() uint64 {
	ms := n.members()
	return ms[n.rng.IntN(len(ms))]
}

// heal restores every link, restarts the crashed members, and steps until a
// leader that every member follows has committed in its term.
func (n *nemesis) heal() {
	n.c.Heal()
	for _, id := range slices.Sorted(maps.Keys(n.crashed)) {
		n.c.Restart(id)
	}
	clear(n.crashed)
	n.runUntil("a stable leader", func() bool {
		lead := n.c.Leader()
		if lead == 0 || n.c.Member(lead).Rep.Node().Status().Commit < 1 || n.c.Member(lead).Rep.Applied() <= 1 {
			return false
		}
		for _, id := range n.members() {
			if n.c.Member(id).Rep.Leader() != lead {
				return false
			}
		}
		return true
	})
}

// newClient opens a session on member, with an ephemeral of its own.
func (n *nemesis) newClient(member uint64, timeout int32) *replicatest.Client {
	n.t.Helper()
	cl := n.c.NewClient(member, timeout)
	n.opening = cl
	defer func() { n.opening = nil }()
	n.retry(cl, "an ephemeral", func() *replicatest.Outcome {
		return cl.Create(fmt.Sprintf("/n/e/%x", cl.Session), nil, jute.ModeEphemeral)
	}, jute.CodeNodeExists)
	return cl
}

// retry sends a write until it is answered OK or with one of also, reconnecting
// the session to a member at random after a lost connection or a timeout, as a
// client does. The outcome of a failed attempt is unknown, hence also.
func (n *nemesis) retry(cl *replicatest.Client, what string, write func() *replicatest.Outcome, also ...jute.Code) *replicatest.Outcome {
	n.t.Helper()
	for range 20 {
		o := n.wait(what, write())
		if o.Err == nil && (o.Res.Err == jute.CodeOK || slices.Contains(also, o.Res.Err)) {
			return o
		}
		if o.Err == nil && o.Res.Err != jute.CodeConnectionLoss {
			n.fatalf("%s: %v", what, o.Res.Err)
		}
		n.note("%s: %v %v: reconnecting", what, o.Err, o.Res.Err)
		for range 20 {
			n.heal()
			m := cl.Move(n.randomMember())
			if m.Err == nil && m.Res.Err == jute.CodeOK {
				break
			}
			if m.Err == nil && m.Res.Err == jute.CodeSessionExpired {
				if slices.Contains(also, jute.CodeSessionExpired) {
					return m
				}
				n.fatalf("%s: the session expired while its client was pinging", what)
			}
			n.note("%s: reconnect: %v %v", what, m.Err, m.Res.Err)
		}
	}
	n.fatalf("%s: no answer in 20 attempts", what)
	return nil
}

// placeClients reconnects every session whose connection failed a write (as a
// client does on a connection loss: its server closed the connection) or whose
// member is down or left the configuration, to a member at random, and replaces
// a session that expired.
func (n *nemesis) placeClients() {
	for k, nc := range n.clients {
		m := n.c.Member(nc.cl.Member)
		failed := false
		for _, w := range nc.writes {
			failed = failed || w.o.Err != nil || w.o.Res.Err != jute.CodeOK
		}
		if m.Up && m.Rep.Member() && !m.Joining && !failed && !nc.moveFailed {
			continue
		}
		to := n.randomMember()
		n.note("session %d moves to %s", k, replica.Label(to))
		if !n.move(nc, to) {
			nc.cl = n.newClient(to, nc.timeout)
		}
	}
}

// move attaches nc's session to member through a new connection, and reports
// whether that worked.
func (n *nemesis) move(nc *nemesisClient, member uint64) bool {
	o := nc.cl.Move(member)
	nc.moveFailed = o.Err != nil || o.Res.Err != jute.CodeOK
	if nc.moveFailed {
		n.note("session %x lost (%v %v)", nc.cl.Session, o.Err, o.Res.Err)
		if o.Err == nil && o.Res.Err == jute.CodeSessionExpired {
			n.expired = append(n.expired, nc.cl.Session)
		}
	}
	return !nc.moveFailed
}

// fault runs one fault of the schedule while the round's writes are in flight.
func (n *nemesis) fault(round int) {
	c := n.c
	n.run(n.rng.IntN(15))
	// pick returns the leader half the time, another member otherwise.
	pick := func() uint64 {
		if lead := c.Leader(); lead != 0 && n.rng.IntN(2) == 0 {
			return lead
		}
		return n.randomMember()
	}
	other := func(id uint64) uint64 {
		ms := slices.DeleteFunc(n.members(), func(m uint64) bool { return m == id })
		return ms[n.rng.IntN(len(ms))]
	}
	switch action := n.rng.IntN(8); action {
	case 0:
		n.note("r%d: nothing", round)
		n.run(100 + n.rng.IntN(300))
	case 1:
		victim := pick()
		n.note("r%d: crash %s", round, replica.Label(victim))
		c.Crash(victim, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
		n.crashed[victim] = true
		n.run(50 + n.rng.IntN(400))
	case 2:
		a := pick()
		b := other(a)
		n.note("r%d: crash %s and %s", round, replica.Label(a), replica.Label(b))
		for _, id := range []uint64{a, b} {
			c.Crash(id, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
			n.crashed[id] = true
			n.run(n.rng.IntN(30))
		}
		n.run(100 + n.rng.IntN(300))
	case 3:
		victim := pick()
		n.note("r%d: cut off %s", round, replica.Label(victim))
		var rest []uint64
		for _, id := range c.IDs() {
			if id != victim {
				rest = append(rest, id)
			}
		}
		c.Partition(rest)
		n.run(100 + n.rng.IntN(500))
	case 4:
		from := pick()
		to := other(from)
		n.note("r%d: block %s -> %s", round, replica.Label(from), replica.Label(to))
		c.BlockOneWay(from, to)
		n.run(100 + n.rng.IntN(500))
	case 5:
		k := n.rng.IntN(len(n.clients))
		to := n.randomMember()
		n.note("r%d: session %d moves to %s with writes in flight", round, k, replica.Label(to))
		n.move(n.clients[k], to)
	default:
		n.reconfig(round)
	}
}

// reconfig makes one membership change at random, with writes in flight: it
// adds a participant or an observer, removes a server (possibly the leader),
// promotes an observer or demotes a participant (possibly the leader), keeping
// three to five voters and at most two observers.
func (n *nemesis) reconfig(round int) {
	c := n.c
	if c.Leader() == 0 {
		n.note("r%d: no leader to reconfigure", round)
		return
	}
	ens := c.Member(c.Leader()).Rep.Ensemble()
	voters, observers := servers(ens.Members)
	var choices []string
	if len(voters) < 5 {
		choices = append(choices, "participant")
	}
	if len(observers) < 2 {
		choices = append(choices, "observer")
	}
	if len(voters) > 3 {
		choices = append(choices, "remove voter")
		if len(observers) < 2 {
			choices = append(choices, "demote")
		}
	}
	if len(observers) > 0 {
		choices = append(choices, "remove observer")
		if len(voters) < 5 {
			choices = append(choices, "promote")
		}
	}
	// withRole is a server line of the configuration with its role changed.
	withRole := func(myid int64, role zoocfg.PeerType) *string {
		s, _ := ens.Members.Lookup(myid)
		s.Type = role
		return replicatest.Str(s.String())
	}
	admin := n.c.NewClient(n.randomMember(), 30000)
	admin.Identity = replicatest.Super
	var o *replicatest.Outcome
	var leaving int64
	switch choice := choices[n.rng.IntN(len(choices))]; choice {
	case "participant", "observer":
		myid := int64(1)
		for slices.Contains(voters, myid) || slices.Contains(observers, myid) {
			myid++
		}
		n.incarnation[myid]++
		joiner := c.AddJoiner(myid, n.incarnation[myid])
		n.note("r%d: add server %d as %s, %s", round, myid, replica.Label(joiner.ID), choice)
		n.run(20)
		o = n.wait("the reconfig", admin.Reconfig(joining(myid, choice), nil, nil, -1))
	case "remove voter", "remove observer":
		from := voters
		if choice == "remove observer" {
			from = observers
		}
		leaving = from[n.rng.IntN(len(from))]
		n.note("r%d: remove server %d", round, leaving)
		o = n.wait("the reconfig", admin.Reconfig(nil, replicatest.Str(strconv.FormatInt(leaving, 10)), nil, -1))
	case "promote":
		myid := observers[n.rng.IntN(len(observers))]
		n.note("r%d: promote server %d", round, myid)
		o = n.wait("the reconfig", admin.Reconfig(withRole(myid, zoocfg.Participant), nil, nil, -1))
	case "demote":
		myid := voters[n.rng.IntN(len(voters))]
		n.note("r%d: demote server %d", round, myid)
		o = n.wait("the reconfig", admin.Reconfig(withRole(myid, zoocfg.Observer), nil, nil, -1))
	}
	if o.Err != nil || o.Res.Err != jute.CodeOK {
		n.note("reconfig failed: %v %v", o.Err, o.Res.Err)
		// Without an answer the change may still be made; a server that was not
		// added by then stops asking, as an operator gives up on it.
		n.heal()
		n.run(300)
		for _, id := range c.IDs() {
			if m := c.Member(id); m.Up && m.Joining && !m.Rep.Member() {
				c.Crash(id, vfs.CrashOptions{})
			}
		}
		return
	}
	m, _ := configReply(n.t, o)
	n.runUntil("the new configuration everywhere", func() bool {
		lead := c.Leader()
		if lead == 0 || c.Member(lead).Rep.Ensemble().Version != m.Version {
			return false
		}
		for _, id := range n.members() {
			if e := c.Member(id).Rep.Ensemble(); e.Version != m.Version || len(e.Raft.VotersOutgoing) > 0 {
				return false
			}
		}
		return true
	})
	if leaving != 0 {
		for _, id := range c.IDs() {
			if replica.ServerID(id) == leaving && c.Member(id).Up {
				n.run(n.rng.IntN(50))
				c.Crash(id, vfs.CrashOptions{})
			}
		}
	}
	n.wait("the admin session closes", admin.Close())
}

// check compares the members' trees and checks every acknowledged write.
func (n *nemesis) check() {
	c := n.c
	// A sync makes the first member apply all that was committed before it.
	members := n.members()
	n.wait("a sync", c.Sync(members[0]))
	n.waitApplied(c.Member(members[0]).Rep.Applied())
	// The leader may still expire sessions the clients gave up on, so the trees
	// are compared once every member has applied the same entries. (A
	// divergence at any index fails CheckDigests at once.)
	n.runUntil("the members' trees agree", func() bool {
		applied := c.Member(members[0]).Rep.Applied()
		ref := replicatest.TreeDigest(n.t, c.Member(members[0]).Rep.Tree())
		for _, id := range members[1:] {
			r := c.Member(id).Rep
			if r.Applied() != applied || replicatest.TreeDigest(n.t, r.Tree()) != ref {
				return false
			}
		}
		return c.Member(members[0]).Rep.Applied() == applied
	})
	tree := c.Member(members[0]).Rep.Tree()
	seqNames := map[string]bool{}
	acked := 0
	for k, nc := range n.clients {
		maxAcked, prevZxid := 0, jute.Zxid(0)
		for _, w := range append(nc.done, nc.writes...) {
			if w.o.Err != nil || w.o.Res.Err != jute.CodeOK {
				continue
			}
			acked++
			if w.o.Zxid <= prevZxid {
				n.fatalf("session %d: a write acknowledged at %v after one at %v", k, w.o.Zxid, prevZxid)
			}
			prevZxid = w.o.Zxid
			if w.value >= 0 {
				maxAcked = max(maxAcked, w.value)
				continue
			}
			d := jute.NewDecoder(w.o.Res.Body)
			name := d.String()
			if seqNames[name] {
				n.fatalf("sequential name %s given twice", name)
			}
			seqNames[name] = true
			for _, id := range members {
				if !exists(c.Member(id), name) {
					n.fatalf("%s lacks acknowledged %s (zxid %v)", replica.Label(id), name, w.o.Zxid)
				}
			}
		}
		data, _, code := tree.GetData(nc.counter, nil, nil)
		v, err := strconv.Atoi(string(data))
		if code != jute.CodeOK || err != nil || v < maxAcked || v >= nc.next {
			n.fatalf("session %d's counter is %q (%v), last acknowledged %d, last sent %d", k, data, code, maxAcked, nc.next-1)
		}
	}
	if acked == 0 {
		n.fatalf("no write was acknowledged")
	}
	for _, nc := range n.clients {
		n.retry(nc.cl, "a close", nc.cl.Close, jute.CodeSessionExpired)
	}
	n.wait("a sync", c.Sync(members[0]))
	n.waitApplied(c.Member(members[0]).Rep.Applied())
	for _, id := range n.members() {
		kids, _, _ := c.Member(id).Rep.Tree().GetChildren("/n/e", nil, nil, nil)
		gone := slices.Clone(n.expired)
		for _, nc := range n.clients {
			gone = append(gone, nc.cl.Session)
		}
		for _, s := range gone {
			if name := fmt.Sprintf("%x", s); slices.Contains(kids, name) {
				n.fatalf("%s keeps the ephemeral of closed or expired session %s", replica.Label(id), name)
			}
		}
	}
	n.t.Logf("%d writes acknowledged; schedule: %s", acked, strings.Join(n.actions, "; "))
}
