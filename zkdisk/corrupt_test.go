package zkdisk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// readSnapshotBytes reads a snapshot held in memory.
func readSnapshotBytes(b []byte, c Codec) (*SnapshotInfo, error) {
	return ReadSnapshot(bytes.NewReader(b), c, "snap", ReadOptions{}, func(*SnapNode) error { return nil })
}

// asFileError checks that err locates the failure within a file of size n.
func asFileError(t *testing.T, err error, n int) *FileError {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FileError", err, err)
	}
	if fe.Offset < 0 || (!fe.Decoded && fe.Offset > int64(n)) {
		t.Fatalf("offset %d outside a %d-byte file: %v", fe.Offset, n, err)
	}
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrLogGap) {
		t.Fatalf("error %v is not one of the damage errors", err)
	}
	return fe
}

// TestSnapshotCutAtEveryOffset reads every prefix of a real snapshot: each must
// fail with the file and offset, except the one ending at the first seal (a
// snapshot without the optional digest section, as 3.5 writes).
func TestSnapshotCutAtEveryOffset(t *testing.T) {
	full, err := os.ReadFile("testdata/compressed/plain/version-2/snapshot.122")
	if err != nil {
		t.Fatal(err)
	}
	noDigest := len(full) - 33 // digest section 20 + seal 13
	for n := 0; n < len(full); n++ {
		info, err := readSnapshotBytes(full[:n], CodecPlain)
		if n == noDigest {
			if err != nil || info.Digest != nil {
				t.Fatalf("cut at the first seal: %v, digest %v", err, info.Digest)
			}
			continue
		}
		if err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes was accepted", n, len(full))
		}
		fe := asFileError(t, err, n)
		if n > 16 && n < noDigest-13 && !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: %v, want truncated", n, err)
		}
		if fe.Offset > int64(n) {
			t.Fatalf("cut at %d: offset %d past the end", n, fe.Offset)
		}
	}
}

// TestSnapshotEveryByteFlipped damages each byte of a real snapshot in turn:
// every change must be caught (Adler-32 catches any one changed byte), in the
// plain file and through both compressed codecs.
func TestSnapshotEveryByteFlipped(t *testing.T) {
	plain, err := os.ReadFile("testdata/compressed/plain/version-2/snapshot.122")
	if err != nil {
		t.Fatal(err)
	}
	for i := range plain {
		b := bytes.Clone(plain)
		b[i] ^= 0x5a
		if _, err := readSnapshotBytes(b, CodecPlain); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		} else {
			asFileError(t, err, len(b))
		}
	}
	for _, c := range []struct {
		file  string
		codec Codec
	}{{"testdata/compressed/gz/version-2/snapshot.122.gz", CodecGzip}, {"testdata/compressed/snappy/version-2/snapshot.122.snappy", CodecSnappy}} {
		raw, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(raw); i += 2 {
			b := bytes.Clone(raw)
			b[i] ^= 0x5a
			if _, err := readSnapshotBytes(b, c.codec); err == nil {
				// A flip the decompressor does not see (gzip's mtime or OS byte,
				// snappy-java's version numbers, a Snappy copy of equal bytes)
				// changes nothing that is read.
				if bytes.Equal(decompress(t, b, c.codec), plain) {
					continue
				}
				t.Fatalf("%s: flipping byte %d went unnoticed", c.codec, i)
			} else {
				fe := asFileError(t, err, len(b))
				if !fe.Decoded {
					t.Fatalf("%s: error does not say its offset is in the decompressed stream: %v", c.codec, err)
				}
			}
		}
	}
}

// decompress returns what a codec's reader makes of b.
func decompress(t *testing.T, b []byte, c Codec) []byte {
	t.Helper()
	var r io.Reader = newSnappyReader(bytes.NewReader(b))
	if c == CodecGzip {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil
		}
		r = zr
	}
	out, _ := io.ReadAll(r)
	return out
}

// TestSnapshot39Trailer reads the lastProcessedZxid trailer ZooKeeper 3.9 adds, with
// and without the digest section before it, and refuses a wrong third seal.
func TestSnapshot39Trailer(t *testing.T) {
	full, err := os.ReadFile("testdata/compressed/plain/version-2/snapshot.122")
	if err != nil {
		t.Fatal(err)
	}
	trailer := func(prefix []byte, zxid int64) []byte {
		b := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(zxid))
		b = binary.BigEndian.AppendUint64(b, uint64(adler32Of(b)))
		return append(b, endMarker...)
	}
	for _, c := range []struct {
		name   string
		b      []byte
		digest bool
	}{
		{"digest+trailer", trailer(full, 0x122), true},
		{"trailer only", trailer(full[:len(full)-33], 0x122), false},
	} {
		info, err := readSnapshotBytes(c.b, CodecPlain)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !info.HasLastProcessedZxid || info.LastProcessedZxid != 0x122 || (info.Digest != nil) != c.digest {
			t.Errorf("%s: trailer %v %#x, digest %v", c.name, info.HasLastProcessedZxid, info.LastProcessedZxid, info.Digest)
		}
	}
	bad := trailer(full, 0x122)
	bad[len(bad)-6] ^= 1 // seal 3
	if _, err := readSnapshotBytes(bad, CodecPlain); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong third seal: %v", err)
	}
}

// fixtureCopy copies the fixture data directory.
func fixtureCopy(t *testing.T) string {
	t.Helper()
	return copyDir(t, fixtureDir, nil)
}

// recordOffsets lists the offsets of a log file's records.
func recordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	r, err := OpenLog(path, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var offs []int64
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return offs
		}
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, rec.Offset)
	}
}

func patchFile(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLogDamageIsLocated damages the logs in the ways a disk or a crash can and
// checks what Load makes of each: corruption stops it with the file and the
// record's offset, a torn last record is tolerated as ZooKeeper tolerates it, and
// a hole in the zxids is refused.
func TestLogDamageIsLocated(t *testing.T) {
	t.Run("flipped byte in a middle record", func(t *testing.T) {
		dir := fixtureCopy(t)
		log := filepath.Join(dir, VersionDir, "log.d8")
		offs := recordOffsets(t, log)
		at := offs[len(offs)/2]
		patchFile(t, log, func(b []byte) []byte { b[at+20] ^= 0xff; return b })
		_, err := Load(LoadOptions{DataDir: dir})
		fe := asFileError(t, err, 65552)
		if fe.File != log || fe.Offset != at || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("error %v, want a checksum error in %s at %d", err, log, at)
		}
	})
	t.Run("unreasonable length", func(t *testing.T) {
		dir := fixtureCopy(t)
		log := filepath.Join(dir, VersionDir, "log.11c")
		offs := recordOffsets(t, log)
		patchFile(t, log, func(b []byte) []byte { binary.BigEndian.PutUint32(b[offs[2]+8:], 0x7fff0000); return b })
		_, err := Load(LoadOptions{DataDir: dir})
		if fe := asFileError(t, err, 65552); !errors.Is(err, ErrTooLarge) || fe.Offset != offs[2] {
			t.Fatalf("error %v, want too large at %d", err, offs[2])
		}
	})
	t.Run("torn last record", func(t *testing.T) {
		// Cut the last log inside each of its records in turn: the import ends at
		// the record before, exactly as ZooKeeper would.
		orig, err := os.ReadFile(filepath.Join(fixtureDir, VersionDir, "log.11c"))
		if err != nil {
			t.Fatal(err)
		}
		offs := recordOffsets(t, filepath.Join(fixtureDir, VersionDir, "log.11c"))
		for i, at := range offs {
			for _, cut := range []int64{at + 5, at + 30} {
				dir := fixtureCopy(t)
				log := filepath.Join(dir, VersionDir, "log.11c")
				if err := os.WriteFile(log, orig[:cut], 0o644); err != nil {
					t.Fatal(err)
				}
				db, err := Load(LoadOptions{DataDir: dir})
				if err != nil {
					t.Fatalf("cut at %d: %v", cut, err)
				}
				// log.11c starts at 0x11c; 0x11b was the last txn of log.d8.
				if want := int64(0x11c + i - 1); db.Summary.LastZxid != want {
					t.Fatalf("cut at %d: last zxid %#x, want %#x", cut, db.Summary.LastZxid, want)
				}
				if !strings.Contains(strings.Join(db.Summary.Warnings, "\n"), "torn record") {
					t.Fatalf("cut at %d: no warning about the torn record", cut)
				}
			}
		}
		// A record whose end byte is not 'B' (a partial write) ends the data too.
		dir := fixtureCopy(t)
		log := filepath.Join(dir, VersionDir, "log.11c")
		end := offs[len(offs)-1]
		patchFile(t, log, func(b []byte) []byte {
			n := int64(binary.BigEndian.Uint32(b[end+8:]))
			b[end+12+n] = 0
			return b
		})
		db, err := Load(LoadOptions{DataDir: dir})
		if err != nil || db.Summary.LastZxid != 0x121 {
			t.Fatalf("missing end byte: %v, last zxid %#x", err, db.Summary.LastZxid)
		}
	})
	t.Run("torn record in a middle log leaves a hole", func(t *testing.T) {
		dir := fixtureCopy(t)
		log := filepath.Join(dir, VersionDir, "log.d8")
		offs := recordOffsets(t, log)
		patchFile(t, log, func(b []byte) []byte { return b[:offs[len(offs)-1]+7] })
		_, err := Load(LoadOptions{DataDir: dir})
		if !errors.Is(err, ErrLogGap) {
			t.Fatalf("error %v, want %v", err, ErrLogGap)
		}
		asFileError(t, err, 65552)
	})
	t.Run("missing log file", func(t *testing.T) {
		dir := copyDir(t, fixtureDir, func(n string) bool {
			return n != "log.97" && (!strings.HasPrefix(n, "snapshot.") || n == "snapshot.56")
		})
		_, err := Load(LoadOptions{DataDir: dir})
		if !errors.Is(err, ErrLogGap) || !strings.Contains(err.Error(), "0x96") {
			t.Fatalf("error %v, want a gap after 0x96", err)
		}
	})
	t.Run("bad magic", func(t *testing.T) {
		dir := fixtureCopy(t)
		log := filepath.Join(dir, VersionDir, "log.11c")
		patchFile(t, log, func(b []byte) []byte { b[0] = 'X'; return b })
		_, err := Load(LoadOptions{DataDir: dir})
		if fe := asFileError(t, err, 65552); fe.File != log || fe.Offset != 0 {
			t.Fatalf("error %v", err)
		}
	})
}

// TestUnreadableSnapshotFallsBack damages the newest snapshot: Load uses the one
// before it, as ZooKeeper does, replays further, and says so.
func TestUnreadableSnapshotFallsBack(t *testing.T) {
	dir := fixtureCopy(t)
	snap := filepath.Join(dir, VersionDir, "snapshot.11a")
	patchFile(t, snap, func(b []byte) []byte { b[200] ^= 1; return b })
	db, err := Load(LoadOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(db.Summary.Snapshot) != "snapshot.d6" || db.Summary.LastZxid != 0x122 {
		t.Fatalf("used %s, last zxid %#x", db.Summary.Snapshot, db.Summary.LastZxid)
	}
	if w := strings.Join(db.Summary.Warnings, "\n"); !strings.Contains(w, "snapshot.11a") || !strings.Contains(w, "offset") {
		t.Fatalf("warnings %q do not locate the damage", w)
	}
	// With every snapshot damaged, the error names each.
	for _, n := range []string{"snapshot.0", "snapshot.56", "snapshot.95", "snapshot.d6"} {
		patchFile(t, filepath.Join(dir, VersionDir, n), func(b []byte) []byte { b[20] ^= 1; return b })
	}
	_, err = Load(LoadOptions{DataDir: dir})
	if err == nil || strings.Count(err.Error(), "snapshot.") < 5 {
		t.Fatalf("error %v", err)
	}
	asFileError(t, err, 1<<20)
}

// TestFailedImportWritesNothing checks that an import that fails, on corrupt
// input or on a target that already holds zkd data, leaves the target as it was.
func TestFailedImportWritesNothing(t *testing.T) {
	src := fixtureCopy(t)
	log := filepath.Join(src, VersionDir, "log.11c")
	offs := recordOffsets(t, log)
	patchFile(t, log, func(b []byte) []byte { b[offs[1]+16] ^= 1; return b })
	to := t.TempDir()
	if _, err := Import(ImportOptions{From: LoadOptions{DataDir: src}, To: to}); err == nil {
		t.Fatal("import of a corrupt log succeeded")
	}
	if ents, _ := os.ReadDir(to); len(ents) != 0 {
		t.Fatalf("failed import left %v", ents)
	}
	// A target with zkd data is refused before anything is read.
	busy := t.TempDir()
	marker := filepath.Join(busy, "zkd", "snapshots", "snap-0000000000000001")
	if err := os.MkdirAll(filepath.Dir(marker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ImportOptions{From: LoadOptions{DataDir: fixtureDir}, To: busy}); !errors.Is(err, ErrTargetExists) {
		t.Fatalf("import over zkd data: %v", err)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "x" {
		t.Fatal("existing zkd data was touched")
	}
	if ents, _ := os.ReadDir(busy); len(ents) != 1 {
		t.Fatalf("refused import left %v", ents)
	}
}
