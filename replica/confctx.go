package replica

import (
	"bytes"
	"errors"

	"zkd/datatree"
	"zkd/jute"
)

// The context of a membership change this package proposes says what the change
// is for, so that every member applies it alike:
//
//	| "\x00zkd-cfg" | kind u8 | ... |
//	kind 1 stage:    | count i32 | ( raft id u64 | quorum address ustring ) ... |
//	                 learners added before a reconfig promotes them; members
//	                 learn their addresses so that whoever leads can reach them
//	kind 2 reconfig: | origin u64 | seq u64 | session i64 | conn u64 | connSeq u64 |
//	                 | cxid i32 | time i64 | server lines buffer |
//	                 a client's reconfig: the client's write (answered at origin
//	                 as any write is) and the new /zookeeper/config text without
//	                 its version line (apply appends "version=<zxid hex>")
//	kind 3 cleanup:  | count i32 | raft id u64 ... |
//	                 members raft has but /zookeeper/config does not (learners of a
//	                 reconfig that failed or whose leader died), removed
//	kind 4 init:     | config text buffer |
//	                 /zookeeper/config for a data directory written before zkd
//	                 kept it (empty there): the leader's zoo.cfg membership, as is
//
// Anything else (raft's own auto-leave entry, quorum's rejoin changes) only
// changes the membership.
const confMagic = "\x00zkd-cfg"

const (
	confStage    byte = 1
	confReconfig byte = 2
	confCleanup  byte = 3
	confInit     byte = 4
)

// stagedServer is a server being added, as a learner, by a reconfig.
type stagedServer struct {
	id   uint64
	addr string
}

// confContext is a decoded context.
type confContext struct {
	kind   byte
	staged []stagedServer // confStage, confCleanup (ids only)
	// confReconfig:
	origin, seq uint64
	txn         datatree.Txn // Kind, Op, Session, Conn, ConnSeq, Cxid, Time
	lines       []byte
}

var errBadConfContext = errors.New("replica: malformed membership change context")

func appendConfHeader(kind byte) []byte { return append([]byte(confMagic), kind) }

func encodeStage(kind byte, servers []stagedServer) []byte {
	b := appendConfHeader(kind)
	b = jute.AppendInt(b, int32(len(servers)))
	for _, s := range servers {
		b = jute.AppendLong(b, int64(s.id))
		if kind == confStage {
			b = jute.AppendString(b, s.addr)
		}
	}
	return b
}

func encodeReconfigContext(origin, seq uint64, txn *datatree.Txn, lines string) []byte {
	b := appendConfHeader(confReconfig)
	b = jute.AppendLong(b, int64(origin))
	b = jute.AppendLong(b, int64(seq))
	b = jute.AppendLong(b, int64(txn.Session))
	b = jute.AppendLong(b, int64(txn.Conn))
	b = jute.AppendLong(b, int64(txn.ConnSeq))
	b = jute.AppendInt(b, txn.Cxid)
	b = jute.AppendLong(b, txn.Time)
	return jute.AppendBuffer(b, []byte(lines))
}

// decodeConfContext decodes ctx; ok is false for a context of someone else.
func decodeConfContext(ctx []byte) (cc confContext, ok bool, err error) {
	if len(ctx) < len(confMagic)+1 || !bytes.HasPrefix(ctx, []byte(confMagic)) {
		return cc, false, nil
	}
	cc.kind = ctx[len(confMagic)]
	d := jute.NewDecoder(ctx[len(confMagic)+1:])
	switch cc.kind {
	case confStage, confCleanup:
		n := d.Int()
		if n < 0 || int(n) > d.Remaining()/8 {
			return cc, true, errBadConfContext
		}
		for range n {
			s := stagedServer{id: uint64(d.Long())}
			if cc.kind == confStage {
				s.addr = d.String()
			}
			cc.staged = append(cc.staged, s)
		}
	case confInit:
		cc.lines = d.Buffer()
	case confReconfig:
		cc.origin, cc.seq = uint64(d.Long()), uint64(d.Long())
		cc.txn = datatree.Txn{Kind: datatree.KindRequest, Op: jute.OpReconfig, Session: jute.SessionID(d.Long()),
			Conn: uint64(d.Long()), ConnSeq: uint64(d.Long()), Cxid: d.Int(), Time: d.Long()}
		cc.lines = d.Buffer()
	default:
		return cc, true, errBadConfContext
	}
	if d.Err() != nil || d.Remaining() != 0 {
		return cc, true, errBadConfContext
	}
	return cc, true, nil
}

// A refusal is the entry of a client's reconfig that the leader could not carry
// out: the client's own entry (origin, seq, session, connection, ConnSeq) with
// its body replaced by the code, so that the answer is ordered with the
// connection's other writes and completes at its origin like any write:
//
//	| "zkdR" | code i32 |
const refusalMagic = "zkdR"

func encodeRefusal(code jute.Code) []byte {
	return jute.AppendInt([]byte(refusalMagic), int32(code))
}

// decodeRefusal returns the code of a refusal body; anything else is a reconfig
// that reached the log without going through the leader's coordinator, which
// this server cannot carry out.
func decodeRefusal(body []byte) jute.Code {
	if len(body) != len(refusalMagic)+4 || !bytes.HasPrefix(body, []byte(refusalMagic)) {
		return jute.CodeUnimplemented
	}
	d := jute.NewDecoder(body[len(refusalMagic):])
	return jute.Code(d.Int())
}
