package datatree

import (
	"math"
	"testing"

	"zkd/jute"
)

// TestSpecialNodes pins the fresh tree of wire.md §9 and semantics.md §3: / shows
// cversion -1 with one child, /zookeeper -2 with two, /zookeeper/config is
// READ_ACL_UNSAFE with aversion -1; every other field is zero and the data is empty
// (not null: Java builds them with new byte[0], and the 3.8.0 snapshot.0 fixture stores
// a zero-length buffer for each).
func TestSpecialNodes(t *testing.T) {
	tree := New(Config{})
	tests := []struct {
		path     string
		cversion int32
		aversion int32
		children []string
		acl      []jute.ACL
	}{
		{"/", -1, 0, []string{"zookeeper"}, jute.OpenACLUnsafe},
		{"/zookeeper", -2, 0, []string{"config", "quota"}, jute.OpenACLUnsafe},
		{"/zookeeper/quota", 0, 0, nil, jute.OpenACLUnsafe},
		{"/zookeeper/config", 0, -1, nil, jute.ReadACLUnsafe},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			data, st, code := tree.GetData(tt.path, nil, anonID)
			if code != jute.CodeOK {
				t.Fatalf("getData: %v", code)
			}
			if data == nil || len(data) != 0 {
				t.Errorf("data = %#v, want empty and non-null", data)
			}
			want := jute.Stat{Cversion: tt.cversion, Aversion: tt.aversion, NumChildren: int32(len(tt.children))}
			if st != want {
				t.Errorf("stat = %+v, want %+v", st, want)
			}
			kids, _, _ := tree.GetChildren(tt.path, nil, anonID, nil)
			if len(kids) != len(tt.children) {
				t.Errorf("children = %v, want %v", kids, tt.children)
			}
			for _, k := range tt.children {
				if !containsString(kids, k) {
					t.Errorf("children = %v, want %v", kids, tt.children)
				}
			}
			a, _, code := tree.GetACL(tt.path, anonID)
			if code != jute.CodeOK || len(a) != len(tt.acl) || a[0] != tt.acl[0] {
				t.Errorf("acl = %v %v, want %v", a, code, tt.acl)
			}
		})
	}
	if n := tree.NodeCount(); n != 4 {
		t.Errorf("NodeCount = %d, want 4", n)
	}
	if z := tree.LastZxid(); z != 0 {
		t.Errorf("LastZxid = %v, want 0", z)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestCversionObserved replays the observed 3.8.0 run of semantics.md §3
// (fixtures/zk-3.8.0/probes/c-cversion.out.txt) step by step: the session is zxid 1,
// so every zxid matches the capture.
func TestCversionObserved(t *testing.T) {
	h := newHarness(t, Config{})
	if st := h.stat("/"); st.Cversion != -1 || st.NumChildren != 1 || st.Pzxid != 0 {
		t.Fatalf("/ = %+v, want cversion -1, 1 child, pzxid 0", st)
	}
	if st := h.stat("/zookeeper"); st.Cversion != -2 || st.NumChildren != 2 || st.Pzxid != 0 {
		t.Fatalf("/zookeeper = %+v, want cversion -2, 2 children, pzxid 0", st)
	}

	type step struct {
		do          string // "create", "seq" (persistent sequential) or "delete"
		path        string
		wantReply   string
		wantCode    jute.Code
		cversion    int32
		numChildren int32
		pzxid       int64
	}
	steps := []step{
		{"create", "/c/a", "/c/a", 0, 1, 1, 0x3},
		{"create", "/c/b", "/c/b", 0, 2, 2, 0x4},
		{"create", "/c/d", "/c/d", 0, 3, 3, 0x5},
		{"delete", "/c/b", "", 0, 4, 2, 0x6},
		{"seq", "/c/s-", "/c/s-0000000003", 0, 5, 3, 0x7},
		{"delete", "/c/a", "", 0, 6, 2, 0x8},
		{"delete", "/c/d", "", 0, 7, 1, 0x9},
		{"seq", "/c/s-", "/c/s-0000000004", 0, 8, 2, 0xa},
		{"create", "/c/a", "/c/a", 0, 9, 3, 0xb},
		{"create", "/c/a", "", jute.CodeNodeExists, 9, 3, 0xb},
	}
	if p := h.mustCreate("/c", "", 0); p != "/c" {
		t.Fatalf("create /c = %q", p)
	}
	if st := h.stat("/c"); st.Cversion != 0 || st.NumChildren != 0 || st.Pzxid != 0x2 || st.Czxid != 0x2 {
		t.Fatalf("/c = %+v, want cversion 0, no children, pzxid = czxid = 2", st)
	}
	for i, s := range steps {
		var reply string
		var code jute.Code
		switch s.do {
		case "create":
			reply, code = h.create(s.path, "", int32(jute.ModePersistent))
		case "seq":
			reply, code = h.create(s.path, "", int32(jute.ModePersistentSequential))
		case "delete":
			code = h.delete(s.path, -1)
		}
		if code != s.wantCode || reply != s.wantReply {
			t.Fatalf("step %d %s %s: (%q, %v), want (%q, %v)", i, s.do, s.path, reply, code, s.wantReply, s.wantCode)
		}
		st := h.stat("/c")
		if st.Cversion != s.cversion || st.NumChildren != s.numChildren || st.Pzxid != s.pzxid {
			t.Fatalf("step %d %s %s: /c cversion=%d numChildren=%d pzxid=%#x, want %d %d %#x",
				i, s.do, s.path, st.Cversion, st.NumChildren, st.Pzxid, s.cversion, s.numChildren, s.pzxid)
		}
		// Children never move the parent's data fields.
		if st.Mzxid != 2 || st.Version != 0 || st.Mtime != h.now {
			t.Fatalf("step %d: /c mzxid=%d version=%d mtime=%d changed", i, st.Mzxid, st.Version, st.Mtime)
		}
	}
	if st := h.stat("/"); st.Cversion != 0 || st.NumChildren != 2 || st.Pzxid != 0x2 {
		t.Fatalf("/ after = %+v, want cversion 0, 2 children, pzxid 2", st)
	}
	// The stored counter is what SnapshotFormatter prints: 6 creates under /c.
	if n := nodeOf(h.tree, "/c"); n.cversion != 6 {
		t.Fatalf("stored cversion = %d, want 6", n.cversion)
	}
}

// TestStatMaintenance checks each field of semantics.md §3 per operation.
func TestStatMaintenance(t *testing.T) {
	h := newHarness(t, Config{})
	h.now = 5000
	h.mustCreate("/n", "abc", 0)
	z := int64(h.zxid)
	want := jute.Stat{Czxid: z, Mzxid: z, Pzxid: z, Ctime: 5000, Mtime: 5000, DataLength: 3}
	if st := h.stat("/n"); st != want {
		t.Fatalf("after create: %+v, want %+v", st, want)
	}

	h.now = 6000
	st, code := h.setData("/n", "hello", -1)
	want.Mzxid, want.Mtime, want.Version, want.DataLength = int64(h.zxid), 6000, 1, 5
	if code != jute.CodeOK || st != want || h.stat("/n") != want {
		t.Fatalf("after setData: %+v %v, want %+v", st, code, want)
	}

	h.now = 7000
	st, code = h.setACL("/n", acl(jute.PermAll, "world", "anyone"), 0)
	want.Aversion = 1
	if code != jute.CodeOK || st != want {
		t.Fatalf("after setACL: %+v %v, want %+v (mzxid and mtime unchanged)", st, code, want)
	}

	// A child create moves pzxid and cversion only; a child delete moves pzxid.
	h.mustCreate("/n/k", "", 0)
	want.Pzxid, want.Cversion, want.NumChildren = int64(h.zxid), 1, 1
	if st := h.stat("/n"); st != want {
		t.Fatalf("after child create: %+v, want %+v", st, want)
	}
	if code := h.delete("/n/k", 0); code != jute.CodeOK {
		t.Fatal(code)
	}
	want.Pzxid, want.Cversion, want.NumChildren = int64(h.zxid), 2, 0
	if st := h.stat("/n"); st != want {
		t.Fatalf("after child delete: %+v, want %+v", st, want)
	}

	// Null data stays null; empty data stays empty; both have dataLength 0.
	h.mustCreate("/null", "", 0)
	if _, _, code := h.createFull(jute.OpCreate, "/nil", nil, jute.OpenACLUnsafe, 0, 0); code != jute.CodeOK {
		t.Fatal(code)
	}
	if b, st, _ := h.tree.GetData("/nil", nil, nil); b != nil || st.DataLength != 0 {
		t.Fatalf("null data: %#v %d", b, st.DataLength)
	}
	if b, st, _ := h.tree.GetData("/null", nil, nil); b == nil || len(b) != 0 || st.DataLength != 0 {
		t.Fatalf("empty data: %#v %d", b, st.DataLength)
	}
}

// TestVersionsWrap checks that data and ACL versions are Java ints (semantics.md §3).
func TestVersionsWrap(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCreate("/w", "", 0)
	poke(h.tree, "/w", func(n *node) { n.version, n.aversion = math.MaxInt32, math.MaxInt32 })
	st, code := h.setData("/w", "x", math.MaxInt32)
	if code != jute.CodeOK || st.Version != math.MinInt32 {
		t.Fatalf("setData at MaxInt32: version %d %v, want %d", st.Version, code, math.MinInt32)
	}
	if _, code := h.setData("/w", "y", math.MinInt32); code != jute.CodeOK {
		t.Fatalf("setData with the wrapped version: %v", code)
	}
	st, code = h.setACL("/w", jute.OpenACLUnsafe, math.MaxInt32)
	if code != jute.CodeOK || st.Aversion != math.MinInt32 {
		t.Fatalf("setACL at MaxInt32: aversion %d %v", st.Aversion, code)
	}
}
