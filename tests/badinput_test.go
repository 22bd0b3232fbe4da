package tests

// Malformed and hostile input on raw sockets (spec/semantics.md §2, §4, §10, §12;
// spec/wire.md §1, §3, §5): each case gets ZooKeeper's error or a closed
// connection, and afterwards a session connected beforehand still works and the
// tree holds nothing the bad input could have left behind.

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"zkd/internal/zktest"
	"zkd/internal/zktest/raw"
	"zkd/jute"
	"zkd/zoocfg"
)

// badEnv is one server, a bystander session connected before any bad input, and
// the children / must have.
type badEnv struct {
	srv  *zktest.Server
	by   *zktest.Client
	n    int32
	root []string
}

func newBadEnv(t *testing.T) *badEnv {
	t.Helper()
	srv := zktest.StartServer(t)
	by := zktest.Connect(t, srv.ConnectString(), 4000)
	by.Create("/by", []byte("0"), jute.ModePersistent)
	return &badEnv{srv: srv, by: by, root: []string{"by", "zookeeper"}}
}

// healthy checks that the bystander can still write and read, that nobody else
// wrote its node, and that / has exactly the expected children.
func (e *badEnv) healthy(t *testing.T, extra ...string) {
	t.Helper()
	want := append(slices.Clone(e.root), extra...)
	slices.Sort(want)
	e.by.T = t
	e.n++
	rb := e.by.MustCall(jute.OpSetData, zktest.SetDataBody("/by", []byte{byte(e.n)}, e.n-1), jute.CodeOK)
	var st jute.Stat
	d := jute.NewDecoder(rb)
	st.Decode(&d)
	if st.Version != e.n {
		t.Fatalf("bystander's node at version %d, want %d", st.Version, e.n)
	}
	if data, _ := e.by.GetData("/by"); !bytes.Equal(data, []byte{byte(e.n)}) {
		t.Fatalf("bystander reads %v", data)
	}
	if got := e.by.Children("/"); !slices.Equal(got, want) {
		t.Fatalf("children of / = %v, want %v", got, want)
	}
	if got := e.by.Children("/zookeeper"); !slices.Equal(got, []string{"config", "quota"}) {
		t.Fatalf("children of /zookeeper = %v", got)
	}
	if got := e.by.Children("/by"); len(got) != 0 {
		t.Fatalf("children of /by = %v", got)
	}
}

// lengthPrefix is a bare 4-byte frame length.
func lengthPrefix(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

func TestBadInputFrameLength(t *testing.T) {
	e := newBadEnv(t)
	t.Run("beforeConnect", func(t *testing.T) {
		// ZooKeeper closes at once, without a reply, for any length over
		// jute.maxbuffer or below zero (semantics.md §12).
		for _, n := range []int32{jute.DefaultMaxBuffer + 1, 0x7fffffff, -5, -1} {
			conn := zktest.Dial(t, e.srv.ConnectString())
			conn.Write(lengthPrefix(n))
			conn.ExpectClosedSilently()
		}
		e.healthy(t)
	})
	t.Run("inSession", func(t *testing.T) {
		for _, n := range []int32{jute.DefaultMaxBuffer + 1, -5} {
			r := zktest.Connect(t, e.srv.ConnectString(), 4000)
			r.Create("/big-keep", []byte("kept"), jute.ModePersistent)
			r.Create("/big-eph", nil, jute.ModeEphemeral)
			// A request ahead of the bad length in the same write is executed as a
			// whole (ZooKeeper submits it before reading on); its reply may or may
			// not make it out before the close.
			xid := r.NextXid()
			r.Write(append(raw.RequestFrame(xid, jute.OpSetData, zktest.SetDataBody("/big-keep", []byte("set"), 0)), lengthPrefix(n)...))
			for {
				b, err := r.Raw().ReadFrame()
				if err != nil {
					if !raw.IsClosed(err) {
						t.Fatalf("read: %v; want the connection closed", err)
					}
					break
				}
				var h jute.ReplyHeader
				d := jute.NewDecoder(b)
				h.Decode(&d)
				if h.Xid != xid || h.Err != jute.CodeOK {
					t.Fatalf("unexpected reply %+v before the close", h)
				}
			}
			e.healthy(t, "big-eph", "big-keep")
			// The session survives the closed connection: it can be resumed, with
			// its ephemeral, and what it wrote is there.
			r2, resp := zktest.Resume(t, e.srv.ConnectString(), r.SessionID(), r.Passwd(), 4000)
			if resp.SessionID != r.SessionID() || resp.TimeOut != 4000 || !bytes.Equal(resp.Passwd, r.Passwd()) {
				t.Fatalf("resume after length %d: %+v", n, resp)
			}
			if data, st := r2.GetData("/big-keep"); string(data) != "set" || st.Version != 1 {
				t.Fatalf("/big-keep = %q version %d, want the setData applied", data, st.Version)
			}
			if st, ok := r2.Exists("/big-eph"); !ok || st.EphemeralOwner != r.SessionID() {
				t.Fatalf("ephemeral after resume: %v %+v", ok, st)
			}
			r2.MustCall(jute.OpDelete, zktest.PathVersionBody("/big-keep", -1), jute.CodeOK)
			r2.CloseSession()
			e.healthy(t)
		}
	})
	t.Run("exactlyMaxBuffer", func(t *testing.T) {
		// A payload of exactly jute.maxbuffer bytes is accepted.
		r := zktest.Connect(t, e.srv.ConnectString(), 4000)
		r.Create("/big", nil, jute.ModeEphemeral)
		path := "/big"
		dataLen := jute.DefaultMaxBuffer - jute.RequestHeaderSize - (4 + len(path)) - 4 - 4
		body := zktest.SetDataBody(path, make([]byte, dataLen), -1)
		frame := raw.RequestFrame(r.NextXid(), jute.OpSetData, body)
		if len(frame) != 4+jute.DefaultMaxBuffer {
			t.Fatalf("built a %d-byte frame", len(frame))
		}
		r.Write(frame)
		h, rb := r.Reply()
		if h.Xid != r.Xid() || h.Err != jute.CodeOK {
			t.Fatalf("maximal setData: %+v", h)
		}
		var st jute.Stat
		d := jute.NewDecoder(rb)
		st.Decode(&d)
		if int(st.DataLength) != dataLen {
			t.Fatalf("dataLength %d, want %d", st.DataLength, dataLen)
		}
		r.CloseSession()
		e.healthy(t)
	})
}

func TestBadInputTruncated(t *testing.T) {
	e := newBadEnv(t)
	t.Run("connectRequest", func(t *testing.T) {
		full := jute.ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16)}
		payload := full.Append(nil)
		for _, cut := range []int{0, 3, 20, 27, len(payload) - 1} {
			conn := zktest.Dial(t, e.srv.ConnectString())
			conn.Write(raw.Frame(payload[:cut]))
			conn.ExpectClosedSilently()
		}
		// A password buffer whose length runs past the frame.
		bad := bytes.Clone(payload)
		binary.BigEndian.PutUint32(bad[24:], 100)
		conn := zktest.Dial(t, e.srv.ConnectString())
		conn.Write(raw.Frame(bad))
		conn.ExpectClosedSilently()
		// A client that has seen a zxid the server has not: closed without a
		// response, so it tries another server (wire.md §3.4).
		ahead := jute.ConnectRequest{LastZxidSeen: 1 << 40, TimeOut: 4000, Passwd: make([]byte, 16), HasReadOnly: true}
		conn = zktest.Dial(t, e.srv.ConnectString())
		conn.Write(raw.Frame(ahead.Append(nil)))
		conn.ExpectClosedSilently()
		e.healthy(t)
	})
	t.Run("requestHeader", func(t *testing.T) {
		// A frame too short for a RequestHeader cannot be answered (no xid): closed.
		for _, payload := range [][]byte{{0, 0, 0, 1, 0}, {}} {
			r := zktest.Connect(t, e.srv.ConnectString(), 4000)
			r.Write(raw.Frame(payload))
			r.ExpectClosedSilently()
		}
		e.healthy(t)
	})
	t.Run("requestBody", func(t *testing.T) {
		// A body that does not decode gets MARSHALLINGERROR and the connection
		// stays usable (PrepRequestProcessor / FinalRequestProcessor catch the
		// IOException; wire.md §7).
		r := zktest.Connect(t, e.srv.ConnectString(), 4000)
		multi := (&jute.MultiRequest{Ops: []jute.MultiOp{{Type: jute.OpCreate, Path: "/mt", ACL: jute.OpenACLUnsafe}}}).Append(nil)
		mixed := (&jute.MultiRequest{Ops: []jute.MultiOp{
			{Type: jute.OpCreate, Path: "/mt", ACL: jute.OpenACLUnsafe},
			{Type: jute.OpGetData, Path: "/by"},
		}}).Append(nil)
		cases := []struct {
			name string
			op   jute.OpCode
			body []byte
		}{
			{"create without flags", jute.OpCreate, zktest.CreateBody("/trunc", []byte("x"), jute.OpenACLUnsafe, 0)[:len(zktest.CreateBody("/trunc", []byte("x"), jute.OpenACLUnsafe, 0))-4]},
			{"create path past the end", jute.OpCreate, []byte{0, 0, 0, 50, '/', 't'}},
			{"create2 empty", jute.OpCreate2, nil},
			{"setData cut in data", jute.OpSetData, zktest.SetDataBody("/by", []byte("hello"), -1)[:12]},
			{"setData no version", jute.OpSetData, zktest.SetDataBody("/by", []byte("x"), -1)[:4+3+4+1]},
			{"delete no version", jute.OpDelete, zktest.PathBody("/by")},
			{"setACL acl count past the end", jute.OpSetACL, append(zktest.PathBody("/by"), 0, 0, 0, 9)},
			{"multi without end", jute.OpMulti, multi[:len(multi)-9]},
			{"multi mixing reads and writes", jute.OpMulti, mixed},
			{"multi unknown op", jute.OpMulti, append((&jute.MultiHeader{Type: 99, Err: -1}).Append(nil), zktest.PathBody("/mt")...)},
			{"getData no watch flag", jute.OpGetData, zktest.PathBody("/by")},
			{"exists negative path length", jute.OpExists, []byte{0xff, 0xff, 0xff, 0xfe, 0}},
			{"getChildren empty", jute.OpGetChildren, nil},
			{"sync empty", jute.OpSync, nil},
		}
		for _, c := range cases {
			h, rb := r.Call(c.op, c.body)
			if h.Err != jute.CodeMarshallingError || len(rb) != 0 {
				t.Errorf("%s: err %v body %d bytes, want MARSHALLINGERROR header only", c.name, h.Err, len(rb))
			}
			if _, ok := r.Exists("/by"); !ok { // the connection still serves
				t.Fatalf("%s: /by missing", c.name)
			}
		}
		for _, p := range []string{"/trunc", "/t", "/mt"} {
			if _, ok := r.Exists(p); ok {
				t.Errorf("%s exists after a malformed request", p)
			}
		}
		e.healthy(t)
	})
}

func TestBadInputUnknownOpcode(t *testing.T) {
	e := newBadEnv(t)
	// Unknown types, the notification type and a standalone check (3.8.5+): reply
	// {xid, zxid -1, UNIMPLEMENTED} and close (wire.md §5).
	cases := []struct {
		name string
		op   jute.OpCode
		body []byte
	}{
		{"999", 999, nil},
		{"10 unused", 10, nil},
		{"0 notification", jute.OpNotification, nil},
		{"13 standalone check", jute.OpCheck, zktest.PathVersionBody("/by", -1)},
		{"13 standalone check, version mismatch", jute.OpCheck, zktest.PathVersionBody("/by", 42)},
		{"-10 createSession", jute.OpCreateSession, nil},
		{"-1 error", jute.OpError, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := zktest.Connect(t, e.srv.ConnectString(), 4000)
			r.Exists("/")
			h, rb := r.Call(c.op, c.body)
			if h.Zxid != -1 || h.Err != jute.CodeUnimplemented || len(rb) != 0 {
				t.Fatalf("reply %+v with %d body bytes, want {xid %d, zxid -1, err -6}", h, len(rb), r.Xid())
			}
			r.ExpectClosedSilently()
			e.healthy(t)
		})
	}
}

func TestBadInputPaths(t *testing.T) {
	e := newBadEnv(t)
	r := zktest.Connect(t, e.srv.ConnectString(), 4000)
	// create checks the parent part, then that the parent exists, then the full
	// path (semantics.md §2.2, §4): a malformed path whose parent part names no
	// node is NONODE in ZooKeeper, not BADARGUMENTS.
	creates := []struct {
		path  string
		flags jute.CreateMode
		want  jute.Code
	}{
		{"", 0, jute.CodeBadArguments},
		{"a", 0, jute.CodeBadArguments},
		{"by/x", 0, jute.CodeNoNode}, // parent part "by" names no node
		{"/by/", 0, jute.CodeBadArguments},
		{"/by/.", 0, jute.CodeBadArguments},
		{"/by/..", 0, jute.CodeBadArguments},
		{"/.", 0, jute.CodeBadArguments},
		{"/..", 0, jute.CodeBadArguments},
		{"/", 0, jute.CodeNodeExists}, // parent "" is the root's alias in Java
		{"/by\x00x", 0, jute.CodeBadArguments},
		{"/by/a\x00b", 0, jute.CodeBadArguments},
		{"/\x00", 0, jute.CodeBadArguments},
		{"/by/ctl\x01", 0, jute.CodeBadArguments},
		{"/by/ctl\x1f", 0, jute.CodeBadArguments},
		{"/by/del\x7f", 0, jute.CodeBadArguments},
		{"/by/c1\u0085", 0, jute.CodeBadArguments},
		{"/by/private\ue000", 0, jute.CodeBadArguments},
		{"/by/nonbmp\U0001F600", 0, jute.CodeBadArguments},
		{"/by/special\ufff0", 0, jute.CodeBadArguments},
		{"/by/bad-utf8\xff", 0, jute.CodeBadArguments},
		{"/by//x", 0, jute.CodeNoNode},
		{"/by/./x", 0, jute.CodeNoNode},
		{"/by/../x", 0, jute.CodeNoNode},
		{"/a//b", 0, jute.CodeNoNode},
		{"/a/./b", 0, jute.CodeNoNode},
		{"/a/../b", 0, jute.CodeNoNode},
		{"/a/", 0, jute.CodeNoNode},
		// Sequential creates check the path with the suffix appended: "/by/" makes
		// a child named by its suffix alone, so it is valid (and removed below).
		{"/by/.\x01", jute.ModePersistentSequential, jute.CodeBadArguments},
		{"/by//", jute.ModePersistentSequential, jute.CodeNoNode},
	}
	for _, c := range creates {
		h, _ := r.Call(jute.OpCreate, zktest.CreateBody(c.path, nil, jute.OpenACLUnsafe, c.flags))
		if h.Err != c.want {
			t.Errorf("create %q: %v, want %v", c.path, h.Err, c.want)
		}
	}
	// A sequential create of "/by/" is legal and names the child by its suffix.
	created := r.Create("/by/", nil, jute.ModePersistentSequential)
	if created != "/by/0000000000" {
		t.Fatalf("sequential create of /by/: %q", created)
	}
	r.MustCall(jute.OpDelete, zktest.PathVersionBody(created, -1), jute.CodeOK)

	// setData, setACL check the whole path first; exists only rejects NUL; reads
	// of a malformed path just find nothing; delete checks for '/' and NUL.
	others := []struct {
		op   jute.OpCode
		body []byte
		want jute.Code
	}{
		{jute.OpSetData, zktest.SetDataBody("/by/", nil, -1), jute.CodeBadArguments},
		{jute.OpSetData, zktest.SetDataBody("by", nil, -1), jute.CodeBadArguments},
		{jute.OpSetData, zktest.SetDataBody("/by//x", nil, -1), jute.CodeBadArguments},
		{jute.OpSetData, zktest.SetDataBody("/a/./b", nil, -1), jute.CodeBadArguments},
		{jute.OpSetData, zktest.SetDataBody("/a/../b", nil, -1), jute.CodeBadArguments},
		{jute.OpSetData, zktest.SetDataBody("/by\x01", nil, -1), jute.CodeBadArguments},
		{jute.OpSetACL, zktest.SetACLBody("/by/..", jute.OpenACLUnsafe, -1), jute.CodeBadArguments},
		{jute.OpSetACL, zktest.SetACLBody("", jute.OpenACLUnsafe, -1), jute.CodeBadArguments},
		{jute.OpDelete, zktest.PathVersionBody("by", -1), jute.CodeBadArguments},
		{jute.OpDelete, zktest.PathVersionBody("", -1), jute.CodeBadArguments},
		{jute.OpDelete, zktest.PathVersionBody("/by\x00", -1), jute.CodeBadArguments},
		{jute.OpDelete, zktest.PathVersionBody("/by/", -1), jute.CodeNoNode},
		{jute.OpExists, zktest.PathWatchBody("/by\x00", false), jute.CodeBadArguments},
		{jute.OpExists, zktest.PathWatchBody("/by/", false), jute.CodeNoNode},
		{jute.OpExists, zktest.PathWatchBody("by", false), jute.CodeNoNode},
		{jute.OpGetData, zktest.PathWatchBody("/by/", false), jute.CodeNoNode},
		{jute.OpGetChildren, zktest.PathWatchBody("/by//", false), jute.CodeNoNode},
		{jute.OpGetACL, zktest.PathBody("by"), jute.CodeNoNode},
	}
	for _, c := range others {
		h, _ := r.Call(c.op, c.body)
		if h.Err != c.want {
			t.Errorf("%v % q: %v, want %v", c.op, c.body, h.Err, c.want)
		}
	}
	// The connection is still usable and nothing was created.
	if _, ok := r.Exists("/by"); !ok {
		t.Fatal("/by gone")
	}
	e.healthy(t)
}

func TestBadInputSpecialNodes(t *testing.T) {
	e := newBadEnv(t)
	r := zktest.Connect(t, e.srv.ConnectString(), 4000)
	for _, p := range []string{"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"} {
		r.MustCall(jute.OpDelete, zktest.PathVersionBody(p, -1), jute.CodeBadArguments)
		r.MustCall(jute.OpCreate, zktest.CreateBody(p, nil, jute.OpenACLUnsafe, 0), jute.CodeNodeExists)
	}
	// /zookeeper/config is READ-only for world (wire.md §9).
	r.MustCall(jute.OpSetData, zktest.SetDataBody("/zookeeper/config", []byte("x"), -1), jute.CodeNoAuth)
	r.MustCall(jute.OpSetACL, zktest.SetACLBody("/zookeeper/config", jute.OpenACLUnsafe, -1), jute.CodeNoAuth)
	r.MustCall(jute.OpCreate, zktest.CreateBody("/zookeeper/config/x", nil, jute.OpenACLUnsafe, 0), jute.CodeNoAuth)
	rb := r.MustCall(jute.OpGetACL, zktest.PathBody("/zookeeper/config"), jute.CodeOK)
	var acl jute.GetACLResponse
	d := jute.NewDecoder(rb)
	acl.Decode(&d)
	if !slices.Equal(acl.ACL, jute.ReadACLUnsafe) || acl.Stat.Aversion != -1 {
		t.Fatalf("/zookeeper/config ACL %v aversion %d", acl.ACL, acl.Stat.Aversion)
	}
	// Children under /zookeeper are not forbidden (ACL permitting), and can go again.
	r.Create("/zookeeper/x", nil, jute.ModePersistent)
	r.MustCall(jute.OpDelete, zktest.PathVersionBody("/zookeeper/x", -1), jute.CodeOK)
	for _, p := range []string{"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"} {
		if _, ok := r.Exists(p); !ok {
			t.Fatalf("%s gone", p)
		}
	}
	e.healthy(t)
}

func TestBadInputACL(t *testing.T) {
	e := newBadEnv(t)
	r := zktest.Connect(t, e.srv.ConnectString(), 4000)
	acl := func(scheme, id string) []jute.ACL {
		return []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: scheme, ID: id}}}
	}
	bad := []struct {
		name string
		acl  []jute.ACL
	}{
		{"empty", []jute.ACL{}},
		{"null", nil},
		{"unknown scheme", acl("kerberos", "alice")},
		{"world other than anyone", acl("world", "bob")},
		{"digest without colon", acl("digest", "alice")},
		{"digest with two colons", acl("digest", "a:b:c")},
		{"digest with an empty hash", acl("digest", "alice:")}, // Java's id.split(":") has 1 part
		{"digest of a colon", acl("digest", ":")},
		{"ip not an address", acl("ip", "999.1.1.1")},
		{"ip mask too wide", acl("ip", "10.0.0.0/33")},
		{"auth without an authenticated id", acl("auth", "")},
		{"one bad entry among good ones", append(slices.Clone(jute.OpenACLUnsafe), acl("nope", "x")...)},
	}
	for _, c := range bad {
		for _, op := range []jute.OpCode{jute.OpCreate, jute.OpCreate2, jute.OpSetACL} {
			body := zktest.CreateBody("/acl-bad", nil, c.acl, 0)
			if op == jute.OpSetACL {
				body = zktest.SetACLBody("/by", c.acl, -1)
			}
			if h, _ := r.Call(op, body); h.Err != jute.CodeInvalidACL {
				t.Errorf("%v with ACL %s (%v): %v, want INVALIDACL", op, c.name, c.acl, h.Err)
			}
		}
	}
	// The ACL of /by is untouched, its aversion too.
	rb := r.MustCall(jute.OpGetACL, zktest.PathBody("/by"), jute.CodeOK)
	var got jute.GetACLResponse
	d := jute.NewDecoder(rb)
	got.Decode(&d)
	if !slices.Equal(got.ACL, jute.OpenACLUnsafe) || got.Stat.Aversion != 0 {
		t.Fatalf("/by ACL %v aversion %d after failed setACLs", got.ACL, got.Stat.Aversion)
	}
	// Java's split(":") drops trailing empty strings, so this id has two parts and
	// is valid.
	r.MustCall(jute.OpCreate, zktest.CreateBody("/acl-digest", nil, acl("digest", "user:hash:"), jute.ModeEphemeral), jute.CodeOK)
	r.MustCall(jute.OpDelete, zktest.PathVersionBody("/acl-digest", -1), jute.CodeOK)
	// A valid ip ACL is fine (and admits this loopback client).
	r.Create("/acl-ip", nil, jute.ModeEphemeral)
	r.MustCall(jute.OpSetACL, zktest.SetACLBody("/acl-ip", acl("ip", "127.0.0.0/8"), -1), jute.CodeOK)
	r.MustCall(jute.OpSetData, zktest.SetDataBody("/acl-ip", []byte("ok"), -1), jute.CodeOK)
	r.MustCall(jute.OpSetACL, zktest.SetACLBody("/acl-ip", acl("ip", "10.0.0.1"), -1), jute.CodeOK)
	r.MustCall(jute.OpSetData, zktest.SetDataBody("/acl-ip", []byte("no"), -1), jute.CodeNoAuth)
	r.MustCall(jute.OpDelete, zktest.PathVersionBody("/acl-ip", -1), jute.CodeOK) // DELETE is checked on the parent
	e.healthy(t)
}

func TestBadInputAuth(t *testing.T) {
	e := newBadEnv(t)
	t.Run("unknownScheme", func(t *testing.T) {
		// AUTHFAILED {xid, zxid 0, -115}, then the connection is closed (wire.md §8.2).
		r := zktest.Connect(t, e.srv.ConnectString(), 4000)
		r.Exists("/")
		h, rb := r.Call(jute.OpAuth, (&jute.AuthPacket{Scheme: "kerberos", Auth: []byte("alice")}).Append(nil))
		if h.Err != jute.CodeAuthFailed || h.Zxid != 0 || len(rb) != 0 {
			t.Fatalf("auth reply %+v, want {xid, 0, -115}", h)
		}
		r.ExpectClosedSilently()
		e.healthy(t)
	})
	t.Run("authXid", func(t *testing.T) {
		// Java sends auth with xid -4; the reply echoes it. SASL is not configured.
		r := zktest.Connect(t, e.srv.ConnectString(), 4000)
		r.Write(raw.RequestFrame(jute.XidAuth, jute.OpAuth, (&jute.AuthPacket{Scheme: "digest", Auth: []byte("a:b")}).Append(nil)))
		if h, _ := r.Reply(); h.Xid != jute.XidAuth || h.Err != jute.CodeOK || h.Zxid != 0 {
			t.Fatalf("auth reply %+v", h)
		}
		r.Write(raw.RequestFrame(jute.XidAuth, jute.OpAuth, (&jute.AuthPacket{Scheme: "bogus"}).Append(nil)))
		if h, _ := r.Reply(); h.Xid != jute.XidAuth || h.Err != jute.CodeAuthFailed {
			t.Fatalf("auth reply %+v", h)
		}
		r.ExpectClosedSilently()
		e.healthy(t)
	})
	t.Run("noAuth", func(t *testing.T) {
		owner := zktest.Connect(t, e.srv.ConnectString(), 4000)
		owner.MustCall(jute.OpAuth, (&jute.AuthPacket{Scheme: "digest", Auth: []byte("alice:pw")}).Append(nil), jute.CodeOK)
		owner.MustCall(jute.OpCreate, zktest.CreateBody("/by/private", []byte("p"), jute.CreatorAllACL, jute.ModeEphemeral), jute.CodeOK)
		r := zktest.Connect(t, e.srv.ConnectString(), 4000)
		r.MustCall(jute.OpAuth, (&jute.AuthPacket{Scheme: "digest", Auth: []byte("alice:wrong")}).Append(nil), jute.CodeOK)
		r.MustCall(jute.OpGetData, zktest.PathWatchBody("/by/private", false), jute.CodeNoAuth)
		r.MustCall(jute.OpSetData, zktest.SetDataBody("/by/private", nil, -1), jute.CodeNoAuth)
		r.MustCall(jute.OpSetACL, zktest.SetACLBody("/by/private", jute.OpenACLUnsafe, -1), jute.CodeNoAuth)
		r.MustCall(jute.OpGetACL, zktest.PathBody("/by/private"), jute.CodeNoAuth)
		r.MustCall(jute.OpExists, zktest.PathWatchBody("/by/private", false), jute.CodeNoAuth)
		// A multi with one op lacking permission applies nothing.
		multi := (&jute.MultiRequest{Ops: []jute.MultiOp{
			{Type: jute.OpCreate, Path: "/by/m1", ACL: jute.OpenACLUnsafe},
			{Type: jute.OpSetData, Path: "/by/private", Version: -1},
		}}).Append(nil)
		rb := r.MustCall(jute.OpMulti, multi, jute.CodeOK)
		var resp jute.MultiResponse
		d := jute.NewDecoder(rb)
		resp.Decode(&d)
		if len(resp.Results) != 2 || resp.Results[0].Err != jute.CodeOK || resp.Results[0].Type != jute.OpError ||
			resp.Results[1].Err != jute.CodeNoAuth {
			t.Fatalf("multi results %+v", resp.Results)
		}
		if _, ok := r.Exists("/by/m1"); ok {
			t.Fatal("a failed multi left /by/m1")
		}
		owner.MustCall(jute.OpGetData, zktest.PathWatchBody("/by/private", false), jute.CodeOK)
		owner.CloseSession() // takes /by/private with it
		e.healthy(t)
	})
}

func TestBadInputVersions(t *testing.T) {
	e := newBadEnv(t)
	r := zktest.Connect(t, e.srv.ConnectString(), 4000)
	r.MustCall(jute.OpSetData, zktest.SetDataBody("/by", []byte("x"), 99), jute.CodeBadVersion)
	r.MustCall(jute.OpDelete, zktest.PathVersionBody("/by", 99), jute.CodeBadVersion)
	r.MustCall(jute.OpSetACL, zktest.SetACLBody("/by", jute.OpenACLUnsafe, 3), jute.CodeBadVersion)
	multi := (&jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Path: "/by/m", ACL: jute.OpenACLUnsafe},
		{Type: jute.OpCheck, Path: "/by", Version: 5},
		{Type: jute.OpSetData, Path: "/by", Data: []byte("y"), Version: -1},
	}}).Append(nil)
	rb := r.MustCall(jute.OpMulti, multi, jute.CodeOK)
	var resp jute.MultiResponse
	d := jute.NewDecoder(rb)
	resp.Decode(&d)
	want := []jute.Code{jute.CodeOK, jute.CodeBadVersion, jute.CodeRuntimeInconsistency}
	if len(resp.Results) != 3 {
		t.Fatalf("multi results %+v", resp.Results)
	}
	for i, res := range resp.Results {
		if res.Type != jute.OpError || res.Err != want[i] {
			t.Errorf("result %d = %+v, want an error result %v", i, res, want[i])
		}
	}
	// Flags and TTLs: an undefined mode is BADARGUMENTS; TTL modes without
	// extended types are UNIMPLEMENTED (semantics.md §4, §5.4), and the connection
	// stays open.
	for _, flags := range []int32{7, -1, 100} {
		r.MustCall(jute.OpCreate, (&jute.CreateRequest{Path: "/flags", ACL: jute.OpenACLUnsafe, Flags: flags}).Append(nil), jute.CodeBadArguments)
	}
	ttl := (&jute.CreateTTLRequest{CreateRequest: jute.CreateRequest{Path: "/ttl", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentWithTTL)}, TTL: 1000}).Append(nil)
	r.MustCall(jute.OpCreateTTL, ttl, jute.CodeUnimplemented)
	r.MustCall(jute.OpCreate, zktest.CreateBody("/ttl", nil, jute.OpenACLUnsafe, jute.ModePersistentWithTTL), jute.CodeUnimplemented)
	if _, ok := r.Exists("/by"); !ok {
		t.Fatal("connection unusable")
	}
	if data, st := r.GetData("/by"); string(data) != "0" || st.Version != 0 || st.Aversion != 0 {
		t.Fatalf("/by changed: %q %+v", data, st)
	}
	e.healthy(t)
}

func TestBadInputTTLExtended(t *testing.T) {
	srv := zktest.StartServer(t, func(c *zoocfg.Config) { c.ExtendedTypes = true })
	r := zktest.Connect(t, srv.ConnectString(), 4000)
	mk := func(flags jute.CreateMode, ttl int64) []byte {
		return (&jute.CreateTTLRequest{CreateRequest: jute.CreateRequest{Path: "/t", ACL: jute.OpenACLUnsafe, Flags: int32(flags)}, TTL: ttl}).Append(nil)
	}
	// ttl must lie in [1, 0xFFFFFFFFFF]; non-TTL modes may not come through createTTL.
	for _, c := range []struct {
		flags jute.CreateMode
		ttl   int64
	}{
		{jute.ModePersistentWithTTL, 0},
		{jute.ModePersistentWithTTL, -1},
		{jute.ModePersistentWithTTL, 0x10000000000},
		{jute.ModePersistentSequentialWithTTL, 0},
		{jute.ModePersistent, 1000},
		{jute.ModePersistent, -1},
		{jute.ModeEphemeral, 1000},
	} {
		r.MustCall(jute.OpCreateTTL, mk(c.flags, c.ttl), jute.CodeBadArguments)
	}
	// TTL modes through plain create carry no ttl: BADARGUMENTS with extended types on.
	r.MustCall(jute.OpCreate, zktest.CreateBody("/t", nil, jute.OpenACLUnsafe, jute.ModePersistentWithTTL), jute.CodeBadArguments)
	r.MustCall(jute.OpCreateTTL, mk(jute.ModePersistentWithTTL, 0xFFFFFFFFFF), jute.CodeOK)
	if got := r.Children("/"); !slices.Equal(got, []string{"t", "zookeeper"}) {
		t.Fatalf("children of / = %v", got)
	}
}

// TestBadInputPipelinedAfterClose: requests pipelined behind one that ends the
// connection are not answered, and do not cost the client the final reply it is
// owed (closeSession's OK, AUTHFAILED, UNIMPLEMENTED, the invalid-session
// ConnectResponse), which ZooKeeper always sends before closing.
func TestBadInputPipelinedAfterClose(t *testing.T) {
	e := newBadEnv(t)
	getData := func(xid int32) []byte {
		return raw.RequestFrame(xid, jute.OpGetData, zktest.PathWatchBody("/by", false))
	}
	cases := []struct {
		name  string
		first func(xid int32) []byte
		want  jute.Code
		zxid0 bool // the reply carries zxid 0
	}{
		{"closeSession", func(xid int32) []byte { return raw.RequestFrame(xid, jute.OpCloseSession, nil) }, jute.CodeOK, false},
		{"unknown opcode", func(xid int32) []byte { return raw.RequestFrame(xid, 999, nil) }, jute.CodeUnimplemented, false},
		{"auth failure", func(xid int32) []byte {
			return raw.RequestFrame(xid, jute.OpAuth, (&jute.AuthPacket{Scheme: "bogus"}).Append(nil))
		}, jute.CodeAuthFailed, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := zktest.Connect(t, e.srv.ConnectString(), 4000)
			r.Create("/pipe-eph", nil, jute.ModeEphemeral)
			var out []byte
			xid := r.NextXid()
			out = append(out, c.first(xid)...)
			for range 3 {
				out = append(out, getData(r.NextXid())...)
			}
			r.Write(out)
			h, rb := r.Reply()
			if h.Xid != xid || h.Err != c.want || len(rb) != 0 || (c.zxid0 && h.Zxid != 0) {
				t.Fatalf("reply %+v (%d body bytes), want xid %d err %v", h, len(rb), xid, c.want)
			}
			r.ExpectClosedSilently()
			if c.name != "closeSession" {
				// The session outlives its connection; end it for the next case.
				r2, resp := zktest.Resume(t, e.srv.ConnectString(), r.SessionID(), r.Passwd(), 4000)
				if resp.SessionID != r.SessionID() {
					t.Fatalf("resume: %+v", resp)
				}
				r2.CloseSession()
			}
			e.healthy(t)
		})
	}
	t.Run("invalid session", func(t *testing.T) {
		r := zktest.Connect(t, e.srv.ConnectString(), 4000)
		sid, passwd := r.SessionID(), r.Passwd()
		r.CloseSession()
		conn := zktest.Dial(t, e.srv.ConnectString())
		out := raw.ConnectFrame(4000, sid, passwd)
		out = append(out, getData(1)...)
		out = append(out, raw.RequestFrame(jute.XidAuth, jute.OpAuth, (&jute.AuthPacket{Scheme: "digest", Auth: []byte("a:b")}).Append(nil))...)
		conn.Write(out)
		b, err := conn.Raw().ReadFrame()
		if err != nil {
			t.Fatalf("no ConnectResponse for a closed session: %v", err)
		}
		var resp jute.ConnectResponse
		d := jute.NewDecoder(b)
		resp.Decode(&d)
		if resp.TimeOut != 0 || resp.SessionID != 0 || !bytes.Equal(resp.Passwd, make([]byte, 16)) {
			t.Fatalf("ConnectResponse %+v, want the invalid-session form", resp)
		}
		conn.ExpectClosedSilently()
		e.healthy(t)
	})
}
