package quorum

import (
	"maps"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
)

// Status is what operators see of the raft group (four-letter words, mntr,
// metrics), published by the raft goroutine once per tick.
type Status struct {
	ID, Lead, Term uint64
	Commit         uint64
	Membership     Membership
	// Progress is each member's replication state as the leader tracks it; empty
	// on followers.
	Progress map[uint64]Progress
}

// Progress is the leader's view of one member.
type Progress struct {
	Match, Next  uint64
	Learner      bool
	RecentActive bool
}

// Status returns the newest published status (the zero Status before the first tick).
func (n *Node) Status() Status {
	if st := n.published.status.Load(); st != nil {
		cp := *st
		cp.Progress = maps.Clone(st.Progress)
		return cp
	}
	return Status{ID: n.cfg.ID, Lead: n.Leader(), Term: n.Term()}
}

func (n *Node) publishStatus() {
	bs := n.rn.BasicStatus()
	st := &Status{ID: n.cfg.ID, Lead: bs.Lead, Term: bs.HardState.GetTerm(), Commit: bs.HardState.GetCommit(),
		Membership: n.membership}
	if bs.RaftState == raft.StateLeader {
		st.Progress = make(map[uint64]Progress)
		n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			st.Progress[id] = Progress{Match: pr.Match, Next: pr.Next, Learner: pr.IsLearner, RecentActive: pr.RecentActive}
		})
	}
	n.published.status.Store(st)
}
