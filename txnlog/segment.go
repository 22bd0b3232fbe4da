package txnlog

import (
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"zkd/internal/vfs"
)

// A segment file is named <seq>-<index>.log, both 16 hex digits: seq numbers the
// segments of a log from 1 with no gaps, index is the next entry index expected
// when it was created (for people: replay trusts only the contents). A segment is
// prepared as <seq>-0000000000000000.log.tmp and renamed into place once its
// header is durable.
const (
	segmentSuffix = ".log"
	tmpSuffix     = ".tmp"
)

func segmentName(seq, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, index, segmentSuffix)
}

// parseSegmentName returns the seq of a segment file name.
func parseSegmentName(name string) (seq uint64, ok bool) {
	base, found := strings.CutSuffix(name, segmentSuffix)
	if !found || len(base) != 33 || base[16] != '-' {
		return 0, false
	}
	seq, err := strconv.ParseUint(base[:16], 16, 64)
	if err != nil {
		return 0, false
	}
	if _, err := strconv.ParseUint(base[17:], 16, 64); err != nil {
		return 0, false
	}
	return seq, seq != 0
}

// segmentIndexHint returns the index part of a segment file name: the entry index
// the log expected next when the segment was created. Every entry still live in
// the segments before it is below that index (the first entry written to the
// segment either followed them or replaced them from its index on), which is how
// Open tells that older segments lie wholly below a snapshot.
func segmentIndexHint(name string) (uint64, bool) {
	if _, ok := parseSegmentName(name); !ok {
		return 0, false
	}
	i, err := strconv.ParseUint(name[17:33], 16, 64)
	return i, err == nil
}

// segment is one open segment file.
type segment struct {
	seq  uint64   // immutable
	path string   // immutable; dir/name
	f    vfs.File // immutable; read-write for the active segment, read-only otherwise
	// refs counts the users of f: the Log while the segment is in Log.mu.segs, plus
	// every Entries call reading it. Whoever drops it to zero closes f, so that a
	// segment released by Compact or Close stays readable for reads in flight.
	refs atomic.Int32
}

func newSegment(seq uint64, path string, f vfs.File) *segment {
	s := &segment{seq: seq, path: path, f: f}
	s.refs.Store(1)
	return s
}

// ref takes a reference for a reader. REQUIRES: the caller holds Log.mu (read or
// write) and s is in Log.mu.segs, so the count is at least one.
func (s *segment) ref() { s.refs.Add(1) }

// unref drops a reference and closes the file with the last one.
func (s *segment) unref() error {
	if s.refs.Add(-1) == 0 {
		if err := s.f.Close(); err != nil {
			return fmt.Errorf("txnlog: close %s: %w", s.path, err)
		}
	}
	return nil
}

// zeroChunk is what prepareSegment and the torn-tail wipe write zeros from; it is
// never written to.
var zeroChunk = make([]byte, 256<<10)

// prepareSyncEvery is how many bytes of a segment's zero-fill are synced at once.
const prepareSyncEvery = 1 << 20

// preparedSegment is a segment file ready to become the next segment: allocated,
// zero-filled and synced, under its temporary name.
type preparedSegment struct {
	f   vfs.File
	tmp string
	seq uint64
	err error
}

// prepareSegment creates the file for segment seq under a temporary name, allocates
// Options.SegmentSize bytes, writes zeros over them and syncs.
//
// NB: zeros are written, not just allocated. fallocate leaves "unwritten" extents,
// and the first fdatasync after each write into one must commit a journal
// transaction to convert it; over written zeros an fdatasync flushes only data
// (PostgreSQL's wal_init_zero, for the same reason). It doubles the bytes the log
// writes to the disk: off the write path, not off the disk's bandwidth.
func (l *Log) prepareSegment(seq uint64) (preparedSegment, error) {
	tmp := filepath.Join(l.dir, segmentName(seq, 0)+tmpSuffix)
	f, err := l.fs.Create(tmp)
	if err != nil {
		return preparedSegment{}, fmt.Errorf("txnlog: create segment: %w", err)
	}
	fail := func(format string, err error) (preparedSegment, error) {
		_ = f.Close()
		// Give back what the zero-fill took: the disk is likely full. (Should the
		// remove fail, Open deletes the .tmp file.)
		_ = l.fs.Remove(tmp)
		return preparedSegment{}, fmt.Errorf(format, tmp, err)
	}
	if err := f.Preallocate(0, l.opts.SegmentSize); err != nil {
		return fail("txnlog: preallocate %s: %w", err)
	}
	// NB: synced a piece at a time. One fdatasync of 64 MiB of zeros holds the
	// disk for tens of ms, and every group commit of the active segment waits
	// behind it: setData's p99.9 under load was 32-54 ms with one sync per
	// segment and 23-25 ms with one per MiB (5 alternating runs each).
	for off := int64(0); off < l.opts.SegmentSize; off += prepareSyncEvery {
		if err := zeroFill(f, off, min(off+prepareSyncEvery, l.opts.SegmentSize)); err != nil {
			return fail("txnlog: zero-fill %s: %w", err)
		}
		if !l.opts.NoSync {
			if err := f.Sync(); err != nil {
				return fail("txnlog: fdatasync %s: %w", err)
			}
		}
	}
	return preparedSegment{f: f, tmp: tmp, seq: seq}, nil
}

// zeroFill writes zeros over [off, end) of f.
func zeroFill(f vfs.File, off, end int64) error {
	for off < end {
		n, err := f.WriteAt(zeroChunk[:min(int64(len(zeroChunk)), end-off)], off)
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// installSegment writes the header into a prepared segment, syncs it, renames it
// into place and syncs the directory.
//
// NB: the rename comes after the header is durable, so a segment that has a name
// always has a valid header: Open can then treat a bad header as corruption, not as
// a torn tail, and a crash before the rename leaves only a .tmp file to delete.
func (l *Log) installSegment(p preparedSegment, indexHint uint64, hdr segmentHeader, batch uint32) (*segment, error) {
	path := filepath.Join(l.dir, segmentName(p.seq, indexHint))
	fail := func(format string, err error) (*segment, error) {
		_ = p.f.Close()
		return nil, fmt.Errorf(format, p.tmp, err)
	}
	buf := appendSegmentHeader(make([]byte, 0, segmentHdrFrame), batch, &hdr)
	if n, err := p.f.WriteAt(buf, 0); err != nil || n != len(buf) {
		return fail("txnlog: write header of %s: %w", cmp.Or(err, io.ErrShortWrite))
	}
	if !l.opts.NoSync {
		if err := p.f.Sync(); err != nil {
			return fail("txnlog: fdatasync %s: %w", err)
		}
	}
	if err := l.fs.Rename(p.tmp, path); err != nil {
		return fail("txnlog: rename %s: %w", err)
	}
	if err := l.syncDir(); err != nil {
		_ = p.f.Close()
		return nil, err
	}
	return newSegment(p.seq, path, p.f), nil
}

// startPrepare starts preparing the segment after the active one in the
// background. Writer only.
func (l *Log) startPrepare() {
	if l.opts.prepareInline {
		return
	}
	preparedC := make(chan preparedSegment, 1)
	l.w.preparedC = preparedC
	seq := l.w.seg.seq + 1
	go func() {
		p, err := l.prepare(seq)
		p.seq, p.err = seq, err
		preparedC <- p
	}()
}

// prepare is prepareSegment, with failures reported as they happen: a warning
// and PreallocFailures. A full disk is then visible while the active segment
// still has room, not only once a write needs the next one.
func (l *Log) prepare(seq uint64) (preparedSegment, error) {
	p, err := l.prepareSegment(seq)
	if err != nil {
		l.prealloc.Add(1)
		l.perr.Store(&err)
		l.log.Warn("txnlog: cannot prepare the next segment; writes will fail once the active one is full unless space is freed",
			"segment", filepath.Join(l.dir, segmentName(seq, 0)+tmpSuffix), "err", err)
		return p, err
	}
	l.perr.Store(nil)
	return p, nil
}

// PreallocFailures returns how many times preparing the next segment has failed
// (a full disk, most often). Safe from any goroutine.
func (l *Log) PreallocFailures() uint64 { return l.prealloc.Load() }

// PreallocError returns the last failure to prepare the next segment, or nil if
// the last attempt succeeded: while it is set, the log cannot roll to a new
// segment. Safe from any goroutine.
func (l *Log) PreallocError() error {
	if p := l.perr.Load(); p != nil {
		return *p
	}
	return nil
}

// nextPrepared returns segment seq prepared, waiting for the background work or
// doing it now. A background preparation that failed is tried once more: the
// space may have been freed since. Writer only.
func (l *Log) nextPrepared(seq uint64) (preparedSegment, error) {
	if l.w.preparedC == nil {
		return l.prepare(seq)
	}
	p := <-l.w.preparedC
	l.w.preparedC = nil
	if p.err != nil {
		return l.prepare(seq)
	}
	if p.seq != seq {
		_ = p.f.Close()
		return l.prepare(seq)
	}
	return p, nil
}

// discardPrepared waits for background preparation and drops its result, leaving
// the .tmp file for the next Open to delete. Writer only.
func (l *Log) discardPrepared() {
	if l.w.preparedC == nil {
		return
	}
	if p := <-l.w.preparedC; p.err == nil {
		_ = p.f.Close()
	}
	l.w.preparedC = nil
}
