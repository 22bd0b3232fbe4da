package txnlog

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"zkd/internal/vfs"
)

// logBuffer collects a Log's output; the background preparer logs too.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// firstIndexOf returns the index a segment file's name says it starts at.
func firstIndexOf(t *testing.T, name string) uint64 {
	t.Helper()
	i, ok := segmentIndexHint(name)
	if !ok {
		t.Fatalf("%s is not a segment name", name)
	}
	return i
}

// damageSegment flips a byte in the middle of a segment's second frame.
func damageSegment(t *testing.T, fs *vfs.MemFS, name string) {
	t.Helper()
	path := segPath(name)
	offs := frameOffsets(t, readFile(t, fs, path))
	writeFileAt(t, fs, path, []byte{0x5a}, int64(offs[1]+40))
}

// truncateSegment cuts a segment file in the middle of its second frame.
func truncateSegment(t *testing.T, fs *vfs.MemFS, name string) {
	t.Helper()
	path := segPath(name)
	offs := frameOffsets(t, readFile(t, fs, path))
	f, err := fs.OpenReadWrite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(offs[1] + 20)); err != nil {
		t.Fatal(err)
	}
}

// A segment lying wholly below the newest snapshot is not needed to restart: if
// it is damaged or missing, Open warns naming it and goes on with everything
// after it, as ZooKeeper ignores logs older than its snapshot.
func TestDamageBelowTheSnapshotIsSkipped(t *testing.T) {
	named := func(i int) func([]string) string { return func(files []string) string { return files[i] } }
	cases := []struct {
		name   string
		harm   func(t *testing.T, fs *vfs.MemFS, files []string)
		report func(files []string) string // the file the warning must name
	}{
		{"damaged second segment", func(t *testing.T, fs *vfs.MemFS, files []string) { damageSegment(t, fs, files[1]) }, named(1)},
		{"damaged first segment", func(t *testing.T, fs *vfs.MemFS, files []string) { damageSegment(t, fs, files[0]) }, named(0)},
		{"truncated second segment", func(t *testing.T, fs *vfs.MemFS, files []string) { truncateSegment(t, fs, files[1]) }, named(1)},
		{"second segment missing", func(t *testing.T, fs *vfs.MemFS, files []string) {
			if err := fs.Remove(segPath(files[1])); err != nil {
				t.Fatal(err)
			}
		}, func(files []string) string {
			seq, _ := parseSegmentName(files[1])
			return fmt.Sprintf("%016x-*.log", seq)
		}},
		{"second segment header damaged", func(t *testing.T, fs *vfs.MemFS, files []string) {
			writeFileAt(t, fs, segPath(files[1]), []byte{0xee}, 30)
		}, named(1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, m := buildLog(t)
			files := segmentFiles(t, fs)
			if len(files) < 4 {
				t.Fatalf("only %d segments", len(files))
			}
			// The snapshot covers every entry of the first two segments.
			snap := firstIndexOf(t, files[2]) - 1
			tc.harm(t, fs, files)

			var out logBuffer
			opts := testOptions(1024)
			opts.Logger = out.logger()
			opts.SnapshotIndex = snap
			l, err := Open(fs, testDir, opts)
			if err != nil {
				t.Fatalf("Open with the snapshot at %d: %v", snap, err)
			}
			defer l.Close()
			if first := l.FirstIndex(); first > snap+1 {
				t.Fatalf("FirstIndex %d: entries after the snapshot (%d) are missing", first, snap)
			}
			want := m.clone()
			want.compactTo(l.FirstIndex() - 1)
			want.check(t, l)
			if log, name := out.String(), tc.report(files); !strings.Contains(log, "level=WARN") || !strings.Contains(log, segPath(name)) {
				t.Fatalf("no warning naming %s:\n%s", name, log)
			}
			// The log goes on: new entries after the snapshot, a reopen, a compaction.
			if err := l.Save(nil, makeEntries(41, 45, 1, 60)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l = mustOpen(t, fs, opts)
			if got := l.LastIndex(); got != 44 {
				t.Fatalf("LastIndex after reopen = %d, want 44", got)
			}
			if err := l.Compact(snap); err != nil {
				t.Fatal(err)
			}
			for _, name := range segmentFiles(t, fs) {
				if name == files[0] || name == files[1] {
					t.Fatalf("Compact(%d) left the skipped segment %s", snap, name)
				}
			}
			l.Close()
			mustOpen(t, fs, testOptions(1024)).Close() // nothing left to skip
		})
	}
}

// Damage to anything the restart needs still stops Open, naming the file.
func TestDamageTheRestartNeedsStopsOpen(t *testing.T) {
	cases := []struct {
		name   string
		damage int // segment to damage; -1: the last
		// snap returns SnapshotIndex from the index the third segment starts at.
		snap func(third uint64) uint64
	}{
		{"no snapshot", 1, func(uint64) uint64 { return 0 }},
		{"segment holds the entry after the snapshot", 1, func(third uint64) uint64 { return third - 2 }},
		{"segment after the snapshot", 2, func(third uint64) uint64 { return third - 1 }},
		{"last segment, snapshot at the end", -1, func(uint64) uint64 { return 40 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := buildLog(t)
			files := segmentFiles(t, fs)
			i := tc.damage
			if i < 0 {
				i = len(files) - 1 // damage before later batches: not a torn tail
			}
			damageSegment(t, fs, files[i])
			opts := testOptions(1024)
			opts.SnapshotIndex = tc.snap(firstIndexOf(t, files[2]))
			_, err := Open(fs, testDir, opts)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != segPath(files[i]) {
				t.Fatalf("Open with the snapshot at %d: %v; want a CorruptError naming %s", opts.SnapshotIndex, err, files[i])
			}
		})
	}
}

// A missing newest segment is corruption naming the missing file, whether a
// snapshot newer than the log's end or the segment prepared after it gives it
// away; before, it surfaced later as a gap between entry numbers.
func TestMissingNewestSegmentIsNamed(t *testing.T) {
	t.Run("snapshot past the end of the log", func(t *testing.T) {
		fs, _ := buildLog(t)
		files := segmentFiles(t, fs)
		last := files[len(files)-1]
		seq, _ := parseSegmentName(last)
		if err := fs.Remove(segPath(last)); err != nil {
			t.Fatal(err)
		}
		opts := testOptions(1024)
		opts.SnapshotIndex = 40
		_, err := Open(fs, testDir, opts)
		want := filepath.Join(testDir, fmt.Sprintf("%016x-*.log", seq))
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Path != want {
			t.Fatalf("Open: %v; want a CorruptError naming %s", err, want)
		}
		if !strings.Contains(err.Error(), "missing") {
			t.Fatalf("message %q does not say the segment is missing", err)
		}
	})
	t.Run("segment prepared after it", func(t *testing.T) {
		fs, _ := buildLog(t)
		files := segmentFiles(t, fs)
		last := files[len(files)-1]
		seq, _ := parseSegmentName(last)
		if err := fs.Remove(segPath(last)); err != nil {
			t.Fatal(err)
		}
		f, err := fs.Create(segPath(segmentName(seq+1, 0) + tmpSuffix))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		_, err = Open(fs, testDir, testOptions(1024))
		want := filepath.Join(testDir, fmt.Sprintf("%016x-*.log", seq))
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Path != want {
			t.Fatalf("Open: %v; want a CorruptError naming %s", err, want)
		}
		if names, _ := fs.ReadDir(testDir); !strings.Contains(strings.Join(names, " "), tmpSuffix) {
			t.Fatalf("the failed Open deleted the .tmp file that shows a segment is missing: %v", names)
		}
	})
	t.Run("snapshot inside the log", func(t *testing.T) {
		fs, m := buildLog(t)
		opts := testOptions(1024)
		opts.SnapshotIndex = 40
		l := mustOpen(t, fs, opts)
		m.check(t, l)
		l.Close()
	})
}

// When the next segment cannot be prepared (the disk is full), the log warns and
// counts it at once, not when a write first needs the segment, and gives back the
// space the half-prepared file took; a roll retries, so a full disk that frees up
// in time costs nothing.
func TestPreallocationFailureIsReportedWhenItHappens(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kind       vfs.OpKind
		stillFull  bool // the disk is still full at the roll
		wantFailed uint64
	}{
		{"preallocate ENOSPC, space freed before the roll", vfs.OpPreallocate, false, 1},
		{"zero-fill ENOSPC, space freed before the roll", vfs.OpWrite, false, 1},
		{"preallocate ENOSPC, still full at the roll", vfs.OpPreallocate, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			var out logBuffer
			opts := testOptions(1024)
			opts.prepareInline = false
			opts.Logger = out.logger()
			first := segPath(segmentName(1, 0) + tmpSuffix) // Open's own, which must work
			full := func(op vfs.Op) vfs.Fault {
				if op.Kind == tc.kind && strings.HasSuffix(op.Path, tmpSuffix) && op.Path != first {
					return vfs.Fault{Err: syscall.ENOSPC}
				}
				return vfs.Fault{}
			}
			fs.SetInjector(full)
			l := mustOpen(t, fs, opts)
			defer l.Close()
			waitPrepared(l)
			if got := l.PreallocFailures(); got != 1 {
				t.Fatalf("PreallocFailures = %d right after the failure, want 1", got)
			}
			if err := l.PreallocError(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("PreallocError = %v, want ENOSPC", err)
			}
			tmp := segPath(segmentName(2, 0) + tmpSuffix)
			if log := out.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, tmp) {
				t.Fatalf("no warning naming %s before any write needed it:\n%s", tmp, log)
			}
			if names, _ := fs.ReadDir(testDir); strings.Contains(strings.Join(names, " "), tmpSuffix) {
				t.Fatalf("the half-prepared segment still takes space: %v", names)
			}
			if !tc.stillFull {
				fs.SetInjector(nil)
			}
			var err error
			for i := uint64(1); i <= 30 && err == nil; i++ {
				err = l.Save(nil, makeEntries(i, i+1, 1, 60))
			}
			if got := l.PreallocFailures(); got != tc.wantFailed {
				t.Errorf("PreallocFailures = %d after the roll, want %d", got, tc.wantFailed)
			}
			if tc.stillFull {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("Save across the roll on a full disk: %v, want ENOSPC", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Save across the roll after space was freed: %v", err)
			}
			if len(segmentFiles(t, fs)) < 2 {
				t.Fatal("no roll happened")
			}
			waitPrepared(l)
			if err := l.PreallocError(); err != nil {
				t.Fatalf("PreallocError = %v once preparing works again", err)
			}
		})
	}
}

// With SkipBelowSnapshot, a restart reads only the segments that hold entries
// after the snapshot: the others serve nothing, stay on disk, and go when a
// Compact covers them.
func TestSkipBelowSnapshotLeavesOldSegmentsUnread(t *testing.T) {
	fs, m := buildLog(t)
	files := segmentFiles(t, fs)
	if len(files) < 4 {
		t.Fatalf("only %d segments", len(files))
	}
	snap := firstIndexOf(t, files[2]) - 1 // covers the first two segments exactly
	opts := testOptions(1024)
	opts.SnapshotIndex, opts.SkipBelowSnapshot = snap, true
	l, err := Open(fs, testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if first := l.FirstIndex(); first != snap+1 {
		t.Fatalf("FirstIndex %d, want %d: the unread segments' entries are not served", first, snap+1)
	}
	want := m.clone()
	want.compactTo(snap)
	want.check(t, l)
	if n := len(segmentFiles(t, fs)); n != len(files) {
		t.Fatalf("%d segments after Open, want all %d kept on disk", n, len(files))
	}
	// A compaction that covers them deletes them.
	if err := l.Compact(snap); err != nil {
		t.Fatal(err)
	}
	for _, name := range segmentFiles(t, fs) {
		if name == files[0] || name == files[1] {
			t.Fatalf("Compact(%d) left the unread segment %s", snap, name)
		}
	}
	// Without the option the same log is read whole.
	l.Close()
	fs2, m2 := buildLog(t)
	opts.SkipBelowSnapshot = false
	l2 := mustOpen(t, fs2, opts)
	defer l2.Close()
	m2.check(t, l2)
}
