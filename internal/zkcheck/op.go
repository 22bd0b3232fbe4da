package zkcheck

import (
	"fmt"
	"strconv"
)

// MaxKeys is how many plain nodes a history may use: the model keeps them in a fixed
// array so that its states compare with ==.
const MaxKeys = 8

// Kind is what an operation of a history does.
type Kind uint8

// The operations a history holds. Every write targets a node under the history's root:
// a key node (Key, Key2) or a sequential child of the root's seq node.
const (
	// KindGet is getData(key): a plain read, served by whichever server the session
	// is connected to, and so allowed to be stale (sequentially consistent).
	KindGet Kind = iota + 1
	// KindSyncGet is sync(key) followed by getData(key) on the same session: a
	// linearizable read.
	KindSyncGet
	// KindCreate is create(key, data) of a persistent node.
	KindCreate
	// KindCreateSeq is create(seq/n-, data, PERSISTENT_SEQUENTIAL); its result is the
	// sequence number the server appended.
	KindCreateSeq
	// KindSet is setData(key, data, version); version -1 matches any.
	KindSet
	// KindDelete is delete(key, version); version -1 matches any.
	KindDelete
	// KindMulti is multi(check(key, version), setData(key2, data, -1)): the set takes
	// effect only if the check holds, atomically with it.
	KindMulti
)

var kindNames = [...]string{KindGet: "get", KindSyncGet: "sync+get", KindCreate: "create",
	KindCreateSeq: "create-seq", KindSet: "set", KindDelete: "delete", KindMulti: "multi"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText writes the kind's name, so that dumped histories read as text.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n != "" && n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("zkcheck: unknown operation kind %q", b)
}

// IsWrite reports whether operations of kind k change the namespace when they succeed.
func (k Kind) IsWrite() bool { return k >= KindCreate }

// Code is the definite outcome of an operation: success or one of the ZooKeeper
// error codes the recorder's operations can meet on a correct server.
type Code int32

// The codes, with ZooKeeper's numbers (spec/wire.md).
const (
	CodeOK         Code = 0
	CodeNoNode     Code = -101
	CodeBadVersion Code = -103
	CodeNodeExists Code = -110
)

func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeNoNode:
		return "NONODE"
	case CodeBadVersion:
		return "BADVERSION"
	case CodeNodeExists:
		return "NODEEXISTS"
	}
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// Input is what a client asked for.
type Input struct {
	// Session numbers the ZooKeeper session the operation ran on, from 0: the
	// recorder gives a client a new number whenever its session changes (expiry), as
	// the read guarantees hold per session.
	Session int  `json:"session"`
	Kind    Kind `json:"kind"`
	// Key is the node read or written, 0 <= Key < History.Keys; for KindMulti the
	// node checked. Unused by KindCreateSeq.
	Key int `json:"key"`
	// Key2 is the node KindMulti sets.
	Key2 int `json:"key2,omitempty"`
	// Data is what a write stores; the recorder makes it unique per write, so a
	// read's data names the write it saw.
	Data string `json:"data,omitempty"`
	// Version is the expected version of KindSet, KindDelete (-1: any) and of
	// KindMulti's check.
	Version int32 `json:"version"`

	// last marks the session's last operation in the history, after which the
	// model forgets the session's cursor. Set by History.operations.
	last bool
}

// Output is what the client got back.
type Output struct {
	// Unknown says the client got no definite answer (connection loss, session
	// expiry, no server): a write may or may not have taken effect, at any time
	// after it was sent. The other fields are unset.
	Unknown bool `json:"unknown,omitempty"`
	Code    Code `json:"code"`
	// Data is what KindGet and KindSyncGet read (CodeOK only).
	Data string `json:"data,omitempty"`
	// Version is stat.version of the node read (gets) or set (KindSet, KindMulti).
	Version int32 `json:"version"`
	// Seq is the sequence number of the node KindCreateSeq created.
	Seq int32 `json:"seq,omitempty"`
}

// Op is one operation of a history: one request and its reply on one client.
type Op struct {
	// Client numbers the recorder's client (a goroutine with its own connection),
	// from 0; it only groups operations in the visualization.
	Client int    `json:"client"`
	In     Input  `json:"in"`
	Out    Output `json:"out"`
	// Call and Return are when the request was sent and its reply (or the error
	// that made it Out.Unknown) arrived, in nanoseconds on the monotonic clock since the
	// history began. An unknown write may take effect at any time after Call, even
	// after Return.
	Call   int64 `json:"call"`
	Return int64 `json:"return"`
}

// String renders an operation as "s2 set(k1, c0-7, v=3) -> v4".
func (op Op) String() string { return describe(op.In, op.Out) }

func describe(in Input, out Output) string {
	var call string
	switch in.Kind {
	case KindGet, KindSyncGet:
		call = fmt.Sprintf("%v(k%d)", in.Kind, in.Key)
	case KindCreate:
		call = fmt.Sprintf("create(k%d, %s)", in.Key, in.Data)
	case KindCreateSeq:
		call = fmt.Sprintf("create-seq(%s)", in.Data)
	case KindSet:
		call = fmt.Sprintf("set(k%d, %s, v=%d)", in.Key, in.Data, in.Version)
	case KindDelete:
		call = fmt.Sprintf("delete(k%d, v=%d)", in.Key, in.Version)
	case KindMulti:
		call = fmt.Sprintf("multi(check k%d v=%d; set k%d %s)", in.Key, in.Version, in.Key2, in.Data)
	default:
		call = in.Kind.String()
	}
	var res string
	switch {
	case out.Unknown:
		res = "?"
	case out.Code != CodeOK:
		res = out.Code.String()
	case in.Kind == KindGet || in.Kind == KindSyncGet:
		res = fmt.Sprintf("%s v%d", out.Data, out.Version)
	case in.Kind == KindSet || in.Kind == KindMulti:
		res = fmt.Sprintf("v%d", out.Version)
	case in.Kind == KindCreateSeq:
		res = fmt.Sprintf("#%d", out.Seq)
	default:
		res = "ok"
	}
	return fmt.Sprintf("s%d %s -> %s", in.Session, call, res)
}
