package vfs

import (
	"cmp"
	"io"
)

// File is an open file. Read and Write use the file's own offset; ReadAt and WriteAt
// do not touch it and may run concurrently with each other on any ranges (what a
// reader sees of a range being written is unspecified, so callers keep readers off
// unsynced ranges).
type File interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's data, and the metadata needed to read it back (its size
	// and allocation), durable: fdatasync(2). It does not make the file's name durable;
	// that is FS.SyncDir's job.
	Sync() error
	// Truncate sets the size; bytes past the old size read as zero.
	Truncate(size int64) error
	// Preallocate reserves disk space for [off, off+n) and extends the size to at
	// least off+n; the new bytes read as zero. Like any size change it is durable
	// only after Sync.
	Preallocate(off, n int64) error
	// Size returns the current size in bytes.
	Size() (int64, error)
	// Name returns the name the file was opened with.
	Name() string
}

// FS is the filesystem seam of txnlog and snapshot: exactly the calls they make,
// so that a test can swap in NewMem and crash it, fill it, or fail it on purpose.
// Names are slash- or OS-separated paths as filepath understands them. Errors are
// *fs.PathError values wrapping fs.ErrNotExist, fs.ErrExist or the errno, so
// callers test them with errors.Is.
type FS interface {
	// Create opens name read-write, creating it or truncating it to zero bytes.
	// The new name is durable only after SyncDir of its directory.
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file read-write without truncating it.
	OpenReadWrite(name string) (File, error)
	// Remove unlinks a file. Open handles stay readable. Durable after SyncDir.
	Remove(name string) error
	// Rename atomically replaces newname with oldname. Both must be in the same
	// directory (NewMem refuses others). Durable after SyncDir.
	Rename(oldname, newname string) error
	// ReadDir returns the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string) error
	// SyncDir makes the names in dir durable: creates, renames and removes made
	// before it survive a crash (fsync(2) on the directory).
	SyncDir(dir string) error
}

var (
	_ FS = osFS{}
	_ FS = (*MemFS)(nil)
)

// mapper is implemented by files that can map their bytes into memory.
type mapper interface {
	mapReadOnly(n int) (buf []byte, unmap func() error, err error)
}

// ReadAll returns the first n bytes of f, which must not change until release is
// called. An OS file on Linux is mapped, not read: the bytes are the page
// cache's, so a 64 MiB log segment costs no copy and no fresh memory. Fresh
// memory is expensive on a virtual machine: a restart reading its log's last
// segment into a new buffer spent 0.3 s faulting that buffer in. Other files,
// and a file the kernel will not map, are read into a new buffer.
func ReadAll(f File, n int) (buf []byte, release func(), err error) {
	if m, ok := f.(mapper); ok && n > 0 {
		// NB: a mapping past the end of the file would fault (SIGBUS) when read.
		if size, err := f.Size(); err != nil || int64(n) > size {
			return nil, nil, cmp.Or(err, io.ErrUnexpectedEOF)
		}
		if buf, unmap, err := m.mapReadOnly(n); err == nil {
			return buf, func() { _ = unmap() }, nil
		}
	}
	buf = make([]byte, n)
	if got, err := f.ReadAt(buf, 0); got != n {
		return nil, nil, cmp.Or(err, io.ErrUnexpectedEOF)
	}
	return buf, func() {}, nil
}
