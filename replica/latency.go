package replica

import (
	"encoding/binary"
	"strconv"
	"time"

	"zkd/quorum"
)

// ZooKeeper's latencies between members, measured as ZooKeeper measures them:
// against the time the leader stamped on the entry when it proposed it (wall
// clocks of two machines, so a skew shows; a negative figure is dropped), in
// milliseconds.
//
//	proposal_latency               a member that does not lead received the entry
//	proposal_ack_creation_latency  the member made it durable (and acknowledges it)
//	ack_latency (per member)       the leader learned that the member holds it
//	quorum_ack_latency             the leader learned that a quorum holds it (commit)
//	commit_propagation_latency     a member that does not lead learned the commit
//	propagation_latency            the entry was applied (every server)
//
// Entries replayed by Open are old and measure nothing: only entries after the
// log's committed end at start (liveFrom) count.

// entryTime returns the leader's stamp of an entry of this package.
func entryTime(entry []byte) (ms int64, ok bool) {
	if len(entry) < timeOffset+8 || entry[0] != formatV1 {
		return 0, false
	}
	ms = int64(binary.BigEndian.Uint64(entry[timeOffset:]))
	return ms, ms > 0
}

// noteSince notes name as the milliseconds from the entry's stamp to now.
func (r *Replica) noteSince(name string, entry []byte, nowMs int64) {
	if ms, ok := entryTime(entry); ok && nowMs >= ms {
		r.noteTiming(name, nowMs-ms)
	}
}

// Received implements quorum.EntryObserver: a member that does not lead got
// an entry from the leader (ZooKeeper's follower counts a PROPOSAL so).
func (r *Replica) Received(data []byte) {
	r.noteSince("proposal_latency", data, r.cfg.Clock.Now().UnixMilli())
}

// Persisted implements quorum.EntryObserver: the member made an entry durable
// and acknowledges it (proposal_ack_creation_latency, on the leader and the
// followers alike; a standalone server acknowledges to no one).
func (r *Replica) Persisted(data []byte) {
	if !r.cfg.Standalone {
		r.noteSince("proposal_ack_creation_latency", data, r.cfg.Clock.Now().UnixMilli())
	}
}

// Acknowledged implements quorum.EntryObserver: the leader learned that
// member (itself included) holds a sampled entry before it committed
// (ack_latency, per member by server id).
func (r *Replica) Acknowledged(member uint64, data []byte) {
	if ms, ok := entryTime(data); ok && !r.cfg.Standalone {
		if d := r.cfg.Clock.Now().UnixMilli() - ms; d >= 0 {
			if n := r.timings(); n != nil {
				n.NoteTimingOf("ack_latency", strconv.FormatInt(ServerID(member), 10), d)
			}
		}
	}
}

// noteCommitted notes the commit of ents, on the raft goroutine.
func (r *Replica) noteCommitted(ents []quorum.Entry) {
	if r.cfg.Standalone || len(ents) == 0 || ents[len(ents)-1].Index <= r.liveFrom {
		return
	}
	name := "commit_propagation_latency"
	if r.IsLeader() {
		name = "quorum_ack_latency"
	}
	now := r.cfg.Clock.Now().UnixMilli()
	for i := range ents {
		if e := &ents[i]; e.Index > r.liveFrom && e.Membership == nil {
			r.noteSince(name, e.Data, now)
		}
	}
}

// availability follows how long a member is without a leader it can serve
// under, as ZooKeeper's unavailable_time (from leaving its serving state to
// serving again, start-up included), leader_unavailable_time (the same, on the
// member that became the leader) and follower_sync_time / observer_sync_time
// (from knowing the leader to having caught up with it) do. Caught up means
// having applied everything the leader had committed when it confirmed its
// leadership to this member (a ReadIndex asked as soon as the leader is
// known): on a new leader, that is once its first entry has committed.
// Owned by the apply goroutine; a standalone server has none.
type availability struct {
	since  time.Time // when the member stopped serving; zero while it serves
	synced time.Time // when it learned of its current leader
	term   uint64    // that leader's term; 0: none known
	asked  bool      // a ReadIndex was asked under term
	target uint64    // its answer: the index to apply to be caught up; 0 until known
}

// leaderKnown runs on the apply goroutine when the member learns it has
// leader lead (0: none) in term, at time at.
func (r *Replica) leaderKnown(lead, term uint64, at time.Time) {
	if r.cfg.Standalone {
		return
	}
	a := &r.avail
	if a.since.IsZero() {
		a.since = at
	}
	*a = availability{since: a.since}
	if lead != 0 {
		a.term, a.synced = term, at
		r.askCaughtUp()
	}
}

// askCaughtUp asks the leader, once the raft node runs, how far this member
// must apply to be caught up with it. Apply goroutine only.
func (r *Replica) askCaughtUp() {
	a := &r.avail
	if a.term == 0 || a.asked || !r.nodeSet.Load() {
		return
	}
	a.asked = true
	term := a.term
	_ = r.node.ReadIndex(func(index uint64, err error) {
		if err == nil {
			r.enqueue(applyItem{call: func() { r.caughtUpAt(term, index) }})
		}
	})
}

// caughtUpAt records the leader's answer for term. Apply goroutine only.
func (r *Replica) caughtUpAt(term, index uint64) {
	if a := &r.avail; a.term == term && a.target == 0 {
		a.target = max(index, 1)
		r.checkCaughtUp()
	}
}

// checkCaughtUp notes the figures once the member has applied up to the
// leader's answer. Apply goroutine only.
func (r *Replica) checkCaughtUp() {
	a := &r.avail
	if a.target == 0 || r.applied.Load() < a.target {
		return
	}
	now := r.cfg.Clock.Now()
	down := now.Sub(a.since).Milliseconds()
	r.noteTiming("unavailable_time", down)
	switch {
	case r.IsLeader():
		r.noteTiming("leader_unavailable_time", down)
	case r.observer.Load():
		r.noteTiming("observer_sync_time", now.Sub(a.synced).Milliseconds())
	default:
		r.noteTiming("follower_sync_time", now.Sub(a.synced).Milliseconds())
	}
	*a = availability{}
}
