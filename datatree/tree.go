package datatree

import (
	"strings"
	"sync"
	"sync/atomic"

	"zkd/jute"
)

const numStripes = 256

// Markers stored in ephemeralOwner for node kinds that have no owning session.
const (
	containerOwner int64 = -0x8000000000000000 // 0x8000000000000000
	ttlMask        int64 = -0x0100000000000000 // 0xFF00000000000000
	maxTTL         int64 = 0xFF_FFFF_FFFF
)

// Config holds the behaviour switches of the tree. It is fixed for the tree's life.
type Config struct {
	// ExtendedTypes enables TTL nodes (zookeeper.extendedTypesEnabled).
	ExtendedTypes bool
	// SkipACL disables every permission check (zookeeper.skipACL=yes).
	SkipACL bool
	// Schemes are the registered authentication providers beyond the built-in
	// ones, by scheme ("x509", "sasl"); see Scheme. Read-only once New returns.
	Schemes map[string]Scheme
	// DigestDisabled leaves the built-in digest provider out
	// (zookeeper.DigestAuthenticationProvider.enabled=false): digest ACL entries
	// are invalid in create and setACL.
	DigestDisabled bool
	// EphemeralsDeleted, when set, hears the ephemeral nodes a session's end
	// (its close or its expiry) deleted, in the order deleted, on the applier's
	// goroutine once the entry is applied: the audit log's lines for them.
	EphemeralsDeleted func(session jute.SessionID, paths []string)
}

// stat derives the client-visible Stat; ext is Config.ExtendedTypes.
func (n *node) stat(ext bool) jute.Stat {
	owner := n.owner
	if !isSessionOwner(owner, ext) {
		owner = 0
	}
	nc := n.nkids
	return jute.Stat{
		Czxid: n.czxid, Mzxid: n.mzxid, Ctime: n.ctime, Mtime: n.mtime,
		Version: n.version, Cversion: 2*n.cversion - nc, Aversion: n.aversion,
		EphemeralOwner: owner, DataLength: int32(n.dataLen()), NumChildren: nc,
		Pzxid: n.pzxid,
	}
}

// isTTLOwner reports whether a stored ephemeralOwner is a TTL marker
// (top byte 0xFF, bits 40-55 zero) when extended types are enabled (ext). Without
// them such a value is a session id (myid 255), as in Java's EphemeralType.get
// (spec/semantics.md §5.5).
func isTTLOwner(owner int64, ext bool) bool {
	return ext && owner&ttlMask == ttlMask && owner&0x00FF_FF00_0000_0000 == 0
}

// isSessionOwner reports whether a stored ephemeralOwner names an owning session.
func isSessionOwner(owner int64, ext bool) bool {
	return owner != 0 && owner != containerOwner && !isTTLOwner(owner, ext)
}

// Tree is the replicated state machine of zkd. Reads may be called from any
// goroutine; Apply must be called from one goroutine at a time.
type Tree struct {
	cfg Config
	// observer, when set (Observe, before the tree is shared), hears the tree's
	// figures.
	observer     Observer
	firedScratch []int    // applier only: finish's per-event counts, reused
	applying     applyCtx // applier only: the entry being applied (ApplyTxn)
	stripes      [numStripes]stripe
	nodes        nodeStore // every znode; see node for what guards each field

	sessions struct {
		sync.RWMutex
		// byID holds every live session; guarded by the mutex, written only by Apply.
		byID map[jute.SessionID]*sessionState
		// expiring holds the paths of container and TTL nodes: the reaper's candidates.
		expiring map[string]struct{}
	}

	watches watchManager
	acls    aclTable // interned by the applier only; lists readable under a node's stripe lock
	// applyMu is held by the applier for a whole entry (begin to finish) and by
	// a snapshot's writer while it copies a chunk of nodes: the one lock between
	// them (see cowState).
	applyMu sync.Mutex
	cow     cowState   // snapshot preimages while an Image is open; guarded by applyMu
	quotas  quotaTable // applier-only: paths with a quota

	lastZxid atomic.Int64 // zxid of the last applied entry; set before its locks are released
	// digest is ZooKeeper's tree digest as of lastZxid, published with it.
	digest atomic.Uint64
	// work is the digest as the applier changes nodes; applier-only. Published to
	// digest when an entry finishes, so readers never see a multi's partial sum.
	work      uint64
	dg        *digester    // applier-only
	nodeCount atomic.Int64 // number of znodes, the root included
	dataBytes atomic.Int64 // sum of path and data lengths (mntr approximate_data_size)
}

type sessionState struct {
	timeout int32
	// conn is the client connection the session is attached to (Txn.Conn), and
	// lastSeq the ConnSeq of the last write applied from it.
	conn       uint64
	lastSeq    uint64
	ephemerals map[string]struct{}
}

// New returns a tree holding the special nodes every ZooKeeper database has:
// /, /zookeeper, /zookeeper/quota and /zookeeper/config.
func New(cfg Config) *Tree {
	t := newEmpty(cfg)
	open := t.acls.intern(jute.OpenACLUnsafe)
	empty := []byte{} // Java's new byte[0]: getData returns an empty buffer, not null
	root := t.insertRaw("/", empty, open, persisted{})
	zk := t.insertRaw("/zookeeper", empty, open, persisted{})
	quota := t.insertRaw("/zookeeper/quota", empty, open, persisted{})
	config := t.insertRaw("/zookeeper/config", empty, t.acls.intern(jute.ReadACLUnsafe), persisted{aversion: -1})
	t.link(root, zk)
	t.link(zk, quota)
	t.link(zk, config)
	t.work = t.fullDigest()
	t.digest.Store(t.work)
	return t
}

// newEmpty returns a tree without any node, not even the root.
func newEmpty(cfg Config) *Tree {
	t := &Tree{cfg: cfg, dg: new(digester)}
	t.nodes.init()
	t.sessions.byID = make(map[jute.SessionID]*sessionState)
	t.sessions.expiring = make(map[string]struct{})
	t.watches.init()
	t.acls.init()
	t.quotas = make(quotaTable)
	return t
}

// insertRaw adds a node (unlinked) without locking: for building a tree no reader
// can see yet.
func (t *Tree) insertRaw(path string, data []byte, acl uint32, st persisted) nodeID {
	h := pathHash(path)
	id := t.nodes.alloc()
	n := t.nodes.at(id)
	n.setBlob(path, data)
	n.acl = acl
	n.setStored(st)
	t.stripes[stripeIndex(h)].insert(h, id, n.blob)
	t.nodeCount.Add(1)
	t.dataBytes.Add(int64(len(path) + len(data)))
	return id
}

// link makes child a child of parent. REQUIRES: parent's stripe write-locked (it
// guards the sibling links of parent's children).
func (t *Tree) link(parent, child nodeID) {
	p, c := t.nodes.at(parent), t.nodes.at(child)
	c.prev, c.next = 0, p.first
	if p.first != 0 {
		t.nodes.at(p.first).prev = child
	}
	p.first = child
	p.nkids++
}

// unlink removes child from parent's children. REQUIRES: as link.
func (t *Tree) unlink(parent, child nodeID) {
	p, c := t.nodes.at(parent), t.nodes.at(child)
	if c.prev != 0 {
		t.nodes.at(c.prev).next = c.next
	} else {
		p.first = c.next
	}
	if c.next != 0 {
		t.nodes.at(c.next).prev = c.prev
	}
	c.prev, c.next = 0, 0
	p.nkids--
}

// aclOf returns n's ACL list. REQUIRES: n's stripe held.
func (t *Tree) aclOf(n *node) []jute.ACL { return t.acls.list(n.acl) }

// stripeOf returns the stripe of path and the path's hash.
func (t *Tree) stripeOf(path string) (*stripe, uint64) {
	h := pathHash(path)
	return &t.stripes[stripeIndex(h)], h
}

// lookupRaw finds path without locking: for the applier, the only writer, and for
// trees no reader can see yet.
func (t *Tree) lookupRaw(path string) (nodeID, *node) {
	s, h := t.stripeOf(path)
	id := s.lookup(&t.nodes, h, path)
	if id == 0 {
		return 0, nil
	}
	return id, t.nodes.at(id)
}

// Digest returns ZooKeeper's digest of the whole tree (the sum of NodeDigest over
// every node, mod 2^64) as of LastZxid. Like LastZxid it is published before an
// entry's locks are released, so a reader that has seen an entry's effect reads a
// digest that includes it.
func (t *Tree) Digest() uint64 { return t.digest.Load() }

// LastZxid returns the zxid of the last applied entry.
func (t *Tree) LastZxid() jute.Zxid { return jute.Zxid(t.lastZxid.Load()) }

// NodeCount returns the number of znodes, the root included.
func (t *Tree) NodeCount() int64 { return t.nodeCount.Load() }

// ApproximateDataSize returns the summed length of every path and data.
func (t *Tree) ApproximateDataSize() int64 { return t.dataBytes.Load() }

// parentOf returns the parent path and the last component of a valid path.
func parentOf(path string) (parent, name string) {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/", path[i+1:]
	}
	return path[:i], path[i+1:]
}

// isSpecial reports whether path is one of the nodes clients may not delete.
func isSpecial(path string) bool {
	switch path {
	case "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config":
		return true
	}
	return false
}

// Observer hears the figures ZooKeeper's DataTree and WatchManager keep for
// its metrics. Its methods must be quick and must not block or call the tree.
type Observer interface {
	// WatchesFired is called on the applier's goroutine for each event that
	// triggered n > 0 watches (node_created/deleted/changed/children_watch_count).
	WatchesFired(typ jute.EventType, n int)
	// NamespaceRead is called, on the reader's goroutine, for each getData,
	// exists and getChildren answered from a node under the top-level
	// namespace ns (the first component of its path), with ZooKeeper's count of
	// the bytes read: path, data or child names, and a Stat's 68 bytes
	// (read_per_namespace).
	NamespaceRead(ns string, bytes int64)
	// NamespaceWritten is called on the applier's goroutine for each node
	// created, deleted or set under ns, with the path's and the new data's
	// bytes (write_per_namespace). A multi that fails writes nothing.
	NamespaceWritten(ns string, bytes int64)
	// QuotaExceeded is called on the applier's goroutine for each create or
	// setData under ns refused for a hard quota limit
	// (quota_exceeded_error_per_namespace).
	QuotaExceeded(ns string)
}

// Observe has o hear the tree's figures. Call it before the tree is shared.
func (t *Tree) Observe(o Observer) { t.observer = o }

// statOverheadBytes is what ZooKeeper adds for the Stat of a read: six longs
// and five ints.
const statOverheadBytes = 6*8 + 5*4

// TopNamespace returns the first component of path ("app" for "/app/x"), or
// "" for the root.
func TopNamespace(path string) string {
	if len(path) < 2 {
		return ""
	}
	rest := path[1:]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// noteRead tells the observer of a read of path answered with n bytes of data
// or child names.
func (t *Tree) noteRead(path string, n int) {
	if t.observer == nil {
		return
	}
	if ns := TopNamespace(path); ns != "" {
		t.observer.NamespaceRead(ns, int64(len(path)+n+statOverheadBytes))
	}
}
