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
	// is still reapable at apply time.
	KindReap TxnKind = 4
)

// Txn is one replicated entry. Everything apply needs that is not in the tree
// travels here (DESIGN.md invariant 6): the leader's clock, the session, and the
// caller's identities for ACL checks.
//
// Encoding:
//
//	| kind u8 | session i64 | time i64 | timeout i32 | op i32 | ids vector<Id> | body buffer |
type Txn struct {
	Kind     TxnKind
	Session  jute.SessionID
	Time     int64 // leader wall clock, ms since the epoch
	Timeout  int32
	Op       jute.OpCode
	Identity Identity
	Body     []byte
}

// ErrBadTxn is returned by DecodeTxn for an entry that is not a Txn.
var ErrBadTxn = errors.New("datatree: malformed txn")

// Append encodes t onto dst.
func (t *Txn) Append(dst []byte) []byte {
	dst = append(dst, byte(t.Kind))
	dst = jute.AppendLong(dst, int64(t.Session))
	dst = jute.AppendLong(dst, t.Time)
	dst = jute.AppendInt(dst, t.Timeout)
	dst = jute.AppendInt(dst, int32(t.Op))
	dst = jute.AppendInt(dst, int32(len(t.Identity)))
	for i := range t.Identity {
		dst = t.Identity[i].Append(dst)
	}
	return jute.AppendBuffer(dst, t.Body)
}

// DecodeTxn decodes an entry; the result aliases b.
func DecodeTxn(b []byte) (Txn, error) {
	var t Txn
	d := jute.NewDecoder(b)
	t.Kind = TxnKind(d.Byte())
	t.Session = jute.SessionID(d.Long())
	t.Time = d.Long()
	t.Timeout = d.Int()
	t.Op = jute.OpCode(d.Int())
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
	if t.Kind < KindRequest || t.Kind > KindReap {
		return t, fmt.Errorf("%w: kind %d", ErrBadTxn, t.Kind)
	}
	return t, nil
}
