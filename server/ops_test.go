package server

import (
	"slices"
	"testing"
	"time"

	"zkd/quorum"
	"zkd/replica"
	"zkd/session"
)

// The replica's view of the group becomes ZooKeeper's roles and leader figures.
func TestQuorumStatsFromRaftStatus(t *testing.T) {
	three := quorum.Membership{Voters: []uint64{1, 2, 3}}
	cases := []struct {
		name      string
		role      string // the replica's Mode
		st        quorum.Status
		mode      string
		peerState string
		quorum    int
		lead      *session.LeaderStats
	}{
		{name: "standalone", role: "standalone", st: quorum.Status{ID: 1, Lead: 1, Membership: quorum.Membership{Voters: []uint64{1}}},
			mode: "standalone"},
		{name: "before the first status", role: "standalone", st: quorum.Status{ID: 1}, mode: "standalone"},
		{name: "ensemble of one", role: "leader", st: quorum.Status{ID: 1, Lead: 1, Membership: quorum.Membership{Voters: []uint64{1}}},
			mode: "leader", peerState: "leading - broadcast", quorum: 1, lead: &session.LeaderStats{}},
		{name: "follower", role: "follower", st: quorum.Status{ID: 2, Lead: 1, Membership: three},
			mode: "follower", peerState: "following - broadcast", quorum: 3},
		{name: "no leader", st: quorum.Status{ID: 2, Membership: three},
			mode: "follower", peerState: "looking", quorum: 3},
		{name: "observer", role: "observer", st: quorum.Status{ID: 4, Lead: 1,
			Membership: quorum.Membership{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}},
			mode: "observer", peerState: "observing - broadcast", quorum: 3},
		{name: "observer before raft's status lists it", role: "observer", st: quorum.Status{ID: 4, Lead: 1, Membership: three},
			mode: "observer", peerState: "observing - broadcast", quorum: 3},
		{name: "read-only", role: "read-only", st: quorum.Status{ID: 2, Membership: three}, mode: "read-only"},
		{name: "leader", role: "leader", st: quorum.Status{ID: 1, Lead: 1,
			Membership: quorum.Membership{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}},
			Progress: map[uint64]quorum.Progress{
				1: {Match: 9, RecentActive: true},
				2: {Match: 9, RecentActive: true},
				3: {Match: 0, RecentActive: true}, // connected, not yet caught up
				4: {Match: 9, Learner: true, RecentActive: true},
			}},
			mode: "leader", peerState: "leading - broadcast", quorum: 3,
			lead: &session.LeaderStats{Learners: 3, SyncedFollowers: 1, SyncedObservers: 1}},
		{name: "leader of a joint configuration", role: "leader", st: quorum.Status{ID: 1, Lead: 1,
			Membership: quorum.Membership{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2, 5}},
			Progress:   map[uint64]quorum.Progress{2: {Match: 3, RecentActive: false}}},
			mode: "leader", peerState: "leading - broadcast", quorum: 4, lead: &session.LeaderStats{}},
	}
	now := time.Unix(1000, 0)
	figures := replica.Stats{Lookings: 2, Proposals: 5, Commits: 6, LearnerCommits: 3, PendingSyncs: 1,
		LeaderSince: now.Add(-1500 * time.Millisecond), LastProposal: 48, MinProposal: 40, MaxProposal: 126}
	counters := quorum.Counters{EntriesReceived: 7, SnapshotsSent: 1}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			qs := quorumStats(memberView{role: c.role, status: c.st, stats: figures, counters: counters, now: now})
			if qs.Mode != c.mode || qs.PeerState != c.peerState || qs.QuorumSize != c.quorum {
				t.Errorf("mode %q peer_state %q quorum_size %d, want %q %q %d",
					qs.Mode, qs.PeerState, qs.QuorumSize, c.mode, c.peerState, c.quorum)
			}
			switch {
			case c.lead == nil && qs.Leader != nil:
				t.Errorf("leader figures on a %s: %+v", c.mode, qs.Leader)
			case c.lead != nil && qs.Leader == nil:
				t.Errorf("no leader figures on a leader")
			case c.lead != nil:
				l := *qs.Leader
				if l.Learners != c.lead.Learners || l.SyncedFollowers != c.lead.SyncedFollowers ||
					l.SyncedObservers != c.lead.SyncedObservers || l.SyncedNonVotingFollowers != c.lead.SyncedNonVotingFollowers {
					t.Errorf("leader's learners %+v, want %+v", l, c.lead)
				}
				want := []session.Figure{session.Known(1), session.Known(1500), session.Known(48), session.Known(40), session.Known(126)}
				got := []session.Figure{l.PendingSyncs, l.Uptime, l.LastProposalSize, l.MinProposalSize, l.MaxProposalSize}
				if !slices.Equal(got, want) {
					t.Errorf("pending_syncs, leader_uptime, proposal sizes = %v, want %v", got, want)
				}
			}
			// A standalone server knows its ensemble counters to be 0; a member of
			// an ensemble reports what its replica and raft node counted.
			want := []session.Figure{session.Known(2), session.Known(5), session.Known(6), session.Known(1),
				session.Known(7), session.Known(3), session.Known(0)}
			if c.mode == "standalone" {
				z := session.Known(0)
				want = []session.Figure{z, z, z, z, z, z, z}
			}
			got := []session.Figure{qs.LookingCount, qs.ProposalCount, qs.CommitCount, qs.SnapCount,
				qs.LearnerProposals, qs.LearnerCommits, qs.UnrecoverableErrors}
			if !slices.Equal(got, want) {
				t.Errorf("looking, proposal, commit, snap, learner proposal, learner commit, unrecoverable = %v, want %v", got, want)
			}
			if qs.DiffCount.Known != (c.mode == "standalone") {
				t.Errorf("diff_count known = %v on a %s", qs.DiffCount.Known, c.mode)
			}
		})
	}
}
