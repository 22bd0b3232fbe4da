package replica

import (
	"fmt"
	"io"
	"sync"

	"zkd/datatree"
	"zkd/quorum"
	"zkd/snapshot"
)

// received is a snapshot streamed from the leader and already decoded, waiting
// for raft to hand it to InstallSnapshot.
type received struct {
	mu    sync.Mutex
	index uint64         // guarded by mu
	tree  *datatree.Tree // guarded by mu
}

// OpenSnapshot opens this member's snapshot of index, to stream it to a member
// that is too far behind (the peer transport calls it for a MsgSnap).
func (r *Replica) OpenSnapshot(index uint64) (io.ReadCloser, int64, error) {
	if r.cfg.SnapshotDir == "" {
		return nil, 0, fmt.Errorf("replica: no snapshots kept")
	}
	return snapshot.Open(r.cfg.FS, r.cfg.SnapshotDir, index)
}

// ReceiveSnapshot stores the leader's snapshot of index streamed by the peer
// transport, checks it reads back whole, and keeps its tree for InstallSnapshot.
// The transport steps the leader's MsgSnap into raft only once this returns nil.
func (r *Replica) ReceiveSnapshot(index uint64, rd io.Reader) error {
	if r.cfg.SnapshotDir == "" {
		return fmt.Errorf("replica: no snapshot directory")
	}
	tree, _, err := snapshot.Receive(r.cfg.FS, r.cfg.SnapshotDir, index, rd, r.cfg.Tree)
	if err != nil {
		return err
	}
	r.received.mu.Lock()
	r.received.index, r.received.tree = index, tree
	r.received.mu.Unlock()
	r.log.Info("received the leader's snapshot", "zxid", fmt.Sprintf("0x%x", index), "znodes", tree.NodeCount())
	return nil
}

// InstallSnapshot implements quorum.Applier: the leader's snapshot replaces the
// state machine, in log order on the apply goroutine.
func (r *Replica) InstallSnapshot(meta quorum.SnapshotMeta) { r.enqueue(applyItem{install: &meta}) }

// install swaps the tree for the snapshot's. Clients of this member are told to
// reconnect: their watches were registered on the old tree, and a reconnecting
// client re-registers them with its last zxid, getting the events it missed
// (as when a ZooKeeper learner resynchronises from a SNAP).
func (r *Replica) install(meta quorum.SnapshotMeta) {
	r.received.mu.Lock()
	tree := r.received.tree
	if r.received.index != meta.Index {
		tree = nil
	}
	r.received.index, r.received.tree = 0, nil
	r.received.mu.Unlock()
	if tree == nil {
		var err error
		tree, _, err = snapshot.LoadIndex(r.cfg.FS, r.cfg.SnapshotDir, meta.Index, r.cfg.Tree)
		if err != nil {
			// raft has moved past the log this member had: without the snapshot
			// nothing can be applied; stop rather than serve a wrong state.
			panic(fmt.Sprintf("FATAL: replica: installing the leader's snapshot at %d: %v", meta.Index, err))
		}
	}
	r.setTree(tree)
	r.setMembership(meta.Membership)
	r.applied.Store(meta.Index)
	r.appliedTerm = meta.Term
	r.checkCaughtUp()
	r.snap.lastIndex, r.snap.bytes = meta.Index, 0
	r.tracker.demote()
	r.updateEnsemble()
	if r.IsLeader() {
		r.promoteTerm = max(r.promoteTerm, meta.Term)
	}
	r.log.Info("installed the leader's snapshot", "zxid", fmt.Sprintf("0x%x", meta.Index),
		"znodes", tree.NodeCount(), "sessions", len(tree.Sessions()))
	if l := r.listen(); l != nil {
		l.DisconnectClients("installed the leader's snapshot")
	}
	r.applyWaiters.fire(meta.Index)
}
