package datatree

import (
	"zkd/jute"
)

// ConfigPath is the node that holds an ensemble's membership text
// (spec/wire.md §9): READ for the world, written only by bootstrap and reconfig.
const ConfigPath = "/zookeeper/config"

// SetConfig replaces the data of ConfigPath outside the log: a new data
// directory's bootstrap writes the initial membership with it before any entry is
// applied. The Stat follows ZooKeeper's initConfigInZKDatabase: version -1, mzxid
// = the configuration's version, mtime as given. It fires no watch (nobody can
// watch a tree that is not serving yet).
func (t *Tree) SetConfig(text []byte, version, mtime int64) {
	c := t.begin(t.LastZxid(), &Txn{})
	c.replaceConfig(text, version, mtime) // an imported tree without the node is left as ZooKeeper left it
	c.finish()
}

// replaceConfig gives ConfigPath the data text and ZooKeeper's Stat for it
// (version -1, mzxid, mtime), and returns the node; nil when the tree has none.
// Nodes under /zookeeper/ are outside the digest, so it does not move.
func (c *applyCtx) replaceConfig(text []byte, mzxid, mtime int64) *node {
	t := c.t
	id, n := c.get(ConfigPath)
	if n == nil {
		return nil
	}
	c.lockParentOf(ConfigPath)
	t.saveImage(id, n, false)
	oldLen := n.dataLen()
	c.replaceData(id, n, text)
	t.dataBytes.Add(int64(n.dataLen() - oldLen))
	n.version, n.mzxid, n.mtime = -1, mzxid, mtime
	return n
}

// Config returns the data and Stat of ConfigPath without an ACL check: the
// replica reads the membership from it. The data aliases the tree's immutable
// copy and must not be modified.
func (t *Tree) Config() ([]byte, jute.Stat) {
	s, n := t.rlock(ConfigPath)
	if n == nil {
		return nil, jute.Stat{}
	}
	defer s.mu.RUnlock()
	return n.data(), n.stat(t.cfg.ExtendedTypes)
}

// ConfigACL returns the ACL of ConfigPath (reconfig needs WRITE on it).
func (t *Tree) ConfigACL() []jute.ACL {
	s, n := t.rlock(ConfigPath)
	if n == nil {
		return nil
	}
	defer s.mu.RUnlock()
	return t.aclOf(n)
}

// ConnState returns the client connection session sid is attached to and the
// ConnSeq of the last write applied from it: what apply's order check
// (Txn.Conn, Txn.ConnSeq) will compare the session's next write with.
func (t *Tree) ConnState(sid jute.SessionID) (conn, lastSeq uint64, ok bool) {
	t.sessions.RLock()
	defer t.sessions.RUnlock()
	st := t.sessions.byID[sid]
	if st == nil {
		return 0, 0, false
	}
	return st.conn, st.lastSeq, true
}

// ApplyReconfig applies, at zxid, a reconfig that the membership change of the
// same entry has already carried out: txn names the client's write (its session,
// connection and ConnSeq are checked as for any write, and its Time becomes
// mtime), and text is the new /zookeeper/config data. The node's data is replaced
// whatever the check says, since the membership has changed either way; the
// result is the client's answer, a GetDataResponse of the new data and Stat
// (ZooKeeper's reconfig Stat rules: version -1, mzxid = zxid, mtime = the txn's
// time), or the order check's code. NodeDataChanged fires on ConfigPath.
func (t *Tree) ApplyReconfig(zxid jute.Zxid, txn *Txn, text []byte) Result {
	c := t.begin(zxid, txn)
	code := c.checkConn()
	if code == jute.CodeOK && txn.Conn != 0 && !c.sessionAlive() {
		code = jute.CodeSessionExpired
	}
	res := Result{Err: code}
	if n := c.replaceConfig(text, c.zxid, txn.Time); n != nil {
		c.events = append(c.events, pendingEvent{jute.EventNodeDataChanged, ConfigPath, t.aclOf(n), n.dataLen()})
		if code == jute.CodeOK {
			st := n.stat(t.cfg.ExtendedTypes)
			res.Body = st.Append(jute.AppendBuffer(nil, n.data()))
		}
	}
	c.finish()
	return res
}

// ApplyRefused applies, at zxid, a client write that the leader refused before it
// reached the tree (a reconfig it could not carry out): the order check runs as
// for any write, so the refusal keeps its place among the connection's writes,
// and the result is the order check's code or else code.
func (t *Tree) ApplyRefused(zxid jute.Zxid, txn *Txn, code jute.Code) Result {
	c := t.begin(zxid, txn)
	if cc := c.checkConn(); cc != jute.CodeOK {
		code = cc
	}
	c.finish()
	return Result{Err: code}
}
