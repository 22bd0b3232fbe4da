package datatree

import (
	"slices"
	"strconv"
	"strings"

	"zkd/jute"
)

// Result is the outcome of applying one entry: a ZooKeeper code and, on success, the
// encoded reply body (nil when the op's reply has none). A multi always reports
// CodeOK with a MultiResponse body, its per-op results inside.
type Result struct {
	Err  jute.Code
	Body []byte
}

// pendingEvent is a watch event produced by a change, fired only once the whole
// entry has succeeded. acl is the ACL a watcher needs READ on to receive it.
type pendingEvent struct {
	typ  jute.EventType
	path string
	acl  []jute.ACL
	// written is the data bytes of the node after the change, for the
	// observer's write figures (a created, deleted or changed node's event).
	written int
}

// applyCtx carries one entry's application: the stripes it holds, its events, and
// for a multi the undo log that rolls back a failed one.
type applyCtx struct {
	t       *Tree
	zxid    int64
	txn     Txn // a copy: the caller's may then stay on its stack
	held    []*stripe
	heldBuf [4]*stripe // held's first array: most entries lock one to three stripes
	events  []pendingEvent
	undo    []func() // nil outside a multi
	inMulti bool
	// ephemeralsGone are the paths a session's end deleted, for
	// Config.EphemeralsDeleted (only while that is set).
	ephemeralsGone []string
	// freed are the ids of nodes this entry deleted, released to the store once it
	// has succeeded (a failed multi links them back).
	freed []nodeID
}

// Apply applies one committed entry at zxid and returns its result. It must be
// called by one goroutine at a time, in zxid order. An empty entry (raft's own
// no-ops) only advances the zxid.
func (t *Tree) Apply(zxid jute.Zxid, entry []byte) Result {
	if len(entry) == 0 {
		t.lastZxid.Store(int64(zxid))
		return Result{}
	}
	txn, err := DecodeTxn(entry)
	if err != nil {
		t.lastZxid.Store(int64(zxid))
		return Result{Err: jute.CodeMarshallingError}
	}
	return t.ApplyTxn(zxid, &txn)
}

// ApplyTxn applies a decoded entry; see Apply.
func (t *Tree) ApplyTxn(zxid jute.Zxid, txn *Txn) Result {
	c := t.begin(zxid, txn)
	var res Result
	if code := c.checkConn(); code != jute.CodeOK {
		res = Result{Err: code}
	} else {
		switch txn.Kind {
		case KindRequest:
			res = c.request()
		case KindCreateSession:
			res = c.createSession()
		case KindCloseSession:
			res = c.closeSession()
		case KindReap:
			res = c.reap(string(txn.Body))
		case KindAttach:
			res = c.attach()
		}
	}
	c.finish()
	if invariants {
		t.checkDigest()
	}
	if len(c.ephemeralsGone) > 0 {
		t.cfg.EphemeralsDeleted(txn.Session, c.ephemeralsGone)
	}
	return res
}

// begin readies the tree's one apply context for the entry at zxid. It is
// reused, not allocated per entry (a fresh one was a third of a setData's
// garbage): its events and freed keep their arrays, and finish clears what they
// name.
func (t *Tree) begin(zxid jute.Zxid, txn *Txn) *applyCtx {
	t.applyMu.Lock()
	c := &t.applying
	*c = applyCtx{t: t, zxid: int64(zxid), txn: *txn, events: c.events[:0], freed: c.freed[:0]}
	c.held = c.heldBuf[:0]
	return c
}

// checkConn enforces per-connection order for the writes of a client connection
// (Txn.Conn): the session must be attached to that connection, and the write must
// be the next one it sent. A session that is gone is left to the op's own check
// (SESSIONEXPIRED).
func (c *applyCtx) checkConn() jute.Code {
	txn := &c.txn
	if txn.Conn == 0 || txn.Kind != KindRequest && txn.Kind != KindCloseSession {
		return jute.CodeOK
	}
	t := c.t
	t.sessions.Lock()
	defer t.sessions.Unlock()
	st := t.sessions.byID[txn.Session]
	switch {
	case st == nil:
		return jute.CodeOK
	case st.conn != txn.Conn:
		return jute.CodeSessionMoved
	case txn.ConnSeq != st.lastSeq+1:
		return CodeOutOfOrder
	}
	st.lastSeq = txn.ConnSeq
	return jute.CodeOK
}

// lock write-locks the stripe of path for the rest of the entry and returns it
// with the path's hash.
func (c *applyCtx) lock(path string) (*stripe, uint64) {
	s, h := c.t.stripeOf(path)
	for _, held := range c.held {
		if held == s {
			return s, h
		}
	}
	s.mu.Lock()
	c.held = append(c.held, s)
	return s, h
}

// get locks the stripe of path and returns its node, or 0 and nil.
func (c *applyCtx) get(path string) (nodeID, *node) {
	s, h := c.lock(path)
	id := s.lookup(&c.t.nodes, h, path)
	if id == 0 {
		return 0, nil
	}
	return id, c.t.nodes.at(id)
}

// replaceData gives node id new data (a new blob) and keeps its stripe slot's copy
// of the blob pointer in step. The caller holds the stripes of the node and of
// its parent.
func (c *applyCtx) replaceData(id nodeID, n *node, data []byte) {
	n.replaceData(data)
	s, h := c.lock(n.path())
	s.setBlob(h, id, n.blob)
}

// restoreBlob puts back a blob replaced by replaceData.
func (c *applyCtx) restoreBlob(id nodeID, n *node, blob *byte, blen, plen uint32) {
	n.blob, n.blen, n.plen = blob, blen, plen
	s, h := c.lock(n.path())
	s.setBlob(h, id, n.blob)
}

// lockParentOf write-locks the stripe of path's parent: a node's blob may be read
// under its parent's lock (see node), so replacing it needs that lock too.
func (c *applyCtx) lockParentOf(path string) {
	if path != "/" {
		parent, _ := parentOf(path)
		c.lock(parent)
	}
}

// finish publishes the zxid, fires the entry's watches and releases its stripes,
// in that order: a reader that sees the change sees its zxid, and every event is
// queued before any reply reflecting the change can be built.
func (c *applyCtx) finish() {
	t := c.t
	t.digest.Store(t.work)
	t.lastZxid.Store(c.zxid)
	if len(c.events) > 0 {
		var firings []firing
		var acls [][]jute.ACL
		fired := t.firedScratch[:0] // watches each event triggered, when someone counts them
		m := &t.watches
		m.mu.Lock()
		for _, pe := range c.events {
			before := len(firings)
			firings = m.collectLocked(firings, Event{Type: pe.typ, Path: pe.path, Zxid: jute.Zxid(c.zxid)})
			for range firings[before:] {
				acls = append(acls, pe.acl)
			}
			if t.observer != nil {
				fired = append(fired, len(firings)-before)
			}
		}
		m.mu.Unlock()
		for i, n := range fired {
			pe := &c.events[i]
			if n > 0 {
				t.observer.WatchesFired(pe.typ, n)
			}
			if pe.typ != jute.EventNodeChildrenChanged {
				if ns := TopNamespace(pe.path); ns != "" {
					t.observer.NamespaceWritten(ns, int64(len(pe.path)+pe.written))
				}
			}
		}
		t.firedScratch = fired
		for i, f := range firings {
			if t.CheckACL(acls[i], f.w.Identity(), jute.PermRead) {
				f.w.Notify(f.ev)
			}
		}
	}
	for _, id := range c.freed {
		t.nodes.release(id)
	}
	c.freed = c.freed[:0]
	clear(c.events) // the paths and ACL lists they name
	c.events = c.events[:0]
	for _, s := range c.held {
		s.mu.Unlock()
	}
	c.held = nil
	t.applyMu.Unlock()
}

func (c *applyCtx) sessionAlive() bool {
	if c.txn.Local {
		return true // a local session lives on its server only; the tree never knows it
	}
	c.t.sessions.RLock()
	_, ok := c.t.sessions.byID[c.txn.Session]
	c.t.sessions.RUnlock()
	return ok
}

func (c *applyCtx) request() Result {
	txn := &c.txn
	d := jute.NewDecoder(txn.Body)
	switch txn.Op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		var r jute.CreateTTLRequest
		r.TTL = -1
		if txn.Op == jute.OpCreateTTL {
			r.Decode(&d)
		} else {
			r.CreateRequest.Decode(&d)
		}
		if d.Err() != nil {
			return Result{Err: jute.CodeMarshallingError}
		}
		path, st, code := c.create(txn.Op, r.Path, r.Data, r.ACL, r.Flags, r.TTL)
		if code != jute.CodeOK {
			return Result{Err: code}
		}
		if txn.Op == jute.OpCreate {
			return Result{Body: jute.AppendString(nil, path)}
		}
		return Result{Body: st.Append(jute.AppendString(nil, path))}
	case jute.OpDelete:
		var r jute.PathVersionRequest
		r.Decode(&d)
		if d.Err() != nil {
			return Result{Err: jute.CodeMarshallingError}
		}
		return Result{Err: c.delete(r.Path, r.Version)}
	case jute.OpSetData:
		var r jute.SetDataRequest
		r.Decode(&d)
		if d.Err() != nil {
			return Result{Err: jute.CodeMarshallingError}
		}
		st, code := c.setData(r.Path, r.Data, r.Version)
		if code != jute.CodeOK {
			return Result{Err: code}
		}
		return Result{Body: st.Append(nil)}
	case jute.OpSetACL:
		var r jute.SetACLRequest
		r.Decode(&d)
		if d.Err() != nil {
			return Result{Err: jute.CodeMarshallingError}
		}
		st, code := c.setACL(r.Path, r.ACL, r.Version)
		if code != jute.CodeOK {
			return Result{Err: code}
		}
		return Result{Body: st.Append(nil)}
	case jute.OpMulti:
		r := jute.MultiRequest{}
		r.Decode(&d)
		if d.Err() != nil {
			return Result{Err: jute.CodeMarshallingError}
		}
		return c.multi(r.Ops)
	}
	return Result{Err: jute.CodeUnimplemented}
}

// multi applies ops atomically: each op is validated against the tree as changed by
// the ops before it; on the first failure everything is rolled back and the results
// say OK before the failing op, its code, and RUNTIMEINCONSISTENCY after it.
func (c *applyCtx) multi(ops []jute.MultiOp) Result {
	c.inMulti = true
	digest := c.t.work
	results := make([]jute.OpResult, len(ops))
	failed := -1
	var failCode jute.Code
	for i := range ops {
		op := &ops[i]
		res := &results[i]
		var code jute.Code
		switch op.Type {
		case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
			if op.Type != jute.OpCreateTTL && jute.CreateMode(op.Flags).TTL() {
				// Rebuilt from its flags, a TTL mode under an opcode without a
				// TTL field makes ZooKeeper 3.8 look for a TTL request that is
				// not there: the whole multi fails as MARSHALLINGERROR, but
				// only if no earlier sub-op failed first.
				c.rollback(digest)
				return Result{Err: jute.CodeMarshallingError}
			}
			// ZooKeeper 3.8 rebuilds every create of a multi with Op.create(flags),
			// forgetting the opcode sent: the mode alone picks the node kind and
			// the result type (create2 form only for containers and TTL nodes).
			ttl, kind := int64(-1), jute.OpCreate
			switch mode := jute.CreateMode(op.Flags); {
			case mode == jute.ModeContainer:
				kind = jute.OpCreateContainer
			case mode.TTL():
				kind = jute.OpCreateTTL
				if op.Type == jute.OpCreateTTL {
					ttl = op.TTL
				}
			}
			res.Path, res.Stat, code = c.create(kind, op.Path, op.Data, op.ACL, op.Flags, ttl)
			res.Type = jute.OpCreate2
			if kind == jute.OpCreate {
				res.Type = jute.OpCreate
			}
		case jute.OpDelete:
			code = c.delete(op.Path, op.Version)
			res.Type = jute.OpDelete
		case jute.OpSetData:
			res.Stat, code = c.setData(op.Path, op.Data, op.Version)
			res.Type = jute.OpSetData
		case jute.OpCheck:
			code = c.check(op.Path, op.Version)
			res.Type = jute.OpCheck
		default:
			code = jute.CodeMarshallingError
		}
		if code != jute.CodeOK {
			failed, failCode = i, code
			break
		}
	}
	if failed >= 0 {
		c.rollback(digest)
		for i := range results {
			code := jute.CodeOK
			switch {
			case i == failed:
				code = failCode
			case i > failed:
				code = jute.CodeRuntimeInconsistency
			}
			results[i] = jute.OpResult{Type: jute.OpError, Err: code}
		}
	}
	var body []byte
	for i := range results {
		body = jute.AppendOpResult(body, &results[i])
	}
	return Result{Body: jute.AppendMultiEnd(body)}
}

// rollback undoes what a multi's sub-ops applied so far and restores the
// tree's digest to what it was before the multi.
func (c *applyCtx) rollback(digest uint64) {
	for i := len(c.undo) - 1; i >= 0; i-- {
		c.undo[i]()
	}
	c.undo = nil
	c.events = c.events[:0]
	c.freed = c.freed[:0] // linked back by the undo steps
	c.t.work = digest
}

// create validates and applies a create of any kind, in the order of
// spec/semantics.md §4, and returns the final path and the new node's Stat.
func (c *applyCtx) create(op jute.OpCode, path string, data []byte, acl []jute.ACL, flags int32, ttl int64) (string, jute.Stat, jute.Code) {
	t := c.t
	mode := jute.CreateMode(flags)
	if !mode.Valid() {
		return "", jute.Stat{}, jute.CodeBadArguments
	}
	// ZooKeeper 3.8 checks the flags' mode the same way under every create opcode
	// (a TTL mode is UNIMPLEMENTED without extended types and BADARGUMENTS without
	// a TTL; a sequential mode gets its suffix), but the opcode alone picks the
	// txn: createContainer always makes a container, and flags 4 under create or
	// create2 a plain persistent node (PrepRequestProcessor.pRequest2TxnCreate).
	container := op == jute.OpCreateContainer
	if mode == jute.ModeContainer && !container {
		mode = jute.ModePersistent
	}
	if mode.TTL() && !t.cfg.ExtendedTypes {
		return "", jute.Stat{}, jute.CodeUnimplemented
	}
	if mode.TTL() {
		if ttl < 1 || ttl > maxTTL {
			return "", jute.Stat{}, jute.CodeBadArguments
		}
	} else if op == jute.OpCreateTTL || ttl >= 0 {
		return "", jute.Stat{}, jute.CodeBadArguments
	}
	if !c.sessionAlive() {
		return "", jute.Stat{}, jute.CodeSessionExpired
	}
	if c.txn.Local && mode.Ephemeral() {
		return "", jute.Stat{}, jute.CodeEphemeralOnLocalSession
	}
	slash := strings.LastIndexByte(path, '/')
	if slash < 0 || strings.IndexByte(path, 0) >= 0 {
		return "", jute.Stat{}, jute.CodeBadArguments
	}
	fixed, code := t.FixupACL(acl, c.txn.Identity)
	if code != jute.CodeOK {
		return "", jute.Stat{}, code
	}
	parentPath := path[:slash]
	if parentPath == "" {
		parentPath = "/"
	}
	parentID, parent := c.get(parentPath)
	if parent == nil {
		return "", jute.Stat{}, jute.CodeNoNode
	}
	if !t.CheckACL(t.aclOf(parent), c.txn.Identity, jute.PermCreate) {
		return "", jute.Stat{}, jute.CodeNoAuth
	}
	if mode.Sequential() {
		path = path + formatSequence(parent.cversion)
	}
	if !ValidatePath(path) {
		return "", jute.Stat{}, jute.CodeBadArguments
	}
	s, h := c.lock(path)
	if s.lookup(&t.nodes, h, path) != 0 {
		return "", jute.Stat{}, jute.CodeNodeExists
	}
	if isSessionOwner(parent.owner, t.cfg.ExtendedTypes) {
		return "", jute.Stat{}, jute.CodeNoChildrenForEphemerals
	}
	if c.quotaExceeded(path, int64(len(data)), 1) {
		return "", jute.Stat{}, jute.CodeQuotaExceeded
	}

	var owner int64
	switch {
	case container:
		owner = containerOwner
	case mode.Ephemeral():
		owner = int64(c.txn.Session)
	case mode.TTL():
		owner = ttlMask | ttl
	}
	id := t.nodes.alloc()
	n := t.nodes.at(id)
	n.setBlob(path, data)
	n.acl = t.acls.intern(fixed)
	n.setStored(persisted{czxid: c.zxid, mzxid: c.zxid, pzxid: c.zxid,
		ctime: c.txn.Time, mtime: c.txn.Time, owner: owner})
	path = n.path() // the tree's copy, not the entry's bytes
	parentPath = parent.path()
	t.saveImage(id, n, true)
	t.saveImage(parentID, parent, false)
	oldCversion, oldPzxid := parent.cversion, parent.pzxid
	parentDigest := t.dg.node(parent)
	s.insert(h, id, n.blob)
	t.link(parentID, id)
	parent.cversion++
	parent.pzxid = c.zxid
	t.work += t.dg.node(n) + t.dg.node(parent) - parentDigest
	dataLen := n.dataLen()
	t.nodeCount.Add(1)
	t.dataBytes.Add(int64(len(path) + dataLen))
	c.trackOwner(path, owner, true)
	c.quotaCreatedOrDeleted(path, dataLen, +1)
	c.events = append(c.events,
		pendingEvent{jute.EventNodeCreated, path, t.aclOf(n), dataLen},
		pendingEvent{jute.EventNodeChildrenChanged, parentPath, t.aclOf(parent), 0})
	if c.inMulti {
		c.undo = append(c.undo, func() {
			s.remove(h, id)
			t.unlink(parentID, id)
			parent.cversion, parent.pzxid = oldCversion, oldPzxid
			t.nodeCount.Add(-1)
			t.dataBytes.Add(-int64(len(path) + dataLen))
			c.trackOwner(path, owner, false)
			t.nodes.release(id)
		})
	}
	return path, n.stat(t.cfg.ExtendedTypes), jute.CodeOK
}

// formatSequence renders a sequence number as Java's %010d does, negative values
// included.
func formatSequence(v int32) string {
	var buf [12]byte
	b := buf[:0]
	u := int64(v)
	if u < 0 {
		b = append(b, '-')
		u = -u
		digits := strconv.AppendInt(nil, u, 10)
		for i := len(digits); i < 9; i++ {
			b = append(b, '0')
		}
		return string(append(b, digits...))
	}
	digits := strconv.AppendInt(nil, u, 10)
	for i := len(digits); i < 10; i++ {
		b = append(b, '0')
	}
	return string(append(b, digits...))
}

// trackOwner adds (or removes) path to its session's ephemerals or the reaper's
// candidates, according to its stored owner.
func (c *applyCtx) trackOwner(path string, owner int64, add bool) {
	if owner == 0 {
		return
	}
	t := c.t
	t.sessions.Lock()
	defer t.sessions.Unlock()
	var set map[string]struct{}
	if owner == containerOwner || isTTLOwner(owner, t.cfg.ExtendedTypes) {
		set = t.sessions.expiring
	} else if st := t.sessions.byID[jute.SessionID(owner)]; st != nil {
		set = st.ephemerals
	}
	if set == nil {
		return
	}
	if add {
		// A key of its own: path aliases a node's blob, which a setData replaces.
		set[jute.Clone(path)] = struct{}{}
	} else {
		delete(set, path)
	}
}

// removeNode deletes a childless node and records its events (and undo in a multi).
func (c *applyCtx) removeNode(id nodeID, n *node) {
	t := c.t
	path := n.path()
	parentPath, _ := parentOf(path)
	parentID, parent := c.get(parentPath)
	parentPath = parent.path()
	s, h := c.lock(path)
	t.saveImage(id, n, false)
	t.saveImage(parentID, parent, false)
	oldPzxid := parent.pzxid
	parentDigest := t.dg.node(parent)
	t.work -= t.dg.node(n)
	s.remove(h, id)
	t.unlink(parentID, id)
	if c.zxid > parent.pzxid {
		parent.pzxid = c.zxid
	}
	t.work += t.dg.node(parent) - parentDigest
	dataLen := n.dataLen()
	t.nodeCount.Add(-1)
	t.dataBytes.Add(-int64(len(path) + dataLen))
	c.trackOwner(path, n.owner, false)
	c.quotaCreatedOrDeleted(path, dataLen, -1)
	c.events = append(c.events,
		pendingEvent{jute.EventNodeDeleted, path, t.aclOf(n), 0},
		pendingEvent{jute.EventNodeChildrenChanged, parentPath, t.aclOf(parent), 0})
	c.freed = append(c.freed, id)
	if c.inMulti {
		c.undo = append(c.undo, func() {
			s.insert(h, id, n.blob)
			t.link(parentID, id)
			parent.pzxid = oldPzxid
			t.nodeCount.Add(1)
			t.dataBytes.Add(int64(len(path) + dataLen))
			c.trackOwner(path, n.owner, true)
		})
	}
}

func (c *applyCtx) delete(path string, version int32) jute.Code {
	if !c.sessionAlive() {
		return jute.CodeSessionExpired
	}
	if strings.IndexByte(path, '/') < 0 || strings.IndexByte(path, 0) >= 0 || isSpecial(path) {
		return jute.CodeBadArguments
	}
	parentPath, _ := parentOf(path)
	_, parent := c.get(parentPath)
	if parent == nil {
		return jute.CodeNoNode
	}
	if !c.t.CheckACL(c.t.aclOf(parent), c.txn.Identity, jute.PermDelete) {
		return jute.CodeNoAuth
	}
	id, n := c.get(path)
	if n == nil {
		return jute.CodeNoNode
	}
	if version != -1 && version != n.version {
		return jute.CodeBadVersion
	}
	if n.nkids > 0 {
		return jute.CodeNotEmpty
	}
	c.removeNode(id, n)
	return jute.CodeOK
}

func (c *applyCtx) setData(path string, data []byte, version int32) (jute.Stat, jute.Code) {
	t := c.t
	if !c.sessionAlive() {
		return jute.Stat{}, jute.CodeSessionExpired
	}
	if !ValidatePath(path) {
		return jute.Stat{}, jute.CodeBadArguments
	}
	id, n := c.get(path)
	if n == nil {
		return jute.Stat{}, jute.CodeNoNode
	}
	if !t.CheckACL(t.aclOf(n), c.txn.Identity, jute.PermWrite) {
		return jute.Stat{}, jute.CodeNoAuth
	}
	if c.quotaExceeded(path, int64(len(data)-n.dataLen()), 0) {
		return jute.Stat{}, jute.CodeQuotaExceeded
	}
	if version != -1 && version != n.version {
		return jute.Stat{}, jute.CodeBadVersion
	}
	c.lockParentOf(path)
	path = n.path()
	t.saveImage(id, n, false)
	// Only what the undo needs, not a copy of the node: a closure over a whole
	// node would move it to the heap on every setData.
	oldBlob, oldBlen, oldPlen := n.blob, n.blen, n.plen
	oldVersion, oldMzxid, oldMtime := n.version, n.mzxid, n.mtime
	oldLen := n.dataLen()
	t.work -= t.dg.node(n)
	c.replaceData(id, n, data)
	n.version++
	n.mzxid = c.zxid
	n.mtime = c.txn.Time
	t.work += t.dg.node(n)
	t.dataBytes.Add(int64(n.dataLen() - oldLen))
	c.quotaDataChanged(path, oldLen, n.dataLen())
	c.events = append(c.events, pendingEvent{jute.EventNodeDataChanged, path, t.aclOf(n), n.dataLen()})
	if c.inMulti {
		c.undo = append(c.undo, func() {
			t.dataBytes.Add(int64(oldLen - n.dataLen()))
			c.restoreBlob(id, n, oldBlob, oldBlen, oldPlen)
			n.version, n.mzxid, n.mtime = oldVersion, oldMzxid, oldMtime
		})
	}
	return n.stat(t.cfg.ExtendedTypes), jute.CodeOK
}

func (c *applyCtx) setACL(path string, acl []jute.ACL, version int32) (jute.Stat, jute.Code) {
	t := c.t
	if !c.sessionAlive() {
		return jute.Stat{}, jute.CodeSessionExpired
	}
	if !ValidatePath(path) {
		return jute.Stat{}, jute.CodeBadArguments
	}
	fixed, code := t.FixupACL(acl, c.txn.Identity)
	if code != jute.CodeOK {
		return jute.Stat{}, code
	}
	id, n := c.get(path)
	if n == nil {
		return jute.Stat{}, jute.CodeNoNode
	}
	if !t.CheckACL(t.aclOf(n), c.txn.Identity, jute.PermAdmin) {
		return jute.Stat{}, jute.CodeNoAuth
	}
	if version != -1 && version != n.aversion {
		return jute.Stat{}, jute.CodeBadVersion
	}
	t.saveImage(id, n, false)
	t.work -= t.dg.node(n)
	n.acl = t.acls.intern(fixed)
	n.aversion++
	t.work += t.dg.node(n)
	return n.stat(t.cfg.ExtendedTypes), jute.CodeOK
}

func (c *applyCtx) check(path string, version int32) jute.Code {
	if !c.sessionAlive() {
		return jute.CodeSessionExpired
	}
	if !ValidatePath(path) {
		return jute.CodeBadArguments
	}
	_, n := c.get(path)
	if n == nil {
		return jute.CodeNoNode
	}
	if !c.t.CheckACL(c.t.aclOf(n), c.txn.Identity, jute.PermRead) {
		return jute.CodeNoAuth
	}
	if version != -1 && version != n.version {
		return jute.CodeBadVersion
	}
	return jute.CodeOK
}

func (c *applyCtx) createSession() Result {
	t := c.t
	t.sessions.Lock()
	defer t.sessions.Unlock()
	if st := t.sessions.byID[c.txn.Session]; st != nil {
		st.timeout = c.txn.Timeout
		return Result{}
	}
	t.sessions.byID[c.txn.Session] = &sessionState{timeout: c.txn.Timeout, conn: c.txn.Conn,
		ephemerals: make(map[string]struct{})}
	return Result{}
}

// attach moves a live session to a new client connection, restarting its write
// sequence: writes of the connection it leaves are refused from now on.
func (c *applyCtx) attach() Result {
	t := c.t
	t.sessions.Lock()
	defer t.sessions.Unlock()
	st := t.sessions.byID[c.txn.Session]
	if st == nil {
		return Result{Err: jute.CodeSessionExpired}
	}
	st.conn, st.lastSeq, st.timeout = c.txn.Conn, 0, c.txn.Timeout
	return Result{}
}

// closeSession deletes the session's ephemerals in path order (so every replica
// produces the same events) and forgets the session.
func (c *applyCtx) closeSession() Result {
	t := c.t
	t.sessions.RLock()
	st := t.sessions.byID[c.txn.Session]
	var paths []string
	if st != nil {
		paths = make([]string, 0, len(st.ephemerals))
		for p := range st.ephemerals {
			paths = append(paths, p)
		}
	}
	t.sessions.RUnlock()
	if st == nil {
		return Result{}
	}
	slices.Sort(paths)
	for _, p := range paths {
		if id, n := c.get(p); n != nil && n.nkids == 0 {
			c.removeNode(id, n)
			if t.cfg.EphemeralsDeleted != nil {
				c.ephemeralsGone = append(c.ephemeralsGone, p)
			}
		}
	}
	t.sessions.Lock()
	delete(t.sessions.byID, c.txn.Session)
	t.sessions.Unlock()
	return Result{}
}

// reap deletes a container or TTL node that is still reapable at the entry's time.
func (c *applyCtx) reap(path string) Result {
	id, n := c.get(path)
	switch {
	case n == nil:
		return Result{Err: jute.CodeNoNode}
	case n.nkids > 0:
		return Result{Err: jute.CodeNotEmpty}
	case !reapable(n, c.txn.Time, c.txn.Timeout, c.t.cfg.ExtendedTypes):
		return Result{Err: jute.CodeBadVersion}
	}
	c.removeNode(id, n)
	return Result{}
}
