package datatree

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

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
}

// node is one znode. Fields are guarded by the lock of the node's stripe; data and
// acl are never modified in place (they are replaced), so a reader may keep the
// slices after releasing the lock.
type node struct {
	data     []byte
	acl      []jute.ACL // interned: shared between nodes with equal lists
	czxid    int64
	mzxid    int64
	ctime    int64
	mtime    int64
	version  int32
	cversion int32 // stored cversion: children ever created (sequence counter)
	aversion int32
	owner    int64 // ephemeralOwner as stored: session id, container or TTL marker
	pzxid    int64
	children map[string]struct{} // child names; nil when there are none
}

// stat derives the client-visible Stat; ext is Config.ExtendedTypes.
func (n *node) stat(ext bool) jute.Stat {
	owner := n.owner
	if !isSessionOwner(owner, ext) {
		owner = 0
	}
	nc := int32(len(n.children))
	return jute.Stat{
		Czxid: n.czxid, Mzxid: n.mzxid, Ctime: n.ctime, Mtime: n.mtime,
		Version: n.version, Cversion: 2*n.cversion - nc, Aversion: n.aversion,
		EphemeralOwner: owner, DataLength: int32(len(n.data)), NumChildren: nc,
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

type stripe struct {
	mu    sync.RWMutex
	nodes map[string]*node // guarded by mu
}

// Tree is the replicated state machine of zkd. Reads may be called from any
// goroutine; Apply must be called from one goroutine at a time.
type Tree struct {
	cfg     Config
	stripes [numStripes]stripe

	sessions struct {
		sync.RWMutex
		// byID holds every live session; guarded by the mutex, written only by Apply.
		byID map[jute.SessionID]*sessionState
		// expiring holds the paths of container and TTL nodes: the reaper's candidates.
		expiring map[string]struct{}
	}

	watches watchManager
	acls    aclTable   // applier-only
	cow     cowState   // snapshot preimages while an Image is open
	quotas  quotaTable // applier-only: paths with a quota

	lastZxid  atomic.Int64 // zxid of the last applied entry; set before its locks are released
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
	t := &Tree{cfg: cfg}
	for i := range t.stripes {
		t.stripes[i].nodes = make(map[string]*node)
	}
	t.sessions.byID = make(map[jute.SessionID]*sessionState)
	t.sessions.expiring = make(map[string]struct{})
	t.watches.init()
	t.acls.init()
	t.quotas = make(quotaTable)
	open := t.acls.intern(jute.OpenACLUnsafe)
	empty := []byte{} // Java's new byte[0]: getData returns an empty buffer, not null
	t.insertRaw("/", &node{data: empty, acl: open, children: map[string]struct{}{"zookeeper": {}}})
	t.insertRaw("/zookeeper", &node{data: empty, acl: open, children: map[string]struct{}{"quota": {}, "config": {}}})
	t.insertRaw("/zookeeper/quota", &node{data: empty, acl: open})
	t.insertRaw("/zookeeper/config", &node{data: empty, acl: t.acls.intern(jute.ReadACLUnsafe), aversion: -1})
	return t
}

func (t *Tree) insertRaw(path string, n *node) {
	t.stripeOf(path).nodes[path] = n
	t.nodeCount.Add(1)
	t.dataBytes.Add(int64(len(path) + len(n.data)))
}

func (t *Tree) stripeOf(path string) *stripe {
	return &t.stripes[xxhashStripe(path)]
}

func xxhashStripe(path string) uint64 { return xxhash.Sum64String(path) % numStripes }

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

func childPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// isSpecial reports whether path is one of the nodes clients may not delete.
func isSpecial(path string) bool {
	switch path {
	case "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config":
		return true
	}
	return false
}
