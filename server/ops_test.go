package server

import (
	"testing"

	"zkd/quorum"
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
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			qs := quorumStats(c.role, c.st)
			if qs.Mode != c.mode || qs.PeerState != c.peerState || qs.QuorumSize != c.quorum {
				t.Errorf("mode %q peer_state %q quorum_size %d, want %q %q %d",
					qs.Mode, qs.PeerState, qs.QuorumSize, c.mode, c.peerState, c.quorum)
			}
			switch {
			case c.lead == nil && qs.Leader != nil:
				t.Errorf("leader figures on a %s: %+v", c.mode, qs.Leader)
			case c.lead != nil && (qs.Leader == nil || *qs.Leader != *c.lead):
				t.Errorf("leader figures %+v, want %+v", qs.Leader, c.lead)
			}
			// A standalone server knows its ensemble counters to be 0; a member of
			// an ensemble leaves them out until the replica counts them.
			if known := qs.CommitCount.Known && qs.SnapCount.Known && qs.LookingCount.Known; known != (c.mode == "standalone") {
				t.Errorf("counters known = %v on a %s", known, c.mode)
			}
		})
	}
}
