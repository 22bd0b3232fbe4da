package txnlog

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"zkd/internal/vfs"
)

func TestSaveAndReopen(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, testOptions(4096))
	var m model
	m.check(t, l)
	for i := uint64(0); i < 10; i++ {
		hs := &HardState{Term: 1, Vote: 1, Commit: i * 3}
		ents := makeEntries(i*3+1, i*3+4, 1, int(i*7))
		if err := l.Save(hs, ents); err != nil {
			t.Fatal(err)
		}
		m.save(hs, ents)
		m.check(t, l)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fs, testOptions(4096))
	defer l.Close()
	m.check(t, l)
	// And it keeps going where it stopped.
	ents := makeEntries(31, 33, 2, 10)
	if err := l.Save(nil, ents); err != nil {
		t.Fatal(err)
	}
	m.save(nil, ents)
	m.check(t, l)
}

func TestOpenCreatesDirectoryAndFirstSegment(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, testOptions(1024))
	defer l.Close()
	files := segmentFiles(t, fs)
	if !slices.Equal(files, []string{"0000000000000001-0000000000000001.log"}) {
		t.Fatalf("files %v", files)
	}
	if l.FirstIndex() != 0 || l.LastIndex() != 0 || l.HardState() != (HardState{}) {
		t.Fatalf("new log: first %d last %d hs %+v", l.FirstIndex(), l.LastIndex(), l.HardState())
	}
	// The empty log survives a crash right after Open.
	c := fs.CrashClone(vfs.CrashOptions{})
	l2 := mustOpen(t, c, testOptions(1024))
	l2.Close()
}

func TestOverwriteSuffix(t *testing.T) {
	fs := vfs.NewMem()
	opts := testOptions(512) // a few entries per segment: overwrites cross segments
	l := mustOpen(t, fs, opts)
	var m model
	save := func(hs *HardState, ents []Entry) {
		t.Helper()
		if err := l.Save(hs, ents); err != nil {
			t.Fatal(err)
		}
		m.save(hs, ents)
		m.check(t, l)
	}
	save(nil, makeEntries(1, 11, 1, 40))
	save(nil, makeEntries(6, 9, 2, 40)) // replaces 6..10 with 6..8
	if l.LastIndex() != 8 {
		t.Fatalf("LastIndex %d, want 8", l.LastIndex())
	}
	save(nil, makeEntries(9, 21, 2, 40))
	save(nil, makeEntries(3, 5, 3, 40)) // back into an older segment
	save(nil, makeEntries(5, 7, 3, 40))
	if n := len(segmentFiles(t, fs)); n < 3 {
		t.Fatalf("only %d segments: the test wants overwrites across segments", n)
	}
	l.Close()
	l = mustOpen(t, fs, opts)
	defer l.Close()
	m.check(t, l)
	if _, err := l.Entries(7, 8); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Entries past the overwritten end: %v", err)
	}
}

func TestSegmentRollAndPreallocation(t *testing.T) {
	fs := vfs.NewMem()
	const size = 1024
	l := mustOpen(t, fs, testOptions(size))
	var m model
	for i := uint64(0); i < 40; i++ {
		ents := makeEntries(i*4+1, i*4+5, 1, 30)
		if err := l.Save(&HardState{Term: 1, Commit: i * 4}, ents); err != nil {
			t.Fatal(err)
		}
		m.save(&HardState{Term: 1, Commit: i * 4}, ents)
	}
	// One batch bigger than a segment goes into a fresh segment and grows it.
	big := makeEntries(161, 163, 1, 3*size)
	if err := l.Save(nil, big); err != nil {
		t.Fatal(err)
	}
	m.save(nil, big)
	if err := l.Save(nil, makeEntries(163, 164, 1, 10)); err != nil {
		t.Fatal(err)
	}
	m.save(nil, makeEntries(163, 164, 1, 10))
	m.check(t, l)
	l.Close()

	files := segmentFiles(t, fs)
	if len(files) < 8 {
		t.Fatalf("%d segments, want several", len(files))
	}
	for i, name := range files {
		seq, _ := parseSegmentName(name)
		if seq != uint64(i+1) {
			t.Fatalf("segment %d is %s", i, name)
		}
		data := readFile(t, fs, segPath(name))
		if len(data) < size {
			t.Fatalf("%s has %d bytes, want at least the preallocated %d", name, len(data), size)
		}
		if len(data) > size && i != len(files)-2 {
			t.Fatalf("%s grew to %d bytes; only the big batch's segment should", name, len(data))
		}
	}
	l = mustOpen(t, fs, testOptions(size))
	defer l.Close()
	m.check(t, l)
}

func TestSaveIsOneWriteAndOneSync(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, testOptions(1<<20))
	defer l.Close()
	var ops []vfs.OpKind
	fs.SetInjector(func(op vfs.Op) vfs.Fault { ops = append(ops, op.Kind); return vfs.Fault{} })
	for _, tc := range []struct {
		name string
		hs   *HardState
		ents []Entry
		want []vfs.OpKind
	}{
		{"entries and hard state", &HardState{Term: 1, Commit: 0}, makeEntries(1, 33, 1, 100), []vfs.OpKind{vfs.OpWrite, vfs.OpSync}},
		{"hard state alone", &HardState{Term: 1, Commit: 5}, nil, []vfs.OpKind{vfs.OpWrite, vfs.OpSync}},
		{"commit change alone is synced", &HardState{Term: 1, Commit: 6}, nil, []vfs.OpKind{vfs.OpWrite, vfs.OpSync}},
		{"entries alone", nil, makeEntries(33, 34, 1, 1), []vfs.OpKind{vfs.OpWrite, vfs.OpSync}},
		{"unchanged hard state is free", &HardState{Term: 1, Commit: 6}, nil, nil},
		{"nothing is free", nil, nil, nil},
	} {
		ops = nil
		if err := l.Save(tc.hs, tc.ents); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ops, tc.want) {
			t.Errorf("%s: ops %v, want %v", tc.name, ops, tc.want)
		}
	}
}

func TestHardStatePersistence(t *testing.T) {
	fs := vfs.NewMem()
	opts := testOptions(512)
	l := mustOpen(t, fs, opts)
	hs := HardState{Term: 7, Vote: 3, Commit: 0}
	if err := l.Save(&hs, nil); err != nil {
		t.Fatal(err)
	}
	// Synced: a crash right after Save keeps it.
	if got := mustOpen(t, fs.CrashClone(vfs.CrashOptions{}), opts).HardState(); got != hs {
		t.Fatalf("after crash HardState %+v, want %+v", got, hs)
	}
	// Fill several segments without changing it, then compact away the segment
	// that holds its record: the segment headers carry it.
	for i := uint64(0); i < 30; i++ {
		if err := l.Save(nil, makeEntries(i*2+1, i*2+3, 7, 40)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Compact(50); err != nil {
		t.Fatal(err)
	}
	if files := segmentFiles(t, fs); files[0] == "0000000000000001-0000000000000001.log" {
		t.Fatalf("first segment not released: %v", files)
	}
	l.Close()
	l = mustOpen(t, fs.CrashClone(vfs.CrashOptions{}), opts)
	defer l.Close()
	if got := l.HardState(); got != hs {
		t.Fatalf("after compaction and crash HardState %+v, want %+v", got, hs)
	}
}

func TestCompactThenReopen(t *testing.T) {
	fs := vfs.NewMem()
	opts := testOptions(512)
	l := mustOpen(t, fs, opts)
	var m model
	for i := uint64(0); i < 20; i++ {
		ents := makeEntries(i*3+1, i*3+4, 1, 30)
		if err := l.Save(&HardState{Term: 1, Commit: i * 3}, ents); err != nil {
			t.Fatal(err)
		}
		m.save(&HardState{Term: 1, Commit: i * 3}, ents)
	}
	before := len(segmentFiles(t, fs))
	if err := l.Compact(31); err != nil {
		t.Fatal(err)
	}
	m.compactTo(31)
	m.check(t, l)
	if l.FirstIndex() != 32 {
		t.Fatalf("FirstIndex %d, want 32", l.FirstIndex())
	}
	if _, err := l.Entries(31, 33); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries(31, 33): %v", err)
	}
	if _, err := l.Term(31); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Term(31): %v", err)
	}
	after := len(segmentFiles(t, fs))
	if after >= before {
		t.Fatalf("Compact released nothing: %d segments before, %d after", before, after)
	}
	// Segments left hold no entry <= 31 except in the first one.
	if err := l.Compact(20); err != nil { // below the compaction point: no-op
		t.Fatal(err)
	}
	l.Close()
	for _, c := range []vfs.FS{fs, fs.CrashClone(vfs.CrashOptions{})} {
		l = mustOpen(t, c, opts)
		m.check(t, l)
		l.Close()
	}

	// Compacting past the end empties the log; it then continues above that point.
	l = mustOpen(t, fs, opts)
	defer l.Close()
	if err := l.Compact(100); err != nil {
		t.Fatal(err)
	}
	m.compactTo(100)
	m.check(t, l)
	if err := l.Save(nil, makeEntries(100, 101, 2, 5)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Save at the compaction point: %v", err)
	}
	if err := l.Save(nil, makeEntries(101, 103, 2, 5)); err != nil {
		t.Fatal(err)
	}
	m.save(nil, makeEntries(101, 103, 2, 5))
	m.check(t, l)
	if n := len(segmentFiles(t, fs)); n != 1 {
		t.Fatalf("%d segments after compacting everything, want 1", n)
	}
	l.Close()
	l = mustOpen(t, fs.CrashClone(vfs.CrashOptions{}), opts)
	m.check(t, l)
}

func TestSaveRejectsInvalidEntries(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, testOptions(4096))
	defer l.Close()
	if err := l.Save(nil, makeEntries(5, 10, 1, 3)); err != nil { // a log may start anywhere
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ents []Entry
	}{
		{"gap after the last entry", makeEntries(11, 12, 1, 3)},
		{"not consecutive", append(makeEntries(10, 11, 1, 3), makeEntries(12, 13, 1, 3)...)},
		{"index zero", makeEntries(0, 1, 1, 3)},
	} {
		if err := l.Save(&HardState{Term: 9}, tc.ents); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", tc.name, err)
		}
	}
	// Nothing was written and the log is still usable.
	if l.HardState() != (HardState{}) || l.LastIndex() != 9 {
		t.Fatalf("after rejected saves: hs %+v last %d", l.HardState(), l.LastIndex())
	}
	if err := l.Save(nil, makeEntries(10, 11, 1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(7); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(nil, makeEntries(7, 8, 2, 3)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("overwrite at the compaction point: %v", err)
	}
}

func TestEntriesBounds(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, testOptions(4096))
	if _, err := l.Entries(1, 2); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("empty log: %v", err)
	}
	if err := l.Save(nil, makeEntries(10, 20, 1, 3)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lo, hi uint64
		n      int
		err    error
	}{
		{10, 20, 10, nil},
		{15, 15, 0, nil},
		{19, 20, 1, nil},
		{9, 12, 0, ErrCompacted},
		{0, 1, 0, ErrCompacted},
		{15, 21, 0, ErrUnavailable},
		{21, 22, 0, ErrUnavailable},
		{12, 11, 0, ErrInvalid},
	} {
		got, err := l.Entries(tc.lo, tc.hi)
		if !errors.Is(err, tc.err) || len(got) != tc.n {
			t.Errorf("Entries(%d, %d) = %d entries, %v; want %d, %v", tc.lo, tc.hi, len(got), err, tc.n, tc.err)
		}
	}
	if term, err := l.Term(12); err != nil || term != 1 {
		t.Fatalf("Term(12) = %d, %v", term, err)
	}
	if _, err := l.Term(20); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Term(20): %v", err)
	}
	l.Close()
	if _, err := l.Entries(10, 11); !errors.Is(err, ErrClosed) {
		t.Fatalf("Entries after Close: %v", err)
	}
	if err := l.Save(nil, makeEntries(20, 21, 1, 3)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestEntriesFromCacheAndDisk(t *testing.T) {
	for _, cache := range []int64{-1, 200, DefaultCacheSize} {
		fs := vfs.NewMem()
		opts := testOptions(512)
		opts.CacheSize = cache
		l := mustOpen(t, fs, opts)
		var m model
		for i := uint64(0); i < 30; i++ {
			ents := makeEntries(i*2+1, i*2+3, 1, int(i))
			if err := l.Save(nil, ents); err != nil {
				t.Fatal(err)
			}
			m.save(nil, ents)
		}
		m.save(nil, makeEntries(25, 27, 2, 9))
		if err := l.Save(nil, makeEntries(25, 27, 2, 9)); err != nil {
			t.Fatal(err)
		}
		m.check(t, l)
		if cache > 0 && l.mu.x.cached > cache {
			t.Fatalf("cache holds %d bytes, limit %d", l.mu.x.cached, cache)
		}
		// Returned Data cannot be appended into a neighbour's.
		got, _ := l.Entries(25, 27)
		_ = append(got[0].Data, "XXXXXXXX"...)
		m.check(t, l)
		l.Close()
	}
}

func TestOpenDeletesUnfinishedSegment(t *testing.T) {
	fs := vfs.NewMem()
	opts := testOptions(512)
	l := mustOpen(t, fs, opts)
	if err := l.Save(nil, makeEntries(1, 5, 1, 50)); err != nil {
		t.Fatal(err)
	}
	// The next roll fails at the rename, leaving a .tmp file.
	fs.SetInjector(vfs.FailKind(vfs.OpRename, 0, errors.New("injected"), 0))
	for i := uint64(5); ; i++ {
		if err := l.Save(nil, makeEntries(i, i+1, 1, 50)); err != nil {
			break
		}
	}
	fs.SetInjector(nil)
	l.Close()
	names, _ := fs.ReadDir(testDir)
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, tmpSuffix) }) {
		t.Fatalf("no .tmp file left: %v", names)
	}
	l = mustOpen(t, fs, opts)
	defer l.Close()
	names, _ = fs.ReadDir(testDir)
	if slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, tmpSuffix) }) {
		t.Fatalf(".tmp file survived Open: %v", names)
	}
	if err := l.Save(nil, makeEntries(l.LastIndex()+1, l.LastIndex()+20, 1, 50)); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("zero Options: %v", err)
	}
	if err := (Options{SegmentSize: 100}).Validate(); err == nil {
		t.Fatal("tiny SegmentSize accepted")
	}
	if _, err := Open(vfs.NewMem(), testDir, Options{SegmentSize: -1}); err == nil {
		t.Fatal("Open accepted a negative SegmentSize")
	}
}

func TestFilesAreClosed(t *testing.T) {
	t.Run("prepare=inline", func(t *testing.T) { testFilesAreClosed(t, true) })
	t.Run("prepare=background", func(t *testing.T) { testFilesAreClosed(t, false) })
}

func testFilesAreClosed(t *testing.T, inline bool) {
	fs := vfs.NewMem()
	opts := testOptions(512)
	opts.CacheSize = -1
	opts.prepareInline = inline
	l := mustOpen(t, fs, opts)
	for i := uint64(0); i < 40; i++ {
		if err := l.Save(nil, makeEntries(i*2+1, i*2+3, 1, 40)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Entries(1, 81); err != nil {
		t.Fatal(err)
	}
	prepared := 0
	if !inline {
		prepared = 1 // the next segment, prepared in the background
		waitPrepared(l)
	}
	if got, want := fs.OpenFiles(), len(segmentFiles(t, fs))+prepared; got != want {
		t.Fatalf("%d files open for %d segments", got, want)
	}
	if err := l.Compact(70); err != nil {
		t.Fatal(err)
	}
	if !inline {
		waitPrepared(l)
	}
	if got, want := fs.OpenFiles(), len(segmentFiles(t, fs))+prepared; got != want {
		t.Fatalf("after Compact: %d files open for %d segments", got, want)
	}
	l.Close()
	if n := fs.OpenFiles(); n != 0 {
		t.Fatalf("%d files open after Close", n)
	}
	// A failed Open closes what it opened.
	files := segmentFiles(t, fs)
	writeFileAt(t, fs, segPath(files[0]), []byte{0xff}, 100)
	writeFileAt(t, fs, segPath(files[0]), []byte{0xff}, 20)
	if _, err := Open(fs, testDir, opts); err == nil {
		t.Fatal("Open of a damaged log succeeded")
	}
	if n := fs.OpenFiles(); n != 0 {
		t.Fatalf("%d files open after a failed Open", n)
	}
}

// waitPrepared waits until the background preparation of the next segment is done.
func waitPrepared(l *Log) {
	if l.w.preparedC != nil {
		c := make(chan preparedSegment, 1)
		c <- <-l.w.preparedC
		l.w.preparedC = c
	}
}

// Forget releases entries from memory only: the log stops serving them, keeps
// their files, writes on across new segments, reopens with them read again,
// and a later Compact removes the files it covers.
func TestForgetKeepsTheFilesUntilCompact(t *testing.T) {
	fs := vfs.NewMem()
	opts := testOptions(512)
	l := mustOpen(t, fs, opts)
	save := func(lo, hi uint64) {
		t.Helper()
		for i := lo; i < hi; i += 3 {
			if err := l.Save(&HardState{Term: 1, Commit: i - 1}, makeEntries(i, i+3, 1, 30)); err != nil {
				t.Fatal(err)
			}
		}
	}
	save(1, 61)
	files := len(segmentFiles(t, fs))
	if err := l.Forget(31); err != nil {
		t.Fatal(err)
	}
	if l.FirstIndex() != 32 || l.LastIndex() != 60 {
		t.Fatalf("after Forget(31): first %d last %d, want 32 and 60", l.FirstIndex(), l.LastIndex())
	}
	if _, err := l.Entries(31, 33); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries(31, 33): %v", err)
	}
	if ents, err := l.Entries(32, 34); err != nil || len(ents) != 2 || !checkPayload(ents[0]) {
		t.Fatalf("Entries(32, 34): %v %v", ents, err)
	}
	if got := len(segmentFiles(t, fs)); got != files {
		t.Fatalf("Forget removed files: %d before, %d after", files, got)
	}
	if l.mu.segs[0].seq == 1 {
		t.Fatal("the segments holding only forgotten entries are still open")
	}
	if err := l.Forget(60); err != nil { // never the last entry
		t.Fatal(err)
	}
	if l.FirstIndex() != 60 || l.LastIndex() != 60 {
		t.Fatalf("after Forget(60): first %d last %d, want 60 and 60", l.FirstIndex(), l.LastIndex())
	}
	save(61, 121) // across new segments, whose headers keep the durable compaction point
	l.Close()

	var m model
	m.save(&HardState{Term: 1, Commit: 117}, makeEntries(1, 121, 1, 30))
	l = mustOpen(t, fs, opts)
	m.check(t, l) // everything on disk is read again
	if err := l.Compact(90); err != nil {
		t.Fatal(err)
	}
	if got := len(segmentFiles(t, fs)); got >= files {
		t.Fatalf("Compact(90) removed nothing: %d segment files", got)
	}
	l.Close()
}
