package datatree

import (
	"slices"
	"testing"

	"zkd/jute"
)

// watchTree returns a harness with /w (data "d", child /w/kid) for the watch tests.
func watchTree(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, Config{})
	h.mustCreate("/w", "d", 0)
	h.mustCreate("/w/kid", "", 0)
	return h
}

// TestStandardWatches is the table of semantics.md §8.1-8.2 for one-shot watches:
// which registration gets which event for which change, and that it fires only once.
func TestStandardWatches(t *testing.T) {
	type reg func(h *harness, w Watcher) jute.Code
	getData := func(p string) reg {
		return func(h *harness, w Watcher) jute.Code { _, _, c := h.tree.GetData(p, w, nil); return c }
	}
	exists := func(p string) reg {
		return func(h *harness, w Watcher) jute.Code { _, c := h.tree.Exists(p, w, nil); return c }
	}
	children := func(p string) reg {
		return func(h *harness, w Watcher) jute.Code { _, _, c := h.tree.GetChildren(p, w, nil, nil); return c }
	}
	type change func(h *harness)
	create := func(p string) change { return func(h *harness) { h.mustCreate(p, "", 0) } }
	del := func(p string) change {
		return func(h *harness) {
			if c := h.delete(p, -1); c != jute.CodeOK {
				h.tb.Fatal(c)
			}
		}
	}
	set := func(p string) change {
		return func(h *harness) {
			if _, c := h.setData(p, "x", -1); c != jute.CodeOK {
				h.tb.Fatal(c)
			}
		}
	}
	setACL := func(p string) change {
		return func(h *harness) {
			if _, c := h.setACL(p, jute.OpenACLUnsafe, -1); c != jute.CodeOK {
				h.tb.Fatal(c)
			}
		}
	}
	tests := []struct {
		name    string
		reg     reg
		regCode jute.Code
		change  change
		want    []Event
	}{
		{"data watch, setData", getData("/w"), 0, set("/w"), []Event{ev(jute.EventNodeDataChanged, "/w")}},
		{"data watch, delete", getData("/w/kid"), 0, del("/w/kid"), []Event{ev(jute.EventNodeDeleted, "/w/kid")}},
		{"data watch, child created", getData("/w"), 0, create("/w/new"), nil},
		{"data watch, setACL", getData("/w"), 0, setACL("/w"), nil},
		{"data watch, other node", getData("/w"), 0, set("/w/kid"), nil},
		{"getData on missing sets nothing", getData("/w/new"), jute.CodeNoNode, create("/w/new"), nil},
		{"exist watch, create", exists("/w/new"), jute.CodeNoNode, create("/w/new"), []Event{ev(jute.EventNodeCreated, "/w/new")}},
		{"exists on present, setData", exists("/w"), 0, set("/w"), []Event{ev(jute.EventNodeDataChanged, "/w")}},
		{"exists on present, delete", exists("/w/kid"), 0, del("/w/kid"), []Event{ev(jute.EventNodeDeleted, "/w/kid")}},
		{"exists on present, child created", exists("/w"), 0, create("/w/new"), nil},
		{"child watch, child created", children("/w"), 0, create("/w/new"), []Event{ev(jute.EventNodeChildrenChanged, "/w")}},
		{"child watch, child deleted", children("/w"), 0, del("/w/kid"), []Event{ev(jute.EventNodeChildrenChanged, "/w")}},
		{"child watch, node deleted", children("/w/kid"), 0, del("/w/kid"), []Event{ev(jute.EventNodeDeleted, "/w/kid")}},
		{"child watch, setData", children("/w"), 0, set("/w"), nil},
		{"child watch, grandchild created", children("/w"), 0, create("/w/kid/g"), nil},
		{"getChildren on missing sets nothing", children("/w/new"), jute.CodeNoNode, create("/w/new"), nil},
		{"root child watch", children("/"), 0, create("/top"), []Event{ev(jute.EventNodeChildrenChanged, "/")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := watchTree(t)
			w := newWatcher("w", nil)
			if code := tt.reg(h, w); code != tt.regCode {
				t.Fatalf("registration: %v, want %v", code, tt.regCode)
			}
			tt.change(h)
			got := expectEvents(t, w, tt.want...)
			for _, e := range got {
				if e.Zxid != h.zxid {
					t.Fatalf("event zxid %v, want %v", e.Zxid, h.zxid)
				}
			}
			// One-shot: a second identical change fires nothing.
			switch {
			case h.exists("/w/new"):
				h.delete("/w/new", -1)
			case !h.exists("/w/kid"):
				h.mustCreate("/w/kid", "", 0)
			default:
				h.setData("/w", "again", -1)
				h.mustCreate("/w/new", "", 0)
			}
			if len(tt.want) > 0 {
				expectEvents(t, w)
			}
			if _, _, total := h.tree.WatchCounts(); len(tt.want) > 0 && total != 0 {
				t.Fatalf("%d registrations left after firing", total)
			}
		})
	}
}

// TestPersistentWatch: addWatch mode 0 gets every event on the path itself (data,
// child, create, delete) and stays (§8.1-8.2).
func TestPersistentWatch(t *testing.T) {
	h := watchTree(t)
	w := newWatcher("w", nil)
	if code := h.tree.AddWatch("/p", jute.AddWatchPersistent, w); code != jute.CodeOK {
		t.Fatal(code)
	}
	h.mustCreate("/p", "", 0)
	h.setData("/p", "1", -1)
	h.mustCreate("/p/c", "", 0)
	h.setData("/p/c", "1", -1) // not on /p
	h.delete("/p/c", -1)
	h.delete("/p", -1)
	h.mustCreate("/p", "", 0)
	expectEvents(t, w,
		ev(jute.EventNodeCreated, "/p"),
		ev(jute.EventNodeDataChanged, "/p"),
		ev(jute.EventNodeChildrenChanged, "/p"),
		ev(jute.EventNodeChildrenChanged, "/p"),
		ev(jute.EventNodeDeleted, "/p"),
		ev(jute.EventNodeCreated, "/p"),
	)
	if watchers, paths, total := h.tree.WatchCounts(); watchers != 1 || paths != 1 || total != 2 {
		t.Fatalf("WatchCounts = %d %d %d, want 1 1 2", watchers, paths, total)
	}
	if code := h.tree.AddWatch("/p", 2, w); code != jute.CodeMarshallingError {
		t.Fatalf("addWatch mode 2: %v", code)
	}
}

// TestRecursiveWatch: mode 1 fires for the path and every descendant, never with
// NodeChildrenChanged, and stays (§8.2, observed on 3.8.0 in §8.3).
func TestRecursiveWatch(t *testing.T) {
	h := watchTree(t)
	w := newWatcher("w", nil)
	if code := h.tree.AddWatch("/w", jute.AddWatchPersistentRecursive, w); code != jute.CodeOK {
		t.Fatal(code)
	}
	h.mustCreate("/w/new", "", 0)
	h.mustCreate("/w/new/deep", "", 0)
	h.setData("/w/new/deep", "x", -1)
	h.setData("/w", "x", -1)
	h.delete("/w/new/deep", -1)
	h.mustCreate("/wx", "", 0) // a sibling sharing the prefix is not below /w
	h.mustCreate("/other", "", 0)
	h.delete("/w/kid", -1)
	expectEvents(t, w,
		ev(jute.EventNodeCreated, "/w/new"),
		ev(jute.EventNodeCreated, "/w/new/deep"),
		ev(jute.EventNodeDataChanged, "/w/new/deep"),
		ev(jute.EventNodeDataChanged, "/w"),
		ev(jute.EventNodeDeleted, "/w/new/deep"),
		ev(jute.EventNodeDeleted, "/w/kid"),
	)
	// On the root it sees everything.
	r := newWatcher("root", nil)
	h.tree.AddWatch("/", jute.AddWatchPersistentRecursive, r)
	h.mustCreate("/a", "", 0)
	h.setData("/", "r", -1)
	expectEvents(t, r, ev(jute.EventNodeCreated, "/a"), ev(jute.EventNodeDataChanged, "/"))

	// Removing the recursive watch stops the ancestor walk for it. Like 3.8.0,
	// a recursive watch sits in both tables, so each watch counts twice.
	if code := h.tree.RemoveWatches("/w", jute.WatcherAny, w, true); code != jute.CodeOK {
		t.Fatal(code)
	}
	h.mustCreate("/w/late", "", 0)
	h.delete("/w/late", -1)
	expectEvents(t, w)
	if h.tree.watches.recursive != 2 {
		t.Fatalf("recursive count %d, want 2 (r's, in both tables)", h.tree.watches.recursive)
	}
	h.tree.RemoveWatcher(r)
	if h.tree.watches.recursive != 0 {
		t.Fatalf("recursive count %d, want 0", h.tree.watches.recursive)
	}
}

// TestOneEventPerWatcher: a connection gets at most one notification per event even
// when several of its watches match (§8.2).
func TestOneEventPerWatcher(t *testing.T) {
	h := watchTree(t)
	w := newWatcher("w", nil)
	other := newWatcher("other", nil)
	for _, x := range []*fakeWatcher{w, other} {
		h.tree.GetData("/w/kid", x, nil)
		h.tree.GetChildren("/w/kid", x, nil, nil)
		h.tree.AddWatch("/w", jute.AddWatchPersistentRecursive, x)
		h.tree.AddWatch("/", jute.AddWatchPersistentRecursive, x)
		h.tree.GetChildren("/w", x, nil, nil)
	}
	h.delete("/w/kid", -1)
	// One NodeDeleted for /w/kid and one NodeChildrenChanged for /w (a different event).
	for _, x := range []*fakeWatcher{w, other} {
		got := x.take()
		slices.SortFunc(got, cmpEvent)
		if len(got) != 2 || got[0] != (Event{jute.EventNodeChildrenChanged, "/w", h.zxid}) ||
			got[1] != (Event{jute.EventNodeDeleted, "/w/kid", h.zxid}) {
			t.Fatalf("%s got %v", x.name, got)
		}
	}
	h.mustCreate("/w/kid", "", 0)
	h.setData("/w/kid", "z", -1)
	expectEvents(t, w, ev(jute.EventNodeCreated, "/w/kid"), ev(jute.EventNodeDataChanged, "/w/kid"))
}

// TestWatchModeLastWins: 3.8 keeps one mode per (watcher, path, table); a later
// registration replaces the earlier one (§8.3).
func TestWatchModeLastWins(t *testing.T) {
	h := watchTree(t)
	w := newWatcher("w", nil)
	h.tree.AddWatch("/w", jute.AddWatchPersistent, w)
	h.tree.GetData("/w", w, nil) // data table: now standard
	h.setData("/w", "1", -1)
	h.setData("/w", "2", -1)
	h.mustCreate("/w/c", "", 0) // child table still persistent
	expectEvents(t, w, ev(jute.EventNodeDataChanged, "/w"), ev(jute.EventNodeChildrenChanged, "/w"))

	// Standard then recursive: recursive wins in both tables (3.8.0 registers it
	// in each), and registering it twice counts once per table.
	h.tree.GetData("/w", w, nil)
	h.tree.AddWatch("/w", jute.AddWatchPersistentRecursive, w)
	h.tree.AddWatch("/w", jute.AddWatchPersistentRecursive, w)
	if h.tree.watches.recursive != 2 {
		t.Fatalf("recursive count %d", h.tree.watches.recursive)
	}
	h.setData("/w/c", "1", -1)
	h.setData("/w", "3", -1)
	h.setData("/w", "4", -1)
	expectEvents(t, w, ev(jute.EventNodeDataChanged, "/w/c"), ev(jute.EventNodeDataChanged, "/w"), ev(jute.EventNodeDataChanged, "/w"))
	// And back to standard in the data table: the child table keeps its
	// recursive registration, which fires only for deletions below /w.
	h.tree.Exists("/w", w, nil)
	if h.tree.watches.recursive != 1 {
		t.Fatalf("recursive count %d", h.tree.watches.recursive)
	}
	h.setData("/w/c", "2", -1)
	expectEvents(t, w)
	h.delete("/w/c", -1)
	expectEvents(t, w, ev(jute.EventNodeDeleted, "/w/c"))
}

// TestRemoveWatches covers removeWatches/checkWatches with 3.8's rules (§8.3) and
// NOWATCHER (§4).
func TestRemoveWatches(t *testing.T) {
	type regs struct{ data, child, persistent, recursive bool }
	tests := []struct {
		name      string
		regs      regs
		typ       int32
		want      jute.Code
		dataLeft  bool
		childLeft bool
	}{
		{"nothing: children", regs{}, jute.WatcherChildren, jute.CodeNoWatcher, false, false},
		{"nothing: data", regs{}, jute.WatcherData, jute.CodeNoWatcher, false, false},
		{"nothing: any", regs{}, jute.WatcherAny, jute.CodeNoWatcher, false, false},
		{"type 4 not understood", regs{persistent: true}, jute.WatcherPersistent, jute.CodeMarshallingError, true, true},
		{"type 5 not understood", regs{recursive: true}, jute.WatcherPersistentRecursive, jute.CodeMarshallingError, true, false},
		{"type 0", regs{data: true}, 0, jute.CodeMarshallingError, true, false},
		{"data only, children", regs{data: true}, jute.WatcherChildren, jute.CodeNoWatcher, true, false},
		{"child only, data", regs{child: true}, jute.WatcherData, jute.CodeNoWatcher, false, true},
		{"data", regs{data: true, child: true}, jute.WatcherData, jute.CodeOK, false, true},
		{"children", regs{data: true, child: true}, jute.WatcherChildren, jute.CodeOK, true, false},
		{"any", regs{data: true, child: true}, jute.WatcherAny, jute.CodeOK, false, false},
		{"any, data only", regs{data: true}, jute.WatcherAny, jute.CodeOK, false, false},
		{"persistent by children", regs{persistent: true}, jute.WatcherChildren, jute.CodeOK, true, false},
		{"persistent by data", regs{persistent: true}, jute.WatcherData, jute.CodeOK, false, true},
		// 3.8.0 registers a recursive watch in both tables.
		{"recursive by data", regs{recursive: true}, jute.WatcherData, jute.CodeOK, false, true},
		{"recursive by children", regs{recursive: true}, jute.WatcherChildren, jute.CodeOK, true, false},
	}
	for _, tt := range tests {
		for _, remove := range []bool{false, true} {
			name := tt.name + "/check"
			if remove {
				name = tt.name + "/remove"
			}
			t.Run(name, func(t *testing.T) {
				h := watchTree(t)
				w := newWatcher("w", nil)
				bystander := newWatcher("b", nil)
				h.tree.GetData("/w", bystander, nil)
				h.tree.GetChildren("/w", bystander, nil, nil)
				switch {
				case tt.regs.persistent:
					h.tree.AddWatch("/w", jute.AddWatchPersistent, w)
				case tt.regs.recursive:
					h.tree.AddWatch("/w", jute.AddWatchPersistentRecursive, w)
				}
				if tt.regs.data {
					h.tree.GetData("/w", w, nil)
				}
				if tt.regs.child {
					h.tree.GetChildren("/w", w, nil, nil)
				}
				_, _, before := h.tree.WatchCounts()
				want := tt.want
				if !remove && want == jute.CodeNoWatcher {
					// 3.8.0's checkWatches asks only whether the path has any
					// watcher of that kind, and the bystander has both.
					want = jute.CodeOK
				}
				if code := h.tree.RemoveWatches("/w", tt.typ, w, remove); code != want {
					t.Fatalf("RemoveWatches(type %d, remove %v) = %v, want %v", tt.typ, remove, code, want)
				}
				_, hasData := h.tree.watches.data["/w"][w]
				_, hasChild := h.tree.watches.child["/w"][w]
				wantData, wantChild := tt.dataLeft, tt.childLeft
				if !remove || tt.want != jute.CodeOK {
					// checkWatches and failures leave everything.
					wantData = tt.regs.data || tt.regs.persistent || tt.regs.recursive
					wantChild = tt.regs.child || tt.regs.persistent || tt.regs.recursive
				}
				if hasData != wantData || hasChild != wantChild {
					t.Fatalf("left data=%v child=%v, want %v %v", hasData, hasChild, wantData, wantChild)
				}
				if _, _, after := h.tree.WatchCounts(); !remove && after != before {
					t.Fatalf("checkWatches changed the count %d -> %d", before, after)
				}
				// The bystander's watches are untouched.
				h.setData("/w", "x", -1)
				h.mustCreate("/w/n", "", 0)
				expectEvents(t, bystander, ev(jute.EventNodeDataChanged, "/w"), ev(jute.EventNodeChildrenChanged, "/w"))
			})
		}
	}
	// Paths are not validated: a malformed one simply has no watcher.
	h := watchTree(t)
	if code := h.tree.RemoveWatches("bad\x00", jute.WatcherAny, newWatcher("w", nil), true); code != jute.CodeNoWatcher {
		t.Fatalf("bad path: %v", code)
	}
}

// TestSetWatches is the table of semantics.md §8.4: a change newer than relativeZxid
// fires at once with zxid -1, otherwise the watch is registered.
func TestSetWatches(t *testing.T) {
	h := watchTree(t)
	h.mustCreate("/old", "", 0)
	h.mustCreate("/old/k", "", 0)
	rel := int64(h.zxid)
	h.mustCreate("/new", "", 0)
	h.mustCreate("/kids", "", 0)
	rel2 := int64(h.zxid)
	h.mustCreate("/kids/k", "", 0) // /kids pzxid > rel2
	h.setData("/w", "changed", -1) // /w mzxid > rel
	_ = rel2

	w := newWatcher("w", nil)
	h.tree.SetWatches(&jute.SetWatches{
		RelativeZxid:        rel,
		DataWatches:         []string{"/w", "/old", "/gone"},
		ExistWatches:        []string{"/new", "/absent"},
		ChildWatches:        []string{"/old", "/kids", "/gone2", "/w"},
		PersistentWatches:   []string{"/pp", "/w"},
		PersistentRecursive: []string{"/rr"},
	}, w)
	got := w.take()
	want := []Event{
		{jute.EventNodeDataChanged, "/w", -1},
		{jute.EventNodeDeleted, "/gone", -1},
		{jute.EventNodeCreated, "/new", -1},
		{jute.EventNodeChildrenChanged, "/kids", -1},
		{jute.EventNodeDeleted, "/gone2", -1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("immediate events %v, want %v", got, want)
	}
	// Registered: data /old, exist /absent, child /old, child /w (pzxid 3 <= rel),
	// persistent /pp and /w, recursive /rr.
	paths := h.tree.WatchedPaths(w)
	if !sameSet(paths, []string{"/old", "/absent", "/w", "/pp", "/rr"}) {
		t.Fatalf("WatchedPaths = %v", paths)
	}
	h.setData("/old", "x", -1)
	h.mustCreate("/absent", "", 0)
	h.mustCreate("/old/k2", "", 0)
	h.mustCreate("/pp", "", 0)
	h.mustCreate("/rr", "", 0)
	h.mustCreate("/rr/x", "", 0)
	h.setData("/w", "again", -1)
	expectEvents(t, w,
		ev(jute.EventNodeDataChanged, "/old"),
		ev(jute.EventNodeCreated, "/absent"),
		ev(jute.EventNodeChildrenChanged, "/old"),
		ev(jute.EventNodeCreated, "/pp"),
		ev(jute.EventNodeCreated, "/rr"),
		ev(jute.EventNodeCreated, "/rr/x"),
		ev(jute.EventNodeDataChanged, "/w"),
	)

	// Boundary: mzxid == relativeZxid is not newer.
	w2 := newWatcher("w2", nil)
	mz := h.stat("/w").Mzxid
	h.tree.SetWatches(&jute.SetWatches{RelativeZxid: mz, DataWatches: []string{"/w"}, ChildWatches: []string{"/kids"}}, w2)
	if got := w2.take(); len(got) != 0 {
		t.Fatalf("events at the boundary: %v", got)
	}
	h.setData("/w", "b", -1)
	expectEvents(t, w2, ev(jute.EventNodeDataChanged, "/w"))
}

// TestEventACLFiltering: an event is delivered only to watchers with READ on the node
// it is about (parent for NodeChildrenChanged, the deleted node's ACL for NodeDeleted);
// the watch is consumed anyway; super and skipACL bypass (§8.2, §10.1).
func TestEventACLFiltering(t *testing.T) {
	for _, skip := range []bool{false, true} {
		h := newHarness(t, Config{SkipACL: skip})
		h.id = bobID
		h.mustCreateACL("/noread", acl(jute.PermAll, "digest", bobDigest))
		h.mustCreateACL("/wonly", acl(jute.PermWrite|jute.PermCreate|jute.PermDelete, "world", "anyone"))
		h.mustCreate("/open", "", 0)
		h.mustCreateACL("/open/secret", acl(jute.PermAll, "digest", bobDigest))

		anon := newWatcher("anon", anonID)
		bob := newWatcher("bob", bobID)
		sup := newWatcher("super", append(Identity{{Scheme: "ip", ID: "1.2.3.4"}}, superID...))
		for _, w := range []*fakeWatcher{anon, bob, sup} {
			// exists registers even without READ when the node is absent; on a present
			// node without READ exists fails (NOAUTH) and sets nothing, so register
			// through addWatch, which needs no permission.
			h.tree.AddWatch("/", jute.AddWatchPersistentRecursive, w)
			h.tree.AddWatch("/noread", jute.AddWatchPersistent, w)
			h.tree.Exists("/open/new", w, nil)
		}
		h.setData("/noread", "x", -1)                                           // anon lacks READ
		h.mustCreate("/noread/kid", "", 0)                                      // NodeCreated (kid is open) + children of /noread
		h.setData("/wonly", "x", -1)                                            // nobody but super reads /wonly
		h.mustCreate("/open/new", "", 0)                                        // everyone
		h.mustCreateACL("/open/hidden", acl(jute.PermAll, "digest", bobDigest)) // NodeCreated hidden from anon
		h.delete("/open/secret", -1)                                            // NodeDeleted checked against the deleted ACL

		full := []Event{
			ev(jute.EventNodeDataChanged, "/noread"),
			ev(jute.EventNodeCreated, "/noread/kid"),
			ev(jute.EventNodeChildrenChanged, "/noread"),
			ev(jute.EventNodeDataChanged, "/wonly"),
			ev(jute.EventNodeCreated, "/open/new"),
			ev(jute.EventNodeCreated, "/open/hidden"),
			ev(jute.EventNodeDeleted, "/open/secret"),
		}
		if skip {
			expectEvents(t, anon, full...)
		} else {
			expectEvents(t, anon, ev(jute.EventNodeCreated, "/noread/kid"), ev(jute.EventNodeCreated, "/open/new"))
		}
		wantBob := slices.Clone(full)
		if !skip {
			wantBob = slices.Delete(wantBob, 3, 4) // /wonly
		}
		expectEvents(t, bob, wantBob...)
		expectEvents(t, sup, full...)
	}

	// A one-shot watch filtered away is still consumed (observed on 3.8.0, §10.1).
	h := newHarness(t, Config{})
	h.id = bobID
	h.mustCreate("/n", "", 0)
	anon := newWatcher("anon", anonID)
	h.tree.GetData("/n", anon, anonID)
	h.setACL("/n", acl(jute.PermAll, "digest", bobDigest), -1)
	h.setData("/n", "x", -1)
	expectEvents(t, anon)
	if _, _, total := h.tree.WatchCounts(); total != 0 {
		t.Fatalf("filtered watch not consumed: %d left", total)
	}
}

// TestRemoveWatcherAndCounts: dropping a connection removes every registration, and
// WatchCounts/WatchedPaths report the tables (wchs, wchc).
func TestRemoveWatcherAndCounts(t *testing.T) {
	h := watchTree(t)
	a, b := newWatcher("a", nil), newWatcher("b", nil)
	h.tree.GetData("/w", a, nil)
	h.tree.GetChildren("/w", a, nil, nil)
	h.tree.Exists("/missing", a, nil)
	h.tree.AddWatch("/w/kid", jute.AddWatchPersistent, a)
	h.tree.AddWatch("/", jute.AddWatchPersistentRecursive, a)
	h.tree.GetData("/w", b, nil)
	// The recursive watch on / counts in both tables, as in 3.8.0.
	if watchers, paths, total := h.tree.WatchCounts(); watchers != 2 || paths != 4 || total != 8 {
		t.Fatalf("WatchCounts = %d %d %d, want 2 4 8", watchers, paths, total)
	}
	if got := h.tree.WatchedPaths(a); !sameSet(got, []string{"/w", "/missing", "/w/kid", "/"}) {
		t.Fatalf("WatchedPaths(a) = %v", got)
	}
	h.tree.RemoveWatcher(a)
	h.tree.RemoveWatcher(a) // idempotent
	if watchers, paths, total := h.tree.WatchCounts(); watchers != 1 || paths != 1 || total != 1 {
		t.Fatalf("after RemoveWatcher: %d %d %d, want 1 1 1", watchers, paths, total)
	}
	if got := h.tree.WatchedPaths(a); got != nil {
		t.Fatalf("WatchedPaths(a) = %v", got)
	}
	if h.tree.watches.recursive != 0 {
		t.Fatalf("recursive count %d", h.tree.watches.recursive)
	}
	h.setData("/w", "x", -1)
	h.mustCreate("/missing", "", 0)
	h.setData("/w/kid", "x", -1)
	expectEvents(t, a)
	expectEvents(t, b, ev(jute.EventNodeDataChanged, "/w"))
	if watchers, paths, total := h.tree.WatchCounts(); watchers != 0 || paths != 0 || total != 0 {
		t.Fatalf("after firing: %d %d %d", watchers, paths, total)
	}
	if len(h.tree.watches.byWatcher) != 0 || len(h.tree.watches.data) != 0 || len(h.tree.watches.child) != 0 {
		t.Fatal("tables not empty")
	}
}

// TestWatchPathNotAliased: readers pass paths decoded in place from a connection's
// input buffer (jute's zero-copy decoder), which is reused after the request. Every
// path the watch tables keep must be a copy, also when the path is already watched
// by another connection.
func TestWatchPathNotAliased(t *testing.T) {
	regs := []struct {
		name string
		reg  func(tree *Tree, path string, w Watcher)
	}{
		{"getData", func(tree *Tree, p string, w Watcher) { tree.GetData(p, w, nil) }},
		{"exists", func(tree *Tree, p string, w Watcher) { tree.Exists(p, w, nil) }},
		{"getChildren", func(tree *Tree, p string, w Watcher) { tree.GetChildren(p, w, nil, nil) }},
		{"addWatch", func(tree *Tree, p string, w Watcher) { tree.AddWatch(p, jute.AddWatchPersistent, w) }},
		{"setWatches", func(tree *Tree, p string, w Watcher) {
			tree.SetWatches(&jute.SetWatches{RelativeZxid: 1 << 40, DataWatches: []string{p}, ChildWatches: []string{p}}, w)
		}},
	}
	for _, r := range regs {
		t.Run(r.name, func(t *testing.T) {
			h := watchTree(t)
			first, second := newWatcher("first", nil), newWatcher("second", nil)
			for _, w := range []*fakeWatcher{first, second, second} {
				buf := jute.AppendString(nil, "/w")
				d := jute.NewDecoder(buf)
				r.reg(h.tree, d.String(), w) // aliases buf
				copy(buf[4:], "/x")          // the connection reuses its buffer
			}
			h.tree.RemoveWatcher(second)
			if got := h.tree.WatchedPaths(first); !slices.Equal(got, []string{"/w"}) {
				t.Fatalf("WatchedPaths(first) = %q", got)
			}
			h.tree.RemoveWatcher(first)
			if watchers, paths, total := h.tree.WatchCounts(); watchers != 0 || paths != 0 || total != 0 {
				t.Fatalf("after removing both watchers: WatchCounts = %d %d %d", watchers, paths, total)
			}
			h.setData("/w", "x", -1)
			h.mustCreate("/w/n", "", 0)
			expectEvents(t, second)
		})
	}
}
