package txnlog

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"zkd/internal/vfs"
)

// replayer rebuilds a log's state from its segments, oldest first.
type replayer struct {
	x       index
	hs      HardState
	started bool   // a segment header has been applied
	batch   uint32 // number of the last complete batch
	first   uint64 // index of the first entry applied; 0 before one is
}

// pendFrame is a frame of a batch whose commit frame has not been read yet.
type pendFrame struct {
	frame
	off int
}

// segmentEnd is what replaying one segment found.
type segmentEnd struct {
	end   int64  // offset just past the last complete batch
	dirty int64  // offset just past the last non-zero byte after end, or 0
	torn  string // why the tail was cut, or ""
}

// replay reads every segment and installs what it finds. Only the last segment may
// end in a torn tail; Open wipes it, so the next batch lands on zeros. On failure
// it returns the position in paths of the segment found damaged or unreadable, or
// -1 when the failure is not one segment's. skipped says that Open left out the
// segments before paths[0], whose name says the log then expected entry hint.
func (l *Log) replay(seqs []uint64, paths []string, skipped bool, hint uint64) (failed int, err error) {
	var segs []*segment
	defer func() {
		if err != nil {
			for _, s := range segs {
				_ = s.unref()
			}
		}
	}()
	var r replayer
	var tail segmentEnd
	for i, path := range paths {
		last := i == len(paths)-1
		var f vfs.File
		if last {
			f, err = l.fs.OpenReadWrite(path)
		} else {
			f, err = l.fs.Open(path)
		}
		if err != nil {
			return i, fmt.Errorf("txnlog: open segment: %w", err)
		}
		seg := newSegment(seqs[i], path, f)
		segs = append(segs, seg)
		size, err := f.Size()
		if err != nil {
			return i, fmt.Errorf("txnlog: stat %s: %w", path, err)
		}
		buf, release, err := vfs.ReadAll(f, int(size))
		if err != nil {
			return i, fmt.Errorf("txnlog: read %s: %w", path, err)
		}
		// Nothing the replay keeps aliases buf: the index holds positions.
		tail, err = r.segment(seg, buf, last)
		release()
		if err != nil {
			return i, err
		}
	}
	if skipped && r.first > hint {
		// The first entry after the skipped segments must be at or below the index
		// the name promised, or the names cannot be trusted to say what was skipped.
		return -1, &CorruptError{Path: paths[0], Reason: fmt.Sprintf(
			"its first entry is %d but its name says %d: cannot tell what the skipped segments before it held", r.first, hint)}
	}
	end := r.x.compact
	if !r.x.empty() {
		end = max(end, r.x.last())
	}
	if snap := l.opts.SnapshotIndex; snap > end {
		// Every entry up to the snapshot was durable in this log before it was
		// applied, and Compact never passes it: the entries after end are gone.
		return -1, l.missingNewest(seqs[len(seqs)-1], fmt.Sprintf(
			"the log ends at entry %d in %s, before the newest snapshot's entry %d", end, paths[len(paths)-1], snap))
	}

	seg := segs[len(segs)-1]
	if tail.dirty > tail.end {
		// NB: wipe before anything is appended: leftover frames of the torn batch
		// past the next batch's end would carry a batch number that the next crash's
		// replay could take for durable data.
		if err := zeroFill(seg.f, tail.end, tail.dirty); err != nil {
			return -1, fmt.Errorf("txnlog: wipe torn tail of %s: %w", seg.path, err)
		}
	}
	if tail.torn != "" {
		l.log.Warn("txnlog: truncated torn tail", "segment", seg.path, "offset", tail.end, "reason", tail.torn)
	}
	// What we replayed may sit in the page cache only (a process crash after a
	// failed fdatasync, or a wipe): make it durable before raft acts on it.
	if !l.opts.NoSync {
		if err := seg.f.Sync(); err != nil {
			return -1, fmt.Errorf("txnlog: fdatasync %s: %w", seg.path, err)
		}
	}
	if err := l.syncDir(); err != nil {
		return -1, err
	}

	l.mu.hs, l.mu.x, l.mu.segs = r.hs, r.x, segs
	l.w.seg, l.w.off, l.w.batch = seg, tail.end, r.batch
	dead := l.detachReleasableLocked() // not shared yet: no lock needed
	if err := l.removeSegments(dead); err != nil {
		_ = l.Close()
		segs = nil
		return -1, err
	}
	l.startPrepare()
	l.log.Info("txnlog: opened", "segments", len(l.mu.segs), "first", l.FirstIndex(),
		"last", l.LastIndex(), "compacted", r.x.compact, "term", r.hs.Term, "commit", r.hs.Commit)
	return -1, nil
}

// segment replays one segment file held in buf.
func (r *replayer) segment(seg *segment, buf []byte, last bool) (segmentEnd, error) {
	var res segmentEnd
	corrupt := func(off int, format string, args ...any) error {
		return &CorruptError{Path: seg.path, Offset: int64(off), Reason: fmt.Sprintf(format, args...)}
	}
	var pend []pendFrame
	off, stop, why, clean := 0, -1, "", false
	for off < len(buf) {
		fr, reason, zero := decodeFrame(buf, off)
		if reason != "" {
			stop, why, clean = off, reason, zero && len(pend) == 0
			break
		}
		if reason := r.sequence(seg, &fr, off, pend); reason != "" {
			// A whole, valid frame in the wrong place is never a torn write.
			return res, corrupt(off, "%s", reason)
		}
		pend = append(pend, pendFrame{fr, off})
		off += fr.size
		if fr.flags&flagCommit != 0 {
			if err := r.apply(seg, pend); err != nil {
				return res, err
			}
			r.batch = fr.batch
			pend = pend[:0]
			res.end = int64(off)
		}
	}
	if stop < 0 {
		if len(pend) == 0 && res.end > 0 {
			return res, nil // the data fills the file exactly
		}
		stop, why = len(buf), "the last batch has no commit record"
		if len(buf) == 0 {
			why = "empty file"
		}
	}
	if res.end == 0 {
		// A segment gets its name only once its header is durable.
		return res, corrupt(0, "segment header: %s", why)
	}

	// dirty is just past the last non-zero byte. A frame's header is never all
	// zero, so no frame starts at or past it: finding it first (from the end)
	// spares findFrame the scan of a preallocated segment's tens of MiB of zeros.
	dirty := int(res.end) + lastNonZero(buf[res.end:])

	// Is stop the torn end of the last write, or damage in front of data that was
	// synced after it? Each batch is synced before the next is written, so a valid
	// frame of any other batch after stop proves the latter. Frames of the torn
	// batch itself can follow when writeback lost an earlier sector of it.
	torn := r.batch + 1
	if p, fr, ok := findFrame(buf, stop, dirty, func(fr *frame) bool { return !last || fr.batch != torn }); ok {
		return res, corrupt(stop, "%s; not a torn tail: a valid record of batch %d follows at offset %d", why, fr.batch, p)
	}
	if !last && !clean {
		return res, corrupt(stop, "%s, in a segment that is not the last", why)
	}
	if dirty > int(res.end) {
		res.dirty = int64(dirty)
	}
	switch {
	case !clean:
		res.torn = why
	case res.dirty > 0:
		res.torn = "stray bytes after the last record"
	}
	return res, nil
}

// sequence says why fr, at off after the frames pend of its unfinished batch,
// cannot be there, or returns "".
func (r *replayer) sequence(seg *segment, fr *frame, off int, pend []pendFrame) string {
	if off == 0 {
		if fr.typ != recSegment {
			return fmt.Sprintf("segment starts with record type %d, not a segment header", fr.typ)
		}
		h, reason := fr.segmentHeader()
		if reason != "" {
			return "segment header: " + reason
		}
		if h.seq != seg.seq {
			return fmt.Sprintf("segment header says segment %d, the file name %d", h.seq, seg.seq)
		}
		if r.started && fr.batch != r.batch+1 {
			return fmt.Sprintf("segment header is batch %d, but the previous segment ended with batch %d", fr.batch, r.batch)
		}
		return ""
	}
	if fr.typ == recSegment {
		return "segment header in the middle of a segment"
	}
	if len(pend) > 0 {
		if fr.batch != pend[0].batch {
			return fmt.Sprintf("batch %d continues with a record of batch %d", pend[0].batch, fr.batch)
		}
	} else if fr.batch != r.batch+1 {
		return fmt.Sprintf("batch %d follows batch %d", fr.batch, r.batch)
	}
	return ""
}

// apply applies one complete batch.
func (r *replayer) apply(seg *segment, pend []pendFrame) error {
	for i := range pend {
		fr := &pend[i]
		bad := func(format string, args ...any) error {
			return &CorruptError{Path: seg.path, Offset: int64(fr.off), Reason: fmt.Sprintf(format, args...)}
		}
		switch fr.typ {
		case recSegment:
			h, _ := fr.segmentHeader()
			if !r.started {
				r.started, r.hs, r.x.compact = true, h.hs, h.compact
				continue
			}
			if h.hs != r.hs || h.compact != r.x.compact {
				return bad("segment header (hard state %+v, compacted to %d) disagrees with the segments before it (%+v, %d)",
					h.hs, h.compact, r.hs, r.x.compact)
			}
		case recEntry:
			e := fr.entry()
			if reason := r.x.check(e.Index); reason != "" {
				return bad("%s", reason)
			}
			r.x.put(e.Index, entryPos{seg: seg.seq, off: int64(fr.off), size: uint32(fr.size), term: e.Term}, nil)
			if r.first == 0 {
				r.first = e.Index
			}
		case recHardState:
			r.hs = fr.hardState()
		case recCompact:
			r.x.compactTo(fr.compactIndex())
		case recReset:
			r.x.resetTo(fr.compactIndex())
		}
	}
	return nil
}

// findFrame returns the first valid frame starting in [from, before) (at frame
// alignment) for which match holds.
func findFrame(buf []byte, from, before int, match func(*frame) bool) (int, *frame, bool) {
	for p := align8(from); p < before && p+frameHeaderSize <= len(buf); p += frameAlign {
		if z := zeroPrefix(buf[p:]); z >= frameHeaderSize {
			// No frame starts where its header would be all zero: skip the run
			// (a preallocated segment's tail is tens of MiB of them).
			p += (z - frameHeaderSize) &^ (frameAlign - 1)
			continue
		}
		if fr, reason, _ := decodeFrame(buf, p); reason == "" && match(&fr) {
			return p, &fr, true
		}
	}
	return 0, nil, false
}

// zeroBlock is compared against whole blocks of a buffer: bytes.Equal is
// vectorised, a loop over words is not.
var zeroBlock [4096]byte

// zeroPrefix returns how many bytes at the start of b are zero.
func zeroPrefix(b []byte) int {
	n := 0
	for len(b) >= len(zeroBlock) && bytes.Equal(b[:len(zeroBlock)], zeroBlock[:]) {
		n, b = n+len(zeroBlock), b[len(zeroBlock):]
	}
	for len(b) >= 8 && binary.LittleEndian.Uint64(b) == 0 {
		n, b = n+8, b[8:]
	}
	for len(b) > 0 && b[0] == 0 {
		n, b = n+1, b[1:]
	}
	return n
}

// lastNonZero returns 1 + the position of the last non-zero byte of b, or 0.
func lastNonZero(b []byte) int {
	for len(b) >= len(zeroBlock) && bytes.Equal(b[len(b)-len(zeroBlock):], zeroBlock[:]) {
		b = b[:len(b)-len(zeroBlock)]
	}
	for len(b) >= 8 && binary.LittleEndian.Uint64(b[len(b)-8:]) == 0 {
		b = b[:len(b)-8]
	}
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return len(b)
}
