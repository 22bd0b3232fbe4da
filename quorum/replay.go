package quorum

import (
	"fmt"

	"zkd/txnlog"
)

// replayBatch is how many entries Replay reads at once: large enough that a read
// costs little per entry, small enough that a batch's buffer (about 250 B an
// entry for small writes) is soon garbage.
const replayBatch = 4096

// Replay hands apply the entries that the log already knows to be committed
// after snap.Index, in index order and in batches, and returns the index of the
// last one handed over (snap.Index when there is none): the Config.Applied of
// the Start that must follow. It runs before Start, on the goroutine that owns
// the state machine, so a restart applies its log without raft's Ready loop
// (which would read the whole committed suffix into memory at once, and scan it
// a second time before a lone voter may campaign).
//
// Committed entries are final, so this is safe on any member. Replay stops before
// the first membership change, though: only raft can apply one, since its own
// configuration must change with it; Start then delivers that entry and the rest
// through Applier.Apply as it does any committed entry. The next batch is read
// and checked while apply works on this one; apply must not keep the slice.
func Replay(log *txnlog.Log, snap SnapshotMeta, apply func([]Entry)) (uint64, error) {
	hi := min(log.HardState().Commit, log.LastIndex())
	if hi <= snap.Index {
		return snap.Index, nil
	}
	if err := checkLogFollows(log, snap.Index); err != nil {
		return snap.Index, err
	}
	type batch struct {
		ents []txnlog.Entry
		err  error
	}
	batches := make(chan batch, 1)
	stop, readerDone := make(chan struct{}), make(chan struct{})
	// The reader is gone before Replay returns: the node that starts next reads
	// and writes the log on its own goroutine.
	defer func() {
		close(stop)
		<-readerDone
	}()
	go func() {
		defer close(readerDone)
		defer close(batches)
		for lo := snap.Index + 1; lo <= hi; lo += replayBatch {
			ents, err := log.Entries(lo, min(lo+replayBatch, hi+1))
			select {
			case batches <- batch{ents, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	applied := snap.Index
	var out []Entry
	for b := range batches {
		if b.err != nil {
			return applied, fmt.Errorf("quorum: replay after index %d: %w", applied, b.err)
		}
		out = out[:0]
		for _, e := range b.ents {
			if IsRaftEntry(e.Data) {
				break
			}
			out = append(out, Entry{Index: e.Index, Term: e.Term, Data: e.Data})
		}
		if len(out) > 0 {
			apply(out)
			applied = out[len(out)-1].Index
		}
		if len(out) < len(b.ents) {
			break // a membership change: raft's to apply
		}
	}
	return applied, nil
}

// checkLogFollows reports entries missing between a snapshot's index and the
// first entry the log holds.
func checkLogFollows(log *txnlog.Log, snapIndex uint64) error {
	if first := log.FirstIndex(); first > snapIndex+1 {
		return fmt.Errorf("quorum: the log starts at index %d but the snapshot ends at %d: entries in between are missing",
			first, snapIndex)
	}
	return nil
}
