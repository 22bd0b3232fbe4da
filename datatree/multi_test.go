package datatree

import (
	"fmt"
	"math"
	"testing"

	"zkd/jute"
)

// TestFormatSequence is Java's %010d, negatives included (semantics.md §5.1).
func TestFormatSequence(t *testing.T) {
	f := func(v int32, want string) {
		t.Helper()
		if got := formatSequence(v); got != want {
			t.Errorf("formatSequence(%d) = %q, want %q", v, got, want)
		}
	}
	f(0, "0000000000")
	f(1, "0000000001")
	f(42, "0000000042")
	f(1234567890, "1234567890")
	f(math.MaxInt32, "2147483647")
	wrapped := int32(math.MaxInt32)
	wrapped++ // the Java int counter after 2147483647 creates
	f(wrapped, "-2147483648")
	f(math.MinInt32, "-2147483648")
	f(math.MinInt32+1, "-2147483647")
	f(-1, "-000000001")
	f(-42, "-000000042")
	f(-123456789, "-123456789")
	f(-1234567890, "-1234567890")
}

// TestSequentialNaming: the suffix is the parent's stored cversion before the create,
// counting every kind of create and never decremented (semantics.md §5.1).
func TestSequentialNaming(t *testing.T) {
	h := newHarness(t, Config{ExtendedTypes: true})
	h.mustCreate("/q", "", 0)
	steps := []struct {
		do   func() (string, jute.Code)
		want string
	}{
		{func() (string, jute.Code) { return h.create("/q/item-", "", 2) }, "/q/item-0000000000"},
		{func() (string, jute.Code) { return h.create("/q/item-", "", 3) }, "/q/item-0000000001"},
		{func() (string, jute.Code) { return h.create("/q/plain", "", 0) }, "/q/plain"},
		{func() (string, jute.Code) { return h.create("/q/eph", "", 1) }, "/q/eph"},
		{func() (string, jute.Code) {
			p, _, c := h.createFull(jute.OpCreateContainer, "/q/cont", nil, jute.OpenACLUnsafe, 4, 0)
			return p, c
		}, "/q/cont"},
		{func() (string, jute.Code) {
			p, _, c := h.createFull(jute.OpCreateTTL, "/q/ttl", nil, jute.OpenACLUnsafe, 5, 10)
			return p, c
		}, "/q/ttl"},
		{func() (string, jute.Code) { return "", h.delete("/q/plain", -1) }, ""},
		{func() (string, jute.Code) { return "", h.delete("/q/item-0000000000", -1) }, ""},
		{func() (string, jute.Code) { return h.create("/q/", "", 2) }, "/q/0000000006"},
		{func() (string, jute.Code) {
			p, _, c := h.createFull(jute.OpCreateTTL, "/q/t-", nil, jute.OpenACLUnsafe, 6, 10)
			return p, c
		}, "/q/t-0000000007"},
		// A failed create consumes nothing.
		{func() (string, jute.Code) { return h.create("/q/eph", "", 2) }, "/q/eph0000000008"},
		{func() (string, jute.Code) { return h.create("/q/eph", "", 0) }, ""},
		{func() (string, jute.Code) { return h.create("/q/x\x01", "", 2) }, ""},
		{func() (string, jute.Code) { return h.create("/q/item-", "", 2) }, "/q/item-0000000009"},
	}
	for i, s := range steps {
		got, _ := s.do()
		if got != s.want {
			t.Fatalf("step %d: %q, want %q", i, got, s.want)
		}
	}
}

// TestSequentialOverflow: after 2147483647 the counter wraps to -2147483648, and the
// client-visible cversion wraps with it (semantics.md §5.1, §3).
func TestSequentialOverflow(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCreate("/q", "", 0)
	poke(h.tree, "/q", func(n *node) { n.cversion = math.MaxInt32 })
	want := []string{"/q/s-2147483647", "/q/s--2147483648", "/q/s--2147483647"}
	for i, w := range want {
		if p := h.mustCreate("/q/s-", "", 2); p != w {
			t.Fatalf("create %d: %q, want %q", i, p, w)
		}
	}
	// stored MinInt32+2, 3 children: 2*stored-3 in int32 arithmetic.
	stored := int32(math.MinInt32 + 2)
	if st := h.stat("/q"); st.Cversion != 2*stored-3 || st.NumChildren != 3 {
		t.Fatalf("cversion %d, want %d", st.Cversion, 2*stored-3)
	}
}

// TestMultiSuccessResults checks the result type of every op kind (wire.md §6.3):
// create 1 with the path; create2, createTTL and createContainer 15 with path and
// Stat; delete 2; setData 5 with the Stat; check 13.
func TestMultiSuccessResults(t *testing.T) {
	h := newHarness(t, Config{ExtendedTypes: true})
	h.mustCreate("/m", "v0", 0)
	h.mustCreate("/m/old", "", 0)
	mCtime := h.now
	h.now = 9000
	res := h.multi(
		opCreate("/m/a", "A", 0),
		opCreate2("/m/b", 0),
		jute.MultiOp{Type: jute.OpCreateTTL, Path: "/m/t", ACL: jute.OpenACLUnsafe, Flags: 5, TTL: 100},
		jute.MultiOp{Type: jute.OpCreateContainer, Path: "/m/c", ACL: jute.OpenACLUnsafe, Flags: 4},
		opDelete("/m/old", 0),
		opSetData("/m", "v1", 0),
		opCheck("/m", 1),
		opCreate("/m/s-", "", 2),
	)
	z := int64(h.zxid)
	newStat := jute.Stat{Czxid: z, Mzxid: z, Pzxid: z, Ctime: 9000, Mtime: 9000}
	want := []jute.OpResult{
		{Type: jute.OpCreate, Path: "/m/a"},
		// ZooKeeper 3.8.0 (the live reference) rebuilds every create of a multi
		// from its flags: a create2 of a persistent node answers like a create.
		{Type: jute.OpCreate, Path: "/m/b"},
		{Type: jute.OpCreate2, Path: "/m/t", Stat: newStat},
		{Type: jute.OpCreate2, Path: "/m/c", Stat: newStat},
		{Type: jute.OpDelete},
		// At this point /m has had 5 creates and 1 delete: 4 children.
		{Type: jute.OpSetData, Stat: jute.Stat{Czxid: 2, Mzxid: z, Ctime: mCtime, Mtime: 9000, Version: 1,
			Cversion: 2*5 - 4, DataLength: 2, NumChildren: 4, Pzxid: z}},
		{Type: jute.OpCheck},
		{Type: jute.OpCreate, Path: "/m/s-0000000005"},
	}
	for i := range want {
		if !opResultEqual(res[i], want[i]) {
			t.Errorf("result %d = %+v\n want %+v", i, res[i], want[i])
		}
	}
	// Every op of the multi shares one zxid and one time.
	for _, p := range []string{"/m/a", "/m/b", "/m/t", "/m/c", "/m/s-0000000005"} {
		if st := h.stat(p); st.Czxid != z || st.Ctime != 9000 {
			t.Errorf("%s: czxid %d ctime %d, want %d 9000", p, st.Czxid, st.Ctime, z)
		}
	}
	if h.data("/m") != "v1" || h.data("/m/a") != "A" || h.exists("/m/old") {
		t.Error("multi not applied")
	}
	// Zero ops: an empty response.
	if res := h.multi(); len(res) != 0 {
		t.Errorf("empty multi: %v", res)
	}
}

func opResultEqual(a, b jute.OpResult) bool {
	return a.Type == b.Type && a.Err == b.Err && a.Path == b.Path && a.Stat == b.Stat
}

// TestMultiFailure checks the failed-multi results of semantics.md §6 (0 before the
// failing op, its code, -2 after) and that the failure changes nothing.
func TestMultiFailure(t *testing.T) {
	tests := []struct {
		name     string
		ops      []jute.MultiOp
		failAt   int
		failCode jute.Code
	}{
		{"first op", []jute.MultiOp{opCheck("/m", 5), opCreate("/m/x", "", 0)}, 0, jute.CodeBadVersion},
		{"last op", []jute.MultiOp{opCreate("/m/x", "", 0), opSetData("/m", "z", -1), opDelete("/m/none", -1)}, 2, jute.CodeNoNode},
		{"middle op", []jute.MultiOp{opCreate("/m/x", "", 0), opCreate("/m/x", "", 0), opCheck("/m", -1)}, 1, jute.CodeNodeExists},
		{"not empty", []jute.MultiOp{opCreate("/m/k/x", "", 0), opDelete("/m/k", -1), opCheck("/m", 0)}, 1, jute.CodeNotEmpty},
		{"check NONODE", []jute.MultiOp{opCheck("/m/none", -1)}, 0, jute.CodeNoNode},
		{"check bad path", []jute.MultiOp{opSetData("/m", "", -1), opCheck("/m/", -1)}, 1, jute.CodeBadArguments},
		{"check NOAUTH", []jute.MultiOp{opCheck("/m/secret", -1)}, 0, jute.CodeNoAuth},
		{"ephemeral parent", []jute.MultiOp{opCreate("/m/e", "", 1), opCreate("/m/e/x", "", 0)}, 1, jute.CodeNoChildrenForEphemerals},
		{"ttl without extended types", []jute.MultiOp{opCreate("/m/y", "", 0),
			{Type: jute.OpCreateTTL, Path: "/m/t", ACL: jute.OpenACLUnsafe, Flags: 5, TTL: 10}}, 1, jute.CodeUnimplemented},
		{"bad acl", []jute.MultiOp{{Type: jute.OpCreate, Path: "/m/y", ACL: jute.CreatorAllACL}}, 0, jute.CodeInvalidACL},
		{"flags no mode has", []jute.MultiOp{opSetData("/m", "z", -1), opCreate("/m/y", "", 7)}, 1, jute.CodeBadArguments},
		{"negative flags", []jute.MultiOp{{Type: jute.OpCreateContainer, Path: "/m/y", ACL: jute.OpenACLUnsafe, Flags: -1}}, 0, jute.CodeBadArguments},
		{"failure before a TTL mode under create", []jute.MultiOp{opCheck("/m", 5), opCreate("/m/t", "", 5)}, 0, jute.CodeBadVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.mustCreate("/m", "", 0)
			h.mustCreate("/m/k", "", 0)
			h.mustCreateACL("/m/secret", acl(jute.PermAll, "digest", bobDigest))
			w := newWatcher("w", nil)
			h.tree.GetData("/m", w, nil)
			h.tree.GetChildren("/m", w, nil, nil)
			h.tree.Exists("/m/x", w, nil)
			h.tree.AddWatch("/", jute.AddWatchPersistentRecursive, w)
			before := dumpTree(h.tree)
			zxid := h.zxid
			res := h.multi(tt.ops...)
			for i, r := range res {
				want := jute.OpResult{Type: jute.OpError}
				switch {
				case i < tt.failAt:
					want.Err = jute.CodeOK
				case i == tt.failAt:
					want.Err = tt.failCode
				default:
					want.Err = jute.CodeRuntimeInconsistency
				}
				if !opResultEqual(r, want) {
					t.Errorf("result %d = %+v, want %+v", i, r, want)
				}
			}
			if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
				t.Fatalf("failed multi changed the tree:%s", diff)
			}
			expectEvents(t, w)
			if h.tree.LastZxid() != zxid+1 {
				t.Errorf("LastZxid %v, want %v", h.tree.LastZxid(), zxid+1)
			}
		})
	}
}

// TestMultiRollback applies a failing multi that touches every kind of state (a
// sequence counter, data, counts, ephemerals, the reaper's table, deletes of a node
// and its parent, re-creates) and checks the tree is exactly as before; then the same
// ops without the failing check succeed with the same sequence numbers (no gap).
func TestMultiRollback(t *testing.T) {
	h := newHarness(t, Config{ExtendedTypes: true})
	h.mustCreate("/r", "r0", 0)
	h.mustCreate("/r/s-", "", 2) // /r/s-0000000000
	h.mustCreate("/r/d", "dd", 0)
	h.mustCreate("/r/d/leaf", "ll", 0)
	h.mustCreate("/r/eph", "", 1)
	h.mustCreate("/r/cont", "", 0)
	ops := []jute.MultiOp{
		opCreate("/r/s-", "x", 2),
		opCreate("/r/n", "n", 0),
		opCreate("/r/n/child", "c", 0),
		opSetData("/r", "r1", 0),
		opSetData("/r/n", "n1", 0),
		opDelete("/r/d/leaf", -1),
		opDelete("/r/d", 0),
		opCreate("/r/d", "reborn", 0),
		opDelete("/r/eph", -1),
		opCreate("/r/eph", "", 1),
		opCreate("/r/e2-", "", 3),
		{Type: jute.OpCreateContainer, Path: "/r/c2", ACL: jute.OpenACLUnsafe, Flags: 4},
		{Type: jute.OpCreateTTL, Path: "/r/t", ACL: jute.OpenACLUnsafe, Flags: 5, TTL: 50},
		opDelete("/r/n/child", 0),
		opCreate("/r/s-", "y", 2),
		opSetData("/", "rootdata", -1),
	}
	before := dumpTree(h.tree)
	failing := append(append([]jute.MultiOp{}, ops...), opCheck("/r", 0)) // /r is at version 1 now
	res := h.multi(failing...)
	if r := res[len(res)-1]; r.Type != jute.OpError || r.Err != jute.CodeBadVersion {
		t.Fatalf("last result %+v, want BADVERSION", r)
	}
	for i, r := range res[:len(res)-1] {
		if r.Type != jute.OpError || r.Err != jute.CodeOK {
			t.Fatalf("result %d %+v, want error 0", i, r)
		}
	}
	if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
		t.Fatalf("rollback incomplete:%s", diff)
	}

	res = h.multi(ops...)
	for i, r := range res {
		if r.Type == jute.OpError {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	// /r had 4 creates (s-, d, eph, cont); the multi creates 8 more directly under it.
	if res[0].Path != "/r/s-0000000004" || res[14].Path != "/r/s-0000000011" {
		t.Fatalf("sequence paths %q %q, want /r/s-0000000004 /r/s-0000000011", res[0].Path, res[14].Path)
	}
	if res[10].Path != "/r/e2-0000000008" {
		t.Fatalf("ephemeral sequential %q", res[10].Path)
	}
	if h.data("/r/d") != "reborn" || h.data("/r/n") != "n1" || h.data("/r") != "r1" || h.exists("/r/n/child") {
		t.Fatal("multi effects missing")
	}
	if st := h.stat("/r/d"); st.Czxid != int64(h.zxid) || st.Version != 0 {
		t.Fatalf("/r/d re-created: %+v", st)
	}
	eph := h.tree.Ephemerals(testSession, "/r/")
	if len(eph) != 2 {
		t.Fatalf("ephemerals %v", eph)
	}
	if n := nodeOf(h.tree, "/r"); n.cversion != 4+8 {
		t.Fatalf("stored cversion %d, want 12", n.cversion)
	}
}

// TestMultiSeesEarlierOps: each op is validated against the tree as changed by the
// ops before it (semantics.md §6).
func TestMultiSeesEarlierOps(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCreate("/x", "", 0)
	res := h.multi(
		opCreate("/a", "", 0),
		opCreate("/a/b", "", 0),
		opCreate("/a/b/c", "", 0),
		opSetData("/a/b", "v", 0),
		opCheck("/a/b", 1),
		opSetData("/a/b", "w", 1),
		opDelete("/x", 0),
		opCheck("/a", 0),
		opCreate("/x", "again", 0),
		opDelete("/a/b/c", -1),
		opCheck("/x", 0),
		opCreate("/q-", "", 2),
		opCreate("/q-", "", 2),
	)
	for i, r := range res {
		if r.Type == jute.OpError {
			t.Fatalf("op %d failed: %v", i, r.Err)
		}
	}
	if h.data("/a/b") != "w" || h.data("/x") != "again" || h.exists("/a/b/c") {
		t.Fatal("effects missing")
	}
	// Two sequential creates in one multi get consecutive numbers: / had 1 stored
	// create (zookeeper is built in, so 0) + /x + /a + /x again before them.
	if res[11].Path != "/q-0000000003" || res[12].Path != "/q-0000000004" {
		t.Fatalf("sequential %q %q", res[11].Path, res[12].Path)
	}
	// Delete then create of the same path in one multi.
	res = h.multi(opDelete("/x", -1), opCreate("/x", "third", 0), opDelete("/x", 0), opCreate("/x", "fourth", 0))
	for i, r := range res {
		if r.Type == jute.OpError {
			t.Fatalf("op %d failed: %v", i, r.Err)
		}
	}
	if h.data("/x") != "fourth" {
		t.Fatal("effects missing")
	}
}

// TestMultiEvents: events of a successful multi fire in op order, once the whole multi
// has applied, with the multi's zxid (semantics.md §6, §8.2).
func TestMultiEvents(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCreate("/m", "", 0)
	h.mustCreate("/m/gone", "", 0)
	w := newWatcher("w", nil)
	h.tree.AddWatch("/m", jute.AddWatchPersistentRecursive, w)
	h.tree.GetChildren("/m", w, nil, nil)
	h.multi(
		opCreate("/m/a", "", 0),
		opSetData("/m/a", "x", 0),
		opDelete("/m/gone", -1),
		opSetData("/m", "y", -1),
		opCreate("/m/a/b", "", 0),
	)
	got := expectEvents(t, w,
		ev(jute.EventNodeCreated, "/m/a"),
		ev(jute.EventNodeChildrenChanged, "/m"), // the one-shot child watch
		ev(jute.EventNodeDataChanged, "/m/a"),
		ev(jute.EventNodeDeleted, "/m/gone"),
		ev(jute.EventNodeDataChanged, "/m"),
		ev(jute.EventNodeCreated, "/m/a/b"),
	)
	for _, e := range got {
		if e.Zxid != h.zxid {
			t.Fatalf("event %+v: zxid %v, want %v", e, e.Zxid, h.zxid)
		}
	}
}

// A TTL mode under create, create2 or createContainer inside a multi has no TTL
// field for ZooKeeper 3.8 to read once it rebuilds the op from its flags: the
// whole multi fails with MARSHALLINGERROR (no per-op results) and changes
// nothing, unless an earlier sub-op failed first (TestMultiFailure).
func TestMultiTTLModeUnderCreateFailsTheWholeMulti(t *testing.T) {
	for _, code := range []jute.OpCode{jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer} {
		for _, flags := range []int32{5, 6} {
			t.Run(fmt.Sprintf("%v flags %d", code, flags), func(t *testing.T) {
				h := newHarness(t, Config{ExtendedTypes: true})
				h.mustCreate("/m", "", 0)
				w := newWatcher("w", nil)
				h.tree.GetData("/m", w, nil)
				before := dumpTree(h.tree)
				r := h.request(jute.OpMulti, &jute.MultiRequest{Ops: []jute.MultiOp{
					opSetData("/m", "z", -1),
					{Type: code, Path: "/m/t", ACL: jute.OpenACLUnsafe, Flags: flags},
				}})
				if r.Err != jute.CodeMarshallingError || len(r.Body) != 0 {
					t.Fatalf("reply %v with %d body bytes, want MARSHALLINGERROR and no body", r.Err, len(r.Body))
				}
				if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
					t.Fatalf("the failed multi changed the tree:%s", diff)
				}
				expectEvents(t, w)
			})
		}
	}
}
