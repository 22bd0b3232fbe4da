package txnlog

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"zkd/internal/vfs"
)

// Entry is one raft log entry. Data is opaque to the log.
type Entry struct {
	Index, Term uint64
	Data        []byte
}

// HardState is raft's persistent state: current term, vote, and commit index.
type HardState struct {
	Term, Vote, Commit uint64
}

// Options configure a Log. The zero value means the defaults.
type Options struct {
	// SegmentSize is the size each segment file is preallocated to; a Save that does
	// not fit in what is left of the current segment opens the next one. A batch
	// larger than a whole segment grows its segment past this size. Default 64 MiB,
	// ZooKeeper's preAllocSize.
	SegmentSize int64
	// CacheSize bounds the bytes of entry data kept in memory for Entries, newest
	// first; older entries are read back from their segments. Default 8 MiB;
	// negative disables the cache.
	CacheSize int64
	// NoSync skips every fdatasync and directory fsync. For tests and benchmarks
	// only: a crash may then lose acknowledged entries or leave a log Open refuses.
	NoSync bool
	// SnapshotIndex is the index of the newest snapshot the caller restores with
	// this log (0: none). Open then skips, with a warning naming the files, damaged
	// or missing segments that lie wholly at or below it: the restart needs none of
	// their entries, as ZooKeeper ignores logs older than its snapshot. Damage to a
	// segment holding any entry above it still stops Open. A log that ends below it
	// has lost its newest segment, which Open reports naming that segment.
	SnapshotIndex uint64
	// SkipBelowSnapshot makes Open leave unread the segments that hold only
	// entries at or below SnapshotIndex (the caller has a snapshot it has already
	// loaded, so a restart need not read the whole log history): their entries are
	// not served, as if compacted, and Compact deletes their files once its index
	// covers them.
	SkipBelowSnapshot bool
	// prepareInline makes a roll prepare the next segment itself instead of
	// taking one prepared in the background, so that a test's FS operations come
	// in the same order on every run.
	prepareInline bool
	// Logger receives recovery and failure reports. Default slog.Default().
	Logger *slog.Logger
}

// Defaults and limits of Options.
const (
	DefaultSegmentSize = 64 << 20
	DefaultCacheSize   = 8 << 20
	// MinSegmentSize leaves room for a segment header and a few small records.
	MinSegmentSize = 256
	// MaxSegmentSize keeps a segment readable in one piece at Open.
	MaxSegmentSize = 1 << 32
)

// maxKeptBuffer is the largest encoding buffer Save keeps for the next call; a
// bigger batch's buffer is left to the garbage collector (STYLE rule 29).
const maxKeptBuffer = 4 << 20

// DefaultOptions returns the options Open uses for zero fields.
func DefaultOptions() Options {
	return Options{SegmentSize: DefaultSegmentSize, CacheSize: DefaultCacheSize, Logger: slog.Default()}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.SegmentSize == 0 {
		o.SegmentSize = d.SegmentSize
	}
	if o.CacheSize == 0 {
		o.CacheSize = d.CacheSize
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	return o
}

// Validate reports options Open would refuse; zero fields stand for their defaults.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.SegmentSize < MinSegmentSize || o.SegmentSize > MaxSegmentSize {
		return fmt.Errorf("txnlog: SegmentSize %d outside [%d, %d]", o.SegmentSize, MinSegmentSize, int64(MaxSegmentSize))
	}
	return nil
}

var (
	// ErrCorrupt is returned by Open when a record before the torn tail fails its
	// checksum or breaks the log's structure, and by Entries when a record read
	// back does. The error is a *CorruptError naming the file and offset.
	ErrCorrupt = errors.New("txnlog: corrupt log")
	// ErrCompacted is returned by Entries and Term for an index below FirstIndex
	// (released by Compact, or before the first entry this log ever held).
	ErrCompacted = errors.New("txnlog: requested index is compacted")
	// ErrUnavailable is returned by Entries and Term for an index above LastIndex.
	ErrUnavailable = errors.New("txnlog: requested entry is not in the log")
	// ErrInvalid is returned by Save when the entries are not consecutive, start at
	// or below the compaction point, leave a gap after LastIndex, or one is larger
	// than MaxEntrySize, and by Entries when lo > hi. Nothing is written and the log
	// stays usable.
	ErrInvalid = errors.New("txnlog: invalid argument")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("txnlog: log is closed")
)

// CorruptError locates corruption. It unwraps to ErrCorrupt.
type CorruptError struct {
	Path   string // the segment file
	Offset int64  // of the record that is wrong
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("txnlog: corrupt log: %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Log is a segmented write-ahead log of raft entries and HardState. See doc.go.
type Log struct {
	fs   vfs.FS       // immutable
	dir  string       // immutable
	opts Options      // immutable; defaults filled in
	log  *slog.Logger // immutable

	// w belongs to the writer: the one goroutine that calls Save, Compact and Close.
	w struct {
		seg *segment // the active segment, == mu.segs[len(mu.segs)-1]; Save appends here
		// off is where the next batch goes in seg. Invariant: seg[:off] is synced
		// (unless NoSync) and ends with a complete batch; seg[off:] is zero.
		off   int64
		batch uint32 // number of the last batch written; the next one is batch+1
		buf   []byte // Save's encoding buffer, reused up to maxKeptBuffer
		offs  []int  // Save's scratch
		// err is the first write, sync or remove failure. It is sticky: Save and
		// Compact return it from then on, because after a failed fdatasync the
		// kernel may have dropped the data while the file looks fine.
		err error
		// preparedC delivers the next segment, prepared in the background since the
		// last roll; nil when none is under way. Buffered 1, so the preparer never
		// waits for the writer.
		preparedC <-chan preparedSegment
		// stale are the files of segments Open skipped (below the snapshot, damaged
		// or cut off by a missing one); the next Compact deletes them.
		stale []string
		// unread are the healthy segments Open left unread below the snapshot
		// (SkipBelowSnapshot), oldest first; Compact deletes those it covers.
		unread []unreadSegment
	}

	// prealloc counts failures to prepare the next segment (a full disk, most
	// often); perr is the last one, nil once a preparation succeeds again.
	prealloc atomic.Uint64
	perr     atomic.Pointer[error]

	// mu guards what Entries, Term, FirstIndex, LastIndex and HardState read. Only
	// the writer changes it, under mu.Lock, after the change is durable, so the
	// writer may read it without the lock, and readers never see an entry that is
	// not yet synced.
	mu struct {
		sync.RWMutex
		closed bool
		hs     HardState
		x      index
		segs   []*segment // oldest first; seqs consecutive; each holds one ref for the Log
	}
}

// Open opens the log in dir, creating dir and an empty log if there is none, and
// replays it: it truncates a torn tail (a partial or checksum-failing last batch,
// or one cut short by a crash) and refuses, with a *CorruptError, a log that is
// damaged before its tail. Everything Open returns is durable.
func Open(fsys vfs.FS, dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	l := &Log{fs: fsys, dir: dir, opts: opts, log: opts.Logger.With("component", "txnlog", "dir", dir)}
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("txnlog: create directory: %w", err)
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("txnlog: list directory: %w", err)
	}
	var seqs []uint64
	var tmps []string
	byseq := map[uint64]string{}
	maxTmp := uint64(0) // the highest seq of a .tmp segment
	for _, name := range names {
		if base, ok := strings.CutSuffix(name, tmpSuffix); ok {
			if seq, ok := parseSegmentName(base); ok {
				tmps = append(tmps, name)
				maxTmp = max(maxTmp, seq)
			}
			continue
		}
		if seq, ok := parseSegmentName(name); ok {
			if other, dup := byseq[seq]; dup {
				return nil, &CorruptError{Path: filepath.Join(dir, name), Reason: "segment number also used by " + other}
			}
			byseq[seq] = name
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	if n := len(seqs); n > 0 && maxTmp > seqs[n-1]+1 {
		// The next segment is prepared right after each roll: a prepared one two
		// or more past the last means the segments in between existed.
		return nil, l.missingNewest(seqs[n-1], fmt.Sprintf("segment %d was being prepared, so segments %d to %d existed",
			maxTmp, seqs[n-1]+1, maxTmp-1))
	}
	// A segment that never got its name: Save never wrote to it.
	for _, name := range tmps {
		if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("txnlog: remove unfinished segment: %w", err)
		}
	}
	if len(tmps) > 0 {
		if err := l.syncDir(); err != nil {
			return nil, err
		}
	}
	if len(seqs) == 0 {
		if err := l.create(); err != nil {
			return nil, err
		}
		return l, nil
	}
	paths := make([]string, len(seqs))
	hints := make([]uint64, len(seqs))
	for i, s := range seqs {
		paths[i] = filepath.Join(dir, byseq[s])
		hints[i], _ = segmentIndexHint(byseq[s])
	}
	start := 0 // segments before start are skipped
	for i := 1; i < len(seqs); i++ {
		if seqs[i] == seqs[i-1]+1 {
			continue
		}
		err := &CorruptError{Path: paths[i], Reason: fmt.Sprintf("segments %d to %d are missing", seqs[i-1]+1, seqs[i]-1)}
		if !l.belowSnapshot(hints[i]) {
			return nil, err
		}
		l.log.Warn("txnlog: segments below the newest snapshot are missing",
			"segments", filepath.Join(dir, fmt.Sprintf("%016x-*%s", seqs[i-1]+1, segmentSuffix)),
			"to", filepath.Join(dir, fmt.Sprintf("%016x-*%s", seqs[i]-1, segmentSuffix)),
			"snapshot_index", l.opts.SnapshotIndex)
		l.skip(paths[start:i], err)
		start = i
	}
	if l.opts.SkipBelowSnapshot {
		k := start
		for i := start + 1; i < len(seqs); i++ {
			if l.belowSnapshot(hints[i]) {
				k = i
			}
		}
		for i := start; i < k; i++ {
			l.w.unread = append(l.w.unread, unreadSegment{path: paths[i], last: hints[i+1] - 1})
		}
		if k > start {
			l.log.Info("txnlog: segments below the snapshot are not read", "segments", k-start,
				"through_index", hints[k]-1, "snapshot_index", l.opts.SnapshotIndex)
		}
		start = k
	}
	for {
		failed, err := l.replay(seqs[start:], paths[start:], start > 0, hints[start])
		if err == nil {
			break
		}
		next := start + failed + 1
		if failed < 0 || next >= len(seqs) || !l.belowSnapshot(hints[next]) {
			return nil, err
		}
		l.skip(paths[start:next], err)
		start = next
	}
	return l, nil
}

// belowSnapshot reports whether every entry the segments before one named with
// index hint still hold is covered by Options.SnapshotIndex (see segmentIndexHint).
func (l *Log) belowSnapshot(hint uint64) bool {
	return l.opts.SnapshotIndex > 0 && hint > 0 && hint <= l.opts.SnapshotIndex+1
}

// skip records that Open leaves out the segments at paths, all wholly below the
// snapshot, because of err; Compact deletes them later. Open only.
func (l *Log) skip(paths []string, err error) {
	for _, p := range paths {
		l.log.Warn("txnlog: skipping a segment below the newest snapshot", "segment", p,
			"snapshot_index", l.opts.SnapshotIndex, "reason", err)
	}
	l.w.stale = append(l.w.stale, paths...)
}

// missingNewest is the error for a log whose segment after seq is missing.
func (l *Log) missingNewest(seq uint64, why string) error {
	return &CorruptError{Path: filepath.Join(l.dir, fmt.Sprintf("%016x-*%s", seq+1, segmentSuffix)),
		Reason: "missing: the log's newest segment is gone (" + why + ")"}
}

// create starts an empty log.
func (l *Log) create() error {
	p, err := l.prepareSegment(1)
	if err != nil {
		return err
	}
	seg, err := l.installSegment(p, 1, segmentHeader{seq: 1}, 1)
	if err != nil {
		return err
	}
	// The log directory itself may be new: make its name durable too.
	if !l.opts.NoSync {
		if err := l.fs.SyncDir(filepath.Dir(l.dir)); err != nil {
			_ = seg.unref()
			return fmt.Errorf("txnlog: fsync parent of %s: %w", l.dir, err)
		}
	}
	l.mu.segs = []*segment{seg}
	l.w.seg, l.w.off, l.w.batch = seg, segmentHdrFrame, 1
	l.startPrepare()
	l.log.Info("txnlog: created", "segment", seg.path)
	return nil
}

func (l *Log) syncDir() error {
	if l.opts.NoSync {
		return nil
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("txnlog: fsync directory: %w", err)
	}
	return nil
}

// fail makes err sticky. Writer only.
func (l *Log) fail(err error) error {
	l.w.err = err
	l.log.Error("txnlog: write failed; the log refuses further writes", "err", err)
	return err
}

// writable returns why the writer may not write now.
func (l *Log) writable() error {
	if l.w.err != nil {
		return l.w.err
	}
	if l.mu.closed {
		return ErrClosed
	}
	return nil
}

// HardState returns the last HardState saved (zero for a new log).
func (l *Log) HardState() HardState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.hs
}

// FirstIndex returns the index of the first retained entry, or 0 if there is none.
func (l *Log) FirstIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.x.empty() {
		return 0
	}
	return l.mu.x.first
}

// LastIndex returns the index of the last entry, or 0 if there is none.
func (l *Log) LastIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.x.empty() {
		return 0
	}
	return l.mu.x.last()
}

// Term returns the term of entry i.
func (l *Log) Term(i uint64) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	x := &l.mu.x
	switch {
	case l.mu.closed:
		return 0, ErrClosed
	case i <= x.compact || (!x.empty() && i < x.first):
		return 0, ErrCompacted
	case x.empty() || i > x.last():
		return 0, ErrUnavailable
	}
	return x.pos(i).term, nil
}

// Save appends one raft Ready's worth: the HardState (nil, or equal to the current
// one, means unchanged) and the entries, with one write and one fdatasync, and
// returns once they are durable. If ents[0].Index <= LastIndex, the entries from
// there on are replaced. Save of nothing new is free.
//
// On a write or sync failure Save returns the error, the entries are not
// acknowledged, and the log refuses every later Save and Compact with the same
// error; the caller must stop (DESIGN.md invariant 7). Reopening then yields the
// acknowledged entries and, possibly, the whole failed batch, never part of it.
//
// Save keeps the Data of the entries (not the slice ents) for its cache, as raft's
// MemoryStorage does: the caller must not modify them afterwards (raft never does).
// Writer only.
func (l *Log) Save(hs *HardState, ents []Entry) error {
	if err := l.writable(); err != nil {
		return err
	}
	var newHS *HardState
	if hs != nil && *hs != l.mu.hs {
		h := *hs
		newHS = &h
	}
	if newHS == nil && len(ents) == 0 {
		return nil
	}
	if err := l.validate(ents); err != nil {
		return err
	}
	size := batchSize(newHS, ents)
	hint := l.nextIndex()
	if len(ents) > 0 {
		hint = ents[0].Index
	}
	if err := l.maybeRoll(size, hint); err != nil {
		return err
	}
	buf := slices.Grow(l.w.buf[:0], size)
	offs := slices.Grow(l.w.offs[:0], len(ents))[:len(ents)]
	buf = appendBatch(buf, l.w.batch+1, newHS, ents, offs)
	seg := l.w.seg
	off, err := l.write(buf)
	if cap(buf) <= maxKeptBuffer {
		l.w.buf, l.w.offs = buf, offs
	}
	if err != nil {
		return err
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range ents {
		e := &ents[i]
		p := entryPos{seg: seg.seq, off: off + int64(offs[i]), size: uint32(frameSize(entryHeaderSize + len(e.Data))), term: e.Term}
		var data []byte
		if l.opts.CacheSize > 0 {
			data = e.Data[:len(e.Data):len(e.Data)]
			if data == nil {
				data = []byte{}
			}
		}
		l.mu.x.put(e.Index, p, data)
	}
	if newHS != nil {
		l.mu.hs = *newHS
	}
	l.mu.x.evict(max(l.opts.CacheSize, 0))
	return nil
}

// validate checks ents against the rules replay will apply.
func (l *Log) validate(ents []Entry) error {
	for i := range ents {
		if len(ents[i].Data) > MaxEntrySize {
			return fmt.Errorf("txnlog: entry %d has %d bytes, over %d: %w", ents[i].Index, len(ents[i].Data), MaxEntrySize, ErrInvalid)
		}
		if i > 0 && ents[i].Index != ents[i-1].Index+1 {
			return fmt.Errorf("txnlog: entry %d follows entry %d: %w", ents[i].Index, ents[i-1].Index, ErrInvalid)
		}
	}
	if len(ents) > 0 {
		if reason := l.mu.x.check(ents[0].Index); reason != "" {
			return fmt.Errorf("txnlog: %s: %w", reason, ErrInvalid)
		}
	}
	return nil
}

// nextIndex is the index the next entry would get without an overwrite. Writer only.
func (l *Log) nextIndex() uint64 {
	if l.mu.x.empty() {
		return l.mu.x.compact + 1
	}
	return l.mu.x.last() + 1
}

// maybeRoll opens the next segment when a batch of size bytes does not fit in what
// is left of the active one. An empty segment takes any batch. The next segment is
// normally ready, zero-filled in the background; the roll only names it. Writer only.
func (l *Log) maybeRoll(size int, indexHint uint64) error {
	if l.w.off <= segmentHdrFrame || l.w.off+int64(size) <= l.opts.SegmentSize {
		return nil
	}
	seq := l.w.seg.seq + 1
	p, err := l.nextPrepared(seq)
	if err != nil {
		return l.fail(err)
	}
	seg, err := l.installSegment(p, indexHint,
		segmentHeader{seq: seq, compact: l.mu.x.compact, hs: l.mu.hs}, l.w.batch+1)
	if err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	l.mu.segs = append(l.mu.segs, seg)
	l.mu.Unlock()
	l.w.seg, l.w.off = seg, segmentHdrFrame
	l.w.batch++
	l.startPrepare()
	return nil
}

// write appends one encoded batch to the active segment with one write and one
// fdatasync, and returns the offset it went to. Writer only.
func (l *Log) write(buf []byte) (int64, error) {
	seg, off := l.w.seg, l.w.off
	n, err := seg.f.WriteAt(buf, off)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return off, l.fail(fmt.Errorf("txnlog: write %s at offset %d: %w", seg.path, off, err))
	}
	if !l.opts.NoSync {
		if err := seg.f.Sync(); err != nil {
			return off, l.fail(fmt.Errorf("txnlog: fdatasync %s: %w", seg.path, err))
		}
	}
	l.w.off += int64(len(buf))
	l.w.batch++
	return off, nil
}

// Compact releases the entries <= index, after a snapshot has made them redundant:
// it durably records the new compaction point, then deletes, oldest first, every
// segment but the active one whose entries are all <= index. Entries and Term below
// the new FirstIndex return ErrCompacted, also after a reopen. An index beyond
// LastIndex empties the log, whose next entry must then be above index. An index at
// or below the current compaction point is a no-op. Errors are sticky, as for Save.
// Writer only.
func (l *Log) Compact(index uint64) error {
	if err := l.writable(); err != nil {
		return err
	}
	if index <= l.mu.x.compact {
		return nil
	}
	size := frameSize(compactSize)
	if err := l.maybeRoll(size, l.nextIndex()); err != nil {
		return err
	}
	// NB: the compaction point is durable before any segment goes. Were it the
	// other way round, a crash could leave a log whose first retained entry is
	// not FirstIndex, and a crash between two removals a gap Open calls corruption.
	buf := appendCompact(make([]byte, 0, size), l.w.batch+1, flagCommit, index)
	if _, err := l.write(buf); err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.x.compactTo(index)
	dead := l.detachReleasableLocked()
	l.mu.Unlock()
	if err := l.removeSegments(dead); err != nil {
		return err
	}
	if err := l.removeUnread(index); err != nil {
		return err
	}
	return l.removeStale()
}

// unreadSegment is a segment Open did not read, with the last index it may hold.
// Forget releases the memory of the entries <= index, which the log no longer
// serves (Entries and Term report them compacted), without writing or removing
// anything: a segment left holding none of the entries it still serves stays
// on disk, unread, until a Compact covers it. The caller forgets what a
// snapshot covers; compacting the files is autopurge's (ZooKeeper keeps its old
// logs until they are purged). Without this, the index of a log never purged
// grew by 32 bytes an entry for as long as the server ran. The last entry is
// never forgotten. Writer only.
func (l *Log) Forget(index uint64) error {
	if err := l.writable(); err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.x.forgetTo(index)
	forgotten := index // the highest entry a detached segment can hold
	if !l.mu.x.empty() {
		forgotten = min(index, l.mu.x.first-1)
	}
	dead := l.detachReleasableLocked()
	l.mu.Unlock()
	for _, s := range dead {
		// Every entry it holds is below the first one the log still serves.
		l.w.unread = append(l.w.unread, unreadSegment{path: s.path, last: forgotten})
		if err := s.unref(); err != nil {
			l.log.Warn("txnlog: close forgotten segment", "err", err)
		}
	}
	return nil
}

type unreadSegment struct {
	path string
	last uint64
}

// removeUnread deletes the unread segments whose entries are all <= index,
// oldest first. Writer only.
func (l *Log) removeUnread(index uint64) error {
	for len(l.w.unread) > 0 && l.w.unread[0].last <= index {
		if err := l.fs.Remove(l.w.unread[0].path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return l.fail(fmt.Errorf("txnlog: remove released segment: %w", err))
		}
		if err := l.syncDir(); err != nil {
			return l.fail(err)
		}
		l.log.Debug("txnlog: released segment", "segment", l.w.unread[0].path)
		l.w.unread = l.w.unread[1:]
	}
	return nil
}

// removeStale deletes the files of the segments Open skipped, oldest first. They
// hold no entry the log serves, and Compact is the caller's word that it can do
// without the entries below its index. Writer only.
func (l *Log) removeStale() error {
	for len(l.w.stale) > 0 {
		if err := l.fs.Remove(l.w.stale[0]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return l.fail(fmt.Errorf("txnlog: remove skipped segment: %w", err))
		}
		if err := l.syncDir(); err != nil {
			return l.fail(err)
		}
		l.log.Info("txnlog: removed skipped segment", "segment", l.w.stale[0])
		l.w.stale = l.w.stale[1:]
	}
	return nil
}

// detachReleasableLocked takes out of mu.segs the oldest segments that hold no
// retained entry, never the active one, and returns them. REQUIRES: l.mu held.
func (l *Log) detachReleasableLocked() []*segment {
	keep := len(l.mu.segs) - 1
	if !l.mu.x.empty() {
		// Entries are in (segment, offset) order, so every segment before the first
		// retained entry's holds none.
		keep = min(keep, int(l.mu.x.pos(l.mu.x.first).seg-l.mu.segs[0].seq))
	}
	if keep <= 0 {
		return nil
	}
	dead := slices.Clone(l.mu.segs[:keep])
	l.mu.segs = slices.Clone(l.mu.segs[keep:])
	return dead
}

// removeSegments deletes released segments oldest first, syncing the directory
// after each, so that a crash leaves the retained segments consecutive.
func (l *Log) removeSegments(dead []*segment) error {
	var err error
	for _, s := range dead {
		if err == nil {
			err = l.removeSegment(s)
		}
		if cerr := s.unref(); cerr != nil {
			l.log.Warn("txnlog: close released segment", "err", cerr)
		}
	}
	return err
}

func (l *Log) removeSegment(s *segment) error {
	if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.fail(fmt.Errorf("txnlog: remove released segment: %w", err))
	}
	if err := l.syncDir(); err != nil {
		return l.fail(err)
	}
	l.log.Debug("txnlog: released segment", "segment", s.path)
	return nil
}

// Entries returns the entries in [lo, hi), from the cache or read back from their
// segments (every frame's checksum verified). The result and its Data are the
// caller's, but Data may be shared with the log's cache and other callers: read
// only. It returns ErrCompacted if lo < FirstIndex and ErrUnavailable if
// hi > LastIndex+1. Safe to call concurrently with Save and Compact: it sees the
// log as of some point between them, and never an entry that is not yet durable.
// It reads without holding the log's lock; a segment Compact releases meanwhile
// stays readable until the read is done.
func (l *Log) Entries(lo, hi uint64) ([]Entry, error) {
	if lo > hi {
		return nil, fmt.Errorf("txnlog: entries [%d, %d): %w", lo, hi, ErrInvalid)
	}
	l.mu.RLock()
	x := &l.mu.x
	switch {
	case l.mu.closed:
		l.mu.RUnlock()
		return nil, ErrClosed
	case lo <= x.compact || (!x.empty() && lo < x.first):
		l.mu.RUnlock()
		return nil, ErrCompacted
	case lo == hi:
		l.mu.RUnlock()
		return nil, nil
	case x.empty() || hi > x.last()+1:
		l.mu.RUnlock()
		return nil, ErrUnavailable
	}
	out := make([]Entry, hi-lo)
	var runs []run // uncached entries, by segment
	for i := lo; i < hi; i++ {
		p := x.pos(i)
		if data := x.cachedData(i); data != nil {
			out[i-lo] = Entry{Index: i, Term: p.term, Data: data}
			continue
		}
		if n := len(runs); n > 0 && runs[n-1].seg.seq == p.seg && runs[n-1].lo+uint64(len(runs[n-1].pos)) == i {
			runs[n-1].pos = append(runs[n-1].pos, p)
			continue
		}
		seg := l.mu.segs[p.seg-l.mu.segs[0].seq]
		seg.ref()
		// A run most often reaches hi: size it for that once, not by appends.
		runs = append(runs, run{seg: seg, lo: i, pos: append(make([]entryPos, 0, hi-i), p)})
	}
	l.mu.RUnlock()

	var err error
	for _, r := range runs {
		if err == nil {
			err = r.read(out[r.lo-lo:])
		}
		if uerr := r.seg.unref(); uerr != nil {
			l.log.Warn("txnlog: close released segment", "err", uerr)
		}
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// run is a stretch of consecutive uncached entries in one segment, read with one
// ReadAt. The caller holds a reference to seg.
type run struct {
	seg *segment
	lo  uint64 // index of pos[0]
	pos []entryPos
}

// read fills out with the run's entries; their Data share the one buffer read.
func (r *run) read(out []Entry) error {
	first, last := r.pos[0], r.pos[len(r.pos)-1]
	start, end := first.off, last.off+int64(last.size)
	buf := make([]byte, end-start)
	if n, err := r.seg.f.ReadAt(buf, start); n != len(buf) {
		return fmt.Errorf("txnlog: read %s at offset %d: %w", r.seg.path, start, cmp.Or(err, io.ErrUnexpectedEOF))
	}
	for k, p := range r.pos {
		i := r.lo + uint64(k)
		fr, reason, _ := decodeFrame(buf[:p.off-start+int64(p.size)], int(p.off-start))
		if reason == "" && fr.typ != recEntry {
			reason = fmt.Sprintf("record type %d where entry %d should be", fr.typ, i)
		}
		if reason == "" {
			if e := fr.entry(); e.Index != i || e.Term != p.term {
				reason = fmt.Sprintf("entry %d term %d where entry %d term %d should be", e.Index, e.Term, i, p.term)
			} else {
				out[k] = e
				continue
			}
		}
		return &CorruptError{Path: r.seg.path, Offset: p.off, Reason: reason}
	}
	return nil
}

// Close releases the log's files. Reads in flight finish first. Later calls of
// any method return ErrClosed; Close itself is idempotent. Writer only.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closed = true
	l.mu.Unlock()
	l.discardPrepared()
	l.mu.Lock()
	segs := l.mu.segs
	l.mu.segs, l.mu.x = nil, index{}
	l.mu.Unlock()
	var err error
	for _, s := range segs {
		err = cmp.Or(err, s.unref())
	}
	return err
}
