package datatree

import (
	"errors"
	"slices"
	"testing"

	"zkd/jute"
)

func TestTxnRoundTrip(t *testing.T) {
	tests := []Txn{
		{Kind: KindCreateSession, Session: 0x0100000000010000, Time: 1, Timeout: 30000},
		{Kind: KindCloseSession, Session: -1},
		{Kind: KindReap, Time: 99, Body: []byte("/c")},
		{Kind: KindRequest, Session: 7, Time: -5, Op: jute.OpMulti, Identity: bobID, Body: []byte{}},
		{Kind: KindRequest, Op: jute.OpSetData, Identity: Identity{{Scheme: "", ID: ""}}, Body: []byte{1, 2, 3}},
		{Kind: KindAttach, Session: 9, Timeout: 4000, Cxid: 12, Conn: 1 << 63, ConnSeq: 77},
	}
	for _, want := range tests {
		b := want.Append([]byte("prefix"))
		got, err := DecodeTxn(b[len("prefix"):])
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if got.Kind != want.Kind || got.Session != want.Session || got.Time != want.Time ||
			got.Timeout != want.Timeout || got.Op != want.Op || got.Cxid != want.Cxid ||
			got.Conn != want.Conn || got.ConnSeq != want.ConnSeq || !slices.Equal(got.Identity, want.Identity) ||
			string(got.Body) != string(want.Body) || (got.Body == nil) != (want.Body == nil) {
			t.Fatalf("round trip %+v -> %+v", want, got)
		}
	}
}

// Logs written before Cxid, Conn and ConnSeq existed still decode.
func TestDecodeLegacyTxn(t *testing.T) {
	var b []byte
	b = append(b, byte(KindRequest))
	b = jute.AppendLong(b, 5)
	b = jute.AppendLong(b, 1234)
	b = jute.AppendInt(b, 0)
	b = jute.AppendInt(b, int32(jute.OpDelete))
	b = jute.AppendInt(b, 0)
	b = jute.AppendBuffer(b, []byte("body"))
	got, err := DecodeLegacyTxn(b)
	if err != nil || got.Session != 5 || got.Time != 1234 || got.Op != jute.OpDelete || string(got.Body) != "body" {
		t.Fatalf("legacy decode: %+v %v", got, err)
	}
}

func TestDecodeTxnErrors(t *testing.T) {
	good := (&Txn{Kind: KindRequest, Op: jute.OpDelete, Identity: bobID, Body: []byte("x")}).Append(nil)
	for i := range good {
		if _, err := DecodeTxn(good[:i]); !errors.Is(err, ErrBadTxn) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
	for _, kind := range []TxnKind{0, 6, 255} {
		b := (&Txn{Kind: kind}).Append(nil)
		if _, err := DecodeTxn(b); !errors.Is(err, ErrBadTxn) {
			t.Fatalf("kind %d: %v", kind, err)
		}
	}
	// A hostile id count must not allocate or pass.
	b := (&Txn{Kind: KindRequest}).Append(nil)
	b[1+8+8+4+4+4+8+8+3] = 0x7f // low byte of the id count
	b[1+8+8+4+4+4+8+8] = 0x7f   // high byte
	if _, err := DecodeTxn(b); !errors.Is(err, ErrBadTxn) {
		t.Fatalf("huge id count: %v", err)
	}
}

// TestApplyOddEntries: empty entries (raft no-ops) and malformed ones only advance
// the zxid; a request with an unknown opcode or a short body fails cleanly.
func TestApplyOddEntries(t *testing.T) {
	h := newHarness(t, Config{})
	before := dumpTree(h.tree)
	if r := h.tree.Apply(10, nil); r.Err != jute.CodeOK || r.Body != nil {
		t.Fatalf("empty entry: %+v", r)
	}
	if h.tree.LastZxid() != 10 {
		t.Fatalf("LastZxid %v", h.tree.LastZxid())
	}
	if r := h.tree.Apply(11, []byte{9, 9, 9}); r.Err != jute.CodeMarshallingError {
		t.Fatalf("garbage entry: %+v", r)
	}
	if h.tree.LastZxid() != 11 {
		t.Fatalf("LastZxid %v", h.tree.LastZxid())
	}
	h.zxid = 11
	tests := []struct {
		op   jute.OpCode
		body []byte
		want jute.Code
	}{
		{jute.OpGetData, nil, jute.CodeUnimplemented},
		{jute.OpCheck, (&jute.PathVersionRequest{Path: "/", Version: -1}).Append(nil), jute.CodeUnimplemented},
		{jute.OpCreate, []byte{0, 0, 0, 2, '/'}, jute.CodeMarshallingError},
		{jute.OpCreateTTL, (&jute.CreateRequest{Path: "/x", ACL: jute.OpenACLUnsafe}).Append(nil), jute.CodeMarshallingError},
		{jute.OpDelete, []byte{0, 0, 0, 1, '/'}, jute.CodeMarshallingError},
		{jute.OpSetData, []byte{0, 0, 0, 1, '/', 0, 0, 0, 0}, jute.CodeMarshallingError},
		{jute.OpSetACL, []byte{0, 0, 0, 1, '/', 0, 0}, jute.CodeMarshallingError},
		{jute.OpMulti, []byte{0, 0, 0, 1}, jute.CodeMarshallingError},
		{jute.OpMulti, (&jute.MultiRequest{Ops: []jute.MultiOp{{Type: jute.OpGetData, Path: "/"}}}).Append(nil), jute.CodeMarshallingError},
	}
	for _, tt := range tests {
		r := h.applyTxn(Txn{Kind: KindRequest, Session: testSession, Op: tt.op, Body: tt.body})
		if r.Err != tt.want || r.Body != nil {
			t.Errorf("op %v body % x: %+v, want %v", tt.op, tt.body, r, tt.want)
		}
	}
	if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
		t.Fatalf("odd entries changed the tree:%s", diff)
	}
	if h.tree.LastZxid() != h.zxid {
		t.Fatalf("LastZxid %v, want %v", h.tree.LastZxid(), h.zxid)
	}
}

// TestApplyDoesNotKeepEntry: the tree copies what it keeps, so the caller may reuse
// the entry buffer after Apply.
func TestApplyDoesNotKeepEntry(t *testing.T) {
	h := newHarness(t, Config{})
	w := newWatcher("w", superID) // the node will be readable by bob only
	h.tree.AddWatch("/", jute.AddWatchPersistentRecursive, w)
	entry := (&Txn{Kind: KindRequest, Session: testSession, Op: jute.OpCreate, Identity: bobID,
		Body: (&jute.CreateRequest{Path: "/kept", Data: []byte("data"), ACL: jute.CreatorAllACL, Flags: 1}).Append(nil)}).Append(nil)
	h.zxid++
	if r := h.tree.Apply(h.zxid, entry); r.Err != jute.CodeOK {
		t.Fatal(r.Err)
	}
	entry2 := (&Txn{Kind: KindRequest, Session: testSession, Op: jute.OpSetData,
		Body: (&jute.SetDataRequest{Path: "/kept", Data: []byte("more"), Version: -1}).Append(nil)}).Append(nil)
	h.zxid++
	if r := h.tree.Apply(h.zxid, entry2); r.Err != jute.CodeNoAuth {
		t.Fatal(r.Err) // anonymous caller: CREATOR_ALL_ACL made it bob's
	}
	for i := range entry {
		entry[i] = 'Z'
	}
	if h.data("/kept") != "data" || !slices.Equal(h.children("/"), []string{"kept", "zookeeper"}) {
		t.Fatal("tree aliases the entry")
	}
	if got := h.tree.Ephemerals(testSession, ""); !slices.Equal(got, []string{"/kept"}) {
		t.Fatalf("ephemerals %q", got)
	}
	if a, _, _ := h.tree.GetACL("/kept", superID); a[0].ID.ID != bobDigest {
		t.Fatalf("acl %v", a)
	}
	expectEvents(t, w, ev(jute.EventNodeCreated, "/kept"))
}

// TestCounters covers NodeCount, ApproximateDataSize, AllChildrenNumber (§15),
// GetChildren's dst and LastZxid.
func TestCounters(t *testing.T) {
	h := newHarness(t, Config{})
	base := h.tree.ApproximateDataSize()
	if base != int64(len("/")+len("/zookeeper")+len("/zookeeper/quota")+len("/zookeeper/config")) {
		t.Fatalf("base size %d", base)
	}
	h.mustCreate("/a", "12345", 0)
	h.mustCreate("/a/b", "", 0)
	h.mustCreate("/a/b/c", "xy", 0)
	h.mustCreate("/a/d", "", 1)
	if n := h.tree.NodeCount(); n != 8 {
		t.Fatalf("NodeCount %d", n)
	}
	if got := h.tree.ApproximateDataSize() - base; got != 2+5+4+6+2+4 {
		t.Fatalf("size grew by %d", got)
	}
	h.setData("/a", "1", -1)
	if got := h.tree.ApproximateDataSize() - base; got != 2+1+4+6+2+4 {
		t.Fatalf("size after setData grew by %d", got)
	}
	h.delete("/a/b/c", -1)
	if got := h.tree.ApproximateDataSize() - base; got != 2+1+4+4 {
		t.Fatalf("size after delete grew by %d", got)
	}
	for path, want := range map[string]int32{"/": 6, "/a": 2, "/a/b": 0, "/zookeeper": 2} {
		if n, code := h.tree.AllChildrenNumber(path, nil); code != jute.CodeOK || n != want {
			t.Errorf("AllChildrenNumber(%s) = %d %v, want %d", path, n, code, want)
		}
	}
	if n, code := h.tree.AllChildrenNumber("/nope", nil); code != jute.CodeNoNode || n != 0 {
		t.Errorf("AllChildrenNumber(/nope) = %d %v", n, code)
	}
	if n := h.tree.NodeCount(); n != 7 {
		t.Fatalf("NodeCount %d", n)
	}
	dst := []string{"keep"}
	dst, st, code := h.tree.GetChildren("/a", nil, nil, dst)
	slices.Sort(dst[1:])
	if code != jute.CodeOK || !slices.Equal(dst, []string{"keep", "b", "d"}) || st.NumChildren != 2 {
		t.Fatalf("GetChildren = %v %+v %v", dst, st, code)
	}
	if h.tree.LastZxid() != h.zxid {
		t.Fatalf("LastZxid %v, want %v", h.tree.LastZxid(), h.zxid)
	}
}
