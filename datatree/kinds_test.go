package datatree

import (
	"slices"
	"testing"

	"zkd/jute"
)

// TestEphemerals: the owner is the creating session; closing the session deletes its
// ephemerals with NodeDeleted and NodeChildrenChanged events (semantics.md §5.2, §8.2).
func TestEphemerals(t *testing.T) {
	h := newHarness(t, Config{})
	const other jute.SessionID = 0x0200000000020000
	h.openSession(other)
	h.mustCreate("/app", "", 0)
	h.mustCreate("/app/b", "", 0)
	h.mustCreate("/apple", "", 0)
	mine := []string{
		h.mustCreate("/app/e1", "", 1),
		h.mustCreate("/app/e-", "", 3),
		h.mustCreate("/apple/e", "", 1),
		h.mustCreate("/top", "", 1),
		h.mustCreate("/app/b/deep", "", 1),
	}
	h.sid = other
	theirs := h.mustCreate("/app/theirs", "", 1)
	h.sid = testSession

	if st := h.stat("/app/e1"); st.EphemeralOwner != int64(testSession) {
		t.Fatalf("ephemeralOwner %#x, want %#x", st.EphemeralOwner, int64(testSession))
	}
	if n := h.tree.EphemeralCount(); n != 6 {
		t.Fatalf("EphemeralCount %d, want 6", n)
	}

	// getEphemerals: a plain string prefix, "" and "/" meaning all (§15).
	prefixes := []struct {
		prefix string
		want   []string
	}{
		{"", mine},
		{"/", mine},
		{"/app", []string{"/app/e1", "/app/e-0000000002", "/apple/e", "/app/b/deep"}},
		{"/app/", []string{"/app/e1", "/app/e-0000000002", "/app/b/deep"}},
		{"/app/e", []string{"/app/e1", "/app/e-0000000002"}},
		{"/apple", []string{"/apple/e"}},
		{"/t", []string{"/top"}},
		{"/nothing", nil},
		{"app", nil},
	}
	for _, p := range prefixes {
		got := h.tree.Ephemerals(testSession, p.prefix)
		if !sameSet(got, p.want) {
			t.Errorf("Ephemerals(%q) = %v, want %v", p.prefix, got, p.want)
		}
	}
	if got := h.tree.Ephemerals(other, "/"); !sameSet(got, []string{theirs}) {
		t.Errorf("other session's ephemerals %v", got)
	}
	if got := h.tree.Ephemerals(unknownSession, ""); got != nil {
		t.Errorf("unknown session's ephemerals %v", got)
	}

	// Any session may delete another's ephemeral (§5.2); the owner forgets it.
	if code := h.delete("/app/theirs", -1); code != jute.CodeOK {
		t.Fatal(code)
	}
	if got := h.tree.Ephemerals(other, ""); len(got) != 0 {
		t.Fatalf("deleted ephemeral still listed: %v", got)
	}

	w := newWatcher("w", nil)
	h.tree.GetData("/app/e1", w, nil)
	h.tree.GetChildren("/app", w, nil, nil)
	h.tree.Exists("/top", w, nil)
	rec := newWatcher("rec", nil)
	h.tree.AddWatch("/", jute.AddWatchPersistentRecursive, rec)
	nodes := h.tree.NodeCount()

	if r := h.closeSession(testSession); r.Err != jute.CodeOK {
		t.Fatal(r.Err)
	}
	for _, p := range mine {
		if h.exists(p) {
			t.Errorf("%s survived its session", p)
		}
	}
	if h.tree.NodeCount() != nodes-5 {
		t.Errorf("NodeCount %d, want %d", h.tree.NodeCount(), nodes-5)
	}
	// The one-shot watches fire once each; the close is one zxid.
	got := w.take()
	slices.SortFunc(got, func(a, b Event) int { return cmpEvent(a, b) })
	want := []Event{ev(jute.EventNodeDeleted, "/app/e1"), ev(jute.EventNodeChildrenChanged, "/app"), ev(jute.EventNodeDeleted, "/top")}
	slices.SortFunc(want, func(a, b Event) int { return cmpEvent(a, b) })
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range got {
		if got[i].Type != want[i].Type || got[i].Path != want[i].Path || got[i].Zxid != h.zxid {
			t.Fatalf("events %v, want %v at zxid %v", got, want, h.zxid)
		}
	}
	// The recursive watch sees every delete, in path order (deterministic on every
	// replica), and no NodeChildrenChanged.
	expectEvents(t, rec,
		ev(jute.EventNodeDeleted, "/app/b/deep"),
		ev(jute.EventNodeDeleted, "/app/e-0000000002"),
		ev(jute.EventNodeDeleted, "/app/e1"),
		ev(jute.EventNodeDeleted, "/apple/e"),
		ev(jute.EventNodeDeleted, "/top"),
	)
	if _, ok := h.tree.Session(testSession); ok {
		t.Fatal("session still known")
	}
	if got := h.tree.Ephemerals(testSession, ""); got != nil {
		t.Fatalf("closed session's ephemerals %v", got)
	}
	if _, code := h.create("/after", "", 0); code != jute.CodeSessionExpired {
		t.Fatalf("create on a closed session: %v", code)
	}
	// Closing an unknown session is a no-op.
	before := dumpTree(h.tree)
	if r := h.closeSession(unknownSession); r.Err != jute.CodeOK {
		t.Fatal(r.Err)
	}
	if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
		t.Fatalf("closing an unknown session changed the tree:%s", diff)
	}
}

func cmpEvent(a, b Event) int {
	if a.Path != b.Path {
		if a.Path < b.Path {
			return -1
		}
		return 1
	}
	return int(a.Type - b.Type)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestSessions covers the session table: create, re-create (new timeout), listing.
func TestSessions(t *testing.T) {
	h := newHarness(t, Config{})
	if to, ok := h.tree.Session(testSession); !ok || to != 30000 {
		t.Fatalf("Session = %d %v", to, ok)
	}
	if r := h.applyTxn(Txn{Kind: KindCreateSession, Session: testSession, Timeout: 4000}); r.Err != jute.CodeOK {
		t.Fatal(r.Err)
	}
	if to, _ := h.tree.Session(testSession); to != 4000 {
		t.Fatalf("timeout %d after re-create, want 4000", to)
	}
	h.applyTxn(Txn{Kind: KindCreateSession, Session: 9, Timeout: 6000})
	if got := h.tree.Sessions(); len(got) != 2 || got[testSession] != 4000 || got[9] != 6000 {
		t.Fatalf("Sessions = %v", got)
	}
}

// TestSessionIDLikeTTLMarker: with extended types disabled a stored ephemeralOwner
// whose top byte is 0xFF is a session id (a server with myid 255 issues such ids), not
// a TTL marker (semantics.md §5.5, Java's EphemeralType.get).
func TestSessionIDLikeTTLMarker(t *testing.T) {
	const sid jute.SessionID = -0x00FF_FFFF_FFFF_0000 // 0xFF00000000010000: bits 40-55 zero
	h := newHarness(t, Config{})
	h.openSession(sid)
	h.sid = sid
	h.mustCreate("/e", "", 1)
	if st := h.stat("/e"); st.EphemeralOwner != int64(sid) {
		t.Fatalf("ephemeralOwner %#x, want %#x", st.EphemeralOwner, int64(sid))
	}
	if _, code := h.create("/e/x", "", 0); code != jute.CodeNoChildrenForEphemerals {
		t.Fatalf("child of ephemeral: %v", code)
	}
	if got := h.tree.Ephemerals(sid, ""); !sameSet(got, []string{"/e"}) {
		t.Fatalf("Ephemerals = %v", got)
	}
	if got := h.tree.ReapCandidates(1<<62, 0, 10); len(got) != 0 {
		t.Fatalf("ReapCandidates = %v", got)
	}
	h.closeSession(sid)
	if h.exists("/e") {
		t.Fatal("ephemeral survived its session")
	}
}

// A container that never had a child goes once unchanged for longer than the
// never-used interval the Reap entry carries (ZooKeeper's
// znode.container.maxNeverUsedIntervalMs), measured from its mtime; with none,
// it stays. Apply judges by the entry, not by the member's own setting.
func TestNeverUsedContainers(t *testing.T) {
	h := newHarness(t, Config{})
	created := h.now
	for _, p := range []string{"/never", "/busy"} {
		if _, _, code := h.createFull(jute.OpCreateContainer, p, nil, jute.OpenACLUnsafe, 4, 0); code != jute.CodeOK {
			t.Fatalf("createContainer %s: %v", p, code)
		}
	}
	h.mustCreate("/busy/kid", "", 0)
	later := created + 10_000
	for _, tc := range []struct {
		neverUsedSec int32
		want         []string
	}{{0, nil}, {20, nil}, {10, nil}, {9, []string{"/never"}}} {
		if got := h.tree.ReapCandidates(later, tc.neverUsedSec, 100); !sameSet(got, tc.want) {
			t.Fatalf("never used for %d s: candidates %v, want %v", tc.neverUsedSec, got, tc.want)
		}
	}
	if code := h.applyTxn(Txn{Kind: KindReap, Time: later, Body: []byte("/never")}).Err; code != jute.CodeBadVersion {
		t.Fatalf("reap without a never-used interval: %v", code)
	}
	if code := h.applyTxn(Txn{Kind: KindReap, Time: later, Timeout: 9, Body: []byte("/never")}).Err; code != jute.CodeOK {
		t.Fatalf("reap past the never-used interval: %v", code)
	}
	if h.exists("/never") || !h.exists("/busy") {
		t.Fatal("the wrong containers went")
	}
}

// TestContainers: clients see ephemeralOwner 0; an emptied container (stored
// cversion > 0) is a reap candidate and KindReap deletes it with events; a never-used
// one is neither (semantics.md §5.3, §4 deleteContainer).
func TestContainers(t *testing.T) {
	h := newHarness(t, Config{})
	for _, p := range []string{"/used", "/never", "/busy"} {
		_, st, code := h.createFull(jute.OpCreateContainer, p, nil, jute.OpenACLUnsafe, 4, 0)
		if code != jute.CodeOK || st.EphemeralOwner != 0 {
			t.Fatalf("createContainer %s: %v owner %#x", p, code, st.EphemeralOwner)
		}
	}
	h.mustCreate("/plain", "", 0)
	h.mustCreate("/used/kid", "", 1) // containers may hold ephemerals
	h.mustCreate("/busy/kid", "", 0)
	if got := h.tree.ReapCandidates(h.now, 0, 100); len(got) != 0 {
		t.Fatalf("candidates before any delete: %v", got)
	}
	if code := h.delete("/used/kid", -1); code != jute.CodeOK {
		t.Fatal(code)
	}
	if got := h.tree.ReapCandidates(h.now, 0, 100); !sameSet(got, []string{"/used"}) {
		t.Fatalf("candidates = %v, want [/used]", got)
	}
	if got := h.tree.ReapCandidates(h.now, 0, 0); len(got) != 0 {
		t.Fatalf("limit 0: %v", got)
	}

	tests := []struct {
		path string
		want jute.Code
	}{
		{"/missing", jute.CodeNoNode},
		{"/busy", jute.CodeNotEmpty},
		{"/never", jute.CodeBadVersion},
		{"/plain", jute.CodeBadVersion},
		{"/zookeeper", jute.CodeNotEmpty},
	}
	for _, tt := range tests {
		before := dumpTree(h.tree)
		if code := h.reap(tt.path, h.now); code != tt.want {
			t.Fatalf("reap %s: %v, want %v", tt.path, code, tt.want)
		}
		if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
			t.Fatalf("failed reap of %s changed the tree:%s", tt.path, diff)
		}
	}

	w := newWatcher("w", nil)
	h.tree.GetData("/used", w, nil)
	h.tree.GetChildren("/", w, nil, nil)
	rootBefore := h.stat("/")
	if code := h.reap("/used", h.now); code != jute.CodeOK {
		t.Fatal(code)
	}
	if h.exists("/used") {
		t.Fatal("reaped container still exists")
	}
	expectEvents(t, w, ev(jute.EventNodeDeleted, "/used"), ev(jute.EventNodeChildrenChanged, "/"))
	if st := h.stat("/"); st.Pzxid != int64(h.zxid) || st.Cversion != rootBefore.Cversion+1 {
		t.Fatalf("root after reap: %+v", st)
	}
	if got := h.tree.ReapCandidates(h.now, 0, 100); len(got) != 0 {
		t.Fatalf("candidates after reap: %v", got)
	}
	// Reaping again: gone.
	if code := h.reap("/used", h.now); code != jute.CodeNoNode {
		t.Fatalf("second reap: %v", code)
	}
	// A candidate that got a child since the scan is refused at apply time.
	if code := h.delete("/busy/kid", -1); code != jute.CodeOK {
		t.Fatal(code)
	}
	cands := h.tree.ReapCandidates(h.now, 0, 100)
	h.mustCreate("/busy/again", "", 0)
	if !sameSet(cands, []string{"/busy"}) || h.reap("/busy", h.now) != jute.CodeNotEmpty {
		t.Fatalf("stale candidate %v reaped", cands)
	}
}

// TestTTLNodes: clients see ephemeralOwner 0; a TTL node is reaped only once
// now - mtime > ttl and only when childless; setData moves mtime, children do not
// (semantics.md §5.4).
func TestTTLNodes(t *testing.T) {
	h := newHarness(t, Config{ExtendedTypes: true})
	h.now = 1000
	_, st, code := h.createFull(jute.OpCreateTTL, "/t", []byte("x"), jute.OpenACLUnsafe, 5, 100)
	if code != jute.CodeOK || st.EphemeralOwner != 0 {
		t.Fatalf("createTTL: %v owner %#x", code, st.EphemeralOwner)
	}
	p, _, code := h.createFull(jute.OpCreateTTL, "/s-", nil, jute.OpenACLUnsafe, 6, 50)
	if code != jute.CodeOK || p != "/s-0000000001" {
		t.Fatalf("sequential TTL: %q %v", p, code)
	}
	if n := nodeOf(h.tree, "/t"); n.owner != ttlMask|100 {
		t.Fatalf("stored owner %#x", n.owner)
	}
	cand := func(now int64) []string {
		c := h.tree.ReapCandidates(now, 0, 100)
		slices.Sort(c)
		return c
	}
	if got := cand(1050); len(got) != 0 {
		t.Fatalf("at 1050: %v", got)
	}
	if got := cand(1051); !slices.Equal(got, []string{"/s-0000000001"}) {
		t.Fatalf("at 1051: %v", got)
	}
	if got := cand(1100); !slices.Equal(got, []string{"/s-0000000001"}) {
		t.Fatalf("at 1100 (not > ttl yet for /t): %v", got)
	}
	if got := cand(1101); !slices.Equal(got, []string{"/s-0000000001", "/t"}) {
		t.Fatalf("at 1101: %v", got)
	}

	// A child keeps it; child activity does not move mtime.
	h.now = 1200
	h.mustCreate("/t/kid", "", 0)
	if got := cand(5000); !slices.Equal(got, []string{"/s-0000000001"}) {
		t.Fatalf("with a child: %v", got)
	}
	if code := h.reap("/t", 5000); code != jute.CodeNotEmpty {
		t.Fatalf("reap with a child: %v", code)
	}
	h.delete("/t/kid", -1)
	if got := cand(1101); !slices.Equal(got, []string{"/s-0000000001", "/t"}) {
		t.Fatalf("child gone: %v", got)
	}

	// setData moves mtime; Reap checks the entry's time, not the scan's.
	h.now = 2000
	if _, code := h.setData("/t", "y", -1); code != jute.CodeOK {
		t.Fatal(code)
	}
	if got := cand(2100); !slices.Equal(got, []string{"/s-0000000001"}) {
		t.Fatalf("after setData at 2000, at 2100: %v", got)
	}
	if code := h.reap("/t", 2100); code != jute.CodeBadVersion {
		t.Fatalf("reap before expiry: %v", code)
	}
	if !h.exists("/t") {
		t.Fatal("reaped early")
	}
	w := newWatcher("w", nil)
	h.tree.Exists("/t", w, nil)
	if code := h.reap("/t", 2101); code != jute.CodeOK {
		t.Fatalf("reap after expiry: %v", code)
	}
	expectEvents(t, w, ev(jute.EventNodeDeleted, "/t"))
	if h.exists("/t") {
		t.Fatal("not reaped")
	}
	// TTL parents may hold ephemerals.
	h.mustCreate("/s-0000000001/e", "", 1)
}
