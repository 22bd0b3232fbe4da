package zkcheck

import (
	"fmt"
	"hash/maphash"
	"strings"

	"github.com/anishathalye/porcupine"
)

// znode is one key node of the model's namespace.
type znode struct {
	exists  bool
	version int32  // stat.version; 0 after a create
	data    string // invariant: "" when !exists
}

// namespace is the part of the tree a history touches: the key nodes and the seq
// node's child counter. It is comparable with ==.
type namespace struct {
	nodes [MaxKeys]znode
	seq   int32 // the seq node's cversion: the next sequential suffix
}

// snap is one state of the namespace in the write order being tried, linked to the
// state before it. Snaps are immutable and shared between model states, so stepping
// a write costs one allocation however long the history is.
type snap struct {
	idx  int32 // invariant: idx == prev.idx+1; the initial state has idx 0
	ns   namespace
	prev *snap // nil for the initial state
}

// state is a model state: the write order so far (head and the states before it)
// and, per session, the oldest state that session may still read.
type state struct {
	head *snap
	// cursor[s] is the idx of the last state session s observed: its last read,
	// sync+read or write. A plain read of s must see a state at or after it (never
	// going back, always seeing its own writes) and at or before head (never the
	// future). retired once s has no more operations. Copied on write.
	cursor []int32
}

// newModel returns the porcupine model of a history with the given number of
// sessions. See the package documentation for why it is sound and complete.
func newModel(sessions int) porcupine.Model {
	seed := maphash.MakeSeed()
	return porcupine.Model{
		Init: func() interface{} {
			return &state{head: &snap{}, cursor: make([]int32, sessions)}
		},
		Step: func(st, in, out interface{}) (bool, interface{}) {
			i := in.(Input)
			next := step(st.(*state), i, out.(Output))
			if next != nil && i.last {
				next = next.retire(i.Session)
			}
			return next != nil, next
		},
		Equal: func(a, b interface{}) bool { return equalStates(a.(*state), b.(*state)) },
		Hash:  func(st interface{}) uint64 { return hashState(seed, st.(*state)) },
		DescribeOperation: func(in, out interface{}) string {
			return describe(in.(Input), out.(Output))
		},
		DescribeState: func(st interface{}) string { return describeState(st.(*state)) },
	}
}

// step applies one operation to st and returns the next state, or nil if the
// operation cannot take effect at this point with the result it reported.
func step(st *state, in Input, out Output) *state {
	cur := st.head.ns
	switch in.Kind {
	case KindGet:
		if out.Unknown {
			return st // a read that never answered tells nothing
		}
		// The oldest state at or after the session's cursor that shows this result:
		// the oldest one leaves the most room to the session's later reads.
		found := int32(-1)
		for s := st.head; s != nil && s.idx >= st.cursor[in.Session]; s = s.prev {
			if readMatches(s.ns.nodes[in.Key], out) {
				found = s.idx
			}
		}
		if found < 0 {
			return nil
		}
		return st.withCursor(in.Session, found)
	case KindSyncGet:
		if out.Unknown {
			return st
		}
		if !readMatches(cur.nodes[in.Key], out) {
			return nil
		}
		return st.withCursor(in.Session, st.head.idx)
	}

	next, code, version, seq := apply(cur, in)
	if out.Unknown {
		// Linearized here, the write took effect here; one that never took effect
		// is linearized after everything else, where its effect is seen by nobody.
		if next == cur {
			return st
		}
		return &state{head: &snap{idx: st.head.idx + 1, ns: next, prev: st.head}, cursor: st.cursor}
	}
	if code != out.Code {
		return nil
	}
	if code == CodeOK {
		switch in.Kind {
		case KindSet, KindMulti:
			if version != out.Version {
				return nil
			}
		case KindCreateSeq:
			if seq != out.Seq {
				return nil
			}
		}
	}
	head := st.head
	if next != cur {
		head = &snap{idx: head.idx + 1, ns: next, prev: head}
	}
	// A failed write observed the state it was checked against, as a read would:
	// ZooKeeper orders it like any write and answers only once the session's
	// server has applied it.
	return (&state{head: head, cursor: st.cursor}).withCursor(in.Session, head.idx)
}

// apply runs a write on ns as ZooKeeper's PrepRequestProcessor would validate it and
// returns the namespace after it, its result code, the new version of the node it
// set (KindSet, KindMulti) and the sequence number it used (KindCreateSeq).
func apply(ns namespace, in Input) (next namespace, code Code, version, seq int32) {
	next = ns
	switch in.Kind {
	case KindCreate:
		if ns.nodes[in.Key].exists {
			return ns, CodeNodeExists, 0, 0
		}
		next.nodes[in.Key] = znode{exists: true, data: in.Data}
		return next, CodeOK, 0, 0
	case KindCreateSeq:
		next.seq++
		return next, CodeOK, 0, ns.seq
	case KindSet:
		n := ns.nodes[in.Key]
		switch {
		case !n.exists:
			return ns, CodeNoNode, 0, 0
		case in.Version != -1 && in.Version != n.version:
			return ns, CodeBadVersion, 0, 0
		}
		next.nodes[in.Key] = znode{exists: true, version: n.version + 1, data: in.Data}
		return next, CodeOK, n.version + 1, 0
	case KindDelete:
		n := ns.nodes[in.Key]
		switch {
		case !n.exists:
			return ns, CodeNoNode, 0, 0
		case in.Version != -1 && in.Version != n.version:
			return ns, CodeBadVersion, 0, 0
		}
		next.nodes[in.Key] = znode{}
		return next, CodeOK, 0, 0
	case KindMulti:
		// Sub-operations are checked in order; the first failure fails the multi.
		c, t := ns.nodes[in.Key], ns.nodes[in.Key2]
		switch {
		case !c.exists:
			return ns, CodeNoNode, 0, 0
		case in.Version != c.version:
			return ns, CodeBadVersion, 0, 0
		case !t.exists:
			return ns, CodeNoNode, 0, 0
		}
		next.nodes[in.Key2] = znode{exists: true, version: t.version + 1, data: in.Data}
		return next, CodeOK, t.version + 1, 0
	}
	panic(fmt.Sprintf("zkcheck: apply of %v", in.Kind))
}

// readMatches reports whether reading n gives out.
func readMatches(n znode, out Output) bool {
	if !n.exists {
		return out.Code == CodeNoNode
	}
	return out.Code == CodeOK && out.Data == n.data && out.Version == n.version
}

// withCursor returns st with session s's cursor at idx.
func (st *state) withCursor(s int, idx int32) *state {
	if st.cursor[s] == idx {
		return st
	}
	c := make([]int32, len(st.cursor))
	copy(c, st.cursor)
	c[s] = idx
	return &state{head: st.head, cursor: c}
}

// retire returns st without session s's cursor: s has no more operations.
func (st *state) retire(s int) *state {
	if st.cursor[s] == retired {
		return st
	}
	c := make([]int32, len(st.cursor))
	copy(c, st.cursor)
	c[s] = retired
	return &state{head: st.head, cursor: c}
}

// retired is the cursor of a session with no more operations; it compares as if
// at head.
const retired = int32(-1)

// distance returns how far session s's cursor is behind head.
func (st *state) distance(s int) int32 {
	if st.cursor[s] == retired {
		return 0
	}
	return st.head.idx - st.cursor[s]
}

// equalStates reports whether a and b behave the same from now on: the same current
// namespace, every session's cursor the same distance behind it, and the same states
// in between. (States reached by different orders of the same operations often
// differ only in how far back the write orders agree.)
func equalStates(a, b *state) bool {
	if a.head.ns != b.head.ns {
		return false
	}
	depth := int32(0)
	for s := range a.cursor {
		da, db := a.distance(s), b.distance(s)
		if da != db {
			return false
		}
		depth = max(depth, da)
	}
	x, y := a.head, b.head
	for d := int32(0); d < depth; d++ {
		x, y = x.prev, y.prev
		if x == y {
			return true
		}
		if x.ns != y.ns {
			return false
		}
	}
	return true
}

// hashState hashes what equalStates compares first: the current namespace and the
// cursors' distances.
func hashState(seed maphash.Seed, st *state) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var b [4]byte
	put := func(v int32) {
		b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		_, _ = h.Write(b[:])
	}
	ns := &st.head.ns
	for i := range ns.nodes {
		if ns.nodes[i].exists {
			put(ns.nodes[i].version)
			_, _ = h.WriteString(ns.nodes[i].data)
		} else {
			put(-1)
		}
	}
	put(ns.seq)
	for s := range st.cursor {
		put(st.distance(s))
	}
	return h.Sum64()
}

func describeState(st *state) string {
	var b strings.Builder
	ns := &st.head.ns
	for i, n := range ns.nodes {
		if !n.exists {
			continue
		}
		fmt.Fprintf(&b, "k%d=%s/v%d ", i, n.data, n.version)
	}
	fmt.Fprintf(&b, "seq=%d | behind:", ns.seq)
	for s := range st.cursor {
		if d := st.distance(s); d > 0 {
			fmt.Fprintf(&b, " s%d-%d", s, d)
		}
	}
	return b.String()
}
