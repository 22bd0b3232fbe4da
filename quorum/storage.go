package quorum

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"zkd/txnlog"
)

// Raft entry data, as the log keeps it, starts with a kind byte for the entries
// raft writes itself; the entries of the layer above are stored as they are:
//
//	| kindConfChange | raftpb.ConfChange |
//	| kindConfChangeV2 | raftpb.ConfChangeV2 |
//	(empty)                                    raft's own no-op entries
//	| anything else ...                   |    a proposal, verbatim
//
// So a proposal must not begin with one of the kind bytes (Propose refuses it).
const (
	kindConfChange   byte = 1
	kindConfChangeV2 byte = 2
)

// ErrReservedKind is returned by Propose for data whose first byte is one the log
// reserves for raft's own entries.
var ErrReservedKind = errors.New("quorum: proposal starts with a reserved kind byte")

// IsRaftEntry reports whether logged entry data is raft's own (a conf change),
// not a proposal of the layer above.
func IsRaftEntry(data []byte) bool {
	return len(data) > 0 && (data[0] == kindConfChange || data[0] == kindConfChangeV2)
}

// toLog converts raft entries for the log. Proposals are stored without copying;
// only conf changes get a kind byte prepended.
func toLog(dst []txnlog.Entry, ents []*pb.Entry) []txnlog.Entry {
	for _, e := range ents {
		data := e.GetData()
		switch e.GetType() {
		case pb.EntryConfChange:
			data = append([]byte{kindConfChange}, data...)
		case pb.EntryConfChangeV2:
			data = append([]byte{kindConfChangeV2}, data...)
		}
		dst = append(dst, txnlog.Entry{Index: e.GetIndex(), Term: e.GetTerm(), Data: data})
	}
	return dst
}

// fromLog converts log entries back to raft entries; the data aliases the log's.
// The entries and their fields (pointers, in this raft's protobuf) are carved
// from a few arrays, not allocated one by one: raft asks for every committed
// entry here, and four allocations each were a twentieth of a write's garbage.
func fromLog(ents []txnlog.Entry) []*pb.Entry {
	out := make([]*pb.Entry, len(ents))
	backing := make([]pb.Entry, len(ents))
	nums := make([]uint64, 2*len(ents))
	types := make([]pb.EntryType, len(ents))
	for i, e := range ents {
		typ, data := pb.EntryNormal, e.Data
		if len(data) > 0 {
			switch data[0] {
			case kindConfChange:
				typ, data = pb.EntryConfChange, data[1:]
			case kindConfChangeV2:
				typ, data = pb.EntryConfChangeV2, data[1:]
			}
		}
		nums[2*i], nums[2*i+1], types[i] = e.Index, e.Term, typ
		p := &backing[i]
		p.Index, p.Term, p.Type, p.Data = &nums[2*i], &nums[2*i+1], &types[i], data
		out[i] = p
	}
	return out
}

// logStorage is raft.Storage served from the write-ahead log and the newest
// snapshot's metadata: the log is not copied into memory (txnlog caches recent
// entries itself). Raft calls it only from the raft goroutine, which is also the
// only writer of the log and of snap, so it needs no lock.
//
// Invariant: the log holds every entry in [FirstIndex, LastIndex], and the entry
// before FirstIndex is either the snapshot's own index or an entry the log still
// holds (the log may keep entries below the snapshot, for followers to catch up
// from without a snapshot).
type logStorage struct {
	log  *txnlog.Log
	snap SnapshotMeta
	// hs is the HardState raft starts from (InitialState); the log has the durable one.
	hs *pb.HardState
}

var _ raft.Storage = (*logStorage)(nil)

func (s *logStorage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	return s.hs, s.snap.Membership.confState(), nil
}

// logFirst is the first entry of the log that raft may read, or 0 if the log
// holds nothing above the snapshot.
func (s *logStorage) logFirst() uint64 {
	first, last := s.log.FirstIndex(), s.log.LastIndex()
	if first == 0 || last <= s.snap.Index && first > s.snap.Index {
		return 0
	}
	return first
}

func (s *logStorage) FirstIndex() (uint64, error) {
	first := s.logFirst()
	if first == 0 || first > s.snap.Index {
		return s.snap.Index + 1, nil
	}
	// The log reaches below the snapshot: raft can read from first+1 on and learn
	// the term of first from the log.
	return first + 1, nil
}

func (s *logStorage) LastIndex() (uint64, error) {
	return max(s.log.LastIndex(), s.snap.Index), nil
}

func (s *logStorage) Term(i uint64) (uint64, error) {
	if i == s.snap.Index {
		return s.snap.Term, nil
	}
	first, _ := s.FirstIndex()
	if i < first-1 {
		return 0, raft.ErrCompacted
	}
	t, err := s.log.Term(i)
	switch {
	case errors.Is(err, txnlog.ErrCompacted):
		return 0, raft.ErrCompacted
	case errors.Is(err, txnlog.ErrUnavailable):
		return 0, raft.ErrUnavailable
	}
	return t, err
}

func (s *logStorage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	first, _ := s.FirstIndex()
	if lo < first {
		return nil, raft.ErrCompacted
	}
	if last, _ := s.LastIndex(); hi > last+1 {
		return nil, fmt.Errorf("quorum: entries [%d, %d) beyond the last index %d: %w", lo, hi, last, raft.ErrUnavailable)
	}
	ents, err := s.log.Entries(lo, hi)
	switch {
	case errors.Is(err, txnlog.ErrCompacted):
		return nil, raft.ErrCompacted
	case errors.Is(err, txnlog.ErrUnavailable):
		return nil, raft.ErrUnavailable
	case err != nil:
		// A checksum failure reading back a durable entry: the disk lies.
		panic(fmt.Sprintf("FATAL: quorum: read log [%d, %d): %v", lo, hi, err))
	}
	var size uint64
	for i := range ents {
		size += uint64(len(ents[i].Data)) + 16
		if i > 0 && size > maxSize {
			ents = ents[:i]
			break
		}
	}
	return fromLog(ents), nil
}

func (s *logStorage) Snapshot() (*pb.Snapshot, error) {
	if s.snap.Index == 0 {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index: new(s.snap.Index), Term: new(s.snap.Term), ConfState: s.snap.Membership.confState(),
	}}, nil
}

// restoreHardState builds the HardState raft restarts from: the log's, with the
// commit index at least the snapshot's (a snapshot only holds committed entries,
// and the commit index is written lazily, see Node.persist) and at most the last
// entry held.
func (s *logStorage) restoreHardState() *pb.HardState {
	hs := s.log.HardState()
	last, _ := s.LastIndex()
	commit := min(max(hs.Commit, s.snap.Index), last)
	return &pb.HardState{Term: new(max(hs.Term, s.snap.Term)), Vote: new(hs.Vote), Commit: new(commit)}
}
