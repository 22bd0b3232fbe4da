package datatree

import (
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// nodeID names a slot of the node store. 0 is never a node: it stands for "none"
// in child and sibling links.
type nodeID uint32

// persisted is ZooKeeper's StatPersisted as stored: cversion counts the children
// ever created (the sequence counter), owner is the raw ephemeralOwner (session id,
// container or TTL marker).
type persisted struct {
	czxid, mzxid, pzxid int64
	ctime, mtime        int64
	owner               int64
	version             int32
	cversion            int32
	aversion            int32
}

// node is one znode: 96 bytes in a slab, plus its blob. Nothing in a node is a Go
// map or slice, so a million nodes cost the GC one pointer each (blob; its stripe
// slot holds a copy) and no per-node bookkeeping allocations.
//
// Guards. Every field is guarded by the lock of the node's own stripe, except:
//   - next and prev (the links among siblings) are guarded by the stripe of the
//     node's parent, which the applier holds whenever it adds or removes a child;
//   - blob and blen are written with both the node's and its parent's stripes
//     write-locked, so they may be read under either (GetChildren reads children's
//     names under the parent's lock); the copy of blob in the node's stripe slot
//     is updated with it.
//
// The blob holds the path bytes then the data bytes, blen in all, in one
// allocation that blob points to the start of. It is never modified in place:
// setData replaces it whole, so readers may keep slices of it (GetData's result,
// names from GetChildren) after releasing the lock.
type node struct {
	blob *byte
	// The fields of persisted, flat: as an embedded struct its 60 bytes would be
	// padded to 64.
	czxid, mzxid, pzxid int64
	ctime, mtime        int64
	owner               int64
	blen                uint32 // length of the blob
	plen                uint32 // length of the path at the start of blob; nullData flag in the top bit
	acl                 uint32 // index of the node's interned ACL list (aclTable)
	nkids               int32  // number of children
	first               nodeID // a child, or 0; the others follow through next
	next                nodeID // next sibling, or 0
	prev                nodeID // previous sibling, or 0
	version             int32
	cversion            int32
	aversion            int32
}

// stored returns the node's StatPersisted fields.
func (n *node) stored() persisted {
	return persisted{czxid: n.czxid, mzxid: n.mzxid, pzxid: n.pzxid, ctime: n.ctime, mtime: n.mtime,
		owner: n.owner, version: n.version, cversion: n.cversion, aversion: n.aversion}
}

// setStored sets the node's StatPersisted fields.
func (n *node) setStored(p persisted) {
	n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime = p.czxid, p.mzxid, p.pzxid, p.ctime, p.mtime
	n.owner, n.version, n.cversion, n.aversion = p.owner, p.version, p.cversion, p.aversion
}

const nullData = 1 << 31 // in node.plen: the data is null (Java's byte[] null), not empty

// path returns the node's path. It aliases blob, whose path bytes never change.
func (n *node) path() string {
	return unsafe.String(n.blob, int(n.plen&^nullData))
}

// name returns the last component of the path ("" for the root).
func (n *node) name() string {
	p := n.path()
	return p[strings.LastIndexByte(p, '/')+1:]
}

// data returns the node's data: nil for null data, otherwise a slice of blob with
// its capacity cut to its length, so that no append can reach a neighbour.
func (n *node) data() []byte {
	if n.plen&nullData != 0 {
		return nil
	}
	b := unsafe.Slice(n.blob, n.blen)
	return b[n.plen:n.blen:n.blen]
}

func (n *node) dataLen() int { return int(n.blen - n.plen&^nullData) }

// setBlob stores path and data as the node's blob, in one allocation.
func (n *node) setBlob(path string, data []byte) {
	b := make([]byte, len(path)+len(data))
	copy(b, path)
	copy(b[len(path):], data)
	n.adopt(b, len(path), data == nil)
}

// adopt makes b (path bytes then data bytes) the node's blob.
func (n *node) adopt(b []byte, pathLen int, null bool) {
	n.blob, n.blen, n.plen = unsafe.SliceData(b), uint32(len(b)), uint32(pathLen)
	if null {
		n.plen |= nullData
	}
}

// replaceData gives the node new data, keeping its path: a new blob, so that
// readers holding the old data keep an unchanged copy.
func (n *node) replaceData(data []byte) { n.setBlob(n.path(), data) }

// Node slab. Ids index fixed-size chunks; the directory of chunks is republished
// (copied, then swapped atomically) when it grows, and a chunk never moves, so a
// reader holding a stripe lock can reach any node by id without another lock.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

type nodeChunk [chunkSize]node

type nodeStore struct {
	dir  atomic.Pointer[[]*nodeChunk] // published directory; never nil after init
	free []nodeID                     // applier-only: released ids, reused first
	high nodeID                       // applier-only: ids below high have been handed out
	// ahead, while Restore streams nodes in, supplies chunks already faulted in.
	ahead *prefaulter[nodeChunk]
}

func (s *nodeStore) init() {
	dir := make([]*nodeChunk, 0, 16)
	s.dir.Store(&dir)
	s.high = 1 // id 0 is "none"
}

// at returns the node with id. The caller holds the lock that guards what it reads.
func (s *nodeStore) at(id nodeID) *node {
	dir := *s.dir.Load()
	return &dir[id>>chunkBits][id&(chunkSize-1)]
}

// alloc hands out a cleared node slot. Applier only.
func (s *nodeStore) alloc() nodeID {
	if k := len(s.free); k > 0 {
		id := s.free[k-1]
		s.free = s.free[:k-1]
		return id
	}
	id := s.high
	dir := *s.dir.Load()
	if int(id>>chunkBits) >= len(dir) {
		grown := make([]*nodeChunk, len(dir), max(2*len(dir), 16))
		copy(grown, dir)
		grown = append(grown, s.ahead.get())
		s.dir.Store(&grown)
	}
	s.high++
	return id
}

// stopPrefault ends Restore's prefaulting, if it started. Applier only.
func (s *nodeStore) stopPrefault() {
	if s.ahead != nil {
		s.ahead.close()
		s.ahead = nil
	}
}

// release clears a node slot, dropping its blob, and makes the id reusable. The
// node must be unreachable: out of its stripe's table and its parent's children.
func (s *nodeStore) release(id nodeID) {
	*s.at(id) = node{}
	s.free = append(s.free, id)
}

// Stripe table: open addressing with linear probing. A slot holds the node's id,
// 32 bits of its path's hash, and a copy of the node's blob pointer, so that once
// the slot is read the path bytes (to compare) and the node record (for the
// stat) are fetched at the same time: two dependent memory loads per lookup, not
// three. Deletion shifts later entries back (no tombstones), so a probe stops at
// the first empty slot (blob nil). The home slot of a hash is (tag * len) >> 32,
// which allows any table size.
type slot struct {
	blob *byte  // the node's blob, kept equal to node.blob; nil: empty
	tag  uint32 // upper 32 bits of the path's hash
	id   nodeID
}

type stripe struct {
	mu    sync.RWMutex
	slots []slot // guarded by mu
	count int    // guarded by mu: occupied slots
}

const (
	maxLoadNum, maxLoadDen = 4, 5 // grow past 80% full
	minSlots               = 8
)

func pathHash(path string) uint64 { return xxhash.Sum64String(path) }

func stripeIndex(h uint64) uint64 { return h % numStripes }

func home(tag uint32, n int) int { return int(uint64(tag) * uint64(n) >> 32) }

// lookup returns the id of path in s, or 0. REQUIRES: s.mu held (either mode).
func (s *stripe) lookup(ns *nodeStore, h uint64, path string) nodeID {
	n := len(s.slots)
	if n == 0 {
		return 0
	}
	tag := uint32(h >> 32)
	dir := *ns.dir.Load()
	slots := s.slots
	for i := home(tag, n); ; {
		e := &slots[i]
		if e.blob == nil {
			return 0
		}
		if e.tag == tag {
			nd := &dir[e.id>>chunkBits][e.id&(chunkSize-1)]
			if int(nd.plen&^nullData) == len(path) && unsafe.String(e.blob, len(path)) == path {
				return e.id
			}
		}
		if i++; i == n {
			i = 0
		}
	}
}

// insert adds node id (whose blob is blob) under hash h; the path must be absent.
// REQUIRES: s.mu write-locked.
func (s *stripe) insert(h uint64, id nodeID, blob *byte) {
	if (s.count+1)*maxLoadDen > len(s.slots)*maxLoadNum {
		s.grow(max(minSlots, 2*(s.count+1)))
	}
	s.put(slot{blob: blob, tag: uint32(h >> 32), id: id})
	s.count++
}

func (s *stripe) put(e slot) {
	n := len(s.slots)
	for i := home(e.tag, n); ; {
		if s.slots[i].blob == nil {
			s.slots[i] = e
			return
		}
		if i++; i == n {
			i = 0
		}
	}
}

func (s *stripe) grow(size int) {
	old := s.slots
	s.slots = make([]slot, size)
	for _, e := range old {
		if e.blob != nil {
			s.put(e)
		}
	}
}

// find returns the index of id's slot (stored under hash h).
func (s *stripe) find(h uint64, id nodeID) int {
	n := len(s.slots)
	i := home(uint32(h>>32), n)
	for s.slots[i].id != id || s.slots[i].blob == nil {
		if i++; i == n {
			i = 0
		}
	}
	return i
}

// setBlob records node id's new blob. REQUIRES: s.mu write-locked.
func (s *stripe) setBlob(h uint64, id nodeID, blob *byte) { s.slots[s.find(h, id)].blob = blob }

// remove deletes id (stored under hash h). REQUIRES: s.mu write-locked.
func (s *stripe) remove(h uint64, id nodeID) {
	n := len(s.slots)
	i := s.find(h, id)
	// Backward shift: move each later entry of the run into the hole unless its
	// home lies cyclically in (hole, its slot].
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		e := s.slots[j]
		if e.blob == nil {
			break
		}
		hm := home(e.tag, n)
		if i <= j {
			if i < hm && hm <= j {
				continue
			}
		} else if i < hm || hm <= j {
			continue
		}
		s.slots[i] = e
		i = j
	}
	s.slots[i] = slot{}
	s.count--
	if s.count == 0 {
		s.slots = nil
	} else if len(s.slots) > 64 && s.count*8 < len(s.slots) {
		s.grow(2 * s.count) // a stripe emptied by mass deletes gives its memory back
	}
}

// each calls fn for every id in s. REQUIRES: s.mu held.
func (s *stripe) each(fn func(id nodeID)) {
	for _, e := range s.slots {
		if e.blob != nil {
			fn(e.id)
		}
	}
}

// The node layout is part of the memory budget (doc.go): keep it at 96 bytes.
var _ [96 - unsafe.Sizeof(node{})]struct{}
var _ [unsafe.Sizeof(node{}) - 96]struct{}
