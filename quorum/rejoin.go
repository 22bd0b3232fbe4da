package quorum

import (
	"bytes"
	"encoding/binary"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// A member that comes back with its log lost (its disk wiped or replaced) is
// remembered by the leader as holding everything it once acknowledged: raft never
// sends it anything below that point, and a heartbeat would commit entries it
// does not have (raft panics). ZooKeeper resynchronises such a follower with a
// SNAP; zkd does the same by removing the member and adding it back, which gives
// it fresh progress on the leader, and so the leader's snapshot.
//
// The leader notices the loss when the member rejects an append with a hint
// below what it had matched, in a rejection raft itself takes as current (see
// staleRejection). It proposes a conf change removing the member,
// tagged with rejoinMagic; every member that applies it remembers to add the
// member back, and whoever leads then proposes that (the same role: voter or
// learner). Until then the member simply is not in the group.

var rejoinMagic = []byte("\x00zkd-rejoin")

func rejoinContext(id uint64, learner bool) []byte {
	b := append(slices.Clone(rejoinMagic), 0)
	if learner {
		b[len(b)-1] = 1
	}
	return binary.BigEndian.AppendUint64(b, id)
}

func parseRejoin(ctx []byte) (id uint64, learner, ok bool) {
	if len(ctx) != len(rejoinMagic)+9 || !bytes.HasPrefix(ctx, rejoinMagic) {
		return 0, false, false
	}
	return binary.BigEndian.Uint64(ctx[len(rejoinMagic)+1:]), ctx[len(rejoinMagic)] == 1, true
}

// IsRejoin reports whether a conf change context is one of quorum's own rejoin
// changes (the layers above ignore those).
func IsRejoin(ctx []byte) bool {
	_, _, ok := parseRejoin(ctx)
	return ok
}

// noticeLostLog inspects an append response before raft sees it.
func (n *Node) noticeLostLog(m *pb.Message) {
	if m.GetType() != pb.MessageType_MsgAppResp || !m.GetReject() || n.lead != n.cfg.ID {
		return
	}
	from := m.GetFrom()
	pr, ok := n.rn.Status().Progress[from]
	if !ok || m.GetRejectHint() >= pr.Match || n.rejoining[from] != nil || staleRejection(pr, m.GetIndex()) {
		return
	}
	learner := !n.membership.IsVoter(from)
	n.log.Warn("a member lost its log: removing it and adding it back, so that it catches up from a snapshot",
		"member", from, "matched", pr.Match, "its_last_index", m.GetRejectHint())
	cc := ConfChange{Changes: []MemberChange{{Type: Remove, ID: from}}, Context: rejoinContext(from, learner)}
	if err := n.proposeConfChange(cc); err != nil {
		n.log.Warn("cannot remove the member that lost its log yet", "member", from, "err", err)
		return
	}
	n.rejoining[from] = &learner
}

// staleRejection reports whether a rejection of the append at index rejected is
// one raft ignores as stale (tracker.Progress.MaybeDecrTo): while the member
// replicates, a rejection of an append at or below what it has acknowledged
// since; while it is probed, a rejection of any append but the latest probe.
// Such a rejection was overtaken by later messages and says nothing of the
// member's log now. Messages can arrive out of order (a delayed one, one from a
// connection a new one replaced), and a stale rejection, hint and all, read as a
// lost log removed a healthy voter: with the leader then lost too, the two left
// of three were no quorum.
func staleRejection(pr tracker.Progress, rejected uint64) bool {
	if pr.State == tracker.StateReplicate {
		return rejected <= pr.Match
	}
	return rejected != pr.Next-1
}

// appliedRejoin records, on every member, a rejoin removal just applied.
func (n *Node) appliedRejoin(ctx []byte, m Membership) {
	id, learner, ok := parseRejoin(ctx)
	if !ok {
		return
	}
	if m.Contains(id) {
		delete(n.rejoining, id) // the re-add
		return
	}
	n.rejoining[id] = &learner
}

// maybeReadd has the leader add back the members it removed for a lost log.
func (n *Node) maybeReadd() {
	if n.lead != n.cfg.ID || len(n.rejoining) == 0 || n.pendingConfChange() {
		return
	}
	for _, id := range slices.Sorted(mapKeys(n.rejoining)) {
		learner := n.rejoining[id]
		if n.membership.Contains(id) {
			continue // the removal is not applied yet
		}
		t := AddVoter
		if *learner {
			t = AddLearner
		}
		if err := n.proposeConfChange(ConfChange{Changes: []MemberChange{{Type: t, ID: id}}, Context: rejoinContext(id, *learner)}); err == nil {
			n.log.Info("adding back the member that lost its log", "member", id, "learner", *learner)
		}
		return // one change at a time
	}
}

func mapKeys[V any](m map[uint64]V) func(func(uint64) bool) {
	return func(yield func(uint64) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
