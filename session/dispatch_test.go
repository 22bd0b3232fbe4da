package session_test

import (
	"fmt"
	"testing"

	"zkd/jute"
	"zkd/session"
)

// Unknown opcodes, a standalone check (3.8.5+) and server-internal types get
// {xid, zxid -1, UNIMPLEMENTED}, then the connection closes (wire.md §5).
func TestUnsupportedOpcodeRepliesUnimplementedThenCloses(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name string
		op   jute.OpCode
		rec  jute.Record
	}{
		{"op=999", 999, nil},
		{"op=check", jute.OpCheck, &jute.PathVersionRequest{Path: "/", Version: -1}},
		{"op=notification", jute.OpNotification, nil},
		{"op=deleteContainer", jute.OpDeleteContainer, &jute.PathRequest{Path: "/zookeeper"}},
		{"op=createSession", jute.OpCreateSession, nil},
		{"op=10", 10, nil},
		{"op=-3", -3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := h.connect()
			nodes := h.tree.NodeCount()
			xid := cl.send(tc.op, tc.rec)
			r := cl.nextReply()
			if r.hdr.Xid != xid || r.hdr.Zxid != -1 || r.hdr.Err != jute.CodeUnimplemented || len(r.body) != 0 {
				t.Fatalf("reply %v, want {xid=%d zxid=-1 err=-6} with no body", r, xid)
			}
			if !cl.closing {
				t.Fatal("no close requested after UNIMPLEMENTED")
			}
			// A request pipelined behind it must not cost the client the reply
			// above: it is ignored, not a reason to drop the connection unflushed.
			if !cl.c.HandleFrame(request(cl.nextXid(), jute.OpGetData, &jute.PathWatchRequest{Path: "/"})) {
				t.Fatal("a frame after UNIMPLEMENTED asked to drop the connection before its reply is flushed")
			}
			cl.expectSilent()
			if h.tree.NodeCount() != nodes {
				t.Fatal("the rejected request changed the tree")
			}
		})
	}
}

// An UNIMPLEMENTED reply queued behind a write still comes in order.
func TestUnsupportedOpcodeBehindWriteKeepsOrder(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.connect()
	h.gate.hold()
	create := cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/a", ACL: jute.OpenACLUnsafe})
	bad := cl.send(jute.OpCheck, &jute.PathVersionRequest{Path: "/a", Version: 0})
	cl.expectSilent()
	if cl.closing {
		t.Fatal("close requested before the replies before it were out")
	}
	h.gate.release()
	if r := cl.nextReply(); r.hdr.Xid != create || r.hdr.Err != jute.CodeOK {
		t.Fatalf("first reply %v, want the create (xid %d)", r, create)
	}
	if r := cl.nextReply(); r.hdr.Xid != bad || r.hdr.Err != jute.CodeUnimplemented {
		t.Fatalf("second reply %v, want UNIMPLEMENTED (xid %d)", r, bad)
	}
	checkFor(t, "close after the UNIMPLEMENTED reply", func() bool { cl.pull(); return cl.closing })
}

func TestSASLWithoutProviderFailsAndCloses(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.connect()
	xid := cl.send(jute.OpSASL, &jute.BufferRecord{Token: []byte("token")})
	r := cl.nextReply()
	if r.hdr.Xid != xid || r.hdr.Zxid != 0 || r.hdr.Err != jute.CodeAuthFailed || len(r.body) != 0 {
		t.Fatalf("sasl reply %v, want {xid=%d zxid=0 err=-115}", r, xid)
	}
	if !cl.closing {
		t.Fatal("no close requested after AUTHFAILED")
	}
}

func TestReconfigOnStandalone(t *testing.T) {
	req := &jute.ReconfigRequest{JoiningServers: "server.2=127.0.0.1:2888:3888", CurConfigID: -1}
	t.Run("reconfigEnabled=false", func(t *testing.T) {
		h := newHarness(t, nil)
		cl := h.connect()
		r := cl.call(jute.OpReconfig, req)
		if r.hdr.Err != jute.CodeReconfigDisabled || r.hdr.Zxid != h.tree.LastZxid() || len(r.body) != 0 {
			t.Fatalf("reconfig reply %v, want RECONFIGDISABLED (-123) at zxid %v", r, h.tree.LastZxid())
		}
		cl.ping() // the connection stays usable
		if cl.closing || cl.tr.closes.Load() != 0 {
			t.Fatal("reconfig closed the connection")
		}
	})
	t.Run("reconfigEnabled=true", func(t *testing.T) {
		h := newHarness(t, func(c *session.Config) { c.ReconfigEnabled = true })
		cl := h.connect()
		if r := cl.call(jute.OpReconfig, req); r.hdr.Err != jute.CodeUnimplemented {
			t.Fatalf("reconfig reply %v, want UNIMPLEMENTED on a standalone server", r)
		}
	})
}

// closeSession: the reply, then the close; the session's ephemerals are gone and
// watchers of them are told (semantics.md §7.3).
func TestCloseSessionRepliesThenClosesAndDeletesEphemerals(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.connect()
	watcher := h.connect()
	cl.create("/e1", []byte("x"), int32(jute.ModeEphemeral), jute.OpenACLUnsafe)
	cl.create("/e2", nil, int32(jute.ModeEphemeral), jute.OpenACLUnsafe)
	cl.create("/keep", nil, 0, jute.OpenACLUnsafe)
	if r := watcher.call(jute.OpExists, &jute.PathWatchRequest{Path: "/e1", Watch: true}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("exists: %v", r)
	}
	sessions := h.srv.SessionCount()

	xid := cl.send(jute.OpCloseSession, nil)
	r := cl.nextReply()
	if r.hdr.Xid != xid || r.hdr.Err != jute.CodeOK || len(r.body) != 0 || r.hdr.Zxid != h.tree.LastZxid() {
		t.Fatalf("closeSession reply %v, want {xid=%d, zxid=%v, 0}", r, xid, h.tree.LastZxid())
	}
	checkFor(t, "close after the closeSession reply", func() bool { cl.pull(); return cl.closing })
	cl.expectSilent()

	for _, p := range []string{"/e1", "/e2"} {
		if _, code := h.tree.Exists(p, nil, nil); code != jute.CodeNoNode {
			t.Errorf("ephemeral %s after closeSession: %v", p, code)
		}
	}
	if _, code := h.tree.Exists("/keep", nil, nil); code != jute.CodeOK {
		t.Errorf("persistent node after closeSession: %v", code)
	}
	if _, live := h.tree.Session(cl.sid); live {
		t.Error("session still in the tree after closeSession")
	}
	if got := h.srv.SessionCount(); got != sessions-1 {
		t.Errorf("SessionCount = %d, want %d", got, sessions-1)
	}
	if ev := watcher.nextReply().event(t); ev.Type != jute.EventNodeDeleted || ev.Path != "/e1" {
		t.Errorf("watcher got %+v, want NodeDeleted /e1", ev)
	}

	// Requests after closeSession are dropped silently, as ZooKeeper does.
	cl.c.HandleFrame(request(cl.nextXid(), jute.OpGetData, &jute.PathWatchRequest{Path: "/keep"}))
	cl.expectSilent()
}

// digestACL is an ACL granting everything to one digest identity.
func digestACL(userPassword string) []jute.ACL {
	return []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "digest", ID: session.DigestID(userPassword)}}}
}

func (cl *client) auth(scheme, credentials string) reply {
	cl.t.Helper()
	if !cl.c.HandleFrame(request(jute.XidAuth, jute.OpAuth, &jute.AuthPacket{Scheme: scheme, Auth: []byte(credentials)})) {
		cl.t.Fatal("auth dropped the connection")
	}
	r := cl.nextReply()
	if r.hdr.Xid != jute.XidAuth || r.hdr.Zxid != 0 || len(r.body) != 0 {
		cl.t.Fatalf("auth reply %v, want {xid=-4, zxid=0} with no body", r)
	}
	return r
}

func (cl *client) whoAmI() []jute.ClientInfo {
	cl.t.Helper()
	var resp jute.WhoAmIResponse
	cl.call(jute.OpWhoAmI, nil).decode(cl.t, &resp)
	return resp.ClientInfo
}

func TestDigestAuthAddsIdentity(t *testing.T) {
	h := newHarness(t, nil)
	bob := h.connect()
	if got := bob.whoAmI(); len(got) != 1 || got[0] != (jute.ClientInfo{AuthScheme: "ip", User: "127.0.0.1"}) {
		t.Fatalf("whoAmI before auth = %+v, want [ip 127.0.0.1]", got)
	}
	if r := bob.auth("digest", "bob:secret"); r.hdr.Err != jute.CodeOK {
		t.Fatalf("digest auth: %v", r)
	}
	bob.auth("digest", "bob:secret") // repeating it adds nothing
	// ZooKeeper 3.8 answers digest before ip (its ids live in a hash set; zkCli's
	// whoami against it prints "digest: bob" then "ip: 127.0.0.1").
	want := []jute.ClientInfo{{AuthScheme: "digest", User: "bob"}, {AuthScheme: "ip", User: "127.0.0.1"}}
	if got := bob.whoAmI(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("whoAmI after auth = %+v, want %+v", got, want)
	}

	bob.create("/bob", []byte("private"), 0, digestACL("bob:secret"))
	if r := bob.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/bob"}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("owner getData: %v", r)
	}
	anon := h.connect()
	if r := anon.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/bob"}); r.hdr.Err != jute.CodeNoAuth {
		t.Fatalf("anonymous getData: %v, want NOAUTH", r)
	}
	anon.auth("digest", "bob:wrong")
	if r := anon.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/bob"}); r.hdr.Err != jute.CodeNoAuth {
		t.Fatalf("wrong password getData: %v, want NOAUTH", r)
	}
	// "auth" ACLs expand to the caller's digest id.
	bob.create("/bob-auth", nil, 0, jute.CreatorAllACL)
	var acl jute.GetACLResponse
	bob.call(jute.OpGetACL, &jute.PathRequest{Path: "/bob-auth"}).decode(t, &acl)
	if len(acl.ACL) != 1 || acl.ACL[0].ID != (jute.Id{Scheme: "digest", ID: session.DigestID("bob:secret")}) {
		t.Fatalf("auth ACL expanded to %+v", acl.ACL)
	}
}

// The super digest bypasses every ACL check.
func TestSuperDigestBypassesACLs(t *testing.T) {
	h := newHarness(t, func(c *session.Config) { c.SuperDigest = session.DigestID("super:admin") })
	bob := h.connect()
	bob.auth("digest", "bob:secret")
	bob.create("/locked", []byte("s"), 0, digestACL("bob:secret"))

	root := h.connect()
	if r := root.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/locked"}); r.hdr.Err != jute.CodeNoAuth {
		t.Fatalf("before super auth: %v, want NOAUTH", r)
	}
	root.auth("digest", "super:admin")
	r := root.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/locked"})
	var data jute.GetDataResponse
	r.decode(t, &data)
	if string(data.Data) != "s" {
		t.Fatalf("super getData = %q", data.Data)
	}
	if r := root.call(jute.OpSetData, &jute.SetDataRequest{Path: "/locked", Data: []byte("t"), Version: -1}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("super setData: %v", r)
	}
	if r := root.call(jute.OpDelete, &jute.PathVersionRequest{Path: "/locked", Version: -1}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("super delete: %v", r)
	}

	// A digest that merely looks like the super user's is not super.
	fake := h.connect()
	fake.auth("digest", "super:wrong")
	bob.create("/locked2", nil, 0, digestACL("bob:secret"))
	if r := fake.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/locked2"}); r.hdr.Err != jute.CodeNoAuth {
		t.Fatalf("super:wrong getData: %v, want NOAUTH", r)
	}
}

func TestAuthUnknownSchemeFailsAndCloses(t *testing.T) {
	h := newHarness(t, nil)
	for _, scheme := range []string{"kerberos", "sasl", "x509", "world", ""} {
		t.Run("scheme="+scheme, func(t *testing.T) {
			cl := h.connect()
			if r := cl.auth(scheme, "whatever"); r.hdr.Err != jute.CodeAuthFailed {
				t.Fatalf("auth %q: %v, want AUTHFAILED", scheme, r)
			}
			if !cl.closing {
				t.Fatal("no close requested after AUTHFAILED")
			}
		})
	}
	// ip is known: it succeeds and adds nothing.
	cl := h.connect()
	if r := cl.auth("ip", "10.0.0.1"); r.hdr.Err != jute.CodeOK {
		t.Fatalf("ip auth: %v", r)
	}
	if got := cl.whoAmI(); len(got) != 1 {
		t.Fatalf("whoAmI after ip auth = %+v", got)
	}
}

// whoAmI lists identities in the order ZooKeeper's set of them iterates: by
// hash bucket, and in one bucket in the order added. The orders below are what
// zkCli's whoami printed against ZooKeeper 3.8.0 for the same ids.
func TestWhoAmIListsIdsInZooKeepersOrder(t *testing.T) {
	h := newHarness(t, func(c *session.Config) { c.SuperDigest = session.DigestID("super:admin") })
	for _, tc := range []struct {
		auths []string
		want  []jute.ClientInfo
	}{
		{[]string{"super:admin"}, []jute.ClientInfo{{AuthScheme: "digest", User: "super"},
			{AuthScheme: "super", User: ""}, {AuthScheme: "ip", User: "127.0.0.1"}}},
		// alice's and bob's ids share a bucket: the one added first comes first.
		{[]string{"alice:x", "bob:secret"}, []jute.ClientInfo{{AuthScheme: "digest", User: "alice"},
			{AuthScheme: "digest", User: "bob"}, {AuthScheme: "ip", User: "127.0.0.1"}}},
		{[]string{"bob:secret", "alice:x"}, []jute.ClientInfo{{AuthScheme: "digest", User: "bob"},
			{AuthScheme: "digest", User: "alice"}, {AuthScheme: "ip", User: "127.0.0.1"}}},
		{[]string{"carol:y"}, []jute.ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"},
			{AuthScheme: "digest", User: "carol"}}},
	} {
		cl := h.connect()
		for _, a := range tc.auths {
			cl.auth("digest", a)
		}
		if got := cl.whoAmI(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Fatalf("after %v: whoAmI = %+v, want %+v", tc.auths, got, tc.want)
		}
	}
}

// An auth packet that does not decode closes the connection without a reply, as
// ZooKeeper does.
func TestMalformedAuthPacketClosesSilently(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.connect()
	frame := (&jute.RequestHeader{Xid: jute.XidAuth, Type: jute.OpAuth}).Append(nil)
	frame = append(frame, 0, 0, 0) // a truncated AuthPacket
	cl.c.HandleFrame(frame)
	checkFor(t, "the connection to close", func() bool { return cl.tr.closes.Load() > 0 })
	if n := cl.pull(); n != 0 {
		t.Fatalf("%d frames answered a malformed auth packet", n)
	}
}

// A connection that goes away with reads (and their watches) queued behind a
// write leaves no watch behind: the queued reads never run for a closed
// connection (issue: 5,000 such connections held about 15 MB of watches).
func TestQueuedWatchesOfAClosedConnectionAreNotRegistered(t *testing.T) {
	h := newHarness(t, nil)
	setup := h.connect()
	setup.create("/w", []byte("v"), 0, jute.OpenACLUnsafe)
	var clients []*client
	for range 200 {
		clients = append(clients, h.connect())
	}
	h.gate.hold()
	for _, cl := range clients {
		cl.send(jute.OpSetData, &jute.SetDataRequest{Path: "/w", Data: []byte("x"), Version: -1})
		cl.send(jute.OpGetData, &jute.PathWatchRequest{Path: "/w", Watch: true})
		cl.send(jute.OpExists, &jute.PathWatchRequest{Path: "/w", Watch: true})
	}
	for _, cl := range clients {
		cl.c.Closed() // the client resets its connection with the write in flight
	}
	h.gate.release()
	// Every write applies; none of the reads behind them may register a watch.
	checkFor(t, "the writes to apply", func() bool {
		_, st, _ := h.tree.GetData("/w", nil, nil)
		return st.Version >= 200
	})
	for _, cl := range clients {
		cl.c.TakeOutput() // what netloop would do, had the connection still been there
	}
	if watchers, paths, total := h.tree.WatchCounts(); total != 0 {
		t.Fatalf("%d watches on %d paths by %d connections left after every connection closed", total, paths, watchers)
	}
}
