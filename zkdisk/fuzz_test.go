package zkdisk

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"zkd/jute"
)

// fuzzLimit is the jute.maxbuffer the fuzz targets read with: small, so that
// inputs reach every limit.
const fuzzLimit = 4096

// allocBound fails if more than budget bytes were allocated since before: the
// readers must take memory in proportion to their input and their limits, not to
// what a corrupt length or count claims.
func allocBound(t *testing.T, before runtime.MemStats, budget uint64) {
	t.Helper()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if used := after.TotalAlloc - before.TotalAlloc; used > budget {
		t.Fatalf("allocated %d bytes, budget %d", used, budget)
	}
}

// FuzzSnapshotReader feeds arbitrary bytes to the snapshot reader in each codec,
// and what it reads to the tree builder of Load. Properties: no panic, every
// failure is located (*FileError), and allocation stays within a budget linear
// in the input (for the plain codec, whose stream is the input itself).
func FuzzSnapshotReader(f *testing.F) {
	// Small real files only: the fuzzer minimizes every input it finds
	// interesting, which takes long on large ones.
	for _, p := range []string{
		"testdata/compressed/gz/version-2/snapshot.122.gz",
		"testdata/compressed/snappy/version-2/snapshot.122.snappy",
		"testdata/datadir/version-2/snapshot.0",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(codecOf(p)))
	}
	f.Fuzz(func(t *testing.T, b []byte, codec uint8) {
		c := Codec(codec % 3)
		tr := newZkTree()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ReadSnapshot(bytes.NewReader(b), c, "fuzz", ReadOptions{MaxBuffer: fuzzLimit}, func(n *SnapNode) error {
			return tr.addSnapNode(n)
		})
		if c == CodecPlain {
			// The reader's 64 KiB buffer, then a small multiple of the input.
			allocBound(t, before, 1<<20+64*uint64(len(b)))
		}
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("unlocated error %v", err)
			}
		}
	})
}

// FuzzLogReader feeds arbitrary bytes to the log reader and every txn it decodes
// to the replay. Properties: no panic; the reader ends, or fails with the file
// and an offset inside it; memory stays linear in the input; a record it accepts
// re-encodes to the bytes it read.
func FuzzLogReader(f *testing.F) {
	// Seeds: one real record of each txn type the fixtures hold, behind a real
	// header (the fixture logs themselves are too large to minimize quickly).
	seed := AppendLogHeader(nil)
	seen := map[jute.OpCode]bool{}
	for _, p := range []string{filepath.Join(fixtureDir, VersionDir, "log.1"), filepath.Join(fixtureDir, VersionDir, "log.d8"),
		filepath.Join(fixtureDir, VersionDir, "log.11c"), "testdata/standalone-check/version-2/log.1"} {
		r, err := OpenLog(p, ReadOptions{})
		if err != nil {
			f.Fatal(err)
		}
		for {
			rec, err := r.Next()
			if err != nil {
				break
			}
			if typ := rec.Txn.Header.Type; !seen[typ] {
				seen[typ] = true
				seed = AppendLogRecord(seed, rec.Entry)
				f.Add(AppendLogRecord(AppendLogHeader(nil), rec.Entry))
			}
		}
		r.Close()
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := NewLogReader(bytes.NewReader(b), int64(len(b)), "fuzz", ReadOptions{MaxBuffer: fuzzLimit})
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("unlocated error %v", err)
			}
			return
		}
		tr := newEmptyZkTree()
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var fe *FileError
				if !errors.As(err, &fe) || fe.Offset < 0 || fe.Offset > int64(len(b)) {
					t.Fatalf("bad error %v", err)
				}
				break
			}
			if !bytes.Equal(AppendTxn(nil, rec.Txn), rec.Entry) {
				// Only the decoder's documented fallbacks may read differently: a
				// body-less closeSession, trailing bytes after a body or digest.
				if _, ok := rec.Txn.Body.(*CloseSessionTxn); !ok && rec.Txn.Body != nil && len(AppendTxn(nil, rec.Txn)) > len(rec.Entry) {
					t.Fatalf("zxid %#x re-encodes longer than it was read", rec.Txn.Header.Zxid)
				}
			}
			_, _ = tr.apply(rec.Txn)
		}
		// The 256 KiB read buffer, then a small multiple of the input.
		allocBound(t, before, 1<<20+64*uint64(len(b)))
	})
}
