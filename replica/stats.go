package replica

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the replica's counters in ZooKeeper's terms (mntr's looking_count,
// proposal_count, commit_count, learner_commit_received_count, pending_syncs,
// leader_uptime and the proposal sizes), since the process started.
type Stats struct {
	Lookings       uint64 // times this member was left without a leader (its start included)
	Proposals      uint64 // entries this member proposed to the group while leading
	Commits        uint64 // entries applied while leading
	LearnerCommits uint64 // entries applied while following or observing
	PendingSyncs   int    // syncs taken up and not yet answered
	// SessionsExpired counts the sessions this member expired for silence
	// (only a leader, or a standalone server, expires sessions).
	SessionsExpired uint64
	// LeaderSince is when this member last became leader; zero unless leading.
	LeaderSince time.Time
	// Proposal sizes in bytes, of the entries proposed while leading; -1 before
	// the first.
	LastProposal, MinProposal, MaxProposal int
}

// stats are the live counters behind Stats.
type stats struct {
	lookings       atomic.Uint64
	proposals      atomic.Uint64
	commits        atomic.Uint64
	learnerCommits atomic.Uint64
	pendingSyncs   atomic.Int64
	expired        atomic.Uint64
	leaderSince    atomic.Int64 // unix ns; 0 unless leading

	sizes struct {
		sync.Mutex
		last, min, max int // guarded by mutex; -1 before the first
	}
}

func (s *stats) init() {
	s.sizes.last, s.sizes.min, s.sizes.max = -1, -1, -1
	s.lookings.Store(1) // every member starts without a leader
}

// proposed counts an entry of n bytes proposed by the leader.
func (s *stats) proposed(n int) {
	s.proposals.Add(1)
	s.sizes.Lock()
	s.sizes.last = n
	if s.sizes.min < 0 || n < s.sizes.min {
		s.sizes.min = n
	}
	s.sizes.max = max(s.sizes.max, n)
	s.sizes.Unlock()
}

// Stats returns the replica's counters.
func (r *Replica) Stats() Stats {
	st := Stats{
		Lookings: r.stats.lookings.Load(), Proposals: r.stats.proposals.Load(), Commits: r.stats.commits.Load(),
		LearnerCommits: r.stats.learnerCommits.Load(), PendingSyncs: int(r.stats.pendingSyncs.Load()),
		SessionsExpired: r.stats.expired.Load(),
	}
	if ns := r.stats.leaderSince.Load(); ns != 0 {
		st.LeaderSince = time.Unix(0, ns)
	}
	r.stats.sizes.Lock()
	st.LastProposal, st.MinProposal, st.MaxProposal = r.stats.sizes.last, r.stats.sizes.min, r.stats.sizes.max
	r.stats.sizes.Unlock()
	return st
}
