package quorum

import (
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"zkd/datatree"
	"zkd/snapshot"
	"zkd/txnlog"
)

// Raft entry data starts with a kind byte, which the log keeps as is:
//
//	| kindProposal | tag u64 | datatree.Txn |     a proposal of this package
//	| kindConfChange | raftpb.ConfChange |          (stored in the log only)
//	| kindConfChangeV2 | raftpb.ConfChangeV2 |
//	(empty)                                         raft's own no-op entries
const (
	kindProposal     byte = 0
	kindConfChange   byte = 1
	kindConfChangeV2 byte = 2
	proposalHeader        = 1 + 8
)

// toLog converts raft entries for the log. Proposals are stored without copying;
// only conf changes, which raft writes itself, get a kind byte prepended.
func toLog(ents []*pb.Entry) []txnlog.Entry {
	out := make([]txnlog.Entry, len(ents))
	for i, e := range ents {
		data := e.GetData()
		switch e.GetType() {
		case pb.EntryConfChange:
			data = append([]byte{kindConfChange}, data...)
		case pb.EntryConfChangeV2:
			data = append([]byte{kindConfChangeV2}, data...)
		}
		out[i] = txnlog.Entry{Index: e.GetIndex(), Term: e.GetTerm(), Data: data}
	}
	return out
}

// fromLog converts log entries back to raft entries.
func fromLog(ents []txnlog.Entry) []*pb.Entry {
	out := make([]*pb.Entry, len(ents))
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
		out[i] = &pb.Entry{Index: new(e.Index), Term: new(e.Term), Type: typ.Enum(), Data: data}
	}
	return out
}

// restore loads the raft storage from the restored snapshot and the log, and
// returns the index the state machine is at. A fresh node starts from a bootstrap
// snapshot at index 1 that makes it the only voter (no conf-change entries needed).
func (n *Node) restore() (uint64, error) {
	snapIndex, snapTerm := n.cfg.Restored.Index, n.cfg.Restored.Term
	if snapIndex == 0 {
		snapIndex, snapTerm = 1, 1
	}
	boot := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index: new(snapIndex), Term: new(snapTerm),
		ConfState: &pb.ConfState{Voters: []uint64{n.cfg.ID}},
	}}
	if err := n.storage.ApplySnapshot(boot); err != nil {
		return 0, fmt.Errorf("quorum: restore snapshot: %w", err)
	}
	l := n.cfg.Log
	if l == nil {
		return snapIndex, nil
	}
	first, last := max(l.FirstIndex(), snapIndex+1), l.LastIndex()
	if l.FirstIndex() > snapIndex+1 && last > 0 {
		return 0, fmt.Errorf("quorum: the log starts at index %d but the snapshot ends at %d: entries in between are missing",
			l.FirstIndex(), snapIndex)
	}
	if last >= first {
		ents, err := l.Entries(first, last+1)
		if err != nil {
			return 0, fmt.Errorf("quorum: read log [%d, %d]: %w", first, last, err)
		}
		if err := n.storage.Append(fromLog(ents)); err != nil {
			return 0, fmt.Errorf("quorum: restore log: %w", err)
		}
		n.cfg.Logger.Info("replaying the log after the snapshot", "from", first, "to", last, "entries", len(ents))
	}
	if hs := l.HardState(); hs.Term > 0 {
		commit := max(hs.Commit, snapIndex)
		if commit > max(last, snapIndex) {
			commit = max(last, snapIndex)
		}
		st := &pb.HardState{Term: new(max(hs.Term, snapTerm)), Vote: new(hs.Vote), Commit: new(commit)}
		if err := n.storage.SetHardState(st); err != nil {
			return 0, fmt.Errorf("quorum: restore hard state: %w", err)
		}
	}
	return snapIndex, nil
}

// persist makes a Ready's HardState and entries durable (one write, one
// fdatasync) before raft may count them: nothing is applied or acknowledged
// before its entry is on disk (DESIGN.md invariant 7).
func (n *Node) persist(rd raft.Ready) error {
	l := n.cfg.Log
	if l == nil {
		return nil
	}
	var hs *txnlog.HardState
	if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
		hs = &txnlog.HardState{Term: rd.HardState.GetTerm(), Vote: rd.HardState.GetVote(), Commit: rd.HardState.GetCommit()}
	}
	if hs == nil && len(rd.Entries) == 0 {
		return nil
	}
	start := time.Now()
	if err := l.Save(hs, toLog(rd.Entries)); err != nil {
		return err
	}
	if obs := n.cfg.SaveObserver; obs != nil {
		obs(len(rd.Entries), time.Since(start))
	}
	return nil
}

// fail stops the node after a log failure: no waiting proposal is acknowledged,
// later ones are refused, and Failed reports why.
func (n *Node) fail(err error) {
	err = fmt.Errorf("%w: %w", ErrLogFailed, err)
	n.failed = err
	n.cfg.Logger.Error("stopping writes: the write-ahead log failed", "err", err)
	for tag, done := range n.waiting {
		delete(n.waiting, tag)
		done(0, datatree.Result{}, err)
	}
	select {
	case n.failC <- err:
	default:
	}
}

// nextSnapDistance picks the next snapshot's triggers, randomised as ZooKeeper's
// SyncRequestProcessor does so that servers of an ensemble do not all snapshot
// at once. It also sets the size trigger.
func (n *Node) nextSnapDistance() uint64 {
	n.snap.bytes = 0
	if size := n.cfg.SnapSizeBytes; size > 1 {
		n.snap.nextBytes = size/2 + n.snap.rng.Int64N(size/2)
	}
	c := uint64(max(n.cfg.SnapCount, 2))
	return c/2 + n.snap.rng.Uint64N(c/2)
}

// maybeSnapshot starts a snapshot once enough entries have been applied since the
// last one. It runs on the apply goroutine between entries, where Freeze is O(1)
// in the tree size; the image is written in the background while applying goes on.
func (n *Node) maybeSnapshot(index, term uint64) {
	if n.cfg.SnapshotDir == "" || n.snap.inFlight {
		return
	}
	bySize := n.snap.nextBytes > 0 && n.snap.bytes >= n.snap.nextBytes
	if index-n.snap.lastIndex < n.snap.nextAfter && !bySize {
		return
	}
	im, err := n.sm.Freeze()
	if err != nil {
		n.cfg.Logger.Warn("cannot take a snapshot", "err", err)
		return
	}
	n.snap.inFlight = true
	meta := snapshot.Meta{Index: index, Term: term, Voters: []uint64{n.cfg.ID}}
	fs, dir, log := n.cfg.FS, n.cfg.SnapshotDir, n.cfg.Logger
	go func() {
		start := time.Now()
		info, err := snapshot.Write(fs, dir, meta, im)
		im.Release()
		if err == nil {
			secs := time.Since(start).Seconds()
			log.Info("snapshot written", "file", info.Name, "zxid", fmt.Sprintf("0x%x", info.Index),
				"znodes", info.Nodes, "bytes", info.Size, "seconds", fmt.Sprintf("%.3f", secs),
				"mb_per_sec", fmt.Sprintf("%.1f", float64(info.Size)/1e6/max(secs, 1e-9)))
		}
		n.snap.doneC <- snapDone{info: info, err: err}
		n.wake()
	}()
}

func (n *Node) snapshotDone(d snapDone) {
	n.snap.inFlight = false
	if d.err != nil {
		// Not fatal: the log still holds everything; try again after as many entries.
		n.cfg.Logger.Warn("snapshot failed; the log keeps every entry meanwhile", "err", d.err)
		n.snap.lastIndex = n.applied.Load()
	} else {
		n.snap.lastIndex = d.info.Index
	}
	n.snap.nextAfter = n.nextSnapDistance()
}

// maybePurge applies autopurge: keep the newest SnapRetain snapshots and release
// the log below the oldest of them, so any kept snapshot can still be replayed
// forward.
func (n *Node) maybePurge() {
	if n.cfg.PurgeInterval <= 0 || n.cfg.SnapshotDir == "" || n.failed != nil ||
		time.Since(n.snap.lastPurge) < n.cfg.PurgeInterval {
		return
	}
	n.snap.lastPurge = time.Now()
	n.purge()
}

func (n *Node) purge() {
	oldest, err := snapshot.Purge(n.cfg.FS, n.cfg.SnapshotDir, n.cfg.SnapRetain)
	if err != nil {
		n.cfg.Logger.Warn("autopurge", "err", err)
		return
	}
	if oldest == 0 || n.cfg.Log == nil {
		return
	}
	if err := n.cfg.Log.Compact(oldest); err != nil {
		n.fail(err)
	}
}
