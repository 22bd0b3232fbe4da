package datatree

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"zkd/jute"
)

// NodeImage is one znode as a snapshot stores it: StatPersisted plus path, data
// and ACL. Data and ACL alias the tree's immutable copies.
type NodeImage struct {
	Path     string
	Data     []byte
	ACL      []jute.ACL
	Czxid    int64
	Mzxid    int64
	Ctime    int64
	Mtime    int64
	Version  int32
	Cversion int32
	Aversion int32
	Owner    int64 // ephemeralOwner as stored: session id, container or TTL marker
	Pzxid    int64

	blob []byte // set by Own: Path and Data in one allocation, for Restore to adopt
}

// SessionImage is one live session as a snapshot stores it.
type SessionImage struct {
	ID      jute.SessionID
	Timeout int32
	// Conn and LastSeq are the connection the session is attached to and its last
	// applied write (Txn.Conn, Txn.ConnSeq): replicated state, so they travel with
	// the snapshot.
	Conn    uint64
	LastSeq uint64
}

func (t *Tree) imageOf(path string, n *node) NodeImage {
	return NodeImage{Path: path, Data: n.data(), ACL: t.aclOf(n), Czxid: n.czxid, Mzxid: n.mzxid,
		Ctime: n.ctime, Mtime: n.mtime, Version: n.version, Cversion: n.cversion,
		Aversion: n.aversion, Owner: n.owner, Pzxid: n.pzxid}
}

// cowState implements copy-on-write snapshots: while an Image is open the applier
// saves a node's freeze-time state before it first changes the node, so the
// writer can stream a consistent image while clients keep reading and writing.
//
// The writer copies the node store in id order, a chunk at a time, so that it
// reads the nodes (and, mostly, their blobs, allocated as the ids were handed
// out) front to back; in the stripes' hash order every node and blob was a cache
// miss, most of a snapshot's time. A preimage is needed only for a node whose id
// the writer has not reached yet (copied), and only for ids handed out before the
// freeze (high): a node created after it under a new id is never reached. A node
// created after the freeze under a reused id is marked as not in the image (a nil
// preimage), unless the id's freeze-time node already left its preimage there.
//
// Every field is guarded by Tree.applyMu, which the applier holds for a whole
// entry and the writer while it copies one chunk.
type cowState struct {
	high   nodeID // ids at or above it were handed out after the freeze
	copied nodeID // the writer has copied every id below it
	// pre is the freeze-time state by id (a nil image: not in the image); the
	// map itself is nil while no Image is open.
	pre map[nodeID]*NodeImage
}

// ErrImageOpen is returned by Freeze while another Image is still open.
var ErrImageOpen = errors.New("datatree: a snapshot image is already open")

// Image is the tree as it was at one applied zxid, readable while the tree moves on.
type Image struct {
	t        *Tree
	zxid     jute.Zxid
	sessions []SessionImage
	done     bool
}

// Freeze opens an Image of the tree as of the last applied entry. It must be called
// on the apply goroutine between entries (it is O(sessions), not O(nodes)); Release
// the Image when done with it.
func (t *Tree) Freeze() (*Image, error) {
	t.applyMu.Lock()
	defer t.applyMu.Unlock()
	if t.cow.pre != nil {
		return nil, ErrImageOpen
	}
	t.cow = cowState{high: t.nodes.high, copied: 1, pre: make(map[nodeID]*NodeImage)}
	im := &Image{t: t, zxid: t.LastZxid()}
	t.sessions.RLock()
	for id, st := range t.sessions.byID {
		im.sessions = append(im.sessions, SessionImage{ID: id, Timeout: st.timeout, Conn: st.conn, LastSeq: st.lastSeq})
	}
	t.sessions.RUnlock()
	return im, nil
}

// saveImage records the state of node id before the applier first changes it
// while an image is open. born says n is being created: nothing under this id
// is in the image, unless the node the id held at the freeze, deleted since,
// left its preimage here first (which stays). REQUIRES: t.applyMu held (an
// entry being applied).
func (t *Tree) saveImage(id nodeID, n *node, born bool) {
	cw := &t.cow
	if cw.pre == nil || id < cw.copied || id >= cw.high {
		return
	}
	if _, ok := cw.pre[id]; ok {
		return
	}
	if born {
		cw.pre[id] = nil
		return
	}
	img := t.imageOf(n.path(), n)
	cw.pre[id] = &img
}

// Zxid is the last entry the image reflects.
func (im *Image) Zxid() jute.Zxid { return im.zxid }

// Sessions returns the sessions live at the freeze point.
func (im *Image) Sessions() []SessionImage { return im.sessions }

// Nodes calls fn for every node of the image, in no particular order, parents not
// necessarily before children. It may be called once per Image. fn runs without
// the tree's locks (the applier goes on meanwhile) and must not call into the tree
// on the applier's behalf.
func (im *Image) Nodes(fn func(*NodeImage) error) error {
	if im.done {
		return errors.New("datatree: image already read or released")
	}
	t := im.t
	var batch []NodeImage
	for lo := nodeID(1); ; {
		t.applyMu.Lock()
		cw := &t.cow
		if lo >= cw.high {
			t.applyMu.Unlock()
			return nil
		}
		hi := min(cw.high, (lo|(chunkSize-1))+1)
		batch = batch[:0]
		for id := lo; id < hi; id++ {
			if len(cw.pre) > 0 {
				if img, ok := cw.pre[id]; ok {
					if img != nil {
						batch = append(batch, *img)
					}
					continue
				}
			}
			n := t.nodes.at(id)
			if n.blob != nil { // else free since before the freeze
				batch = append(batch, t.imageOf(n.path(), n))
			}
		}
		cw.copied = hi
		t.applyMu.Unlock()
		for j := range batch {
			if err := fn(&batch[j]); err != nil {
				return err
			}
		}
		lo = hi
	}
}

// Release closes the image; the applier stops saving preimages.
func (im *Image) Release() {
	if im.done {
		return
	}
	im.done = true
	t := im.t
	t.applyMu.Lock()
	t.cow = cowState{}
	t.applyMu.Unlock()
}

// ErrBadImage is returned by Restore for an image that is not a tree.
var ErrBadImage = errors.New("datatree: inconsistent snapshot image")

// BlobArena hands out the blobs of restored nodes from shared chunks. A
// million znodes restored one allocation each cost a restart about 0.4 s in
// the allocator alone, and the collector a million objects to mark for as long
// as they live; carved from 64 KiB chunks they are a few thousand. The price:
// a chunk stays allocated while any of its blobs is in use, so data rewritten
// after a restart frees its old blob's bytes only once the rest of its chunk
// has gone too (at worst, the restored data's size again, until the next
// restart). The zero value is ready; one goroutine at a time.
type BlobArena struct {
	free  []byte
	ahead *prefaulter[[arenaChunk]byte] // set between Prefault and its stop
}

// Chunk sizes: a blob larger than arenaMaxBlob gets its own allocation.
const (
	arenaChunk   = 64 << 10
	arenaMaxBlob = 4 << 10
)

func (a *BlobArena) alloc(n int) []byte {
	if a == nil || n > arenaMaxBlob {
		return make([]byte, n)
	}
	if len(a.free) < n {
		a.free = a.ahead.get()[:]
	}
	b := a.free[:n:n]
	a.free = a.free[n:]
	return b
}

// Prefault has the arena's chunks allocated and faulted in ahead of use on
// another goroutine (see prefaulter) until the returned stop is called, by the
// arena's goroutine, once it allocates no more.
func (a *BlobArena) Prefault() (stop func()) {
	a.ahead = prefault[[arenaChunk]byte](64)
	return func() {
		a.ahead.close()
		a.ahead = nil
	}
}

// Own copies the image's path and data into one blob from a (a new
// allocation when a is nil), laid out as the tree stores a node (path bytes,
// then data bytes), so that Restore adopts it instead of copying. A decoder
// calls it on its own goroutine to take that allocation and copy off the
// goroutine that builds the tree; after Own the image's Path and Data no
// longer alias the decoder's buffers.
func (img *NodeImage) Own(a *BlobArena) {
	b := a.alloc(len(img.Path) + len(img.Data))
	copy(b, img.Path)
	copy(b[len(img.Path):], img.Data)
	img.Path = unsafe.String(unsafe.SliceData(b), len(img.Path))
	if img.Data != nil {
		img.Data = b[len(img.Path):len(b):len(b)]
	}
	img.blob = b
}

// Restore builds a tree from a snapshot image: the nodes (any order), the sessions
// and the zxid the image reflects. Children, ephemeral ownership, the reaper's
// candidates and the digest are derived from the nodes. next returns nil at the
// end; the image it returns (and its Path, Data and ACL) need only stay valid
// until the next call, as Restore copies what it keeps (unless the image Owns its
// bytes), so a decoder may reuse its buffers. A run of images with the very same
// ACL slice is interned once.
//
// The build runs in phases: nodes are stored as they arrive; then each stripe's table is built at its final size, half
// the stripes on a second goroutine; then children are linked to parents, split
// between two goroutines by the parent's stripe (every write of a link is to the
// parent or to one of its children), while a third sums the digest.
func Restore(cfg Config, zxid jute.Zxid, sessions []SessionImage, next func() (*NodeImage, error)) (*Tree, error) {
	t := newEmpty(cfg)
	for _, s := range sessions {
		t.sessions.byID[s.ID] = &sessionState{timeout: s.Timeout, conn: s.Conn, lastSeq: s.LastSeq,
			ephemerals: make(map[string]struct{})}
	}
	var lastACL []jute.ACL
	var interned uint32
	defer t.nodes.stopPrefault()
	for {
		img, err := next()
		if err != nil {
			return nil, err
		}
		if img == nil {
			break
		}
		if !ValidatePath(img.Path) {
			return nil, fmt.Errorf("%w: bad path %q", ErrBadImage, img.Path)
		}
		if lastACL == nil || len(img.ACL) != len(lastACL) || len(img.ACL) > 0 && &img.ACL[0] != &lastACL[0] {
			lastACL, interned = img.ACL, t.acls.intern(img.ACL)
		}
		if t.nodes.high == PrefaultFrom && t.nodes.ahead == nil {
			t.nodes.ahead = prefault[nodeChunk](8)
		}
		id := t.nodes.alloc()
		n := t.nodes.at(id)
		if img.blob != nil {
			n.adopt(img.blob, len(img.Path), img.Data == nil)
		} else {
			n.setBlob(img.Path, img.Data)
		}
		n.acl = interned
		n.setStored(persisted{czxid: img.Czxid, mzxid: img.Mzxid, pzxid: img.Pzxid,
			ctime: img.Ctime, mtime: img.Mtime, owner: img.Owner,
			version: img.Version, cversion: img.Cversion, aversion: img.Aversion})
		t.nodeCount.Add(1)
		t.dataBytes.Add(int64(len(img.Path) + len(img.Data)))
	}
	t.nodes.stopPrefault()
	if err := t.buildTables(); err != nil {
		return nil, err
	}
	if id, _ := t.lookupRaw("/"); id == 0 {
		return nil, fmt.Errorf("%w: no root", ErrBadImage)
	}
	if err := t.linkAll(); err != nil {
		return nil, err
	}
	t.lastZxid.Store(int64(zxid))
	return t, nil
}

// onBoth runs f(0) on a new goroutine and f(1) on this one, and returns the first
// error.
func onBoth(f func(half int) error) error {
	errc := make(chan error, 1)
	go func() { errc <- f(0) }()
	err1 := f(1)
	if err0 := <-errc; err0 != nil {
		return err0
	}
	return err1
}

// buildTables sizes every stripe's table for its nodes and fills it, finding
// duplicates. Each half of the stripes is built by one goroutine. Hashes are
// computed again in each pass rather than kept: hashing a path costs less than
// the 8 bytes per node an array of them would leave as garbage.
func (t *Tree) buildTables() error {
	high := t.nodes.high
	var counts [numStripes]int
	for id := nodeID(1); id < high; id++ {
		counts[stripeIndex(pathHash(t.nodes.at(id).path()))]++
	}
	for i, c := range counts {
		if c > 0 {
			t.stripes[i].slots = make([]slot, max(minSlots, c*10/7+1))
		}
	}
	return onBoth(func(half int) error {
		for id := nodeID(1); id < high; id++ {
			path := t.nodes.at(id).path()
			h := pathHash(path)
			si := stripeIndex(h)
			if int(si)&1 != half {
				continue
			}
			s := &t.stripes[si]
			if s.lookup(&t.nodes, h, path) != 0 {
				return fmt.Errorf("%w: duplicate node %q", ErrBadImage, path)
			}
			s.put(slot{blob: t.nodes.at(id).blob, tag: uint32(h >> 32), id: id})
			s.count++
		}
		return nil
	})
}

// linkAll links every node to its parent and derives what follows from the nodes
// (owners, quotas, digest) once all are in place. Nothing else may use the tree
// yet.
func (t *Tree) linkAll() error {
	// The digest needs a CRC of every node: sum it on a goroutine of its own. It
	// reads only the paths, data and stats, which linking leaves alone (linking
	// writes first, next, prev and nkids).
	high := t.nodes.high
	sums := make(chan uint64, 1)
	go func() {
		var sum uint64
		d := new(digester)
		for id := nodeID(1); id < high; id++ {
			sum += d.node(t.nodes.at(id))
		}
		sums <- sum
	}()
	err := onBoth(func(half int) error {
		for id := nodeID(1); id < high; id++ {
			path := t.nodes.at(id).path()
			if path == "/" {
				continue
			}
			parentPath, _ := parentOf(path)
			ph := pathHash(parentPath)
			si := stripeIndex(ph)
			if int(si)&1 != half {
				continue
			}
			parent := t.stripes[si].lookup(&t.nodes, ph, parentPath)
			if parent == 0 {
				return fmt.Errorf("%w: %q has no parent", ErrBadImage, path)
			}
			t.link(parent, id)
		}
		return nil
	})
	digest := <-sums
	if err != nil {
		return err
	}
	for id := nodeID(1); id < high; id++ {
		n := t.nodes.at(id)
		if n.owner == 0 && n.plen < uint32(len(quotaRoot)) {
			continue
		}
		path := n.path()
		switch {
		case n.owner == containerOwner || isTTLOwner(n.owner, t.cfg.ExtendedTypes):
			t.sessions.expiring[jute.Clone(path)] = struct{}{}
		case n.owner != 0:
			if st := t.sessions.byID[jute.SessionID(n.owner)]; st != nil {
				st.ephemerals[jute.Clone(path)] = struct{}{}
			}
		}
		if parentPath, name := parentOf(path); name == quotaLimit && strings.HasPrefix(parentPath, quotaRoot+"/") {
			t.quotas[jute.Clone(parentPath[len(quotaRoot):])] = struct{}{}
		}
	}
	t.work = digest
	t.digest.Store(digest)
	return nil
}
