package txnlog

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"zkd/internal/vfs"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestSegmentFormatGolden pins the on-disk format: a fixed sequence of Saves and a
// Compact must produce these bytes exactly. A change here is a format change: bump
// segmentVersion and keep reading the old one.
func TestSegmentFormatGolden(t *testing.T) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, testOptions(4096))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Save(&HardState{Term: 1, Vote: 1}, []Entry{{Index: 1, Term: 1, Data: []byte("create /a")}, {Index: 2, Term: 1}}))
	must(l.Save(&HardState{Term: 1, Vote: 1, Commit: 2}, nil))
	must(l.Save(nil, []Entry{{Index: 2, Term: 2, Data: []byte("set /a 1")}})) // overwrite
	must(l.Compact(1))
	end := l.w.off
	l.Close()
	got := readFile(t, fs, segPath("0000000000000001-0000000000000001.log"))[:end]

	golden := filepath.Join("testdata", "segment.golden")
	dump := hex.Dump(got)
	if *update {
		if err := os.WriteFile(golden, []byte(dump), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if dump != string(want) {
		t.Fatalf("segment bytes changed (run with -update if on purpose):\n%s\nwant:\n%s", dump, want)
	}
}

// TestFrameDecoding checks the frame codec: every record type round-trips, every
// strict prefix of a frame is rejected (a torn write), and so is every single-bit
// flip (corruption).
func TestFrameDecoding(t *testing.T) {
	hs := HardState{Term: 3, Vote: 2, Commit: 9}
	frames := map[string][]byte{
		"entry":          appendEntry(nil, 7, flagCommit, &Entry{Index: 5, Term: 3, Data: []byte("hello")}),
		"empty entry":    appendEntry(nil, 7, 0, &Entry{Index: 6, Term: 3}),
		"hard state":     appendHardState(nil, 8, flagCommit, &hs),
		"compact":        appendCompact(nil, 9, flagCommit, 4),
		"segment header": appendSegmentHeader(nil, 1, &segmentHeader{seq: 2, compact: 4, hs: hs}),
	}
	for name, b := range frames {
		t.Run(name, func(t *testing.T) {
			if len(b)%frameAlign != 0 {
				t.Fatalf("frame of %d bytes is not aligned", len(b))
			}
			fr, reason, _ := decodeFrame(b, 0)
			if reason != "" || fr.size != len(b) {
				t.Fatalf("decode: %q, size %d of %d", reason, fr.size, len(b))
			}
			switch fr.typ {
			case recEntry:
				if e := fr.entry(); e.Term != 3 || (e.Index == 5 && string(e.Data) != "hello") {
					t.Fatalf("entry %+v", e)
				}
			case recHardState:
				if fr.hardState() != hs {
					t.Fatalf("hard state %+v", fr.hardState())
				}
			case recCompact:
				if fr.compactIndex() != 4 {
					t.Fatalf("compact %d", fr.compactIndex())
				}
			case recSegment:
				if h, why := fr.segmentHeader(); why != "" || h != (segmentHeader{seq: 2, compact: 4, hs: hs}) {
					t.Fatalf("segment header %+v %s", h, why)
				}
			}
			for n := range len(b) {
				torn := append(bytes.Clone(b[:n]), make([]byte, 8)...)[:max(n, 1)]
				if _, reason, _ := decodeFrame(torn, 0); reason == "" {
					t.Fatalf("prefix of %d bytes decoded", n)
				}
			}
			for i := range len(b) * 8 {
				bad := bytes.Clone(b)
				bad[i/8] ^= 1 << (i % 8)
				if _, reason, _ := decodeFrame(bad, 0); reason == "" {
					t.Fatalf("flipped bit %d decoded", i)
				}
			}
		})
	}
}

// FuzzOpen feeds arbitrary bytes as the only segment of a log: Open must either
// refuse with an error or produce a log that reads back and takes a Save.
func FuzzOpen(f *testing.F) {
	fs := vfs.NewMem()
	l := mustOpen(f, fs, testOptions(512))
	for i := uint64(1); i < 6; i++ {
		_ = l.Save(&HardState{Term: 1, Commit: i - 1}, makeEntries(i, i+1, 1, int(i*5)))
	}
	end := l.w.off
	l.Close()
	seed := readFile(f, fs, segPath("0000000000000001-0000000000000001.log"))
	f.Add(seed)
	f.Add(seed[:end])
	f.Add(seed[:end-3])
	f.Add(seed[:segmentHdrFrame])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fs := vfs.NewMem()
		if err := fs.MkdirAll(testDir); err != nil {
			t.Fatal(err)
		}
		writeNew(t, fs, segPath("0000000000000001-0000000000000001.log"), b)
		l, err := Open(fs, testDir, testOptions(512))
		if err != nil {
			return
		}
		defer l.Close()
		if last := l.LastIndex(); last > 0 {
			if _, err := l.Entries(l.FirstIndex(), last+1); err != nil {
				t.Fatalf("Entries after a successful Open: %v", err)
			}
		}
		next := l.LastIndex() + 1
		if l.LastIndex() == 0 {
			next = l.mu.x.compact + 1
		}
		if err := l.Save(&HardState{Term: 99}, makeEntries(next, next+1, 99, 3)); err != nil {
			t.Fatalf("Save after a successful Open: %v", err)
		}
		l.Close()
		if _, err := Open(fs, testDir, testOptions(512)); err != nil {
			t.Fatalf("reopen: %v", err)
		}
	})
}

func writeNew(t *testing.T, fs vfs.FS, path string, b []byte) {
	t.Helper()
	f, err := fs.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
