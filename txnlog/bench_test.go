package txnlog

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"zkd/internal/vfs"
)

// snapCount is ZooKeeper's default number of transactions between snapshots.
const snapCount = 100_000

var benchShapes = []struct{ size, batch int }{
	{100, 1}, {100, 32}, {100, 256},
	{1024, 1}, {1024, 32}, {1024, 256},
}

// BenchmarkSave measures Save on the OS filesystem with real fdatasync: each
// iteration is one raft Ready of `batch` entries of `size` bytes plus a commit
// change, as a leader under load hands over. Compare with BenchmarkBaseline, the
// disk's limit for the same bytes with the same batching.
func BenchmarkSave(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, sh := range benchShapes {
			b.Run(fmt.Sprintf("sync=%v/entry=%d/batch=%d", sync, sh.size, sh.batch), func(b *testing.B) {
				l, err := Open(vfs.OS(), b.TempDir(), Options{NoSync: !sync, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				ents := make([]Entry, sh.batch)
				data := make([]byte, sh.size)
				for i := range ents {
					ents[i].Term, ents[i].Data = 1, data
				}
				next, compacted := uint64(1), uint64(0)
				b.SetBytes(int64(sh.size * sh.batch))
				b.ReportAllocs()
				for b.Loop() {
					for i := range ents {
						ents[i].Index = next + uint64(i)
					}
					next += uint64(sh.batch)
					if err := l.Save(&HardState{Term: 1, Vote: 1, Commit: next - 1}, ents); err != nil {
						b.Fatal(err)
					}
					// Compact as quorum does after a snapshot: every snapCount
					// entries, keeping the last 10k for slow followers.
					if next-compacted > snapCount {
						compacted = next - 10_000
						if err := l.Compact(compacted); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkBaseline is the disk's limit for BenchmarkSave's sync=true cases: each
// iteration writes as many bytes as one Save does (framing included) and calls
// fdatasync, with os.File directly. file=append is plain appends to a growing file;
// file=zeroed overwrites, in a circle, a 64 MiB file zero-filled beforehand (what
// the log's preparer gives it), so no fdatasync has metadata to commit.
func BenchmarkBaseline(b *testing.B) {
	for _, zeroed := range []bool{false, true} {
		for _, sh := range benchShapes {
			name := "append"
			if zeroed {
				name = "zeroed"
			}
			b.Run(fmt.Sprintf("file=%s/entry=%d/batch=%d", name, sh.size, sh.batch), func(b *testing.B) {
				benchBaseline(b, zeroed, sh.size, sh.batch)
			})
		}
	}
}

func benchBaseline(b *testing.B, zeroed bool, size, batch int) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if zeroed {
		flags = os.O_WRONLY | os.O_CREATE
	}
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "baseline"), flags, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const fileSize = DefaultSegmentSize
	if zeroed {
		if err := zeroFill(vfsFile{f}, 0, fileSize); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	ents := make([]Entry, batch)
	for i := range ents {
		ents[i].Data = make([]byte, size)
	}
	buf := make([]byte, batchSize(&HardState{}, ents))
	fd := int(f.Fd())
	off := int64(0)
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	for b.Loop() {
		if zeroed {
			if off+int64(len(buf)) > fileSize {
				off = 0
			}
			if _, err := f.WriteAt(buf, off); err != nil {
				b.Fatal(err)
			}
			off += int64(len(buf))
		} else if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(fd); err != nil {
			b.Fatal(err)
		}
	}
}

// vfsFile lends an *os.File to zeroFill.
type vfsFile struct{ *os.File }

func (vfsFile) Preallocate(off, n int64) error { return nil }
func (f vfsFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// BenchmarkOpen measures a restart's log replay: Open of a log whose last
// segment (64 MiB, preallocated) holds 60,000 entries of 200 bytes, about what a
// server writes between two snapshots of a busy tree.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(vfs.OS(), dir, Options{NoSync: true, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	const entries, batch = 60_000, 100
	ents := make([]Entry, batch)
	data := make([]byte, 200)
	for i := range ents {
		ents[i].Term, ents[i].Data = 1, data
	}
	for next := uint64(1); next <= entries; next += batch {
		for i := range ents {
			ents[i].Index = next + uint64(i)
		}
		if err := l.Save(&HardState{Term: 1, Vote: 1, Commit: next + batch - 1}, ents); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l, err := Open(vfs.OS(), dir, Options{NoSync: true, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if l.LastIndex() != entries {
			b.Fatalf("last index %d, want %d", l.LastIndex(), entries)
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
