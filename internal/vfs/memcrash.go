package vfs

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Unsynced says which changes that were made but not yet made durable survive a
// crash in CrashClone.
type Unsynced uint8

const (
	// DropUnsynced keeps only what Sync and SyncDir made durable: the strict model.
	DropUnsynced Unsynced = iota
	// KeepUnsynced keeps every change, as if the page cache reached the disk.
	KeepUnsynced
	// PrefixUnsynced keeps the unsynced changes in the order they were made, up to
	// CrashOptions.Bytes bytes of writes: the last write kept may be torn.
	PrefixUnsynced
	// ScrambleUnsynced keeps each sector-aligned piece of every unsynced write, or
	// not, at random (CrashOptions.Seed): out-of-order writeback. Unsynced metadata
	// changes (sizes, names) all survive.
	ScrambleUnsynced
)

func (u Unsynced) String() string {
	switch u {
	case DropUnsynced:
		return "drop-unsynced"
	case KeepUnsynced:
		return "keep-unsynced"
	case PrefixUnsynced:
		return "prefix-unsynced"
	case ScrambleUnsynced:
		return "scramble-unsynced"
	}
	return "unsynced(" + strconv.Itoa(int(u)) + ")"
}

// SectorSize is the default unit ScrambleUnsynced keeps or loses.
const SectorSize = 512

// CrashOptions says what a simulated crash keeps.
type CrashOptions struct {
	Unsynced Unsynced
	Bytes    int64  // for PrefixUnsynced
	Seed     uint64 // for ScrambleUnsynced
	Sector   int    // for ScrambleUnsynced; 0 means SectorSize
}

// CrashPoint is an instant in a MemFS's history: before mutating operation Op
// (an Op.N), with the first Bytes bytes of it already landed if it is a write.
type CrashPoint struct {
	Op    int64
	Bytes int
}

// CrashClone returns a new MemFS holding what would be on disk if the machine lost
// power now: the durable state, plus the unsynced changes opts keeps. The new FS has
// no open files, no injector, and a history that starts from this state. m is not
// changed (and may keep running, or stay crashed).
func (m *MemFS) CrashClone(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return crashed(m.st, opts)
}

// CrashCloneAt is CrashClone at an earlier instant of m's history. Calls with
// non-decreasing points cost one pass over the history in total.
func (m *MemFS) CrashCloneAt(p CrashPoint, opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.historyIndex(p.Op)
	if m.cursor.st == nil || m.cursor.next > i {
		m.cursor.st, m.cursor.next = m.base.clone(), 0
	}
	for ; m.cursor.next < i; m.cursor.next++ {
		m.cursor.st.apply(m.history[m.cursor.next])
	}
	st := m.cursor.st
	if i < len(m.history) {
		if h := m.history[i]; h.n == p.Op && h.kind == OpWrite && p.Bytes > 0 {
			st = st.clone()
			h.data = h.data[:min(p.Bytes, len(h.data))]
			st.apply(h)
		}
	}
	return crashed(st, opts)
}

// historyIndex returns the index of the first history entry of operation op or later.
// REQUIRES: m.mu held.
func (m *MemFS) historyIndex(op int64) int {
	i, _ := slices.BinarySearchFunc(m.history, op, func(h histOp, op int64) int {
		switch {
		case h.n < op:
			return -1
		case h.n > op:
			return 1
		}
		return 0
	})
	return i
}

// CrashPoints lists every distinct instant of m's history so far: before each
// operation, and after each byte but the last of each write. Crashing at all of them
// covers every state a crash could leave under the prefix models.
func (m *MemFS) CrashPoints() []CrashPoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	pts := make([]CrashPoint, 0, m.ops+1+m.written)
	h := 0
	for op := int64(0); op <= m.ops; op++ {
		pts = append(pts, CrashPoint{Op: op})
		for ; h < len(m.history) && m.history[h].n < op; h++ {
		}
		if h < len(m.history) && m.history[h].n == op && m.history[h].kind == OpWrite {
			for b := 1; b < len(m.history[h].data); b++ {
				pts = append(pts, CrashPoint{Op: op, Bytes: b})
			}
		}
	}
	return pts
}

// OpAt describes operation n of m's history as its Injector saw it, if it
// changed anything (a failed operation did not, except the bytes a failed write
// kept, which Len then counts).
func (m *MemFS) OpAt(n int64) (Op, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.historyIndex(n)
	if i == len(m.history) || m.history[i].n != n {
		return Op{}, false
	}
	h := m.history[i]
	return Op{N: n, Kind: h.kind, Path: h.path, Len: len(h.data), Written: h.written}, true
}

// PointAtByte returns the crash point after exactly n bytes of writes.
func (m *MemFS) PointAtByte(n int64) CrashPoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	var w int64
	for _, h := range m.history {
		if h.kind != OpWrite {
			continue
		}
		if w+int64(len(h.data)) > n {
			return CrashPoint{Op: h.n, Bytes: int(n - w)}
		}
		w += int64(len(h.data))
	}
	return CrashPoint{Op: m.ops}
}

// crashed builds the post-crash FS from st.
func crashed(st *memState, opts CrashOptions) *MemFS {
	ns := &memState{dirs: make(map[string]*memDir, len(st.dirs)),
		inodes: make(map[uint64]*inode, len(st.inodes)), nextIno: st.nextIno}
	for p, d := range st.dirs {
		ns.dirs[p] = &memDir{names: clone(d.durable)}
	}
	for id, in := range st.inodes {
		ns.inodes[id] = &inode{data: slices.Clone(in.durable)}
	}
	budget := opts.Bytes
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	for _, op := range st.pending {
		switch opts.Unsynced {
		case DropUnsynced:
			continue
		case PrefixUnsynced:
			if budget <= 0 {
				continue
			}
			if op.kind == pendWrite {
				if int64(len(op.data)) > budget {
					op.data = op.data[:budget]
				}
				budget -= int64(len(op.data))
			}
		case ScrambleUnsynced:
			if op.kind == pendWrite {
				scramble(ns, op, rng, cmp.Or(opts.Sector, SectorSize))
				continue
			}
		}
		ns.replay(op)
	}
	for _, d := range ns.dirs {
		d.durable = clone(d.names)
	}
	for _, in := range ns.inodes {
		in.durable = slices.Clone(in.data)
	}
	return &MemFS{st: ns, base: ns.clone()}
}

// scramble applies the sectors of a write that rng keeps.
func scramble(ns *memState, op pendOp, rng *rand.Rand, sector int) {
	for lo := 0; lo < len(op.data); {
		hi := min(len(op.data), lo+sector-int((op.off+int64(lo))%int64(sector)))
		if rng.IntN(2) == 0 {
			ns.replay(pendOp{kind: pendWrite, ino: op.ino, off: op.off + int64(lo), data: op.data[lo:hi]})
		}
		lo = hi
	}
}

// replay makes one pending change on a post-crash state, which keeps no pending list.
func (ns *memState) replay(op pendOp) {
	switch op.kind {
	case pendWrite:
		in := ns.inodes[op.ino]
		in.data = writeBytes(in.data, op.off, op.data)
	case pendSize:
		in := ns.inodes[op.ino]
		in.data = resize(in.data, op.size)
	case pendExtend:
		if in := ns.inodes[op.ino]; int64(len(in.data)) < op.size {
			in.data = resize(in.data, op.size)
		}
	case pendLink:
		ns.dirs[op.dir].names[op.name] = op.ino
	case pendUnlink:
		delete(ns.dirs[op.dir].names, op.name)
	case pendRename:
		d := ns.dirs[op.dir]
		if d.names[op.name] == op.ino {
			delete(d.names, op.name)
		}
		d.names[op.name2] = op.ino
	}
}

func clone(m map[string]uint64) map[string]uint64 {
	c := make(map[string]uint64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
