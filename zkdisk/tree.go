package zkdisk

import (
	"slices"
	"strconv"
	"strings"

	"zkd/datatree"
	"zkd/jute"
)

// Markers ZooKeeper stores in ephemeralOwner for nodes without an owning session
// (EphemeralType).
const (
	containerOwner int64 = -0x8000000000000000 // 0x8000000000000000
	ttlMask        int64 = -0x0100000000000000 // 0xFF00000000000000
	maxTTL         int64 = 0xFF_FFFF_FFFF
)

// isTTLOwner reports whether a stored ephemeralOwner is a TTL marker (extended
// types, as the server that wrote it must have had them to create one).
func isTTLOwner(owner int64) bool {
	return owner&ttlMask == ttlMask && owner&0x00FF_FF00_0000_0000 == 0
}

// isSessionOwner reports whether a stored ephemeralOwner names a session.
func isSessionOwner(owner int64) bool {
	return owner != 0 && owner != containerOwner && !isTTLOwner(owner)
}

// Quota node names (spec/semantics.md §13).
const (
	quotaRoot  = "/zookeeper/quota"
	quotaLimit = "zookeeper_limits"
	quotaStats = "zookeeper_stats"
)

// znode is one node of a zkTree: its snapshot image (Path is its key; ACL an
// interned list) and its children by name.
type znode struct {
	img      datatree.NodeImage
	children map[string]*znode
}

func (n *znode) digest() uint64 { return datatree.NodeDigest(&n.img) }

// zkTree is ZooKeeper's DataTree as far as replay needs it: nodes by path (the
// root under "/", where ZooKeeper also keys it under ""), the sessions, the
// ephemerals by owner, the paths with a quota, and the running tree digest. It is
// used by one goroutine.
type zkTree struct {
	nodes      map[string]*znode
	acls       map[string][]jute.ACL // interned ACL lists by encoding
	aclKey     []byte
	snapACLs   map[int64][]jute.ACL // snapshot ACL index -> interned list
	sessions   map[int64]int32
	ephemerals map[int64]map[string]struct{}
	quotas     map[string]struct{} // ZooKeeper's pTrie: paths with a zookeeper_limits node
	digest     uint64              // invariant: sum of digest() over nodes, mod 2^64
	lastZxid   int64
}

func newZkTree() *zkTree {
	return &zkTree{
		nodes:      make(map[string]*znode),
		acls:       make(map[string][]jute.ACL),
		snapACLs:   make(map[int64][]jute.ACL),
		sessions:   make(map[int64]int32),
		ephemerals: make(map[int64]map[string]struct{}),
		quotas:     make(map[string]struct{}),
	}
}

// newEmptyZkTree is the tree of a ZooKeeper server that starts with no data: the
// root, /zookeeper, /zookeeper/quota and /zookeeper/config (DataTree's constructor).
func newEmptyZkTree() *zkTree {
	t := newZkTree()
	for _, p := range []string{"/", "/zookeeper", "/zookeeper/quota"} {
		t.insert(&znode{img: datatree.NodeImage{Path: p, Data: []byte{}, ACL: t.intern(jute.OpenACLUnsafe)}})
	}
	t.addConfigNode()
	return t
}

// addConfigNode adds /zookeeper/config as ZooKeeper creates it: no data, world
// READ, aversion -1 (ZooKeeper sets its ACL with version -1 after creating it).
func (t *zkTree) addConfigNode() {
	t.insert(&znode{img: datatree.NodeImage{Path: "/zookeeper/config", Data: []byte{}, ACL: t.intern(jute.ReadACLUnsafe), Aversion: -1}})
}

// insert adds a node whose parent (if any) exists, linking it and counting its digest.
func (t *zkTree) insert(n *znode) {
	t.nodes[n.img.Path] = n
	t.digest += n.digest()
	if n.img.Path != "/" {
		parent, name := splitPath(n.img.Path)
		if p := t.nodes[parent]; p != nil {
			p.addChild(name, n)
		}
	}
}

func (n *znode) addChild(name string, c *znode) {
	if n.children == nil {
		n.children = make(map[string]*znode)
	}
	n.children[name] = c
}

// intern returns the shared copy of an ACL list; nil (Java's null) is
// OPEN_ACL_UNSAFE, as ReferenceCountedACLCache.convertAcls makes it.
func (t *zkTree) intern(acl []jute.ACL) []jute.ACL {
	if acl == nil {
		acl = jute.OpenACLUnsafe
	}
	t.aclKey = t.aclKey[:0]
	for i := range acl {
		t.aclKey = acl[i].Append(t.aclKey)
	}
	if l, ok := t.acls[string(t.aclKey)]; ok {
		return l
	}
	own := make([]jute.ACL, len(acl))
	for i, a := range acl {
		own[i] = jute.ACL{Perms: a.Perms, ID: jute.Id{Scheme: jute.Clone(a.ID.Scheme), ID: jute.Clone(a.ID.ID)}}
	}
	t.acls[string(t.aclKey)] = own
	return own
}

// splitPath splits a node path as ZooKeeper does (at the last '/'), with the
// root's alias "" written "/".
func splitPath(path string) (parent, name string) {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/", path[i+1:]
	}
	return path[:i], path[i+1:]
}

// trackOwner adds or removes path in its session's ephemerals.
func (t *zkTree) trackOwner(path string, owner int64, add bool) {
	if !isSessionOwner(owner) {
		return
	}
	set := t.ephemerals[owner]
	if add {
		if set == nil {
			set = make(map[string]struct{})
			t.ephemerals[owner] = set
		}
		set[path] = struct{}{}
	} else if set != nil {
		delete(set, path)
	}
}

// change applies fn to n, keeping the tree digest (ZooKeeper's preChange and
// postChange around every stat or data update).
func (t *zkTree) change(n *znode, fn func(*datatree.NodeImage)) {
	t.digest -= n.digest()
	fn(&n.img)
	t.digest += n.digest()
}

// createNode is DataTree.createNode.
func (t *zkTree) createNode(path string, data []byte, acl []jute.ACL, owner int64, parentCVersion int32, zxid, time int64) jute.Code {
	parentPath, name := splitPath(path)
	parent := t.nodes[parentPath]
	if parent == nil {
		return jute.CodeNoNode
	}
	list := t.intern(acl)
	if existing := t.nodes[path]; existing != nil {
		// ZooKeeper replaces the ACL of the node found (the digest does not cover
		// ACLs). It does not relink the node; here a node that a replayed delete
		// left without its parent's entry is linked again, so the tree serves
		// what the log says rather than an unreachable node.
		existing.img.ACL = list
		parent.addChild(name, existing)
		return jute.CodeNodeExists
	}
	t.change(parent, func(p *datatree.NodeImage) {
		if parentCVersion == -1 {
			parentCVersion = p.Cversion + 1
		}
		// A create replayed over a fuzzy snapshot may be older than the parent's
		// state: only move forward.
		if parentCVersion > p.Cversion {
			p.Cversion = parentCVersion
			p.Pzxid = zxid
		}
	})
	path = jute.Clone(path)
	n := &znode{img: datatree.NodeImage{Path: path, Data: cloneBytes(data), ACL: list,
		Czxid: zxid, Mzxid: zxid, Pzxid: zxid, Ctime: time, Mtime: time, Owner: owner}}
	parent.addChild(path[len(path)-len(name):], n)
	t.nodes[path] = n
	t.digest += n.digest()
	t.trackOwner(path, owner, true)
	if strings.HasPrefix(parentPath, quotaRoot) {
		quoted := parentPath[len(quotaRoot):]
		if name == quotaLimit && quoted != "" {
			t.quotas[quoted] = struct{}{}
		}
		if name == quotaStats && quoted != "" {
			t.updateQuotaForPath(quoted)
		}
	}
	if p := t.maxQuotaPrefix(path); p != "" {
		t.updateQuotaStat(p, int64(len(data)), 1)
	}
	return jute.CodeOK
}

// deleteNode is DataTree.deleteNode: the parent's pzxid moves even when the child
// is already gone (replay over a fuzzy snapshot).
func (t *zkTree) deleteNode(path string, zxid int64) jute.Code {
	parentPath, name := splitPath(path)
	parent := t.nodes[parentPath]
	if parent == nil {
		return jute.CodeNoNode
	}
	t.change(parent, func(p *datatree.NodeImage) {
		if zxid > p.Pzxid {
			p.Pzxid = zxid
		}
	})
	delete(parent.children, name)
	n := t.nodes[path]
	if n == nil {
		return jute.CodeNoNode
	}
	delete(t.nodes, path)
	t.digest -= n.digest()
	t.trackOwner(path, n.img.Owner, false)
	if strings.HasPrefix(parentPath, quotaRoot) && name == quotaLimit {
		delete(t.quotas, parentPath[len(quotaRoot):])
	}
	if p := t.maxQuotaPrefix(path); p != "" {
		t.updateQuotaStat(p, -int64(len(n.img.Data)), -1)
	}
	return jute.CodeOK
}

// setData is DataTree.setData; version is the txn's (new) version.
func (t *zkTree) setData(path string, data []byte, version int32, zxid, time int64) jute.Code {
	n := t.nodes[path]
	if n == nil {
		return jute.CodeNoNode
	}
	old := len(n.img.Data)
	t.change(n, func(img *datatree.NodeImage) {
		img.Data = cloneBytes(data)
		img.Mtime, img.Mzxid, img.Version = time, zxid, version
	})
	if p := t.maxQuotaPrefix(path); p != "" {
		t.updateQuotaStat(p, int64(len(data)-old), 0)
	}
	return jute.CodeOK
}

// setACL is DataTree.setACL; version is the txn's (new) aversion.
func (t *zkTree) setACL(path string, acl []jute.ACL, version int32) jute.Code {
	n := t.nodes[path]
	if n == nil {
		return jute.CodeNoNode
	}
	list := t.intern(acl)
	t.change(n, func(img *datatree.NodeImage) { img.Aversion, img.ACL = version, list })
	return jute.CodeOK
}

// setCversionPzxid is DataTree.setCversionPzxid: the parent fix-up of a create
// replayed onto a node that already exists.
func (t *zkTree) setCversionPzxid(path string, cversion int32, zxid int64) jute.Code {
	if path == "" {
		path = "/"
	}
	n := t.nodes[path]
	if n == nil {
		return jute.CodeNoNode
	}
	if cversion == -1 {
		cversion = n.img.Cversion + 1
	}
	if cversion > n.img.Cversion {
		t.change(n, func(img *datatree.NodeImage) { img.Cversion, img.Pzxid = cversion, zxid })
	}
	return jute.CodeOK
}

// killSession deletes a closed session's ephemerals: first the paths the
// closeSession txn names (paths nil: it names none), then any others the tree
// still has for the session, as DataTree.killSession does.
func (t *zkTree) killSession(session int64, zxid int64, paths []string) {
	local := t.ephemerals[session]
	delete(t.ephemerals, session)
	for _, p := range paths {
		t.deleteNode(p, zxid)
		delete(local, p)
	}
	rest := make([]string, 0, len(local))
	for p := range local {
		rest = append(rest, p)
	}
	slices.Sort(rest) // the same tree in any order; sorted keeps runs reproducible
	for _, p := range rest {
		t.deleteNode(p, zxid)
	}
}

// maxQuotaPrefix is DataTree.getMaxPrefixWithQuota: the deepest path with a quota
// that is path or an ancestor of it, "" for none (the root never counts).
func (t *zkTree) maxQuotaPrefix(path string) string {
	if len(t.quotas) == 0 {
		return ""
	}
	for p := path; p != "/" && p != ""; p, _ = splitPath(p) {
		if _, ok := t.quotas[p]; ok {
			return p
		}
	}
	return ""
}

// updateQuotaStat adds to the counts of quoted's stats node, in place: no version,
// no digest change (ZooKeeper updates it outside the txn, and the /zookeeper/
// subtree is not digested).
func (t *zkTree) updateQuotaStat(quoted string, dBytes int64, dCount int64) {
	n := t.nodes[quotaRoot+quoted+"/"+quotaStats]
	if n == nil {
		return
	}
	st := parseStatsTrack(n.img.Data)
	st.set("count", st.get("count")+dCount)
	st.set("bytes", st.get("bytes")+dBytes)
	n.img.Data = st.bytes()
}

// updateQuotaForPath recounts quoted's subtree into its stats node.
func (t *zkTree) updateQuotaForPath(quoted string) {
	var count, bytes int64
	var stack []*znode
	if n := t.nodes[quoted]; n != nil {
		stack = append(stack, n)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		count++
		bytes += int64(len(n.img.Data))
		for _, c := range n.children {
			stack = append(stack, c)
		}
	}
	statPath := quotaRoot + quoted + "/" + quotaStats
	if n := t.nodes[statPath]; n != nil {
		var st statsTrack
		st.set("count", count)
		st.set("bytes", bytes)
		t.change(n, func(img *datatree.NodeImage) { img.Data = st.bytes() })
	}
}

// setupQuota rebuilds the quota paths and recounts every stats node after a
// snapshot is loaded (DataTree.setupQuota): a quota is a zookeeper_limits leaf
// under /zookeeper/quota.
func (t *zkTree) setupQuota() {
	clear(t.quotas)
	if t.nodes[quotaRoot] == nil {
		return
	}
	var leaves []string
	stack := []*znode{t.nodes[quotaRoot]}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if p := n.img.Path; len(n.children) == 0 {
			if i := strings.Index(p, "/"+quotaLimit); strings.HasSuffix(p, "/"+quotaLimit) && i > len(quotaRoot) {
				leaves = append(leaves, p[len(quotaRoot):i])
			}
			continue
		}
		for _, c := range n.children {
			stack = append(stack, c)
		}
	}
	slices.Sort(leaves)
	for _, q := range leaves {
		t.updateQuotaForPath(q)
		t.quotas[q] = struct{}{}
	}
}

// statsTrack is ZooKeeper's StatsTrack: "count=N,bytes=M", then, when there are
// other keys (3.7+ hard limits), "=" and ";key=value" pairs in key order.
type statsTrack struct {
	keys []string
	vals []int64
}

func parseStatsTrack(b []byte) statsTrack {
	var st statsTrack
	for _, kv := range strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || r == ';' }) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, "=")
		n := int64(-1)
		if v != "" {
			var err error
			if n, err = strconv.ParseInt(v, 10, 64); err != nil {
				continue
			}
		}
		st.set(k, n)
	}
	return st
}

func (s *statsTrack) get(k string) int64 {
	if i := slices.Index(s.keys, k); i >= 0 {
		return s.vals[i]
	}
	return -1
}

func (s *statsTrack) set(k string, v int64) {
	if i := slices.Index(s.keys, k); i >= 0 {
		s.vals[i] = v
		return
	}
	s.keys, s.vals = append(s.keys, k), append(s.vals, v)
}

func (s *statsTrack) bytes() []byte {
	b := []byte("count=" + strconv.FormatInt(s.get("count"), 10) + ",bytes=" + strconv.FormatInt(s.get("bytes"), 10))
	var extra []string
	for _, k := range s.keys {
		if k != "count" && k != "bytes" {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		b = append(b, '=')
		for _, k := range extra {
			b = append(b, ';')
			b = append(b, k...)
			b = append(b, '=')
			b = strconv.AppendInt(b, s.get(k), 10)
		}
	}
	return b
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
