package zkdisk

import (
	"errors"
	"fmt"

	"zkd/jute"
)

// TxnHeader starts every logged txn (32 bytes).
type TxnHeader struct {
	ClientID int64 // session id; 0 for server-internal txns
	Cxid     int32
	Zxid     int64
	Time     int64 // leader's clock, ms since the epoch
	Type     jute.OpCode
}

const txnHeaderSize = 8 + 4 + 8 + 8 + 4

// TxnDigest is the tree digest after the txn, appended to most txns (3.6+).
type TxnDigest struct {
	Version    int32
	TreeDigest uint64
}

// Txn is one logged transaction. Body is nil for a closeSession written without
// a CloseSessionTxn (before 3.6, or with the feature off). Strings and buffers in
// Body alias the record's bytes, which the reader never reuses.
type Txn struct {
	Header TxnHeader
	Body   Body
	Digest *TxnDigest
}

// Body is a txn body record.
type Body interface {
	appendBody(dst []byte) []byte
}

// CreateSessionTxn (type createSession).
type CreateSessionTxn struct{ Timeout int32 }

// CloseSessionTxn (type closeSession, 3.6+): the session's ephemerals as computed
// when the close was prepared.
type CloseSessionTxn struct{ Paths []string }

// CreateTxn (types create and create2). V0 marks the pre-3.3 form without
// ParentCVersion (read as -1).
type CreateTxn struct {
	Path           string
	Data           []byte
	ACL            []jute.ACL
	Ephemeral      bool
	ParentCVersion int32
	V0             bool
}

// CreateContainerTxn (type createContainer).
type CreateContainerTxn struct {
	Path           string
	Data           []byte
	ACL            []jute.ACL
	ParentCVersion int32
}

// CreateTTLTxn (type createTTL).
type CreateTTLTxn struct {
	Path           string
	Data           []byte
	ACL            []jute.ACL
	ParentCVersion int32
	TTL            int64
}

// DeleteTxn (types delete and deleteContainer).
type DeleteTxn struct{ Path string }

// SetDataTxn (types setData and reconfig); Version is the new version.
type SetDataTxn struct {
	Path    string
	Data    []byte
	Version int32
}

// SetACLTxn (type setACL); Version is the new aversion.
type SetACLTxn struct {
	Path    string
	ACL     []jute.ACL
	Version int32
}

// CheckVersionTxn (type check, inside a multi).
type CheckVersionTxn struct {
	Path    string
	Version int32
}

// ErrorTxn (type error): a failed write, which still takes a zxid.
type ErrorTxn struct{ Err int32 }

// MultiTxn (type multi): the sub-txns, each with its own type.
type MultiTxn struct{ Txns []SubTxn }

// SubTxn is one entry of a MultiTxn.
type SubTxn struct {
	Type jute.OpCode
	Body Body
}

func (b *CreateSessionTxn) appendBody(dst []byte) []byte { return jute.AppendInt(dst, b.Timeout) }
func (b *CloseSessionTxn) appendBody(dst []byte) []byte  { return jute.AppendStrings(dst, b.Paths) }
func (b *CreateTxn) appendBody(dst []byte) []byte {
	dst = jute.AppendString(dst, b.Path)
	dst = jute.AppendBuffer(dst, b.Data)
	dst = appendACLs(dst, b.ACL)
	dst = jute.AppendBool(dst, b.Ephemeral)
	if b.V0 {
		return dst
	}
	return jute.AppendInt(dst, b.ParentCVersion)
}
func (b *CreateContainerTxn) appendBody(dst []byte) []byte {
	dst = jute.AppendString(dst, b.Path)
	dst = jute.AppendBuffer(dst, b.Data)
	dst = appendACLs(dst, b.ACL)
	return jute.AppendInt(dst, b.ParentCVersion)
}
func (b *CreateTTLTxn) appendBody(dst []byte) []byte {
	dst = jute.AppendString(dst, b.Path)
	dst = jute.AppendBuffer(dst, b.Data)
	dst = appendACLs(dst, b.ACL)
	dst = jute.AppendInt(dst, b.ParentCVersion)
	return jute.AppendLong(dst, b.TTL)
}
func (b *DeleteTxn) appendBody(dst []byte) []byte { return jute.AppendString(dst, b.Path) }
func (b *SetDataTxn) appendBody(dst []byte) []byte {
	dst = jute.AppendString(dst, b.Path)
	dst = jute.AppendBuffer(dst, b.Data)
	return jute.AppendInt(dst, b.Version)
}
func (b *SetACLTxn) appendBody(dst []byte) []byte {
	dst = jute.AppendString(dst, b.Path)
	dst = appendACLs(dst, b.ACL)
	return jute.AppendInt(dst, b.Version)
}
func (b *CheckVersionTxn) appendBody(dst []byte) []byte {
	return jute.AppendInt(jute.AppendString(dst, b.Path), b.Version)
}
func (b *ErrorTxn) appendBody(dst []byte) []byte { return jute.AppendInt(dst, b.Err) }
func (b *MultiTxn) appendBody(dst []byte) []byte {
	dst = jute.AppendInt(dst, int32(len(b.Txns)))
	for _, s := range b.Txns {
		dst = jute.AppendInt(dst, int32(s.Type))
		var body []byte
		if s.Body != nil {
			body = s.Body.appendBody([]byte{})
		}
		dst = jute.AppendBuffer(dst, body)
	}
	return dst
}

// appendACLs writes a vector<ACL>; nil is written as null (-1), as Java writes a
// null list.
func appendACLs(dst []byte, acl []jute.ACL) []byte {
	if acl == nil {
		return jute.AppendInt(dst, -1)
	}
	return jute.AppendACLs(dst, acl)
}

// AppendTxn encodes t as a log record's txnEntry: header, body, digest.
func AppendTxn(dst []byte, t *Txn) []byte {
	h := &t.Header
	dst = jute.AppendLong(dst, h.ClientID)
	dst = jute.AppendInt(dst, h.Cxid)
	dst = jute.AppendLong(dst, h.Zxid)
	dst = jute.AppendLong(dst, h.Time)
	dst = jute.AppendInt(dst, int32(h.Type))
	if t.Body != nil {
		dst = t.Body.appendBody(dst)
	}
	if t.Digest != nil {
		dst = jute.AppendInt(dst, t.Digest.Version)
		dst = jute.AppendLong(dst, int64(t.Digest.TreeDigest))
	}
	return dst
}

// errUnsupported marks a txn type no ZooKeeper reader accepts.
var errUnsupported = errors.New("unsupported txn type")

// DecodeTxn decodes a log record's txnEntry as SerializeUtils.deserializeTxn does,
// with the same fallbacks: a create too short for ParentCVersion is the V0 form, a
// closeSession whose CloseSessionTxn does not parse has no body, and the TxnDigest
// is read when at least its 12 bytes remain. The result aliases b.
//
// Unlike ZooKeeper, which ends the file quietly when a checksummed record's body
// is short, this reports such a record as corrupt, and it accepts the top-level
// check txn that ZooKeeper 3.8.0-3.8.4 wrote for a standalone check request (and
// could then not read back).
func DecodeTxn(b []byte) (*Txn, error) {
	if len(b) < txnHeaderSize {
		return nil, fmt.Errorf("%w: txn of %d bytes, shorter than its header", ErrCorrupt, len(b))
	}
	d := jute.NewDecoder(b)
	t := &Txn{}
	h := &t.Header
	h.ClientID, h.Cxid, h.Zxid, h.Time, h.Type = d.Long(), d.Int(), d.Long(), d.Long(), jute.OpCode(d.Int())
	bodyStart := d.Rest()
	switch h.Type {
	case jute.OpCreate:
		body, err := decodeCreate(&d)
		if err != nil {
			d = jute.NewDecoder(bodyStart)
			c := &CreateTxn{V0: true, ParentCVersion: -1}
			c.Path, c.Data, c.ACL, c.Ephemeral = d.String(), d.Buffer(), d.ACLs(), d.Bool()
			if d.Err() != nil {
				return nil, fmt.Errorf("%w: zxid %#x: create: %v", ErrCorrupt, h.Zxid, err)
			}
			body = c
		}
		t.Body = body
	case jute.OpCloseSession:
		c := &CloseSessionTxn{Paths: d.Strings()}
		if d.Err() != nil {
			d = jute.NewDecoder(bodyStart)
		} else {
			t.Body = c
		}
	default:
		body, err := decodeBody(h.Type, &d, true)
		if err != nil {
			return nil, fmt.Errorf("%w: zxid %#x: %v", ErrCorrupt, h.Zxid, err)
		}
		t.Body = body
	}
	if d.Remaining() >= 12 {
		t.Digest = &TxnDigest{Version: d.Int(), TreeDigest: uint64(d.Long())}
	}
	return t, nil
}

func decodeCreate(d *jute.Decoder) (Body, error) {
	c := &CreateTxn{}
	c.Path, c.Data, c.ACL, c.Ephemeral, c.ParentCVersion = d.String(), d.Buffer(), d.ACLs(), d.Bool(), d.Int()
	return c, d.Err()
}

// decodeBody decodes the body of a txn of type typ (a sub-txn of a multi when !top).
func decodeBody(typ jute.OpCode, d *jute.Decoder, top bool) (Body, error) {
	var body Body
	switch typ {
	case jute.OpCreateSession:
		if !top {
			return nil, fmt.Errorf("%v inside a multi", typ)
		}
		body = &CreateSessionTxn{Timeout: d.Int()}
	case jute.OpCreate, jute.OpCreate2:
		return decodeCreate(d)
	case jute.OpCreateContainer:
		c := &CreateContainerTxn{}
		c.Path, c.Data, c.ACL, c.ParentCVersion = d.String(), d.Buffer(), d.ACLs(), d.Int()
		body = c
	case jute.OpCreateTTL:
		c := &CreateTTLTxn{}
		c.Path, c.Data, c.ACL, c.ParentCVersion, c.TTL = d.String(), d.Buffer(), d.ACLs(), d.Int(), d.Long()
		body = c
	case jute.OpDelete, jute.OpDeleteContainer:
		body = &DeleteTxn{Path: d.String()}
	case jute.OpSetData:
		c := &SetDataTxn{}
		c.Path, c.Data, c.Version = d.String(), d.Buffer(), d.Int()
		body = c
	case jute.OpReconfig:
		if !top {
			return nil, fmt.Errorf("%v inside a multi", typ)
		}
		c := &SetDataTxn{}
		c.Path, c.Data, c.Version = d.String(), d.Buffer(), d.Int()
		body = c
	case jute.OpSetACL:
		if !top {
			return nil, fmt.Errorf("%v inside a multi", typ)
		}
		c := &SetACLTxn{}
		c.Path, c.ACL, c.Version = d.String(), d.ACLs(), d.Int()
		body = c
	case jute.OpCheck:
		c := &CheckVersionTxn{}
		c.Path, c.Version = d.String(), d.Int()
		body = c
	case jute.OpError:
		body = &ErrorTxn{Err: d.Int()}
	case jute.OpMulti:
		if !top {
			return nil, fmt.Errorf("%v inside a multi", typ)
		}
		n := d.Int()
		if d.Err() == nil && (n < 0 || int(n) > d.Remaining()/8) {
			return nil, fmt.Errorf("multi of %d txns", n)
		}
		m := &MultiTxn{Txns: make([]SubTxn, 0, max(n, 0))}
		for i := 0; i < int(n) && d.Err() == nil; i++ {
			st := jute.OpCode(d.Int())
			data := d.Buffer()
			if d.Err() != nil {
				break
			}
			sd := jute.NewDecoder(data)
			sb, err := decodeBody(st, &sd, false)
			if err != nil {
				return nil, fmt.Errorf("multi op %d (%v): %v", i, st, err)
			}
			m.Txns = append(m.Txns, SubTxn{Type: st, Body: sb})
		}
		body = m
	default:
		return nil, fmt.Errorf("%w %d", errUnsupported, int32(typ))
	}
	return body, d.Err()
}
