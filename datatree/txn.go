package datatree

import (
	"errors"
	"fmt"

	"zkd/jute"
)

// TxnKind says what an entry does to the tree.
type TxnKind uint8

const (
	// KindRequest is a client write (create*, delete, setData, setACL, multi); Body is
	// the request body exactly as the client sent it.
	KindRequest TxnKind = 1
	// KindCreateSession registers Session with Timeout.
	KindCreateSession TxnKind = 2
	// KindCloseSession ends Session, deleting its ephemerals (close or expiry).
	KindCloseSession TxnKind = 3
	// KindReap deletes the container or expired TTL node whose path is Body, if it
	// is still reapable at apply time. Its Timeout is the leader's
	// znode.container.maxNeverUsedIntervalMs in whole seconds, rounded up (0:
	// a container that never had a child stays), so that every member judges
	// such a container alike whatever its own setting.
	KindReap TxnKind = 4
	// KindAttach moves live Session to the client connection Conn (a reconnect, to
	// this server or another) with the renegotiated Timeout: from then on only
	// Conn's writes are accepted for the session.
	KindAttach TxnKind = 5
)

// Txn is one replicated entry. Everything apply needs that is not in the tree
// travels here (DESIGN.md invariant 6): the leader's clock, the session, the
// client connection and its write count, and the caller's identities for ACL
// checks.
//
// Encoding (Time sits at TxnTimeOffset so the leader can stamp a forwarded entry
// in place):
//
//	| kind u8 | session i64 | time i64 | timeout i32 | op i32 | cxid i32 | conn u64 | connSeq u64 |
//	| ids vector<Id> | body buffer |
//
// A log written before conn and connSeq existed lacks the three fields after op;
// DecodeLegacyTxn reads it.
type Txn struct {
	Kind    TxnKind
	Session jute.SessionID
	Time    int64 // leader wall clock, ms since the epoch
	Timeout int32
	Op      jute.OpCode
	Cxid    int32 // the client's xid of the request (0 for server-made entries)
	// Conn is the client connection the entry came from (a token unique to that
	// connection), and ConnSeq the entry's number among that connection's writes,
	// from 1. Apply accepts a write only from the connection the session is
	// attached to and only in sequence, so a write lost on the way (a dropped
	// proposal, a leader change) can never be overtaken by a later one of the same
	// session (design/consensus.md §5.4). Conn 0 marks an entry made by the
	// server itself (expiry, reaper), which is not checked.
	Conn    uint64
	ConnSeq uint64
	// Local marks a write of a local session (localSessionsEnabled): the session
	// lives on the server its client is connected to and is not in the tree, so
	// apply does not look for it, and refuses it an ephemeral node
	// (EPHEMERALONLOCALSESSION). Encoded as the kind's high bit.
	Local bool
	// EnforceQuota makes apply refuse a create or setData past a hard quota
	// limit (zookeeper.enforceQuota on the server that took the request): the
	// entry carries the setting so that every replica decides alike. Encoded as
	// the kind's second-highest bit.
	EnforceQuota bool
	Identity     Identity
	Body         []byte
}

// kindLocal and kindEnforceQuota are the high bits of an encoded kind:
// Txn.Local and Txn.EnforceQuota.
const (
	kindLocal        = 0x80
	kindEnforceQuota = 0x40
)

// TxnTimeOffset and TxnConnOffset are where Time and Conn are encoded within a
// Txn.
const (
	TxnTimeOffset = 1 + 8
	TxnConnOffset = 1 + 8 + 8 + 4 + 4 + 4
)

// CodeOutOfOrder is the result of a write that arrived out of its connection's
// sequence: an earlier write of the connection was lost. It never reaches a
// client: the server closes the connection instead (the client then sees
// CONNECTIONLOSS, which is what it would have seen for the lost write).
const CodeOutOfOrder = jute.CodeConnectionLoss

// ErrBadTxn is returned by DecodeTxn for an entry that is not a Txn.
var ErrBadTxn = errors.New("datatree: malformed txn")

// Append encodes t onto dst.
func (t *Txn) Append(dst []byte) []byte {
	kind := byte(t.Kind)
	if t.Local {
		kind |= kindLocal
	}
	if t.EnforceQuota {
		kind |= kindEnforceQuota
	}
	dst = append(dst, kind)
	dst = jute.AppendLong(dst, int64(t.Session))
	dst = jute.AppendLong(dst, t.Time)
	dst = jute.AppendInt(dst, t.Timeout)
	dst = jute.AppendInt(dst, int32(t.Op))
	dst = jute.AppendInt(dst, t.Cxid)
	dst = jute.AppendLong(dst, int64(t.Conn))
	dst = jute.AppendLong(dst, int64(t.ConnSeq))
	dst = jute.AppendInt(dst, int32(len(t.Identity)))
	for i := range t.Identity {
		dst = t.Identity[i].Append(dst)
	}
	return jute.AppendBuffer(dst, t.Body)
}

// DecodeTxn decodes an entry; the result aliases b.
func DecodeTxn(b []byte) (Txn, error) { return decodeTxn(b, false) }

// DecodeLegacyTxn decodes an entry written before Cxid, Conn and ConnSeq existed.
func DecodeLegacyTxn(b []byte) (Txn, error) { return decodeTxn(b, true) }

func decodeTxn(b []byte, legacy bool) (Txn, error) {
	var t Txn
	d := jute.NewDecoder(b)
	kind := d.Byte()
	t.Kind, t.Local, t.EnforceQuota = TxnKind(kind&^(kindLocal|kindEnforceQuota)), kind&kindLocal != 0, kind&kindEnforceQuota != 0
	t.Session = jute.SessionID(d.Long())
	t.Time = d.Long()
	t.Timeout = d.Int()
	t.Op = jute.OpCode(d.Int())
	if !legacy {
		t.Cxid = d.Int()
		t.Conn = uint64(d.Long())
		t.ConnSeq = uint64(d.Long())
	}
	n := d.Int()
	if n < 0 || int(n) > d.Remaining()/8 {
		return t, fmt.Errorf("%w: %d ids", ErrBadTxn, n)
	}
	if n > 0 {
		t.Identity = make(Identity, n)
		for i := range t.Identity {
			t.Identity[i].Decode(&d)
		}
	}
	t.Body = d.Buffer()
	if err := d.Err(); err != nil {
		return t, fmt.Errorf("%w: %w", ErrBadTxn, err)
	}
	if t.Kind < KindRequest || t.Kind > KindAttach {
		return t, fmt.Errorf("%w: kind %d", ErrBadTxn, t.Kind)
	}
	return t, nil
}
