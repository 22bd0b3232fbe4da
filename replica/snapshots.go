package replica

import (
	"fmt"
	"math/rand/v2"
	"time"

	"zkd/quorum"
	"zkd/snapshot"
)

// snapState is the snapshot schedule; owned by the apply goroutine, except that
// the writer goroutine reports through doneC.
type snapState struct {
	lastIndex uint64 // index of the newest snapshot taken (or restored)
	nextAfter uint64 // entries after lastIndex that trigger the next one
	bytes     int64  // entry bytes applied since lastIndex
	nextBytes int64  // entry bytes that trigger the next one (0: never)
	inFlight  bool
	// force asks for a snapshot at the next entry whatever the schedule says:
	// servers were added, and raft can only send a server a snapshot whose
	// membership has it.
	force bool
	doneC chan snapDone
	rng   *rand.Rand
	// waiters are SnapshotNow's callers, answered by the first snapshot that
	// completes at or above the index each needs.
	waiters []snapWaiter
}

type snapDone struct {
	meta quorum.SnapshotMeta
	info snapshot.Info
	took time.Duration
	err  error
}

// nextSnapDistance picks the next snapshot's triggers, randomised as ZooKeeper's
// SyncRequestProcessor does so that members of an ensemble do not all snapshot
// at once.
func (r *Replica) nextSnapDistance() uint64 {
	r.snap.bytes = 0
	if size := r.cfg.SnapSizeBytes; size > 1 {
		r.snap.nextBytes = size/2 + r.snap.rng.Int64N(size/2)
	}
	c := uint64(max(r.cfg.SnapCount, 2))
	return c/2 + r.snap.rng.Uint64N(c/2)
}

// maybeSnapshot starts a snapshot once enough has been applied since the last
// one. It runs on the apply goroutine between entries, where Freeze is cheap; the
// image is written in the background while applying goes on. Entries replayed
// while Open starts the raft node wait for the next one: finishing a snapshot
// tells the node (snapshotDone), which must exist by then.
func (r *Replica) maybeSnapshot(index, term uint64) {
	// Not while Open replays the log: writing a snapshot then would take a core
	// from the replay (and copy-on-write work from every entry) and delay the
	// start; the first entry after it takes the snapshot that is due.
	if r.cfg.SnapshotDir == "" || r.snap.inFlight || !r.nodeSet.Load() || index <= r.liveFrom {
		return
	}
	bySize := r.snap.nextBytes > 0 && r.snap.bytes >= r.snap.nextBytes
	if index-r.snap.lastIndex < r.snap.nextAfter && !bySize && !r.snap.force {
		return
	}
	r.snap.force = false
	if err := r.startSnapshot(index, term); err != nil {
		r.log.Warn("cannot take a snapshot", "err", err)
	}
}

// startSnapshot freezes the tree at index (the last applied entry, of term) and
// writes it in the background; snapshotDone runs when it is written. It runs on
// the apply goroutine with no snapshot in flight.
func (r *Replica) startSnapshot(index, term uint64) error {
	im, err := r.Tree().Freeze()
	if err != nil {
		return err
	}
	r.snap.inFlight = true
	meta := quorum.SnapshotMeta{Index: index, Term: term, Membership: r.membership}
	fs, dir, log := r.cfg.FS, r.cfg.SnapshotDir, r.log
	write := func() snapDone {
		start := time.Now()
		info, err := snapshot.Write(fs, dir, snapshot.Meta{Index: index, Term: term, Membership: meta.Membership.Marshal()}, im)
		im.Release()
		if err == nil {
			secs := time.Since(start).Seconds()
			log.Info("snapshot written", "file", info.Name, "zxid", fmt.Sprintf("0x%x", info.Index),
				"znodes", info.Nodes, "bytes", info.Size, "seconds", fmt.Sprintf("%.3f", secs),
				"mb_per_sec", fmt.Sprintf("%.1f", float64(info.Size)/1e6/max(secs, 1e-9)))
		}
		return snapDone{meta: meta, info: info, took: time.Since(start), err: err}
	}
	if r.cfg.Manual {
		r.snapshotDone(write())
		return nil
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		r.snap.doneC <- write()
	}()
	return nil
}

func (r *Replica) snapshotDone(d snapDone) {
	r.snap.inFlight = false
	if d.err != nil {
		// Not fatal: the log still holds everything; try again after as many entries.
		r.log.Warn("snapshot failed; the log keeps every entry meanwhile", "err", d.err)
		r.snap.lastIndex = r.applied.Load()
	} else {
		r.snap.lastIndex = d.info.Index
		r.node.SnapshotSaved(d.meta)
		r.noteTiming("snapshottime", d.took.Milliseconds())
	}
	r.snap.nextAfter = r.nextSnapDistance()
	r.answerSnapshotWaiters(d)
	if r.snap.force && r.applied.Load() > r.snap.lastIndex {
		r.maybeSnapshot(r.applied.Load(), r.appliedTerm)
	}
}

// Purge runs autopurge now (it otherwise runs every PurgeInterval).
func (r *Replica) Purge() { r.purge() }

// purge applies autopurge: keep the newest SnapRetain snapshots and release the
// log below the oldest of them, so any kept snapshot can still be replayed forward.
func (r *Replica) purge() {
	if r.cfg.SnapshotDir == "" {
		return
	}
	oldest, err := snapshot.Purge(r.cfg.FS, r.cfg.SnapshotDir, r.cfg.SnapRetain)
	if err != nil {
		r.log.Warn("autopurge", "err", err)
		return
	}
	if oldest > 0 {
		r.node.Compact(oldest)
	}
}
