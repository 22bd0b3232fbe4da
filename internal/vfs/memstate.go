package vfs

import (
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"syscall"
)

// memState is the whole content of a MemFS: what is visible now, what is durable,
// and the changes in between. It has no lock; MemFS guards it.
type memState struct {
	dirs    map[string]*memDir // by cleaned path
	inodes  map[uint64]*inode  // every inode ever created, linked or not
	nextIno uint64
	// pending holds the changes not yet durable, oldest first. Sync removes a file's
	// data changes, SyncDir a directory's name changes.
	pending []pendOp
}

type memDir struct {
	names   map[string]uint64 // visible now: name -> inode
	durable map[string]uint64 // as of the last SyncDir
}

type inode struct {
	data    []byte // visible now
	durable []byte // as of the last Sync
}

type pendKind uint8

const (
	pendWrite  pendKind = iota + 1 // data at off
	pendSize                       // truncate to size
	pendExtend                     // grow to at least size (preallocate)
	pendLink                       // dir/name -> ino (create)
	pendUnlink                     // dir/name removed
	pendRename                     // dir/name -> dir/name2, atomically
)

// pendOp is one change that is not durable yet. data is never modified.
type pendOp struct {
	kind        pendKind
	ino         uint64
	dir         string
	name, name2 string
	off, size   int64
	data        []byte
}

// histOp is one successful mutating operation, replayable onto a memState.
type histOp struct {
	n       int64 // Op.N of the operation
	kind    OpKind
	path    string // the name operated on (for file operations, the name it was opened by)
	path2   string
	ino     uint64
	off     int64
	size    int64
	data    []byte // never modified
	written int64  // for writes: bytes written before this one
}

func newMemState() *memState {
	st := &memState{dirs: map[string]*memDir{}, inodes: map[uint64]*inode{}, nextIno: 1}
	for _, root := range []string{".", string(filepath.Separator)} {
		st.dirs[root] = newMemDir()
	}
	return st
}

func newMemDir() *memDir {
	return &memDir{names: map[string]uint64{}, durable: map[string]uint64{}}
}

func (st *memState) clone() *memState {
	c := &memState{dirs: make(map[string]*memDir, len(st.dirs)),
		inodes: make(map[uint64]*inode, len(st.inodes)), nextIno: st.nextIno,
		pending: slices.Clone(st.pending)}
	for p, d := range st.dirs {
		c.dirs[p] = &memDir{names: maps.Clone(d.names), durable: maps.Clone(d.durable)}
	}
	for id, in := range st.inodes {
		c.inodes[id] = &inode{data: slices.Clone(in.data), durable: slices.Clone(in.durable)}
	}
	return c
}

// split returns the directory of name, which must exist.
func (st *memState) split(name string) (*memDir, string, string, error) {
	dir, base := filepath.Dir(name), filepath.Base(name)
	d, ok := st.dirs[dir]
	if !ok {
		return nil, dir, base, fs.ErrNotExist
	}
	if _, isDir := st.dirs[name]; isDir {
		return nil, dir, base, syscall.EISDIR
	}
	return d, dir, base, nil
}

func (st *memState) lookup(name string) (uint64, bool) {
	d, _, base, err := st.split(name)
	if err != nil {
		return 0, false
	}
	ino, ok := d.names[base]
	return ino, ok
}

func (st *memState) create(name string) (uint64, error) {
	d, dir, base, err := st.split(name)
	if err != nil {
		return 0, err
	}
	if ino, ok := d.names[base]; ok {
		st.truncate(ino, 0)
		return ino, nil
	}
	ino := st.nextIno
	st.nextIno++
	st.inodes[ino] = &inode{}
	d.names[base] = ino
	st.pending = append(st.pending, pendOp{kind: pendLink, ino: ino, dir: dir, name: base})
	return ino, nil
}

func (st *memState) remove(name string) error {
	d, dir, base, err := st.split(name)
	if err != nil {
		return err
	}
	if _, ok := d.names[base]; !ok {
		return fs.ErrNotExist
	}
	delete(d.names, base)
	st.pending = append(st.pending, pendOp{kind: pendUnlink, dir: dir, name: base})
	return nil
}

func (st *memState) rename(oldname, newname string) error {
	d, dir, base, err := st.split(oldname)
	if err != nil {
		return err
	}
	ino, ok := d.names[base]
	if !ok {
		return fs.ErrNotExist
	}
	if filepath.Dir(newname) != dir {
		return syscall.EXDEV // MemFS keeps renames inside one directory
	}
	base2 := filepath.Base(newname)
	if _, isDir := st.dirs[newname]; isDir {
		return syscall.EISDIR
	}
	delete(d.names, base)
	d.names[base2] = ino
	st.pending = append(st.pending, pendOp{kind: pendRename, ino: ino, dir: dir, name: base, name2: base2})
	return nil
}

func (st *memState) mkdirAll(dir string) error {
	for p := dir; ; p = filepath.Dir(p) {
		if _, ok := st.dirs[p]; ok {
			break
		}
		if d, _, base, err := st.split(p); err == nil {
			if _, isFile := d.names[base]; isFile {
				return syscall.ENOTDIR
			}
		}
		if filepath.Dir(p) == p {
			break
		}
	}
	for p := dir; ; p = filepath.Dir(p) {
		if _, ok := st.dirs[p]; ok {
			return nil
		}
		st.dirs[p] = newMemDir()
	}
}

func (st *memState) syncDir(dir string) error {
	d, ok := st.dirs[dir]
	if !ok {
		return fs.ErrNotExist
	}
	d.durable = maps.Clone(d.names)
	st.pending = slices.DeleteFunc(st.pending, func(op pendOp) bool {
		return op.dir == dir && (op.kind == pendLink || op.kind == pendUnlink || op.kind == pendRename)
	})
	return nil
}

func (st *memState) readDir(dir string) ([]string, error) {
	d, ok := st.dirs[dir]
	if !ok {
		return nil, fs.ErrNotExist
	}
	names := slices.Collect(maps.Keys(d.names))
	for p := range st.dirs {
		if p != dir && filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	slices.Sort(names)
	return names, nil
}

func (st *memState) writeAt(ino uint64, off int64, data []byte) {
	in := st.inodes[ino]
	in.data = writeBytes(in.data, off, data)
	st.pending = append(st.pending, pendOp{kind: pendWrite, ino: ino, off: off, data: data})
}

func (st *memState) truncate(ino uint64, size int64) {
	in := st.inodes[ino]
	in.data = resize(in.data, size)
	st.pending = append(st.pending, pendOp{kind: pendSize, ino: ino, size: size})
}

func (st *memState) extend(ino uint64, size int64) {
	in := st.inodes[ino]
	if int64(len(in.data)) < size {
		in.data = resize(in.data, size)
	}
	st.pending = append(st.pending, pendOp{kind: pendExtend, ino: ino, size: size})
}

func (st *memState) sync(ino uint64) {
	in := st.inodes[ino]
	in.durable = slices.Clone(in.data)
	st.pending = slices.DeleteFunc(st.pending, func(op pendOp) bool {
		return op.ino == ino && (op.kind == pendWrite || op.kind == pendSize || op.kind == pendExtend)
	})
}

// apply replays one history operation. It cannot fail on a state built by the same
// history.
func (st *memState) apply(h histOp) {
	switch h.kind {
	case OpCreate:
		_, _ = st.create(h.path)
	case OpRemove:
		_ = st.remove(h.path)
	case OpRename:
		_ = st.rename(h.path, h.path2)
	case OpMkdirAll:
		_ = st.mkdirAll(h.path)
	case OpSyncDir:
		_ = st.syncDir(h.path)
	case OpWrite:
		st.writeAt(h.ino, h.off, h.data)
	case OpSync:
		st.sync(h.ino)
	case OpTruncate:
		st.truncate(h.ino, h.size)
	case OpPreallocate:
		st.extend(h.ino, h.size)
	}
}

// writeBytes writes data at off into b, growing it with zeros as needed.
func writeBytes(b []byte, off int64, data []byte) []byte {
	if end := off + int64(len(data)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[off:], data)
	return b
}

// resize returns b cut or zero-extended to size bytes.
func resize(b []byte, size int64) []byte {
	if size <= int64(len(b)) {
		clear(b[size:])
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}
