package vfs

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
)

// MemFS is an in-memory FS that remembers what is durable, for crash tests.
//
// Each file has its current bytes and its durable bytes (as of its last Sync); each
// directory has its current names and its durable names (as of its last SyncDir).
// Changes not yet made durable are kept, in the order they were made, so that
// CrashClone can decide which of them survive a crash. Every mutating operation is
// also recorded in a history, so that CrashCloneAt can rebuild what the disk held
// at any earlier instant, down to a byte inside a write. An Injector can fail or
// crash any operation.
//
// Simplifications: directories exist (and are durable) from MkdirAll on; Rename
// stays within one directory; file modes and times are not kept.
//
// A MemFS is safe for concurrent use; its files are too.
type MemFS struct {
	mu sync.Mutex
	// st is the current state; guarded by mu.
	st *memState
	// base is the state history starts from (empty for NewMem); immutable.
	base *memState
	// history holds every operation that changed st, in order; guarded by mu.
	// Invariant: replaying history onto a clone of base yields st.
	history []histOp
	// ops counts mutating calls, failed ones included: the next Op.N. Guarded by mu.
	ops int64
	// written counts bytes that landed through writes; guarded by mu.
	written int64
	// inject decides faults; guarded by mu; nil injects nothing.
	inject Injector
	// crashed is set when an Injector crashed the FS; guarded by mu.
	crashed bool
	// open counts files opened and not yet closed; guarded by mu.
	openFiles int
	// cursor caches the replay of CrashCloneAt so that increasing crash points cost
	// one pass over history; guarded by mu. Invariant: cursor.st is base with
	// history[:cursor.next] applied.
	cursor struct {
		st   *memState
		next int
	}
}

// NewMem returns an empty in-memory FS.
func NewMem() *MemFS {
	st := newMemState()
	return &MemFS{st: st, base: st.clone()}
}

// SetInjector installs f (nil removes it). It sees every later mutating operation.
func (m *MemFS) SetInjector(f Injector) {
	m.mu.Lock()
	m.inject = f
	m.mu.Unlock()
}

// Ops returns the number of mutating operations so far, failed ones included: the
// Op.N the next one will get.
func (m *MemFS) Ops() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// Written returns the bytes written so far.
func (m *MemFS) Written() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written
}

// OpenFiles returns the number of files opened and not yet closed, for leak checks.
func (m *MemFS) OpenFiles() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.openFiles
}

// Crashed reports whether an Injector crashed the FS.
func (m *MemFS) Crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashed
}

// begin numbers a mutating operation and asks the injector about it.
// REQUIRES: m.mu held.
func (m *MemFS) begin(op Op) (Fault, error) {
	if m.crashed {
		return Fault{}, ErrCrashed
	}
	op.N = m.ops
	op.Written = m.written
	m.ops++
	if m.inject == nil {
		return Fault{}, nil
	}
	f := m.inject(op)
	if f.Crash {
		m.crashed = true
	}
	return f, nil
}

// simpleOp runs a mutating operation that is not a write.
// REQUIRES: m.mu held.
func (m *MemFS) simpleOp(kind OpKind, path string, do func() (histOp, error)) error {
	f, err := m.begin(Op{Kind: kind, Path: path})
	if err != nil {
		return err
	}
	if f.Crash {
		return ErrCrashed
	}
	if f.Err != nil {
		return f.Err
	}
	h, err := do()
	if err != nil {
		return err
	}
	h.n = m.ops - 1
	m.history = append(m.history, h)
	return nil
}

func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// clean normalises a name the way every MemFS map keys it.
func clean(name string) string { return filepath.Clean(name) }

func (m *MemFS) Create(name string) (File, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	var ino uint64
	err := m.simpleOp(OpCreate, name, func() (histOp, error) {
		var err error
		ino, err = m.st.create(name)
		return histOp{kind: OpCreate, path: name}, err
	})
	if err != nil {
		return nil, pathErr("create", name, err)
	}
	m.openFiles++
	return &memFile{fs: m, ino: ino, name: name, writable: true}, nil
}

func (m *MemFS) open(name string, writable bool) (File, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, pathErr("open", name, ErrCrashed)
	}
	ino, ok := m.st.lookup(name)
	if !ok {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	m.openFiles++
	return &memFile{fs: m, ino: ino, name: name, writable: writable}, nil
}

func (m *MemFS) Open(name string) (File, error)          { return m.open(name, false) }
func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, true) }

func (m *MemFS) Remove(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	return pathErr("remove", name, m.simpleOp(OpRemove, name, func() (histOp, error) {
		return histOp{kind: OpRemove, path: name}, m.st.remove(name)
	}))
}

func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = clean(oldname), clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	return pathErr("rename", oldname, m.simpleOp(OpRename, oldname, func() (histOp, error) {
		return histOp{kind: OpRename, path: oldname, path2: newname}, m.st.rename(oldname, newname)
	}))
}

func (m *MemFS) MkdirAll(dir string) error {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	return pathErr("mkdir", dir, m.simpleOp(OpMkdirAll, dir, func() (histOp, error) {
		return histOp{kind: OpMkdirAll, path: dir}, m.st.mkdirAll(dir)
	}))
}

func (m *MemFS) SyncDir(dir string) error {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	return pathErr("fsync", dir, m.simpleOp(OpSyncDir, dir, func() (histOp, error) {
		return histOp{kind: OpSyncDir, path: dir}, m.st.syncDir(dir)
	}))
}

func (m *MemFS) ReadDir(dir string) ([]string, error) {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, pathErr("readdir", dir, ErrCrashed)
	}
	names, err := m.st.readDir(dir)
	return names, pathErr("readdir", dir, err)
}

// memFile is an open MemFS file. Its offset is guarded by the MemFS lock.
type memFile struct {
	fs       *MemFS
	ino      uint64 // immutable
	name     string // immutable
	writable bool   // immutable
	pos      int64  // guarded by fs.mu
	closed   bool   // guarded by fs.mu
}

func (f *memFile) Name() string { return f.name }

// check returns why f cannot be used now. REQUIRES: f.fs.mu held.
func (f *memFile) check(write bool) error {
	switch {
	case f.fs.crashed:
		return ErrCrashed
	case f.closed:
		return fs.ErrClosed
	case write && !f.writable:
		return syscall.EBADF
	}
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	f.fs.openFiles--
	return nil
}

func (f *memFile) readAtLocked(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	data := f.fs.st.inodes[f.ino].data
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, pathErr("read", f.name, err)
	}
	n, err := f.readAtLocked(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		err = pathErr("read", f.name, err)
	}
	return n, err
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, pathErr("read", f.name, err)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.readAtLocked(p, f.pos)
	f.pos += int64(n)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// writeAtLocked is Write and WriteAt. REQUIRES: f.fs.mu held.
func (f *memFile) writeAtLocked(p []byte, off int64) (int, error) {
	m := f.fs
	if err := f.check(true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	fault, err := m.begin(Op{Kind: OpWrite, Path: f.name, Len: len(p)})
	if err != nil {
		return 0, err
	}
	keep := len(p)
	if fault.Crash || fault.Err != nil {
		keep = min(max(fault.Keep, 0), len(p))
	}
	if keep > 0 {
		data := slices.Clone(p[:keep])
		m.st.writeAt(f.ino, off, data)
		m.history = append(m.history, histOp{n: m.ops - 1, kind: OpWrite, path: f.name, ino: f.ino, off: off,
			data: data, written: m.written})
		m.written += int64(keep)
	}
	switch {
	case fault.Crash:
		return keep, ErrCrashed
	case fault.Err != nil:
		return keep, fault.Err
	}
	return keep, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n, err := f.writeAtLocked(p, off)
	return n, pathErr("write", f.name, err)
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n, err := f.writeAtLocked(p, f.pos)
	f.pos += int64(n)
	return n, pathErr("write", f.name, err)
}

// fileOp runs a mutating file operation that is not a write.
func (f *memFile) fileOp(kind OpKind, name string, do func(st *memState) histOp) error {
	m := f.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := f.check(kind != OpSync); err != nil {
		return pathErr(name, f.name, err)
	}
	return pathErr(name, f.name, m.simpleOp(kind, f.name, func() (histOp, error) {
		h := do(m.st)
		h.path = f.name
		return h, nil
	}))
}

func (f *memFile) Sync() error {
	return f.fileOp(OpSync, "fdatasync", func(st *memState) histOp {
		st.sync(f.ino)
		return histOp{kind: OpSync, ino: f.ino}
	})
}

func (f *memFile) Truncate(size int64) error {
	if size < 0 {
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	return f.fileOp(OpTruncate, "truncate", func(st *memState) histOp {
		st.truncate(f.ino, size)
		return histOp{kind: OpTruncate, ino: f.ino, size: size}
	})
}

func (f *memFile) Preallocate(off, n int64) error {
	if off < 0 || n <= 0 {
		return pathErr("fallocate", f.name, syscall.EINVAL)
	}
	return f.fileOp(OpPreallocate, "fallocate", func(st *memState) histOp {
		st.extend(f.ino, off+n)
		return histOp{kind: OpPreallocate, ino: f.ino, size: off + n}
	})
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check(false); err != nil {
		return 0, pathErr("stat", f.name, err)
	}
	return int64(len(f.fs.st.inodes[f.ino].data)), nil
}
