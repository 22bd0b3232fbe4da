package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"zkd/datatree"
	"zkd/jute"
	"zkd/quorum"
	"zkd/zoocfg"
)

// The reconfig coordinator runs on the leader. A client's reconfig reaches the
// leader as an entry like any write (proposed here, or forwarded by a follower),
// but is not proposed as it is: the coordinator checks it in ZooKeeper's order
// and either proposes a refusal (an entry that answers the client with the code)
// or carries it out:
//
//	predecessors  wait until the connection's earlier writes are applied here, so
//	              that the membership never changes after a write of the same
//	              connection was lost (the change cannot be undone at apply)
//	stage         add the new participants as raft learners (one conf change)
//	catch up      wait until each has caught up with the log (CatchUpTicks at
//	              most, else NEWCONFIGNOQUORUM)
//	final         one ConfChangeV2 with every change (joint consensus when more
//	              than one voter changes, or a voter leaves) carrying the client's
//	              write and the new /zookeeper/config text
//
// Meanwhile the later writes of the reconfig's connection are held back, and
// proposed after its outcome, so that they stay in the order the client sent
// them; so are those of a connection whose reconfig is held because another's
// change is decided but not complete (intercept). A reconfig whose leader loses
// leadership is dropped (the client sees its connection close, as for any write
// in flight); learners it added and did not promote are removed by the next
// leader's cleanup.
type coordinator struct {
	mu sync.Mutex
	// op is the reconfig being carried out; guarded by mu.
	op *reconfigOp
	// held are the entries of op's connection that came after it, and the
	// reconfigs taken while a change was decided (see intercept) with the
	// entries of their connections that came after them, in order; guarded by
	// mu.
	held []heldEntry
	// holding is op's connection (0: none), for the write path's quick check;
	// written under mu.
	holding atomic.Uint64
	// heldConns are the other connections with an entry in held, whose later
	// entries are held too; guarded by mu. holdingOthers says it is not empty,
	// for the write path's quick check; written under mu.
	heldConns     map[uint64]bool
	holdingOthers atomic.Bool
	// joiners are the servers asking to join, by server id; guarded by mu.
	joiners map[int64]joiner
	// lastChange is the tick of the last change the leader proposed on its own
	// (cleanup, establishing); guarded by mu.
	lastChange uint64
	// heard is, per member, the last tick at which the leader's raft had heard
	// from it recently (its Progress.RecentActive); guarded by mu. raft clears
	// RecentActive at every quorum check, so one look at it can miss a member
	// that answers every heartbeat.
	heard map[uint64]uint64
}

type heldEntry struct {
	entry    []byte
	rejected func(error)
}

// Phases of a reconfig.
const (
	phasePredecessors = iota
	phaseStaging
	phaseCatchUp
	phaseFinal
)

type reconfigOp struct {
	origin, seq uint64
	txn         datatree.Txn // the client's write, Body cloned
	rejected    func(error)  // tells the origin its entry was dropped
	phase       int
	deadline    uint64 // tick by which the current phase must be done
	next        zoocfg.Membership
	changes     []quorum.MemberChange
	stage       []stagedServer // new participants, added as learners first
	voters      []uint64       // the new configuration's voters
	joint       bool           // enter joint consensus (see planLocked)
	proposed    bool           // the final change is proposed
}

func (c *coordinator) init() {
	c.joiners = make(map[int64]joiner)
	c.heard = make(map[uint64]uint64)
	c.heldConns = make(map[uint64]bool)
}

// holdLocked appends an entry to held; later entries of its connection are
// held behind it. REQUIRES c.mu.
func (c *coordinator) holdLocked(conn uint64, h heldEntry) {
	c.held = append(c.held, h)
	if conn != 0 && conn != c.holding.Load() {
		c.heldConns[conn] = true
		c.holdingOthers.Store(true)
	}
}

// takeHeldLocked empties held and returns what it had. REQUIRES c.mu.
func (c *coordinator) takeHeldLocked() []heldEntry {
	held := c.held
	c.held = nil
	clear(c.heldConns)
	c.holdingOthers.Store(false)
	return held
}

// entryConnOp returns the client connection an entry came from (0: none, or not
// an entry of this package), and whether it is a client's reconfig.
func entryConnOp(entry []byte) (conn uint64, reconfig bool) {
	const kindAt, opAt, connAt = headerSize, headerSize + 1 + 8 + 8 + 4, headerSize + 1 + 8 + 8 + 4 + 4 + 4
	if len(entry) < connAt+8 || entry[0] != formatV1 {
		return 0, false
	}
	conn = binary.BigEndian.Uint64(entry[connAt:])
	reconfig = datatree.TxnKind(entry[kindAt]) == datatree.KindRequest &&
		jute.OpCode(int32(binary.BigEndian.Uint32(entry[opAt:]))) == jute.OpReconfig
	return conn, reconfig
}

// intercept takes the entries the coordinator must handle instead of proposing
// them as they are: a reconfig, and the writes of a connection whose reconfig is
// under way. It runs on the leader, on the goroutine that would otherwise
// propose entry (which it owns from then on). rejected tells the entry's origin
// that it was dropped.
func (r *Replica) intercept(entry []byte, rejected func(error)) bool {
	c := &r.coord
	conn, reconfig := entryConnOp(entry)
	if !reconfig && (conn == 0 || c.holding.Load() != conn && !c.holdingOthers.Load()) {
		return false
	}
	var after []func()
	c.mu.Lock()
	switch {
	case conn != 0 && (c.holding.Load() == conn || c.heldConns[conn]):
		c.holdLocked(conn, heldEntry{entry: entry, rejected: rejected})
	case reconfig && r.changeDecided():
		// The change under way is decided and only waits to be applied here,
		// or raft is leaving the joint configuration it made: its client has
		// had its answer (from a member that applied it first, or before the
		// leave) and may send the next reconfig, on this or another connection
		// (Curator reconnects to the new membership). ZooKeeper, which answers
		// once the change is committed, would take that one up: it is held,
		// not refused as RECONFIGINPROGRESS, and checked once the change is
		// complete (reconfigApplied, jointLeft). Its connection's later
		// writes wait behind it.
		c.holdLocked(conn, heldEntry{entry: entry, rejected: rejected})
	case reconfig:
		after = r.submitLocked(entry, rejected, after)
	default:
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()
	for _, f := range after {
		f()
	}
	return true
}

// submitLocked runs the checks of a reconfig that need no waiting, in
// ZooKeeper's order (spec/semantics.md §4), and either refuses it or starts it.
// REQUIRES c.mu. Callbacks to run once c.mu is released are appended to after.
func (r *Replica) submitLocked(entry []byte, rejected func(error), after []func()) []func() {
	c := &r.coord
	if !r.IsLeader() {
		// Leadership moved after the caller looked: the origin learns as for any
		// write the leader did not take.
		if rejected != nil {
			after = append(after, func() { rejected(ErrNoLeader) })
		}
		return after
	}
	env, err := decodeEnvelope(entry)
	if err != nil || env.legacy {
		return after // not an entry of this package: dropped, as HandleApp drops one
	}
	txn, err := datatree.DecodeTxn(env.txn)
	if err != nil {
		return r.refuseLocked(env.origin, env.seq, &datatree.Txn{}, jute.CodeMarshallingError, rejected, after)
	}
	txn.Body = slices.Clone(txn.Body)
	txn.Identity = slices.Clone(txn.Identity)
	op := &reconfigOp{origin: env.origin, seq: env.seq, txn: txn, rejected: rejected}
	code := r.checkReconfigLocked(op)
	if code != jute.CodeOK {
		r.log.Info("reconfig refused", "code", code, "sessionid", txn.Session, "origin", r.label(env.origin))
		return r.refuseLocked(op.origin, op.seq, &op.txn, code, rejected, after)
	}
	r.log.Info("reconfig accepted", "sessionid", txn.Session, "origin", r.label(env.origin),
		"new_config", op.next.Lines(), "changes", fmt.Sprint(op.changes), "staging", len(op.stage))
	c.op = op
	c.holding.Store(txn.Conn)
	op.deadline = r.ticks.Load() + uint64(r.cfg.CatchUpTicks)
	return r.advanceLocked(after)
}

// checkReconfigLocked validates op and computes its changes. REQUIRES c.mu.
func (r *Replica) checkReconfigLocked(op *reconfigOp) jute.Code {
	c := &r.coord
	tree := r.Tree()
	if !r.cfg.ReconfigEnabled {
		return jute.CodeReconfigDisabled
	}
	if _, live := tree.Session(op.txn.Session); !live {
		return jute.CodeSessionExpired
	}
	if r.cfg.Standalone {
		return jute.CodeUnimplemented
	}
	text, _ := tree.Config()
	cur, err := zoocfg.ParseMembership(string(text))
	if c.op != nil || err != nil || len(cur.Servers) == 0 {
		return jute.CodeReconfigInProgress
	}
	var req reconfigRequest
	if !req.decode(op.txn.Body) {
		return jute.CodeMarshallingError
	}
	if req.curConfigID != -1 && req.curConfigID != cur.Version {
		return jute.CodeBadVersion
	}
	// Checked after the version: once the last reconfig is answered, ZooKeeper
	// has nothing in progress and calls a stale version stale, while raft may
	// still be leaving that reconfig's joint configuration here.
	raft := r.raftMembership()
	if len(raft.VotersOutgoing) > 0 || len(r.strays(raft, cur)) > 0 {
		return jute.CodeReconfigInProgress
	}
	next, err := cur.Reconfigure(req.joining, req.leaving, req.newMembers)
	if err != nil {
		if re := (*zoocfg.ReconfigError)(nil); errors.As(err, &re) && re.Runtime {
			return jute.CodeMarshallingError
		}
		return jute.CodeBadArguments
	}
	if p, _ := next.Counts(); p < 2 {
		return jute.CodeBadArguments // "new configuration must include at least 2 followers"
	}
	op.next = next
	if code := r.planLocked(op, cur, raft); code != jute.CodeOK {
		return code
	}
	if !tree.CheckACL(tree.ConfigACL(), op.txn.Identity, jute.PermWrite) {
		return jute.CodeNoAuth
	}
	return jute.CodeOK
}

// planLocked maps op.next onto raft: the raft id of every server, the changes,
// and the learners to stage; and checks that the new voters can form a synced
// quorum (new servers counted as able to). REQUIRES c.mu.
func (r *Replica) planLocked(op *reconfigOp, cur zoocfg.Membership, raft quorum.Membership) jute.Code {
	c := &r.coord
	byServer := make(map[int64]uint64)
	for _, id := range raft.Members() {
		byServer[ServerID(id)] = id
	}
	for _, s := range cur.Servers {
		if _, ok := byServer[s.ID]; !ok {
			return jute.CodeReconfigInProgress // a member being resynchronised (quorum's rejoin)
		}
	}
	now := r.ticks.Load()
	st := r.node.Status()
	synced := 0
	for _, s := range op.next.Servers {
		id, known := byServer[s.ID]
		var addr string
		if known {
			if _, inConfig := cur.Lookup(s.ID); !inConfig {
				return jute.CodeReconfigInProgress // a learner of an earlier reconfig, not yet removed
			}
		} else {
			j, ok := c.joinerOf(s.ID, now)
			if !ok {
				// zkd adds only servers that run and have asked to join: it needs
				// their raft id, and they must catch up before they vote.
				r.log.Info("reconfig: a new server has not asked to join", "server", "server."+strconv.FormatInt(s.ID, 10))
				return jute.CodeNewConfigNoQuorum
			}
			id, addr = j.id, j.addr
		}
		wasVoter := raft.IsVoter(id)
		switch {
		case s.Voting() && !known:
			op.stage = append(op.stage, stagedServer{id: id, addr: addr})
			op.changes = append(op.changes, quorum.MemberChange{Type: quorum.AddVoter, ID: id})
		case s.Voting() && !wasVoter:
			op.changes = append(op.changes, quorum.MemberChange{Type: quorum.AddVoter, ID: id})
		case !s.Voting() && (!known || wasVoter):
			op.changes = append(op.changes, quorum.MemberChange{Type: quorum.AddLearner, ID: id})
		}
		if s.Voting() {
			op.voters = append(op.voters, id)
			if !known || r.isSynced(id, st) {
				synced++
			}
		}
	}
	voterChanges := 0
	for _, id := range raft.Members() {
		if _, stays := op.next.Lookup(ServerID(id)); !stays {
			op.changes = append(op.changes, quorum.MemberChange{Type: quorum.Remove, ID: id})
			if raft.IsVoter(id) {
				// Joint consensus even for one voter: the leaving voter is then
				// in the outgoing half until the change is left, so it applies the
				// change and learns that it left.
				op.joint = true
			}
		}
	}
	for _, ch := range op.changes {
		if ch.Type == quorum.AddVoter || raft.IsVoter(ch.ID) {
			voterChanges++
		}
	}
	op.joint = op.joint || voterChanges > 1
	if synced <= len(op.voters)/2 && !r.newlyLeading() {
		return jute.CodeNewConfigNoQuorum
	}
	return jute.CodeOK
}

// isSynced reports whether member id keeps up with the leader's log and was
// heard from within two election timeouts: ZooKeeper's "connected and synced"
// follower. REQUIRES c.mu.
func (r *Replica) isSynced(id uint64, st quorum.Status) bool {
	if id == r.cfg.ID {
		return true
	}
	pr, ok := st.Progress[id]
	heard, seen := r.coord.heard[id]
	return ok && seen && r.ticks.Load() <= heard+2*uint64(r.cfg.Quorum.ElectionTicks) &&
		pr.Match > 0 && pr.Match+r.cfg.CatchUpEntries >= st.Commit
}

// newlyLeading reports whether this member became leader less than two
// election timeouts ago: its raft has not heard from every follower yet, so a
// member it cannot count as synced may only not have answered. ZooKeeper's
// leader has synced its followers before it serves, so it never refuses a
// reconfig for that; zkd waits instead.
func (r *Replica) newlyLeading() bool {
	return r.ticks.Load() < r.leaderTick.Load()+2*uint64(r.cfg.Quorum.ElectionTicks)
}

// noteHeard records the members the leader's raft heard from recently.
// REQUIRES c.mu.
func (r *Replica) noteHeard() {
	now := r.ticks.Load()
	for id, pr := range r.node.Status().Progress {
		if pr.RecentActive {
			r.coord.heard[id] = now
		}
	}
}

// advanceLocked moves the reconfig under way as far as it can go now.
// REQUIRES c.mu.
func (r *Replica) advanceLocked(after []func()) []func() {
	c := &r.coord
	op := c.op
	if op == nil || !r.IsLeader() {
		return after
	}
	if !r.tracker.isArmed() {
		// Until this leader applies an entry of its own term, raft takes a
		// membership change for one still pending and replaces it with an empty
		// entry; the next tick after that entry looks again.
		return after
	}
	now := r.ticks.Load()
	switch op.phase {
	case phasePredecessors:
		conn, last, ok := r.Tree().ConnState(op.txn.Session)
		switch {
		case !ok:
			return r.finishLocked(jute.CodeSessionExpired, after)
		case conn != op.txn.Conn:
			return r.finishLocked(jute.CodeSessionMoved, after)
		case last >= op.txn.ConnSeq || last+1 < op.txn.ConnSeq && now > op.deadline:
			// An earlier write of the connection was lost: apply refuses this one
			// as out of order, and the client's connection closes.
			return r.finishLocked(datatree.CodeOutOfOrder, after)
		case last+1 < op.txn.ConnSeq:
			return after
		}
		if len(op.stage) == 0 {
			op.phase = phaseFinal
			return r.advanceLocked(after)
		}
		op.phase = phaseStaging
		cc := quorum.ConfChange{Context: encodeStage(confStage, op.stage)}
		for _, s := range op.stage {
			cc.Changes = append(cc.Changes, quorum.MemberChange{Type: quorum.AddLearner, ID: s.id})
		}
		r.log.Info("reconfig: adding the new participants as learners first", "learners", labels(r, op.stage))
		if err := r.node.ProposeConfChange(cc, func(error) { r.confChangeRejected(op) }); err != nil {
			return r.finishLocked(jute.CodeReconfigInProgress, after)
		}
	case phaseStaging:
		// Waits for the learners' change to apply (stageApplied).
	case phaseCatchUp:
		st := r.node.Status()
		behind := 0
		for _, s := range op.stage {
			if !r.isSynced(s.id, st) {
				behind++
			}
		}
		switch {
		case behind == 0:
			op.phase = phaseFinal
			return r.advanceLocked(after)
		case now > op.deadline:
			r.log.Warn("reconfig: the new servers did not catch up in time", "behind", behind, "ticks", r.cfg.CatchUpTicks)
			return r.finishLocked(jute.CodeNewConfigNoQuorum, after)
		}
	case phaseFinal:
		if !op.proposed {
			st := r.node.Status()
			synced := 0
			for _, id := range op.voters {
				if r.isSynced(id, st) {
					synced++
				}
			}
			switch {
			case synced > len(op.voters)/2:
			case r.newlyLeading():
				return after // its followers answer its first appends: look again next tick
			default:
				return r.finishLocked(jute.CodeNewConfigNoQuorum, after)
			}
			changes := op.changes
			if len(changes) == 0 {
				// A new text with the same members (client ports, addresses):
				// raft needs a change to carry it, and this one is a no-op.
				changes = []quorum.MemberChange{{Type: quorum.AddVoter, ID: r.cfg.ID}}
			}
			op.txn.Time = r.cfg.Clock.Now().UnixMilli()
			op.proposed = true
			cc := quorum.ConfChange{Changes: changes, Joint: op.joint,
				Context: encodeReconfigContext(op.origin, op.seq, &op.txn, op.next.Lines())}
			if err := r.node.ProposeConfChange(cc, func(error) { r.confChangeRejected(op) }); err != nil {
				return r.finishLocked(jute.CodeReconfigInProgress, after)
			}
		}
		// Waits for the change to apply (reconfigApplied).
	}
	return after
}

func labels(r *Replica, ss []stagedServer) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.label(s.id)
	}
	return out
}

// confChangeRejected is raft refusing one of op's membership changes (another is
// pending, or leadership moved).
func (r *Replica) confChangeRejected(op *reconfigOp) {
	c := &r.coord
	var after []func()
	c.mu.Lock()
	if c.op == op {
		after = r.finishLocked(jute.CodeReconfigInProgress, after)
	}
	c.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// finishLocked ends the reconfig under way with a refusal (code != OK), then
// proposes the writes held behind it. REQUIRES c.mu.
func (r *Replica) finishLocked(code jute.Code, after []func()) []func() {
	c := &r.coord
	op := c.op
	if code != jute.CodeOK {
		r.log.Info("reconfig refused", "code", code, "sessionid", op.txn.Session, "origin", r.label(op.origin))
		after = r.refuseLocked(op.origin, op.seq, &op.txn, code, op.rejected, after)
	}
	c.op = nil
	return r.releaseLocked(after)
}

// releaseLocked proposes the held entries in order; one of them may be a new
// reconfig, which holds the rest again. REQUIRES c.mu.
//
// NB: holding is cleared only once every held entry is proposed: a write of the
// connection arriving meanwhile sees it set, waits for c.mu, and so is proposed
// after the ones held before it.
func (r *Replica) releaseLocked(after []func()) []func() {
	c := &r.coord
	held := c.takeHeldLocked()
	defer func() {
		if c.op == nil {
			c.holding.Store(0)
		}
	}()
	for i, h := range held {
		conn, reconfig := entryConnOp(h.entry)
		if c.op != nil && conn == c.op.txn.Conn {
			// A reconfig just started holds the rest again, in order.
			for _, rest := range held[i:] {
				restConn, _ := entryConnOp(rest.entry)
				c.holdLocked(restConn, rest)
			}
			break
		}
		stampTime(h.entry, r.cfg.Clock.Now().UnixMilli())
		if reconfig {
			after = r.submitLocked(h.entry, h.rejected, after)
			continue
		}
		if err := r.node.Propose(h.entry, h.rejected); err != nil && h.rejected != nil {
			rej := h.rejected
			after = append(after, func() { rej(err) })
		}
	}
	return after
}

// refuseLocked proposes the refusal of a client's reconfig: its own entry with a
// refusal body, so that it is answered in order with the connection's writes.
// REQUIRES c.mu.
func (r *Replica) refuseLocked(origin, seq uint64, txn *datatree.Txn, code jute.Code, rejected func(error), after []func()) []func() {
	t := *txn
	t.Kind, t.Op, t.Body, t.Identity = datatree.KindRequest, jute.OpReconfig, encodeRefusal(code), nil
	t.Time = r.cfg.Clock.Now().UnixMilli()
	if err := r.node.Propose(encodeEntry(origin, seq, &t), rejected); err != nil && rejected != nil {
		after = append(after, func() { rejected(err) })
	}
	return after
}

// stageApplied is told, on the apply goroutine, that learners were added.
func (r *Replica) stageApplied() {
	c := &r.coord
	var after []func()
	c.mu.Lock()
	if op := c.op; op != nil && op.phase == phaseStaging {
		op.phase = phaseCatchUp
		op.deadline = r.ticks.Load() + uint64(r.cfg.CatchUpTicks)
		after = r.advanceLocked(after)
	}
	c.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// reconfigApplied is told, on the apply goroutine, that a client's reconfig
// applied: if it is the one under way here, the writes held behind it follow.
func (r *Replica) reconfigApplied(origin, seq uint64) {
	c := &r.coord
	var after []func()
	c.mu.Lock()
	if op := c.op; op != nil && op.origin == origin && op.seq == seq && op.phase == phaseFinal {
		r.log.Info("reconfig done", "sessionid", op.txn.Session, "origin", r.label(origin))
		c.op = nil
		after = r.releaseLocked(after)
	}
	c.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// changeDecided reports whether the membership change under way needs nothing
// more from its client: proposed in its final form, or made and only leaving
// raft's joint configuration. REQUIRES c.mu.
func (r *Replica) changeDecided() bool {
	if op := r.coord.op; op != nil {
		return op.phase == phaseFinal && op.proposed
	}
	return len(r.raftMembership().VotersOutgoing) > 0
}

// jointLeft takes up the entries held while raft left a joint configuration
// (changeDecided). Leader's apply goroutine, after the membership changed.
func (r *Replica) jointLeft() {
	c := &r.coord
	var after []func()
	c.mu.Lock()
	if c.op == nil && len(c.held) > 0 && len(r.raftMembership().VotersOutgoing) == 0 {
		after = r.releaseLocked(after)
	}
	c.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// entryApplied lets a reconfig waiting for its connection's earlier writes go on.
func (r *Replica) entryApplied() {
	c := &r.coord
	if c.holding.Load() == 0 {
		return
	}
	var after []func()
	c.mu.Lock()
	if op := c.op; op != nil && op.phase == phasePredecessors {
		after = r.advanceLocked(after)
	}
	c.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// abort drops the reconfig under way and the writes held behind it: leadership
// moved, and their fate is for their clients to find out.
func (r *Replica) abortReconfig(err error) {
	c := &r.coord
	c.mu.Lock()
	op, held := c.op, c.takeHeldLocked()
	c.op = nil
	c.holding.Store(0)
	clear(c.heard)
	c.mu.Unlock()
	if op != nil {
		r.log.Info("reconfig abandoned: leadership moved", "sessionid", op.txn.Session)
		if op.rejected != nil {
			op.rejected(err)
		}
	}
	for _, h := range held {
		if h.rejected != nil {
			h.rejected(err)
		}
	}
}

// tickReconfig runs on every Tick of the leader: reconfig timeouts and progress,
// and the removal of members /zookeeper/config does not have.
func (r *Replica) tickReconfig(promoted bool) {
	c := &r.coord
	var after []func()
	c.mu.Lock()
	r.noteHeard()
	after = r.advanceLocked(after)
	if c.op == nil && promoted {
		r.cleanupLocked()
		r.establishLocked()
	}
	c.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// cleanupTicks spaces cleanup proposals, which raft refuses while another
// membership change is pending.
const cleanupTicks = 10

// cleanupLocked removes the members raft has and /zookeeper/config does not:
// learners added by a reconfig that was refused or abandoned. REQUIRES c.mu.
func (r *Replica) cleanupLocked() {
	c := &r.coord
	now := r.ticks.Load()
	if now < c.lastChange+cleanupTicks {
		return
	}
	text, _ := r.Tree().Config()
	cur, err := zoocfg.ParseMembership(string(text))
	raft := r.raftMembership()
	if err != nil || len(raft.VotersOutgoing) > 0 {
		return
	}
	strays := r.strays(raft, cur)
	if len(strays) == 0 {
		return
	}
	c.lastChange = now
	cc := quorum.ConfChange{Context: encodeStage(confCleanup, strays)}
	for _, s := range strays {
		cc.Changes = append(cc.Changes, quorum.MemberChange{Type: quorum.Remove, ID: s.id})
	}
	r.log.Info("removing learners that no reconfig promoted", "members", labels(r, strays))
	_ = r.node.ProposeConfChange(cc, nil)
}

// establishLocked gives a configuration still at version 0 (a static zoo.cfg's)
// the version of an entry of the first leader's, as ZooKeeper's first leader does
// with reconfig enabled (ZOOKEEPER-1783: an established configuration takes
// precedence over the initial one a joining server brings): a membership change
// that changes nothing raft knows and sets /zookeeper/config's version to its
// zxid. REQUIRES c.mu.
func (r *Replica) establishLocked() {
	c := &r.coord
	now := r.ticks.Load()
	if r.cfg.Standalone || now < c.lastChange+cleanupTicks {
		return
	}
	text, _ := r.Tree().Config()
	cur, err := zoocfg.ParseMembership(string(text))
	raft := r.raftMembership()
	if len(text) == 0 && len(raft.VotersOutgoing) == 0 {
		r.initConfigLocked(raft)
		return
	}
	if !r.cfg.ReconfigEnabled || err != nil || cur.Version != 0 || len(cur.Servers) == 0 ||
		len(raft.VotersOutgoing) > 0 || !raft.IsVoter(r.cfg.ID) {
		return
	}
	c.lastChange = now
	txn := datatree.Txn{Time: r.cfg.Clock.Now().UnixMilli()}
	cc := quorum.ConfChange{Changes: []quorum.MemberChange{{Type: quorum.AddVoter, ID: r.cfg.ID}},
		Context: encodeReconfigContext(0, 0, &txn, cur.Lines())}
	r.log.Info("establishing the initial configuration: it takes a version")
	_ = r.node.ProposeConfChange(cc, nil)
}

// initConfigLocked writes the leader's zoo.cfg membership to an empty
// /zookeeper/config (a data directory written before zkd kept one), if it names
// exactly raft's members in their roles. REQUIRES c.mu.
func (r *Replica) initConfigLocked(raft quorum.Membership) {
	c := &r.coord
	boot, err := zoocfg.ParseMembership(string(r.cfg.BootstrapConfig))
	if err != nil || len(boot.Servers) != len(raft.Members()) {
		return
	}
	for _, id := range raft.Members() {
		if s, ok := boot.Lookup(ServerID(id)); !ok || s.Voting() != raft.IsVoter(id) {
			return
		}
	}
	c.lastChange = r.ticks.Load()
	cc := quorum.ConfChange{Changes: []quorum.MemberChange{{Type: quorum.AddVoter, ID: r.cfg.ID}},
		Context: append(appendConfHeader(confInit), jute.AppendBuffer(nil, r.cfg.BootstrapConfig)...)}
	r.log.Info("writing the membership to /zookeeper/config, which this data directory lacks")
	_ = r.node.ProposeConfChange(cc, nil)
}

// strays returns the members of raft that cur does not name. A configuration
// without servers (a data directory written before zkd kept one) names nobody,
// and then nobody is a stray.
func (r *Replica) strays(raft quorum.Membership, cur zoocfg.Membership) []stagedServer {
	if len(cur.Servers) == 0 {
		return nil
	}
	var out []stagedServer
	for _, id := range raft.Members() {
		if _, ok := cur.Lookup(ServerID(id)); !ok && !raft.IsVoter(id) {
			out = append(out, stagedServer{id: id})
		}
	}
	return out
}

// raftMembership returns raft's membership as last applied.
func (r *Replica) raftMembership() quorum.Membership {
	if m := r.memb.Load(); m != nil {
		return *m
	}
	return quorum.Membership{}
}

// reconfigRequest is a ReconfigRequest with its null strings told apart from
// empty ones (ZooKeeper treats a non-null newMembers as a non-incremental
// reconfig, whatever the other fields say).
type reconfigRequest struct {
	joining, leaving, newMembers *string
	curConfigID                  int64
}

func (q *reconfigRequest) decode(b []byte) bool {
	d := jute.NewDecoder(b)
	str := func() *string {
		if d.Remaining() >= 4 && int32(binary.BigEndian.Uint32(b[len(b)-d.Remaining():])) == -1 {
			d.Int()
			return nil
		}
		s := jute.Clone(d.String())
		return &s
	}
	q.joining, q.leaving, q.newMembers = str(), str(), str()
	q.curConfigID = d.Long()
	return d.Err() == nil
}

func formatHex(v int64) string { return strconv.FormatInt(v, 16) }

// applyMembership applies a membership change raft has taken on at zxid, with
// what its context says: learners staged, a client's reconfig (the new
// /zookeeper/config and the client's answer), or nothing more.
func (r *Replica) applyMembership(zxid jute.Zxid, e *quorum.Entry) {
	r.setMembership(*e.Membership)
	cc, ours, err := decodeConfContext(e.Data)
	if err != nil {
		r.log.Error("membership change with a malformed context", "zxid", zxid, "err", err)
		ours = false
	}
	switch {
	case ours && cc.kind == confStage:
		for _, s := range cc.staged {
			if e.Membership.Contains(s.id) {
				r.stagedAddrs[s.id] = s.addr
			}
		}
		r.Tree().Apply(zxid, nil)
		r.updateEnsemble()
		if r.IsLeader() {
			r.stageApplied()
		}
	case ours && cc.kind == confReconfig:
		mine := cc.origin == r.cfg.ID
		if mine {
			r.waiters.applying(cc.seq)
		}
		text := append(append(make([]byte, 0, len(cc.lines)+32), cc.lines...), "version="+formatHex(int64(zxid))...)
		res := r.Tree().ApplyReconfig(zxid, &cc.txn, text)
		r.log.Info("membership changed by reconfig", "zxid", fmt.Sprintf("0x%x", int64(zxid)),
			"voters", labelsOf(r, e.Membership.Voters), "learners", labelsOf(r, e.Membership.Learners),
			"outgoing", labelsOf(r, e.Membership.VotersOutgoing))
		r.updateEnsemble()
		if mine {
			r.waiters.complete(cc.seq, zxid, res)
		}
		if r.IsLeader() {
			r.reconfigApplied(cc.origin, cc.seq)
			r.handOffLeadership(e.Membership)
		}
	case ours && cc.kind == confInit:
		if text, _ := r.Tree().Config(); len(text) == 0 {
			m, err := zoocfg.ParseMembership(string(cc.lines))
			if err == nil {
				r.Tree().SetConfig(cc.lines, m.Version, 0)
			}
		}
		r.Tree().Apply(zxid, nil)
		r.updateEnsemble()
	default:
		r.Tree().Apply(zxid, nil)
		r.updateEnsemble()
	}
	if len(e.Membership.VotersOutgoing) == 0 && r.IsLeader() {
		r.jointLeft()
	}
}

// handOffLeadership has a leader that the change leaves without a vote hand
// leadership to the most caught-up voter of the new configuration, rather than
// step down when the change is left and make everyone wait out an election
// timeout (ZooKeeper's leader likewise names its successor when a reconfig
// removes it). The new leader completes the joint change.
func (r *Replica) handOffLeadership(m *quorum.Membership) {
	if slices.Contains(m.Voters, r.cfg.ID) || len(m.VotersOutgoing) == 0 {
		return
	}
	st := r.node.Status()
	var best uint64
	for _, id := range m.Voters {
		if pr, ok := st.Progress[id]; ok && pr.RecentActive && (best == 0 || pr.Match > st.Progress[best].Match) {
			best = id
		}
	}
	if best != 0 {
		r.log.Info("leaving the voters: handing leadership over", "to", r.label(best))
		r.node.TransferLeadership(best)
	}
}

func labelsOf(r *Replica, ids []uint64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = r.label(id)
	}
	return out
}
