package jute

import "errors"

// ErrBadMulti is returned by MultiRequest.Decode when the op list mixes reads and
// writes, names an op a multi cannot carry, or has a create with an undefined mode.
// ZooKeeper treats all of these as an unparsable record (MARSHALLINGERROR).
var ErrBadMulti = errors.New("jute: malformed multi op list")

// MultiHeader frames each op and result of a multi: {int type, boolean done, int err}.
type MultiHeader struct {
	Type OpCode
	Done bool
	Err  Code
}

func (h *MultiHeader) Decode(d *Decoder) {
	h.Type = OpCode(d.Int())
	h.Done = d.Bool()
	h.Err = Code(d.Int())
}
func (h *MultiHeader) Append(dst []byte) []byte {
	return AppendInt(AppendBool(AppendInt(dst, int32(h.Type)), h.Done), int32(h.Err))
}

// MultiOp is one op of a multi or multiRead. Which fields mean something depends on
// Type: creates use Path, Data, ACL, Flags (and TTL for createTTL); delete and check
// use Path and Version; setData Path, Data, Version; getData and getChildren Path and
// Watch.
type MultiOp struct {
	Type    OpCode
	Path    string
	Data    []byte
	ACL     []ACL
	Flags   int32
	TTL     int64
	Version int32
	Watch   bool
}

// IsWriteOp reports whether op may appear in a multi (14).
func IsWriteOp(op OpCode) bool {
	switch op {
	case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL, OpDelete, OpSetData, OpCheck:
		return true
	}
	return false
}

// IsReadOp reports whether op may appear in a multiRead (22).
func IsReadOp(op OpCode) bool { return op == OpGetData || op == OpGetChildren }

// MultiRequest is the body of multi and multiRead (MultiOperationRecord). Read tells
// Decode which kind of op list to accept.
type MultiRequest struct {
	Ops  []MultiOp
	Read bool
}

func (r *MultiRequest) Decode(d *Decoder) {
	r.Ops = r.Ops[:0]
	for d.Err() == nil {
		var h MultiHeader
		h.Decode(d)
		if d.Err() != nil || h.Done {
			return
		}
		if (r.Read && !IsReadOp(h.Type)) || (!r.Read && !IsWriteOp(h.Type)) {
			d.fail(ErrBadMulti)
			return
		}
		op := MultiOp{Type: h.Type}
		switch h.Type {
		case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL:
			op.Path, op.Data, op.ACL, op.Flags = d.String(), d.Buffer(), d.ACLs(), d.Int()
			if h.Type == OpCreateTTL {
				op.TTL = d.Long()
			}
		case OpDelete, OpCheck:
			op.Path, op.Version = d.String(), d.Int()
		case OpSetData:
			op.Path, op.Data, op.Version = d.String(), d.Buffer(), d.Int()
		case OpGetData, OpGetChildren:
			op.Path, op.Watch = d.String(), d.Bool()
		}
		r.Ops = append(r.Ops, op)
	}
}

func (r *MultiRequest) Append(dst []byte) []byte {
	for i := range r.Ops {
		op := &r.Ops[i]
		h := MultiHeader{Type: op.Type, Done: false, Err: -1}
		dst = h.Append(dst)
		switch op.Type {
		case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL:
			dst = AppendInt(AppendACLs(AppendBuffer(AppendString(dst, op.Path), op.Data), op.ACL), op.Flags)
			if op.Type == OpCreateTTL {
				dst = AppendLong(dst, op.TTL)
			}
		case OpDelete, OpCheck:
			dst = AppendInt(AppendString(dst, op.Path), op.Version)
		case OpSetData:
			dst = AppendInt(AppendBuffer(AppendString(dst, op.Path), op.Data), op.Version)
		case OpGetData, OpGetChildren:
			dst = AppendBool(AppendString(dst, op.Path), op.Watch)
		}
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	return end.Append(dst)
}

// OpResult is one result of a MultiResponse. Type is the result type of wire.md §6.3
// (OpError for a failed or not-executed op, with Err set).
type OpResult struct {
	Type     OpCode
	Err      Code
	Path     string
	Stat     Stat
	Data     []byte
	Children []string
}

// AppendOpResult appends one result with its MultiHeader.
func AppendOpResult(dst []byte, r *OpResult) []byte {
	h := MultiHeader{Type: r.Type}
	if r.Type == OpError {
		h.Err = r.Err
	}
	dst = h.Append(dst)
	switch r.Type {
	case OpCreate:
		dst = AppendString(dst, r.Path)
	case OpCreate2:
		dst = r.Stat.Append(AppendString(dst, r.Path))
	case OpSetData:
		dst = r.Stat.Append(dst)
	case OpGetData:
		dst = r.Stat.Append(AppendBuffer(dst, r.Data))
	case OpGetChildren:
		dst = AppendStrings(dst, r.Children)
	case OpError:
		dst = AppendInt(dst, int32(r.Err))
	}
	return dst
}

// AppendMultiEnd appends the closing MultiHeader of a MultiResponse.
func AppendMultiEnd(dst []byte) []byte {
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	return end.Append(dst)
}

// MultiResponse is the body of a multi or multiRead reply.
type MultiResponse struct {
	Results []OpResult
}

func (r *MultiResponse) Decode(d *Decoder) {
	r.Results = r.Results[:0]
	for d.Err() == nil {
		var h MultiHeader
		h.Decode(d)
		if d.Err() != nil || h.Done {
			return
		}
		res := OpResult{Type: h.Type, Err: h.Err}
		switch h.Type {
		case OpCreate:
			res.Path = d.String()
		case OpCreate2:
			res.Path = d.String()
			res.Stat.Decode(d)
		case OpSetData:
			res.Stat.Decode(d)
		case OpGetData:
			res.Data = d.Buffer()
			res.Stat.Decode(d)
		case OpGetChildren:
			res.Children = d.Strings()
		case OpError:
			res.Err = Code(d.Int())
		case OpDelete, OpCheck:
		default:
			d.fail(ErrBadMulti)
			return
		}
		r.Results = append(r.Results, res)
	}
}

func (r *MultiResponse) Append(dst []byte) []byte {
	for i := range r.Results {
		dst = AppendOpResult(dst, &r.Results[i])
	}
	return AppendMultiEnd(dst)
}
