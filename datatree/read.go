package datatree

import (
	"strings"

	"zkd/jute"
)

// rlock returns the node at path with its stripe read-locked; the caller must
// call s.mu.RUnlock. It returns nil (and no lock held) when the node is absent.
func (t *Tree) rlock(path string) (*stripe, *node) {
	s, h := t.stripeOf(path)
	s.mu.RLock()
	id := s.lookup(&t.nodes, h, path)
	if id == 0 {
		s.mu.RUnlock()
		return nil, nil
	}
	return s, t.nodes.at(id)
}

// find returns the node at path or nil. REQUIRES: s (the stripe of path, whose
// hash is h) read-locked.
func (t *Tree) find(s *stripe, h uint64, path string) *node {
	if id := s.lookup(&t.nodes, h, path); id != 0 {
		return t.nodes.at(id)
	}
	return nil
}

// Exists returns the Stat of path. With w non-nil it registers a data watch, or an
// exist watch when the node is absent. Exists checks READ, as ZooKeeper 3.8.4+ does.
func (t *Tree) Exists(path string, w Watcher, id Identity) (jute.Stat, jute.Code) {
	if strings.IndexByte(path, 0) >= 0 {
		return jute.Stat{}, jute.CodeBadArguments
	}
	s, h := t.stripeOf(path)
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := t.find(s, h, path)
	if n == nil {
		if w != nil {
			t.watches.add(true, path, w, modeStandard)
		}
		return jute.Stat{}, jute.CodeNoNode
	}
	if !t.CheckACL(t.aclOf(n), id, jute.PermRead) {
		return jute.Stat{}, jute.CodeNoAuth
	}
	if w != nil {
		t.watches.add(true, path, w, modeStandard)
	}
	t.noteRead(path, 0)
	return n.stat(t.cfg.ExtendedTypes), jute.CodeOK
}

// GetData returns the data (aliasing the tree's immutable copy: do not modify) and
// Stat of path, registering a data watch when w is non-nil and the node exists.
func (t *Tree) GetData(path string, w Watcher, id Identity) ([]byte, jute.Stat, jute.Code) {
	s, n := t.rlock(path)
	if n == nil {
		return nil, jute.Stat{}, jute.CodeNoNode
	}
	defer s.mu.RUnlock()
	if !t.CheckACL(t.aclOf(n), id, jute.PermRead) {
		return nil, jute.Stat{}, jute.CodeNoAuth
	}
	if w != nil {
		t.watches.add(true, path, w, modeStandard)
	}
	data := n.data()
	t.noteRead(path, len(data))
	return data, n.stat(t.cfg.ExtendedTypes), jute.CodeOK
}

// GetChildren appends the child names of path to dst (unordered, as ZooKeeper) and
// returns its Stat, registering a child watch when w is non-nil and the node exists.
func (t *Tree) GetChildren(path string, w Watcher, id Identity, dst []string) ([]string, jute.Stat, jute.Code) {
	s, n := t.rlock(path)
	if n == nil {
		return dst, jute.Stat{}, jute.CodeNoNode
	}
	defer s.mu.RUnlock()
	if !t.CheckACL(t.aclOf(n), id, jute.PermRead) {
		return dst, jute.Stat{}, jute.CodeNoAuth
	}
	if w != nil {
		t.watches.add(false, path, w, modeStandard)
	}
	// The children's links and names are guarded by this node's stripe (see node).
	names := 0
	for c := n.first; c != 0; {
		child := t.nodes.at(c)
		name := child.name()
		dst = append(dst, name)
		names += len(name)
		c = child.next
	}
	t.noteRead(path, names)
	return dst, n.stat(t.cfg.ExtendedTypes), jute.CodeOK
}

// GetACL returns the ACL and Stat of path. A caller with READ but not ADMIN sees
// digest ids with the hash masked ("user:x").
func (t *Tree) GetACL(path string, id Identity) ([]jute.ACL, jute.Stat, jute.Code) {
	s, n := t.rlock(path)
	if n == nil {
		return nil, jute.Stat{}, jute.CodeNoNode
	}
	defer s.mu.RUnlock()
	admin := t.CheckACL(t.aclOf(n), id, jute.PermAdmin)
	if !admin && !t.CheckACL(t.aclOf(n), id, jute.PermRead) {
		return nil, jute.Stat{}, jute.CodeNoAuth
	}
	acl := t.aclOf(n)
	if !admin {
		masked := make([]jute.ACL, len(acl))
		for i, a := range acl {
			if a.ID.Scheme == "digest" {
				user, _, _ := strings.Cut(a.ID.ID, ":")
				a.ID.ID = user + ":x"
			}
			masked[i] = a
		}
		acl = masked
	}
	return acl, n.stat(t.cfg.ExtendedTypes), jute.CodeOK
}

// AllChildrenNumber returns the number of descendants of path. It is not atomic
// with respect to concurrent writes, as in ZooKeeper.
func (t *Tree) AllChildrenNumber(path string, id Identity) (int32, jute.Code) {
	s, n := t.rlock(path)
	if n == nil {
		return 0, jute.CodeNoNode
	}
	if !t.CheckACL(t.aclOf(n), id, jute.PermRead) {
		s.mu.RUnlock()
		return 0, jute.CodeNoAuth
	}
	queue := t.appendChildPaths(make([]string, 0, n.nkids), n)
	s.mu.RUnlock()
	var count int32
	for len(queue) > 0 {
		p := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		cs, cn := t.rlock(p)
		if cn == nil {
			continue
		}
		count++
		queue = t.appendChildPaths(queue, cn)
		cs.mu.RUnlock()
	}
	return count, jute.CodeOK
}

// appendChildPaths appends the paths of n's children. REQUIRES: n's stripe held.
func (t *Tree) appendChildPaths(dst []string, n *node) []string {
	for c := n.first; c != 0; {
		child := t.nodes.at(c)
		dst = append(dst, child.path())
		c = child.next
	}
	return dst
}

// Ephemerals returns the paths of sid's ephemeral nodes that start with prefix
// (a plain string prefix; "" and "/" mean all).
func (t *Tree) Ephemerals(sid jute.SessionID, prefix string) []string {
	t.sessions.RLock()
	defer t.sessions.RUnlock()
	st := t.sessions.byID[sid]
	if st == nil {
		return nil
	}
	out := make([]string, 0, len(st.ephemerals))
	for p := range st.ephemerals {
		if prefix == "" || prefix == "/" || strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// AddWatch registers a persistent (mode 0) or persistent-recursive (mode 1) watch.
// The path need not exist and is not validated.
func (t *Tree) AddWatch(path string, mode int32, w Watcher) jute.Code {
	s, _ := t.stripeOf(path)
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := &t.watches
	m.mu.Lock()
	defer m.mu.Unlock()
	switch mode {
	case jute.AddWatchPersistent:
		m.addLocked(true, path, w, modePersistent)
		m.addLocked(false, path, w, modePersistent)
	case jute.AddWatchPersistentRecursive:
		// ZooKeeper 3.8.0 (the live reference) registers a recursive watch in both
		// tables, so it replaces a child watch on the same path and answers
		// removeWatches of type Children; later releases use the data table only.
		m.addLocked(true, path, w, modeRecursive)
		m.addLocked(false, path, w, modeRecursive)
	default:
		return jute.CodeMarshallingError
	}
	return jute.CodeOK
}

// RemoveWatches removes (or with remove=false only looks for) w's watches on path of
// the given WatcherType, with ZooKeeper 3.8's rules: Children and Data match any mode
// in their table, Any matches both tables, types 4 and 5 are not understood.
func (t *Tree) RemoveWatches(path string, typ int32, w Watcher, remove bool) jute.Code {
	m := &t.watches
	m.mu.Lock()
	defer m.mu.Unlock()
	var inData, inChild bool
	switch typ {
	case jute.WatcherChildren:
		inChild = true
	case jute.WatcherData:
		inData = true
	case jute.WatcherAny:
		inData, inChild = true, true
	default:
		return jute.CodeMarshallingError
	}
	_, hasData := m.data[path][w]
	_, hasChild := m.child[path][w]
	found := (inData && hasData) || (inChild && hasChild)
	if !remove {
		// ZooKeeper 3.8's checkWatches (WatchManager.containsWatcher) only asks
		// whether the path has any watcher at all, whoever set it.
		found = (inData && len(m.data[path]) > 0) || (inChild && len(m.child[path]) > 0)
	}
	if !found {
		return jute.CodeNoWatcher
	}
	if remove {
		if inData && hasData {
			m.removeLocked(true, path, w)
		}
		if inChild && hasChild {
			m.removeLocked(false, path, w)
		}
	}
	return jute.CodeOK
}

// SetWatches re-registers a reconnecting client's watches. For a change the client
// missed (newer than relativeZxid) it calls w.Notify at once with zxid -1 instead of
// registering, following spec/semantics.md §8.4; these events are not ACL-filtered.
func (t *Tree) SetWatches(req *jute.SetWatches, w Watcher) {
	rel := req.RelativeZxid
	fire := func(typ jute.EventType, path string) {
		w.Notify(Event{Type: typ, Path: jute.Clone(path), Zxid: -1})
	}
	for _, p := range req.DataWatches {
		s, h := t.stripeOf(p)
		s.mu.RLock()
		switch n := t.find(s, h, p); {
		case n == nil:
			fire(jute.EventNodeDeleted, p)
		case n.mzxid > rel:
			fire(jute.EventNodeDataChanged, p)
		default:
			t.watches.add(true, p, w, modeStandard)
		}
		s.mu.RUnlock()
	}
	for _, p := range req.ExistWatches {
		s, h := t.stripeOf(p)
		s.mu.RLock()
		if t.find(s, h, p) == nil {
			t.watches.add(true, p, w, modeStandard)
		} else {
			fire(jute.EventNodeCreated, p)
		}
		s.mu.RUnlock()
	}
	for _, p := range req.ChildWatches {
		s, h := t.stripeOf(p)
		s.mu.RLock()
		switch n := t.find(s, h, p); {
		case n == nil:
			fire(jute.EventNodeDeleted, p)
		case n.pzxid > rel:
			fire(jute.EventNodeChildrenChanged, p)
		default:
			t.watches.add(false, p, w, modeStandard)
		}
		s.mu.RUnlock()
	}
	for _, p := range req.PersistentWatches {
		t.AddWatch(p, jute.AddWatchPersistent, w)
	}
	for _, p := range req.PersistentRecursive {
		t.AddWatch(p, jute.AddWatchPersistentRecursive, w)
	}
}

// Session returns the negotiated timeout of a live session.
func (t *Tree) Session(sid jute.SessionID) (timeout int32, ok bool) {
	t.sessions.RLock()
	defer t.sessions.RUnlock()
	st := t.sessions.byID[sid]
	if st == nil {
		return 0, false
	}
	return st.timeout, true
}

// Sessions returns the ids and timeouts of every live session.
func (t *Tree) Sessions() map[jute.SessionID]int32 {
	t.sessions.RLock()
	defer t.sessions.RUnlock()
	out := make(map[jute.SessionID]int32, len(t.sessions.byID))
	for id, st := range t.sessions.byID {
		out[id] = st.timeout
	}
	return out
}

// EphemeralCount returns the number of ephemeral nodes.
func (t *Tree) EphemeralCount() int {
	t.sessions.RLock()
	defer t.sessions.RUnlock()
	n := 0
	for _, st := range t.sessions.byID {
		n += len(st.ephemerals)
	}
	return n
}

// ReapCandidates returns the container and TTL nodes that may be deleted at time
// now (ms): empty containers that once had a child, or that never had one and
// were last changed more than neverUsedSec seconds ago (0: those stay; ZooKeeper's
// znode.container.maxNeverUsedIntervalMs), and childless TTL nodes whose TTL has
// passed since their last setData. The caller proposes a Reap entry for each,
// with neverUsedSec as its Timeout; Apply checks again, so a stale candidate is
// harmless.
func (t *Tree) ReapCandidates(now int64, neverUsedSec int32, limit int) []string {
	t.sessions.RLock()
	paths := make([]string, 0, len(t.sessions.expiring))
	for p := range t.sessions.expiring {
		paths = append(paths, p)
	}
	t.sessions.RUnlock()
	var out []string
	for _, p := range paths {
		if len(out) >= limit {
			break
		}
		s, n := t.rlock(p)
		if n == nil {
			continue
		}
		if reapable(n, now, neverUsedSec, t.cfg.ExtendedTypes) {
			out = append(out, p)
		}
		s.mu.RUnlock()
	}
	return out
}

func reapable(n *node, now int64, neverUsedSec int32, ext bool) bool {
	if n.nkids != 0 {
		return false
	}
	if n.owner == containerOwner {
		return n.cversion > 0 || neverUsedSec > 0 && now-n.mtime > int64(neverUsedSec)*1000
	}
	if isTTLOwner(n.owner, ext) {
		ttl := n.owner &^ ttlMask
		return now-n.mtime > ttl
	}
	return false
}
