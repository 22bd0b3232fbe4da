package session_test

import (
	"bytes"
	"testing"
	"time"

	"zkd/jute"
	"zkd/session"
)

// resume reconnects to session sid on a new connection and returns the client
// and the ConnectResponse (ok false: dropped without one).
func (h *harness) resume(sid jute.SessionID, passwd []byte, readOnly bool) (*client, jute.ConnectResponse, bool) {
	h.t.Helper()
	cl := h.dial()
	resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: 30000, SessionID: int64(sid), Passwd: passwd,
		HasReadOnly: true, ReadOnly: readOnly})
	cl.sid, cl.passwd, cl.timeout = jute.SessionID(resp.SessionID), resp.Passwd, resp.TimeOut
	return cl, resp, ok
}

// expectExpired checks a resume answered as for an expired session.
func expectExpired(t *testing.T, what string, resp jute.ConnectResponse, ok bool) {
	t.Helper()
	if !ok || resp.SessionID != 0 || resp.TimeOut != 0 || !bytes.Equal(resp.Passwd, make([]byte, 16)) {
		t.Fatalf("%s: response %+v ok=%v, want the expired-session response", what, resp, ok)
	}
}

// A local session (localSessionsEnabled) leaves nothing in the log or the tree:
// its writes replicate, an ephemeral is refused EPHEMERALONLOCALSESSION, it
// resumes on its own server, its close and its expiry are this server's alone
// (spec/semantics.md §7.4).
func TestLocalSessionLivesOnItsServer(t *testing.T) {
	t.Parallel()
	h := newManualHarness(t, func(c *session.Config) {
		c.TickTime = 100 * time.Millisecond
		c.LocalSessions = true
	})
	before := h.tree.LastZxid()
	cl := h.connect()
	if _, live := h.tree.Session(cl.sid); live || h.tree.LastZxid() != before {
		t.Fatalf("a local session reached the tree (live=%v, zxid %v -> %v)", live, before, h.tree.LastZxid())
	}
	cl.create("/kept", []byte("v"), int32(jute.ModePersistent), jute.OpenACLUnsafe)
	if n := h.srv.LocalSessionCount(); n != 1 {
		t.Fatalf("local sessions %d, want 1 (mntr local_sessions)", n)
	}
	if r := cl.call(jute.OpCreate, &jute.CreateRequest{Path: "/eph", ACL: jute.OpenACLUnsafe,
		Flags: int32(jute.ModeEphemeral)}); r.hdr.Err != jute.CodeEphemeralOnLocalSession {
		t.Fatalf("ephemeral on a local session: %v, want EPHEMERALONLOCALSESSION", r)
	}
	multi := &jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Path: "/m1", ACL: jute.OpenACLUnsafe},
		{Type: jute.OpCreate, Path: "/m2", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeralSequential)},
	}}
	var results jute.MultiResponse
	cl.call(jute.OpMulti, multi).decode(t, &results)
	if len(results.Results) != 2 || results.Results[1].Err != jute.CodeEphemeralOnLocalSession {
		t.Fatalf("a multi with an ephemeral on a local session: %+v, want EPHEMERALONLOCALSESSION second", results.Results)
	}
	if _, code := h.tree.Exists("/m1", nil, nil); code != jute.CodeNoNode {
		t.Fatalf("a refused multi left /m1 behind: %v", code)
	}

	// The client comes back on a new connection: same session; the old
	// connection closes.
	again, resp, ok := h.resume(cl.sid, cl.passwd, false)
	if !ok || jute.SessionID(resp.SessionID) != cl.sid || resp.ReadOnly {
		t.Fatalf("resume of a local session: %+v ok=%v", resp, ok)
	}
	if cl.tr.closes.Load() == 0 {
		t.Fatal("the local session's older connection was not closed")
	}
	wrong := bytes.Clone(cl.passwd)
	wrong[3] ^= 1
	_, resp, ok = h.resume(cl.sid, wrong, false)
	expectExpired(t, "wrong password", resp, ok)

	// Close: answered here, nothing replicated.
	zxid := h.tree.LastZxid()
	if r := again.call(jute.OpCloseSession, nil); r.hdr.Err != jute.CodeOK {
		t.Fatalf("closeSession: %v", r)
	}
	again.pull()
	if !again.closing || h.tree.LastZxid() != zxid {
		t.Fatalf("close of a local session: closing=%v zxid %v -> %v", again.closing, zxid, h.tree.LastZxid())
	}
	_, resp, ok = h.resume(cl.sid, cl.passwd, false)
	expectExpired(t, "closed local session", resp, ok)

	// Expiry: a local session whose client is gone ends after its timeout; one
	// that pings stays.
	gone := h.connectWithTimeout(200)
	alive := h.connectWithTimeout(200)
	gone.c.Closed()
	for range 10 {
		h.rep.Advance(50*time.Millisecond, 10*time.Millisecond)
		alive.ping()
	}
	_, resp, ok = h.resume(gone.sid, gone.passwd, false)
	expectExpired(t, "expired local session", resp, ok)
	if alive.tr.closes.Load() != 0 {
		t.Fatal("a local session that pings was expired")
	}
	alive.ping()
}

// With localSessionsUpgradingEnabled, the first ephemeral create of a local
// session makes it global first: the session enters the tree, owns the node,
// and its later writes and its close go through the log as any session's do.
// The upgrade keeps the connection's order behind a sync still in flight.
func TestLocalSessionUpgradesOnEphemeral(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *session.Config) { c.LocalSessions, c.LocalSessionsUpgrading = true, true })
	cl := h.connect()
	cl.create("/before", nil, int32(jute.ModePersistent), jute.OpenACLUnsafe)
	if _, live := h.tree.Session(cl.sid); live {
		t.Fatal("the session is global before any ephemeral")
	}

	h.gate.hold()
	syncXid := cl.send(jute.OpSync, &jute.PathRequest{Path: "/"})
	ephXid := cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/eph", ACL: jute.OpenACLUnsafe,
		Flags: int32(jute.ModeEphemeral)})
	afterXid := cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/after", ACL: jute.OpenACLUnsafe})
	h.gate.release()
	for _, xid := range []int32{syncXid, ephXid, afterXid} {
		if r := cl.nextReply(); r.hdr.Xid != xid || r.hdr.Err != jute.CodeOK {
			t.Fatalf("reply %v, want xid %d OK", r, xid)
		}
	}
	if _, live := h.tree.Session(cl.sid); !live {
		t.Fatal("the session did not become global")
	}
	st, code := h.tree.Exists("/eph", nil, nil)
	if code != jute.CodeOK || jute.SessionID(st.EphemeralOwner) != cl.sid {
		t.Fatalf("/eph owner %v (%v), want %v", st.EphemeralOwner, code, cl.sid)
	}

	if r := cl.call(jute.OpCloseSession, nil); r.hdr.Err != jute.CodeOK {
		t.Fatalf("closeSession: %v", r)
	}
	checkFor(t, "the upgraded session's ephemeral to go with it", func() bool {
		_, code := h.tree.Exists("/eph", nil, nil)
		return code == jute.CodeNoNode
	})
}

// A read-only server (no quorum, readonlymode.enabled) serves only clients that
// asked for read-only, gives them local sessions, refuses every change
// NOTREADONLY, and drops those sessions when it leaves read-only mode
// (spec/semantics.md §14, spec/wire.md §3.4).
func TestReadOnlyServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *session.Config) {
		c.LocalSessions = true
		c.FourLetterWords = []string{"*"}
	})
	global := h.connect()
	global.create("/data", []byte("v"), int32(jute.ModePersistent), jute.OpenACLUnsafe)
	h.gate.readOnly.Store(true)
	h.srv.DisconnectClients("no quorum: read-only mode")

	for name, req := range map[string]jute.ConnectRequest{
		"read-write client": {TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true},
		"old client":        {TimeOut: 30000, Passwd: make([]byte, 16)},
	} {
		cl := h.dial()
		if cl.c.HandleFrame(req.Append(nil)) {
			t.Errorf("%s accepted by a read-only server", name)
		}
		cl.expectSilent()
	}
	// A session of the read-write server may not come back here.
	back := h.dial()
	back.c.HandleFrame((&jute.ConnectRequest{TimeOut: 30000, SessionID: int64(global.sid), Passwd: global.passwd,
		HasReadOnly: true, ReadOnly: true}).Append(nil))
	back.expectSilent()
	if back.tr.closes.Load() == 0 {
		t.Fatal("a global session was resumed on a read-only server")
	}

	cl := h.dial()
	resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true, ReadOnly: true})
	if !ok || resp.SessionID == 0 || !resp.ReadOnly {
		t.Fatalf("read-only client: %+v ok=%v, want a read-only session", resp, ok)
	}
	cl.sid, cl.passwd = jute.SessionID(resp.SessionID), resp.Passwd
	var data jute.GetDataResponse
	cl.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/data"}).decode(t, &data)
	if string(data.Data) != "v" {
		t.Fatalf("getData on a read-only server: %q", data.Data)
	}
	zxid := h.tree.LastZxid()
	for op, rec := range map[jute.OpCode]jute.Record{
		jute.OpCreate:  &jute.CreateRequest{Path: "/x", ACL: jute.OpenACLUnsafe},
		jute.OpSetData: &jute.SetDataRequest{Path: "/data", Data: []byte("w"), Version: -1},
		jute.OpDelete:  &jute.PathVersionRequest{Path: "/data", Version: -1},
		jute.OpSync:    &jute.PathRequest{Path: "/"},
		jute.OpMulti:   &jute.MultiRequest{Ops: []jute.MultiOp{{Type: jute.OpDelete, Path: "/data", Version: -1}}},
		jute.OpCheck:   &jute.PathVersionRequest{Path: "/data", Version: -1},
	} {
		if r := cl.call(op, rec); r.hdr.Err != jute.CodeNotReadOnly {
			t.Errorf("%v on a read-only server: %v, want NOTREADONLY", op, r)
		}
	}
	if h.tree.LastZxid() != zxid {
		t.Fatalf("a read-only server changed the tree: zxid %v -> %v", zxid, h.tree.LastZxid())
	}
	if got := h.srv.FourLetterWord("isro"); got != "ro" {
		t.Fatalf("isro = %q, want ro", got)
	}

	// The quorum is back: read-only sessions end, and their clients must start
	// new ones.
	h.gate.readOnly.Store(false)
	h.srv.DisconnectClients("quorum regained")
	if cl.tr.closes.Load() == 0 {
		t.Fatal("the read-only session's connection was not closed")
	}
	_, resp, ok = h.resume(cl.sid, cl.passwd, true)
	expectExpired(t, "read-only session after the quorum came back", resp, ok)
}

// Without local sessions a read-only server answers a new session with a
// NOTREADONLY reply header in place of the ConnectResponse, as ZooKeeper 3.7+
// does (ZOOKEEPER-3863; spec/semantics.md §14).
func TestReadOnlyServerWithoutLocalSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.gate.readOnly.Store(true)
	cl := h.dial()
	if !cl.c.HandleFrame((&jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true, ReadOnly: true}).Append(nil)) {
		t.Fatal("read-only client dropped without a reply")
	}
	r := cl.nextReply()
	if r.hdr.Xid != 0 || r.hdr.Zxid != h.tree.LastZxid() || r.hdr.Err != jute.CodeNotReadOnly || len(r.body) != 0 {
		t.Fatalf("reply %v, want {xid 0, last zxid, NOTREADONLY}", r)
	}
}
