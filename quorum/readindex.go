package quorum

import (
	"encoding/binary"
	"maps"
	"slices"

	"go.etcd.io/raft/v3"
)

// readIndexState batches ReadIndex requests. Every round gets a context never used
// before (this node's id and a counter), also when a round is asked again: reusing
// a context lets a stale answer to the old round satisfy the new one (etcd #20418,
// design/consensus.md §1 pitfall (c)). Owned by the raft goroutine.
type readIndexState struct {
	next    uint64
	pending map[uint64]*readRound // by context counter
}

type readRound struct {
	waiters []func(index uint64, err error)
	asked   uint64 // the node's tick count when this round was (last) asked
}

func (r *readIndexState) init() { r.pending = make(map[uint64]*readRound) }

// issue starts one round for the requests that arrived since the last Process.
func (r *readIndexState) issue(n *Node, waiters []func(uint64, error)) {
	if len(waiters) == 0 {
		return
	}
	if n.failed != nil {
		for _, w := range waiters {
			w(0, n.failed)
		}
		return
	}
	r.ask(n, &readRound{waiters: waiters})
}

func (r *readIndexState) ask(n *Node, round *readRound) {
	r.next++
	round.asked = n.ticks
	r.pending[r.next] = round
	ctx := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), n.cfg.ID), r.next)
	n.rn.ReadIndex(ctx)
}

// ready answers the round a ReadState belongs to; answers to rounds asked again
// since are ignored.
func (r *readIndexState) ready(rs raft.ReadState) {
	if len(rs.RequestCtx) != 16 {
		return
	}
	id := binary.BigEndian.Uint64(rs.RequestCtx[8:])
	round, ok := r.pending[id]
	if !ok {
		return
	}
	delete(r.pending, id)
	for _, w := range round.waiters {
		w(rs.Index, nil)
	}
}

// leaderChanged asks every pending round again: raft drops a ReadIndex it cannot
// serve without telling anyone, and a new leader never heard of the old rounds.
func (r *readIndexState) leaderChanged(n *Node) {
	if n.lead == 0 {
		return // asked again once a leader is known
	}
	r.reaskWhere(n, func(*readRound) bool { return true })
}

// retryStale asks again the rounds unanswered for ReadIndexRetryTicks.
func (r *readIndexState) retryStale(n *Node) {
	limit := uint64(n.cfg.ReadIndexRetryTicks)
	r.reaskWhere(n, func(round *readRound) bool { return n.ticks-round.asked >= limit })
}

func (r *readIndexState) reaskWhere(n *Node, stale func(*readRound) bool) {
	var ids []uint64
	for id, round := range r.pending {
		if stale(round) {
			ids = append(ids, id)
		}
	}
	// In id order, so that a simulated cluster replays identically from its seed.
	slices.Sort(ids)
	for _, id := range ids {
		round := r.pending[id]
		delete(r.pending, id)
		r.ask(n, round)
	}
}

func (r *readIndexState) failAll(err error) {
	ids := slices.Sorted(maps.Keys(r.pending))
	for _, id := range ids {
		round := r.pending[id]
		delete(r.pending, id)
		for _, w := range round.waiters {
			w(0, err)
		}
	}
}
