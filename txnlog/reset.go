package txnlog

// Reset empties the log: every entry is dropped, below index or above it, and the
// next entry Save accepts is index+1. A member that installs a snapshot at index
// from its leader does this: its own entries either are in the snapshot or
// diverge from the leader's log, and raft's storage must then start right after
// the snapshot (as raft's MemoryStorage.ApplySnapshot does). The reset point is
// durable before any segment is deleted, and survives a reopen. Errors are
// sticky, as for Save. Writer only.
func (l *Log) Reset(index uint64) error {
	if err := l.writable(); err != nil {
		return err
	}
	size := frameSize(compactSize)
	if err := l.maybeRoll(size, index+1); err != nil {
		return err
	}
	buf := appendIndexRecord(make([]byte, 0, size), recReset, l.w.batch+1, flagCommit, index)
	if _, err := l.write(buf); err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.x.resetTo(index)
	dead := l.detachReleasableLocked()
	l.mu.Unlock()
	return l.removeSegments(dead)
}
