package replica

import (
	"context"
	"errors"
	"fmt"
	"io"

	"zkd/snapshot"
)

// ErrNoSnapshots is returned by SnapshotNow when the replica keeps no snapshots
// (no snapshot directory configured).
var ErrNoSnapshots = errors.New("replica: no snapshots kept")

// OpenedSnapshot is a snapshot file SnapshotNow took and opened for reading. The
// caller owns File and must close it; the file stays readable even if autopurge
// removes it meanwhile.
type OpenedSnapshot struct {
	Index uint64 // the zxid it reflects
	Size  int64
	File  io.ReadCloser
}

// snapWaiter is one SnapshotNow caller waiting for a snapshot at or above need.
type snapWaiter struct {
	need   uint64
	answer func(snapDone) // runs on the apply goroutine; must not block
}

// SnapshotNow writes a snapshot of this member's tree, as the schedule would,
// and opens it: what the AdminServer's snapshot command streams (ZooKeeper's
// takeSnapshot). It first syncs (a ReadIndex confirmed by the quorum, then a wait
// for apply), so the snapshot holds every write committed before the call, on
// whichever member it runs. The image is frozen on the apply goroutine between
// entries (O(sessions)) and written in the background like any scheduled
// snapshot, so applying goes on meanwhile; a snapshot already being written is
// used if it is recent enough, or followed by a new one. It fails with
// ErrNoLeader when the member knows no leader, ErrStopped when the replica
// stops first, or ctx's error.
func (r *Replica) SnapshotNow(ctx context.Context) (OpenedSnapshot, error) {
	if r.cfg.SnapshotDir == "" {
		return OpenedSnapshot{}, ErrNoSnapshots
	}
	synced := make(chan error, 1)
	if err := r.Sync(func(err error) { synced <- err }); err != nil {
		return OpenedSnapshot{}, err
	}
	select {
	case err := <-synced:
		if err != nil {
			return OpenedSnapshot{}, err
		}
	case <-ctx.Done():
		return OpenedSnapshot{}, ctx.Err()
	case <-r.doneC:
		return OpenedSnapshot{}, ErrStopped
	}
	// Everything committed at the sync is applied now; the snapshot must be at
	// least there.
	need := r.applied.Load()
	type result struct {
		snap OpenedSnapshot
		err  error
	}
	done := make(chan result, 1)
	answer := func(d snapDone) {
		if d.err != nil {
			done <- result{err: d.err}
			return
		}
		// Opened here, on the apply goroutine, before any later snapshot can
		// lead autopurge to remove this one.
		f, size, err := snapshot.Open(r.cfg.FS, r.cfg.SnapshotDir, d.info.Index)
		done <- result{snap: OpenedSnapshot{Index: d.info.Index, Size: size, File: f}, err: err}
	}
	r.enqueue(applyItem{call: func() { r.snapshotNow(snapWaiter{need: need, answer: answer}) }})
	select {
	case res := <-done:
		return res.snap, res.err
	case <-r.doneC:
		return OpenedSnapshot{}, ErrStopped
	case <-ctx.Done():
		// The answer still comes; close what it opens.
		go func() {
			select {
			case res := <-done:
				if res.snap.File != nil {
					res.snap.File.Close()
				}
			case <-r.doneC:
			}
		}()
		return OpenedSnapshot{}, ctx.Err()
	}
}

// snapshotNow runs on the apply goroutine: it queues w and starts a snapshot
// unless one is being written (snapshotDone then answers w, or starts the next).
func (r *Replica) snapshotNow(w snapWaiter) {
	r.snap.waiters = append(r.snap.waiters, w)
	if r.snap.inFlight {
		return
	}
	if err := r.startSnapshot(r.applied.Load(), r.appliedTerm); err != nil {
		r.failSnapshotWaiters(fmt.Errorf("replica: snapshot: %w", err))
	}
}

// answerSnapshotWaiters runs on the apply goroutine when a snapshot is done:
// waiters it satisfies get it (or its error); a waiter that needs a later index
// gets the next snapshot, started now.
func (r *Replica) answerSnapshotWaiters(d snapDone) {
	if len(r.snap.waiters) == 0 {
		return
	}
	waiting := r.snap.waiters
	r.snap.waiters = nil
	for _, w := range waiting {
		if d.err == nil && d.info.Index < w.need {
			r.snap.waiters = append(r.snap.waiters, w)
			continue
		}
		w.answer(d)
	}
	if len(r.snap.waiters) == 0 {
		return
	}
	if r.stopped.Load() {
		r.failSnapshotWaiters(ErrStopped)
		return
	}
	if err := r.startSnapshot(r.applied.Load(), r.appliedTerm); err != nil {
		r.failSnapshotWaiters(fmt.Errorf("replica: snapshot: %w", err))
	}
}

func (r *Replica) failSnapshotWaiters(err error) {
	waiting := r.snap.waiters
	r.snap.waiters = nil
	for _, w := range waiting {
		w.answer(snapDone{err: err})
	}
}
