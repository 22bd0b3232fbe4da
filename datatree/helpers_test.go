package datatree

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"zkd/jute"
)

// Identities used across the tests. bobDigest and aliceDigest are in the format a
// digest auth packet produces (wire.md §8.2).
var (
	superID   = Identity{{Scheme: "super", ID: ""}}
	bobDigest = "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="
	bobID     = Identity{{Scheme: "ip", ID: "127.0.0.1"}, {Scheme: "digest", ID: bobDigest}}
	aliceID   = Identity{{Scheme: "ip", ID: "10.1.2.3"}, {Scheme: "digest", ID: "alice:hash="}}
	anonID    = Identity{{Scheme: "ip", ID: "192.168.0.7"}}
)

// acl builds a one-entry ACL list.
func acl(perms int32, scheme, id string) []jute.ACL {
	return []jute.ACL{{Perms: perms, ID: jute.Id{Scheme: scheme, ID: id}}}
}

// fakeWatcher records the events it is notified of. It is safe for concurrent use.
type fakeWatcher struct {
	name string
	id   Identity

	mu     sync.Mutex
	events []Event // guarded by mu
}

func newWatcher(name string, id Identity) *fakeWatcher { return &fakeWatcher{name: name, id: id} }

func (w *fakeWatcher) Notify(ev Event) {
	w.mu.Lock()
	w.events = append(w.events, ev)
	w.mu.Unlock()
}

func (w *fakeWatcher) Identity() Identity { return w.id }

func (w *fakeWatcher) String() string { return w.name }

// take returns the events received since the last take and forgets them.
func (w *fakeWatcher) take() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := w.events
	w.events = nil
	return ev
}

// count returns the number of events not yet taken.
func (w *fakeWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events)
}

// ev is a short constructor for expected events; zxid is checked separately.
func ev(typ jute.EventType, path string) Event { return Event{Type: typ, Path: path} }

// expectEvents fails unless w received exactly want (types and paths, in order) since
// the last call, and returns what it received.
func expectEvents(t testing.TB, w *fakeWatcher, want ...Event) []Event {
	t.Helper()
	got := w.take()
	strip := make([]Event, len(got))
	for i, e := range got {
		strip[i] = Event{Type: e.Type, Path: e.Path}
	}
	if len(want) == 0 {
		want = nil
	}
	if len(strip) == 0 {
		strip = nil
	}
	if !slices.Equal(strip, want) {
		t.Fatalf("watcher %s: events %v, want %v", w.name, strip, want)
	}
	return got
}

// harness drives a Tree the way the applier does: every write is an encoded Txn
// applied at the next zxid. Requests are sent as session sid with identity id unless
// a method says otherwise.
type harness struct {
	tb   testing.TB
	tree *Tree
	zxid jute.Zxid
	now  int64 // Txn.Time of the next entry
	sid  jute.SessionID
	id   Identity
}

const testSession jute.SessionID = 0x0100000000010000

// newHarness returns a harness over a fresh tree whose session testSession is
// created at zxid 1, like the first txn of the observed runs of semantics.md §3.
func newHarness(tb testing.TB, cfg Config) *harness {
	tb.Helper()
	h := &harness{tb: tb, tree: New(cfg), now: 1_700_000_000_000, sid: testSession}
	h.openSession(testSession)
	return h
}

// applyTxn applies txn at the next zxid, filling in Time when unset.
func (h *harness) applyTxn(txn Txn) Result {
	h.tb.Helper()
	h.zxid++
	if txn.Time == 0 {
		txn.Time = h.now
	}
	return h.tree.Apply(h.zxid, txn.Append(nil))
}

func (h *harness) openSession(sid jute.SessionID) {
	h.tb.Helper()
	if r := h.applyTxn(Txn{Kind: KindCreateSession, Session: sid, Timeout: 30000}); r.Err != jute.CodeOK {
		h.tb.Fatalf("createSession %v: %v", sid, r.Err)
	}
}

func (h *harness) closeSession(sid jute.SessionID) Result {
	h.tb.Helper()
	return h.applyTxn(Txn{Kind: KindCloseSession, Session: sid})
}

func (h *harness) reap(path string, now int64) jute.Code {
	h.tb.Helper()
	return h.applyTxn(Txn{Kind: KindReap, Time: now, Body: []byte(path)}).Err
}

// requestAs applies a client write with the given opcode and record body.
func (h *harness) requestAs(sid jute.SessionID, id Identity, op jute.OpCode, body jute.Record) Result {
	h.tb.Helper()
	return h.applyTxn(Txn{Kind: KindRequest, Session: sid, Op: op, Identity: id, Body: body.Append(nil)})
}

func (h *harness) request(op jute.OpCode, body jute.Record) Result {
	h.tb.Helper()
	return h.requestAs(h.sid, h.id, op, body)
}

// createFull sends a create of any opcode and decodes the reply. The Stat is zero for
// OpCreate, whose reply carries only the path.
func (h *harness) createFull(op jute.OpCode, path string, data []byte, acl []jute.ACL, flags int32, ttl int64) (string, jute.Stat, jute.Code) {
	h.tb.Helper()
	var body jute.Record = &jute.CreateRequest{Path: path, Data: data, ACL: acl, Flags: flags}
	if op == jute.OpCreateTTL {
		body = &jute.CreateTTLRequest{CreateRequest: *body.(*jute.CreateRequest), TTL: ttl}
	}
	r := h.request(op, body)
	if r.Err != jute.CodeOK {
		if r.Body != nil {
			h.tb.Fatalf("create %q failed with %v but has a body", path, r.Err)
		}
		return "", jute.Stat{}, r.Err
	}
	d := jute.NewDecoder(r.Body)
	if op == jute.OpCreate {
		var resp jute.PathRequest
		resp.Decode(&d)
		mustDecoded(h.tb, &d)
		return resp.Path, jute.Stat{}, jute.CodeOK
	}
	var resp jute.Create2Response
	resp.Decode(&d)
	mustDecoded(h.tb, &d)
	return resp.Path, resp.Stat, jute.CodeOK
}

// create makes a node with opcode 1 and OPEN_ACL_UNSAFE.
func (h *harness) create(path, data string, flags int32) (string, jute.Code) {
	h.tb.Helper()
	p, _, code := h.createFull(jute.OpCreate, path, []byte(data), jute.OpenACLUnsafe, flags, 0)
	return p, code
}

func (h *harness) mustCreate(path, data string, flags int32) string {
	h.tb.Helper()
	p, code := h.create(path, data, flags)
	if code != jute.CodeOK {
		h.tb.Fatalf("create %q: %v", path, code)
	}
	return p
}

// setQuota sets a quota on path as a client does (zkCli setquota): the quota
// node, its limits and a zero stats node, which the tree then recounts.
func (h *harness) setQuota(path, limits string) {
	h.tb.Helper()
	h.mustCreate("/zookeeper/quota"+path, "", 0)
	h.mustCreate("/zookeeper/quota"+path+"/zookeeper_limits", limits, 0)
	h.mustCreate("/zookeeper/quota"+path+"/zookeeper_stats", "count=0,bytes=0", 0)
}

func (h *harness) mustCreateACL(path string, a []jute.ACL) {
	h.tb.Helper()
	if _, _, code := h.createFull(jute.OpCreate, path, nil, a, 0, 0); code != jute.CodeOK {
		h.tb.Fatalf("create %q: %v", path, code)
	}
}

func (h *harness) delete(path string, version int32) jute.Code {
	h.tb.Helper()
	return h.request(jute.OpDelete, &jute.PathVersionRequest{Path: path, Version: version}).Err
}

func (h *harness) setData(path, data string, version int32) (jute.Stat, jute.Code) {
	h.tb.Helper()
	return h.decodeStat(h.request(jute.OpSetData, &jute.SetDataRequest{Path: path, Data: []byte(data), Version: version}))
}

func (h *harness) setACL(path string, a []jute.ACL, version int32) (jute.Stat, jute.Code) {
	h.tb.Helper()
	return h.decodeStat(h.request(jute.OpSetACL, &jute.SetACLRequest{Path: path, ACL: a, Version: version}))
}

func (h *harness) decodeStat(r Result) (jute.Stat, jute.Code) {
	h.tb.Helper()
	if r.Err != jute.CodeOK {
		return jute.Stat{}, r.Err
	}
	var st jute.Stat
	d := jute.NewDecoder(r.Body)
	st.Decode(&d)
	mustDecoded(h.tb, &d)
	return st, jute.CodeOK
}

// multi applies a multi and returns its decoded results.
func (h *harness) multi(ops ...jute.MultiOp) []jute.OpResult {
	h.tb.Helper()
	r := h.request(jute.OpMulti, &jute.MultiRequest{Ops: ops})
	if r.Err != jute.CodeOK {
		h.tb.Fatalf("multi: reply code %v, want 0 with a MultiResponse", r.Err)
	}
	var resp jute.MultiResponse
	d := jute.NewDecoder(r.Body)
	resp.Decode(&d)
	mustDecoded(h.tb, &d)
	if len(resp.Results) != len(ops) {
		h.tb.Fatalf("multi: %d results for %d ops", len(resp.Results), len(ops))
	}
	return resp.Results
}

// stat returns the client-visible Stat of path, failing the test if it is absent.
func (h *harness) stat(path string) jute.Stat {
	h.tb.Helper()
	st, code := h.tree.Exists(path, nil, superID)
	if code != jute.CodeOK {
		h.tb.Fatalf("exists %q: %v", path, code)
	}
	return st
}

func (h *harness) exists(path string) bool {
	h.tb.Helper()
	_, code := h.tree.Exists(path, nil, superID)
	return code == jute.CodeOK
}

func (h *harness) data(path string) string {
	h.tb.Helper()
	b, _, code := h.tree.GetData(path, nil, superID)
	if code != jute.CodeOK {
		h.tb.Fatalf("getData %q: %v", path, code)
	}
	return string(b)
}

func (h *harness) children(path string) []string {
	h.tb.Helper()
	c, _, code := h.tree.GetChildren(path, nil, superID, nil)
	if code != jute.CodeOK {
		h.tb.Fatalf("getChildren %q: %v", path, code)
	}
	slices.Sort(c)
	return c
}

func mustDecoded(tb testing.TB, d *jute.Decoder) {
	tb.Helper()
	if d.Err() != nil || d.Remaining() != 0 {
		tb.Fatalf("decode reply: err=%v, %d bytes left", d.Err(), d.Remaining())
	}
}

// Multi op constructors.

func opCreate(path, data string, flags int32) jute.MultiOp {
	return jute.MultiOp{Type: jute.OpCreate, Path: path, Data: []byte(data), ACL: jute.OpenACLUnsafe, Flags: flags}
}

func opCreate2(path string, flags int32) jute.MultiOp {
	return jute.MultiOp{Type: jute.OpCreate2, Path: path, ACL: jute.OpenACLUnsafe, Flags: flags}
}

func opDelete(path string, version int32) jute.MultiOp {
	return jute.MultiOp{Type: jute.OpDelete, Path: path, Version: version}
}

func opSetData(path, data string, version int32) jute.MultiOp {
	return jute.MultiOp{Type: jute.OpSetData, Path: path, Data: []byte(data), Version: version}
}

func opCheck(path string, version int32) jute.MultiOp {
	return jute.MultiOp{Type: jute.OpCheck, Path: path, Version: version}
}

// nodeDump is everything stored for one node, the raw stored fields included.
type nodeDump struct {
	Data     string
	Null     bool
	ACL      string
	Stored   storedFields
	Children string
	Stat     jute.Stat
}

// storedFields are a node's stored (StatPersisted) fields.
type storedFields struct {
	Czxid, Mzxid, Ctime, Mtime, Owner, Pzxid int64
	Version, Cversion, Aversion              int32
}

// treeDump is a comparable image of a whole tree: nodes, counters and the session
// and reaper tables. Two dumps are equal exactly when the trees are.
type treeDump struct {
	Nodes     map[string]nodeDump
	NodeCount int64
	DataBytes int64
	Sessions  map[jute.SessionID]string // timeout and sorted ephemerals
	Expiring  string
	Digest    uint64
}

// nodeOf returns the stored node at path, failing loudly when there is none. It
// reads without locks: for tests that apply nothing concurrently.
func nodeOf(t *Tree, path string) *node {
	_, n := t.lookupRaw(path)
	if n == nil {
		panic("no node " + path)
	}
	return n
}

// poke changes a stored node behind the applier's back (to reach states that take
// billions of entries), keeping the running digest in step.
func poke(t *Tree, path string, f func(n *node)) {
	n := nodeOf(t, path)
	t.work -= t.dg.node(n)
	f(n)
	t.work += t.dg.node(n)
	t.digest.Store(t.work)
}

func dumpTree(t *Tree) treeDump {
	d := treeDump{Nodes: map[string]nodeDump{}, NodeCount: t.NodeCount(), DataBytes: t.ApproximateDataSize(),
		Sessions: map[jute.SessionID]string{}}
	for i := range t.stripes {
		s := &t.stripes[i]
		s.mu.RLock()
		s.each(func(id nodeID) {
			n := t.nodes.at(id)
			var kids []string
			for c := n.first; c != 0; c = t.nodes.at(c).next {
				kids = append(kids, t.nodes.at(c).name())
			}
			if len(kids) != int(n.nkids) {
				panic(fmt.Sprintf("%s: %d children linked, nkids %d", n.path(), len(kids), n.nkids))
			}
			slices.Sort(kids)
			stored := storedFields{Czxid: n.czxid, Mzxid: n.mzxid, Ctime: n.ctime, Mtime: n.mtime, Owner: n.owner,
				Pzxid: n.pzxid, Version: n.version, Cversion: n.cversion, Aversion: n.aversion}
			d.Nodes[n.path()] = nodeDump{Data: string(n.data()), Null: n.data() == nil, ACL: fmt.Sprint(t.aclOf(n)),
				Stored: stored, Children: fmt.Sprint(kids), Stat: n.stat(t.cfg.ExtendedTypes)}
		})
		s.mu.RUnlock()
	}
	d.Digest = t.Digest()
	t.sessions.RLock()
	for id, st := range t.sessions.byID {
		eph := make([]string, 0, len(st.ephemerals))
		for p := range st.ephemerals {
			eph = append(eph, p)
		}
		slices.Sort(eph)
		d.Sessions[id] = fmt.Sprint(st.timeout, eph)
	}
	exp := make([]string, 0, len(t.sessions.expiring))
	for p := range t.sessions.expiring {
		exp = append(exp, p)
	}
	t.sessions.RUnlock()
	slices.Sort(exp)
	d.Expiring = fmt.Sprint(exp)
	return d
}

// diffDumps describes how two dumps differ, or returns "".
func diffDumps(a, b treeDump) string {
	var out string
	for p, na := range a.Nodes {
		nb, ok := b.Nodes[p]
		switch {
		case !ok:
			out += fmt.Sprintf("\n  %s: only before", p)
		case na != nb:
			out += fmt.Sprintf("\n  %s: before %+v\n  %s: after  %+v", p, na, p, nb)
		}
	}
	for p := range b.Nodes {
		if _, ok := a.Nodes[p]; !ok {
			out += fmt.Sprintf("\n  %s: only after", p)
		}
	}
	if a.NodeCount != b.NodeCount || a.DataBytes != b.DataBytes {
		out += fmt.Sprintf("\n  counters: before %d nodes %d bytes, after %d nodes %d bytes",
			a.NodeCount, a.DataBytes, b.NodeCount, b.DataBytes)
	}
	if fmt.Sprint(a.Sessions) != fmt.Sprint(b.Sessions) {
		out += fmt.Sprintf("\n  sessions: before %v, after %v", a.Sessions, b.Sessions)
	}
	if a.Expiring != b.Expiring {
		out += fmt.Sprintf("\n  expiring: before %v, after %v", a.Expiring, b.Expiring)
	}
	if a.Digest != b.Digest {
		out += fmt.Sprintf("\n  digest: before %#x, after %#x", a.Digest, b.Digest)
	}
	return out
}
