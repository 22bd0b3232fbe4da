package zkdisk

import (
	"fmt"
	"strings"

	"zkd/jute"
)

// apply replays one logged txn as FileTxnSnapLog.processTransaction and
// DataTree.processTxn do. The returned code is the txn's result, which replay
// ignores (NODEEXISTS and NONODE are expected over a fuzzy snapshot); err is set
// only for a txn no ZooKeeper could have written (a path without a leading '/',
// a TTL out of range).
func (t *zkTree) apply(txn *Txn) (jute.Code, error) {
	h := &txn.Header
	switch h.Type {
	case jute.OpCreateSession:
		if b, ok := txn.Body.(*CreateSessionTxn); ok {
			t.sessions[h.ClientID] = b.Timeout
		}
	case jute.OpCloseSession:
		delete(t.sessions, h.ClientID)
	}
	code, err := t.process(h, h.Type, txn.Body)
	if h.Zxid > t.lastZxid {
		t.lastZxid = h.Zxid
	}
	return code, err
}

// process is DataTree.processTxn for a txn (or sub-txn) of type typ.
func (t *zkTree) process(h *TxnHeader, typ jute.OpCode, body Body) (code jute.Code, err error) {
	switch b := body.(type) {
	case *CreateTxn:
		if err := checkPath(b.Path); err != nil {
			return 0, err
		}
		owner := int64(0)
		if b.Ephemeral {
			owner = h.ClientID
		}
		code = t.createNode(b.Path, b.Data, b.ACL, owner, b.ParentCVersion, h.Zxid, h.Time)
		// A create replayed onto a node the fuzzy snapshot already has still moves
		// the parent's cversion and pzxid (ZooKeeper does this for type create
		// only, not create2 or the other kinds).
		if typ == jute.OpCreate && code == jute.CodeNodeExists {
			parent, _ := splitPath(b.Path)
			if c := t.setCversionPzxid(parent, b.ParentCVersion, h.Zxid); c != jute.CodeOK {
				code = c
			}
		}
	case *CreateContainerTxn:
		if err := checkPath(b.Path); err != nil {
			return 0, err
		}
		code = t.createNode(b.Path, b.Data, b.ACL, containerOwner, b.ParentCVersion, h.Zxid, h.Time)
	case *CreateTTLTxn:
		if err := checkPath(b.Path); err != nil {
			return 0, err
		}
		if b.TTL <= 0 || b.TTL > maxTTL {
			return 0, fmt.Errorf("%w: zxid %#x: createTTL %q with ttl %d", ErrCorrupt, h.Zxid, b.Path, b.TTL)
		}
		code = t.createNode(b.Path, b.Data, b.ACL, ttlMask|b.TTL, b.ParentCVersion, h.Zxid, h.Time)
	case *DeleteTxn:
		if err := checkPath(b.Path); err != nil {
			return 0, err
		}
		if b.Path == "/" {
			return 0, fmt.Errorf("%w: zxid %#x: delete of the root", ErrCorrupt, h.Zxid)
		}
		code = t.deleteNode(b.Path, h.Zxid)
	case *SetDataTxn:
		if err := checkPath(b.Path); err != nil {
			return 0, err
		}
		code = t.setData(b.Path, b.Data, b.Version, h.Zxid, h.Time)
	case *SetACLTxn:
		if err := checkPath(b.Path); err != nil {
			return 0, err
		}
		code = t.setACL(b.Path, b.ACL, b.Version)
	case *CloseSessionTxn:
		for _, p := range b.Paths {
			if err := checkPath(p); err != nil {
				return 0, err
			}
		}
		t.killSession(h.ClientID, h.Zxid, b.Paths)
	case *ErrorTxn:
		code = jute.Code(b.Err)
	case *CheckVersionTxn, *CreateSessionTxn:
		// No change to the tree.
	case *MultiTxn:
		return t.multi(h, b)
	case nil:
		if typ == jute.OpCloseSession {
			t.killSession(h.ClientID, h.Zxid, nil)
		}
	default:
		return 0, fmt.Errorf("%w: zxid %#x: body %T", ErrCorrupt, h.Zxid, body)
	}
	return code, nil
}

// multi applies a MultiTxn: when it holds an error sub-txn (a failed multi),
// every sub-txn becomes an error and nothing changes; otherwise each sub-txn is
// applied on its own, its failures (over a fuzzy snapshot) ignored.
func (t *zkTree) multi(h *TxnHeader, m *MultiTxn) (jute.Code, error) {
	for _, s := range m.Txns {
		if s.Type == jute.OpError {
			for _, s := range m.Txns {
				if e, ok := s.Body.(*ErrorTxn); ok && e.Err != 0 {
					return jute.Code(e.Err), nil
				}
			}
			return jute.CodeOK, nil
		}
	}
	var first jute.Code
	for _, s := range m.Txns {
		code, err := t.process(h, s.Type, s.Body)
		if err != nil {
			return 0, err
		}
		if code != jute.CodeOK && first == jute.CodeOK {
			first = code
		}
	}
	return first, nil
}

func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w: path %q does not start with '/'", ErrCorrupt, p)
	}
	return nil
}
