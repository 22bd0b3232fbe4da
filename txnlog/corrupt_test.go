package txnlog

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"zkd/internal/vfs"
)

// frameOffsets returns the offsets of the frames of a segment file, up to the
// preallocated zeros.
func frameOffsets(t *testing.T, data []byte) []int {
	t.Helper()
	var offs []int
	for off := 0; off < len(data); {
		fr, reason, zero := decodeFrame(data, off)
		if zero {
			break
		}
		if reason != "" {
			t.Fatalf("frame at %d: %s", off, reason)
		}
		offs = append(offs, off)
		off += fr.size
	}
	return offs
}

// buildLog writes 40 single-entry batches over several segments and returns the
// FS and the model.
func buildLog(t *testing.T) (*vfs.MemFS, model) {
	fs := vfs.NewMem()
	l := mustOpen(t, fs, testOptions(1024))
	var m model
	for i := uint64(1); i <= 40; i++ {
		ents := makeEntries(i, i+1, 1, 60)
		if err := l.Save(nil, ents); err != nil {
			t.Fatal(err)
		}
		m.save(nil, ents)
	}
	l.Close()
	return fs, m
}

func TestCorruptionBeforeTheTailStopsOpen(t *testing.T) {
	type target struct {
		seg   int // index into the segment files; -1 = last
		frame int // index into its frames; -1 = last
		at    int // byte within the frame to damage
	}
	cases := []struct {
		name   string
		t      target
		damage func(b []byte) // applied to the frame's bytes from `at` on
	}{
		{"flipped data byte, last segment", target{-1, 1, 40}, flip},
		{"flipped data byte, older segment", target{1, 3, 40}, flip},
		{"flipped last record of an older segment", target{0, -1, 40}, flip},
		{"flipped length", target{-1, 1, offLen}, flip},
		{"flipped batch number", target{1, 2, offBatch}, flip},
		{"flipped checksum", target{2, 4, offCRC}, flip},
		{"zeroed frame header", target{-1, 1, 0}, func(b []byte) { clear(b[:frameHeaderSize]) }},
		{"flipped segment header", target{2, 0, 30}, flip},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := buildLog(t)
			files := segmentFiles(t, fs)
			si := tc.t.seg
			if si < 0 {
				si = len(files) - 1
			}
			path := segPath(files[si])
			data := readFile(t, fs, path)
			offs := frameOffsets(t, data)
			fi := tc.t.frame
			if fi < 0 {
				fi = len(offs) - 1
			}
			off := offs[fi]
			b := data[off+tc.t.at : off+tc.t.at+frameHeaderSize]
			tc.damage(b)
			writeFileAt(t, fs, path, b, int64(off+tc.t.at))

			_, err := Open(fs, testDir, testOptions(1024))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != path || ce.Offset != int64(off) {
				t.Fatalf("Open: %v; want a CorruptError at %s offset %d", err, path, off)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprintf("offset %d", off)) {
				t.Fatalf("message %q does not name the file and offset", msg)
			}
			t.Log(err)
		})
	}
}

func flip(b []byte) { b[0] ^= 0x10 }

func TestMissingSegmentStopsOpen(t *testing.T) {
	fs, _ := buildLog(t)
	files := segmentFiles(t, fs)
	if err := fs.Remove(segPath(files[1])); err != nil {
		t.Fatal(err)
	}
	_, err := Open(fs, testDir, testOptions(1024))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), files[2]) {
		t.Fatalf("Open: %v, want ErrCorrupt naming %s", err, files[2])
	}
}

// Damage inside the last batch of the log cannot be told from a torn write: Open
// drops that batch and goes on (doc.go says so).
func TestDamagedLastBatchIsTreatedAsTorn(t *testing.T) {
	fs, m := buildLog(t)
	files := segmentFiles(t, fs)
	path := segPath(files[len(files)-1])
	data := readFile(t, fs, path)
	offs := frameOffsets(t, data)
	off := offs[len(offs)-1] + 40
	writeFileAt(t, fs, path, []byte{data[off] ^ 1}, int64(off))
	l, err := Open(fs, testDir, testOptions(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m.ents = m.ents[:len(m.ents)-1]
	m.check(t, l)
}

// Stray bytes in the preallocated space after the last record are not data.
func TestGarbageAfterTheLastRecordIsWiped(t *testing.T) {
	fs, m := buildLog(t)
	files := segmentFiles(t, fs)
	path := segPath(files[len(files)-1])
	data := readFile(t, fs, path)
	offs := frameOffsets(t, data)
	end := offs[len(offs)-1] + frameSize(entryHeaderSize+60)
	writeFileAt(t, fs, path, []byte("garbage"), int64(end+100))
	l, err := Open(fs, testDir, testOptions(1024))
	if err != nil {
		t.Fatal(err)
	}
	m.check(t, l)
	if !allZero(readFile(t, fs, path)[end:]) {
		t.Fatal("garbage not wiped")
	}
	l.Close()
}
