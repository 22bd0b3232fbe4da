package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Membership is the raft configuration: who votes, who only learns (ZooKeeper's
// observers), and, during a joint change, the outgoing voters. It is raft's
// ConfState without the raft types, so that snapshots and the layers above can
// carry it.
type Membership struct {
	Voters         []uint64
	Learners       []uint64
	VotersOutgoing []uint64 // non-empty only in a joint configuration
	LearnersNext   []uint64
	AutoLeave      bool
}

// IsEmpty reports whether m names no member at all (a snapshot written before the
// membership was known, such as one produced by an import).
func (m Membership) IsEmpty() bool {
	return len(m.Voters) == 0 && len(m.Learners) == 0 && len(m.VotersOutgoing) == 0
}

// Contains reports whether id is a voter or learner of m.
func (m Membership) Contains(id uint64) bool {
	return slices.Contains(m.Voters, id) || slices.Contains(m.Learners, id) ||
		slices.Contains(m.VotersOutgoing, id) || slices.Contains(m.LearnersNext, id)
}

// IsVoter reports whether id votes in m (in either half of a joint configuration).
func (m Membership) IsVoter(id uint64) bool {
	return slices.Contains(m.Voters, id) || slices.Contains(m.VotersOutgoing, id)
}

// Members returns every id of m once, sorted.
func (m Membership) Members() []uint64 {
	all := slices.Concat(m.Voters, m.Learners, m.VotersOutgoing, m.LearnersNext)
	slices.Sort(all)
	return slices.Compact(all)
}

func (m Membership) confState() *pb.ConfState {
	return &pb.ConfState{Voters: slices.Clone(m.Voters), Learners: slices.Clone(m.Learners),
		VotersOutgoing: slices.Clone(m.VotersOutgoing), LearnersNext: slices.Clone(m.LearnersNext),
		AutoLeave: new(m.AutoLeave)}
}

func membershipOf(cs *pb.ConfState) Membership {
	if cs == nil {
		return Membership{}
	}
	return Membership{Voters: slices.Clone(cs.GetVoters()), Learners: slices.Clone(cs.GetLearners()),
		VotersOutgoing: slices.Clone(cs.GetVotersOutgoing()), LearnersNext: slices.Clone(cs.GetLearnersNext()),
		AutoLeave: cs.GetAutoLeave()}
}

// ErrBadMembership is returned by UnmarshalMembership for bytes Marshal did not write.
var ErrBadMembership = errors.New("quorum: malformed membership")

// Marshal encodes m for a snapshot header:
//
//	| version u8 (1) | auto-leave u8 | 4 x ( count u32 | id u64 ... ) |   voters, learners, outgoing, next
func (m Membership) Marshal() []byte {
	b := []byte{1, 0}
	if m.AutoLeave {
		b[1] = 1
	}
	for _, ids := range [][]uint64{m.Voters, m.Learners, m.VotersOutgoing, m.LearnersNext} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
		for _, id := range ids {
			b = binary.BigEndian.AppendUint64(b, id)
		}
	}
	return b
}

// UnmarshalMembership decodes what Marshal wrote. An empty b is the empty membership.
func UnmarshalMembership(b []byte) (Membership, error) {
	var m Membership
	if len(b) == 0 {
		return m, nil
	}
	if len(b) < 2 || b[0] != 1 {
		return m, fmt.Errorf("%w: version %d", ErrBadMembership, b[0])
	}
	m.AutoLeave = b[1] == 1
	b = b[2:]
	for _, dst := range []*[]uint64{&m.Voters, &m.Learners, &m.VotersOutgoing, &m.LearnersNext} {
		if len(b) < 4 {
			return Membership{}, fmt.Errorf("%w: truncated", ErrBadMembership)
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n)*8 > uint64(len(b)) {
			return Membership{}, fmt.Errorf("%w: %d ids in %d bytes", ErrBadMembership, n, len(b))
		}
		for i := uint32(0); i < n; i++ {
			*dst = append(*dst, binary.BigEndian.Uint64(b))
			b = b[8:]
		}
	}
	if len(b) != 0 {
		return Membership{}, fmt.Errorf("%w: %d trailing bytes", ErrBadMembership, len(b))
	}
	return m, nil
}

// SnapshotMeta is the raft position of a snapshot: the last entry it reflects and
// the membership as of that entry.
type SnapshotMeta struct {
	Index, Term uint64
	Membership  Membership
}
