package session_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"zkd/jute"
	"zkd/session"
)

// Reference: spec/semantics.md §7.2 (checked with a JVM).
func TestSessionPasswordMatchesJavaRandom(t *testing.T) {
	f := func(id uint64, want string) {
		t.Helper()
		got := session.SessionPassword(jute.SessionID(id))
		if hex.EncodeToString(got) != want {
			t.Errorf("SessionPassword(%#x) = %x, want %s", id, got, want)
		}
	}
	f(0x0100000000000000, "f22acd4a97e69d6d20a49bb638eadb38")
	f(0x01000123456a0000, "0431ce3541a8199d82d50313f2fceeaf")
}

// Reference: spec/wire.md §8.2.
func TestDigestIDExamples(t *testing.T) {
	f := func(userPassword, want string) {
		t.Helper()
		if got := session.DigestID(userPassword); got != want {
			t.Errorf("DigestID(%q) = %q, want %q", userPassword, got, want)
		}
	}
	f("super:admin", "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=")
	f("bob:secret", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=")
}

// A 45-byte ConnectRequest (readOnly byte present) gets a 37-byte response, a
// 44-byte one (go-zookeeper, clients <= 3.3) a 36-byte one (wire.md §3.3).
func TestConnectResponseMirrorsReadOnlyByte(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name        string
		hasReadOnly bool
		reqLen      int
		respLen     int
	}{
		{"readOnly=present", true, 45, 37},
		{"readOnly=absent", false, 44, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := h.dial()
			req := jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: tc.hasReadOnly}
			frame := req.Append(nil)
			if len(frame) != tc.reqLen {
				t.Fatalf("request is %d bytes, want %d", len(frame), tc.reqLen)
			}
			if !cl.c.HandleFrame(frame) {
				t.Fatal("handshake refused")
			}
			payload := cl.next()
			if len(payload) != tc.respLen {
				t.Fatalf("response is %d bytes (% x), want %d", len(payload), payload, tc.respLen)
			}
			var resp jute.ConnectResponse
			d := jute.NewDecoder(payload)
			resp.Decode(&d)
			if d.Err() != nil || resp.ProtocolVersion != 0 || resp.TimeOut != 30000 || resp.SessionID == 0 ||
				resp.HasReadOnly != tc.hasReadOnly || resp.ReadOnly {
				t.Fatalf("response %+v (err %v)", resp, d.Err())
			}
			if want := session.SessionPassword(jute.SessionID(resp.SessionID)); !bytes.Equal(resp.Passwd, want) {
				t.Fatalf("password %x, want %x", resp.Passwd, want)
			}
			if _, live := h.tree.Session(jute.SessionID(resp.SessionID)); !live {
				t.Fatal("the ConnectResponse left before the session was in the tree")
			}
			cl.expectSilent()
			if cl.closing || cl.tr.closes.Load() != 0 {
				t.Fatal("a good handshake closed the connection")
			}
		})
	}
}

// Requested timeouts are clamped into [2, 20] ticks (semantics.md §7.1).
func TestSessionTimeoutClampedToTicks(t *testing.T) {
	h := newHarness(t, func(c *session.Config) { c.TickTime = 100 * time.Millisecond })
	f := func(requested, want int32) {
		t.Helper()
		cl := h.dial()
		resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: requested, Passwd: make([]byte, 16), HasReadOnly: true})
		if !ok {
			t.Fatalf("timeout %d: handshake refused", requested)
		}
		if resp.TimeOut != want {
			t.Errorf("requested %d ms: negotiated %d, want %d", requested, resp.TimeOut, want)
		}
		if got, _ := h.tree.Session(jute.SessionID(resp.SessionID)); got != want {
			t.Errorf("requested %d ms: tree holds timeout %d, want %d", requested, got, want)
		}
	}
	f(0, 200)
	f(1, 200)
	f(200, 200)
	f(1234, 1234)
	f(2000, 2000)
	f(30000, 2000)
	f(-5, 200)
}

// A client that has seen a newer zxid than the server is refused without a
// response, so it tries another server (wire.md §3.4).
func TestHandshakeClientAheadOfServerIsDroppedSilently(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.dial()
	req := jute.ConnectRequest{LastZxidSeen: int64(h.tree.LastZxid()) + 1000, TimeOut: 30000,
		Passwd: make([]byte, 16), HasReadOnly: true}
	if cl.c.HandleFrame(req.Append(nil)) {
		t.Fatal("HandleFrame accepted a client ahead of the server")
	}
	cl.expectSilent()
	if n := h.srv.SessionCount(); n != 0 {
		t.Fatalf("%d sessions created for a refused client", n)
	}

	// Equal to the server's zxid is fine.
	cl = h.dial()
	req.LastZxidSeen = int64(h.tree.LastZxid())
	if resp, ok := cl.handshake(req); !ok || resp.SessionID == 0 {
		t.Fatalf("client level with the server refused: %+v ok=%v", resp, ok)
	}
}

func TestHandshakeMalformedConnectRequestDrops(t *testing.T) {
	h := newHarness(t, nil)
	full := (&jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)}).Append(nil)
	for _, n := range []int{0, 1, 4, 20, 27, len(full) - 1} {
		cl := h.dial()
		if cl.c.HandleFrame(full[:n]) {
			t.Errorf("%d-byte ConnectRequest accepted", n)
		}
		cl.expectSilent()
	}
}

// Reconnecting with the right password keeps id and password, takes the new
// timeout and closes the session's older connection (semantics.md §7.3).
func TestReconnectWithPasswordResumesSession(t *testing.T) {
	h := newHarness(t, nil)
	old := h.connect()
	old.create("/eph", []byte("x"), int32(jute.ModeEphemeral), jute.OpenACLUnsafe)

	cl := h.dial()
	resp, ok := cl.handshake(jute.ConnectRequest{LastZxidSeen: int64(h.tree.LastZxid()), TimeOut: 12000,
		SessionID: int64(old.sid), Passwd: old.passwd, HasReadOnly: true})
	if !ok {
		t.Fatal("resume refused")
	}
	if jute.SessionID(resp.SessionID) != old.sid || !bytes.Equal(resp.Passwd, old.passwd) || resp.TimeOut != 12000 {
		t.Fatalf("resume response %+v, want id %v, password %x, timeout 12000", resp, old.sid, old.passwd)
	}
	cl.expectSilent()
	if cl.closing {
		t.Fatal("resumed connection asked to close")
	}
	if old.tr.closes.Load() == 0 {
		t.Fatal("the session's older connection was not closed")
	}
	// The session is the same one: its ephemeral is still there and usable.
	r := cl.call(jute.OpGetEphemerals, &jute.PathRequest{Path: "/"})
	var eph jute.ChildrenResponse
	r.decode(t, &eph)
	if len(eph.Children) != 1 || eph.Children[0] != "/eph" {
		t.Fatalf("ephemerals after resume = %q, want [/eph]", eph.Children)
	}
}

// Wrong password, unknown or closed session: timeOut 0, sessionId 0, 16 zero
// bytes, then close (semantics.md §7.2, §7.3).
func TestReconnectInvalidSessionGetsExpiredResponseThenClose(t *testing.T) {
	h := newHarness(t, nil)
	live := h.connect()
	closed := h.connect()
	if r := closed.call(jute.OpCloseSession, nil); r.hdr.Err != jute.CodeOK {
		t.Fatalf("closeSession: %v", r)
	}
	wrong := bytes.Clone(live.passwd)
	wrong[0] ^= 1
	for _, tc := range []struct {
		name   string
		id     jute.SessionID
		passwd []byte
	}{
		{"wrong password", live.sid, wrong},
		{"zero password", live.sid, make([]byte, 16)},
		{"short password", live.sid, live.passwd[:8]},
		{"unknown session", live.sid + 1000, session.SessionPassword(live.sid + 1000)},
		{"closed session", closed.sid, closed.passwd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := h.dial()
			resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: 30000, SessionID: int64(tc.id),
				Passwd: tc.passwd, HasReadOnly: true})
			if !ok {
				t.Fatal("dropped without the expired response")
			}
			want := jute.ConnectResponse{Passwd: make([]byte, 16), HasReadOnly: true}
			if resp.ProtocolVersion != 0 || resp.TimeOut != 0 || resp.SessionID != 0 ||
				!bytes.Equal(resp.Passwd, want.Passwd) || !resp.HasReadOnly || resp.ReadOnly {
				t.Fatalf("response %+v, want %+v", resp, want)
			}
			cl.pull()
			if !cl.closing {
				t.Fatal("no close requested after the expired response")
			}
			// Whatever the client sends next gets no answer.
			cl.c.HandleFrame(request(1, jute.OpPing, nil))
			cl.expectSilent()
		})
	}
	// The live session was not disturbed by the failed attempts.
	if live.tr.closes.Load() != 0 || live.closing {
		t.Fatal("a failed resume closed the live connection")
	}
	live.ping()
}

// Requests pipelined right behind the ConnectRequest wait for the session: the
// ConnectResponse comes first, then their replies in order.
func TestRequestsPipelinedBehindConnectRequest(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.dial()
	h.gate.hold()
	if !cl.c.HandleFrame((&jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true}).Append(nil)) {
		t.Fatal("handshake refused")
	}
	get := cl.send(jute.OpGetData, &jute.PathWatchRequest{Path: "/e"})
	create := cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/e", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeral)})
	eph := cl.send(jute.OpGetEphemerals, &jute.PathRequest{Path: "/"})
	cl.expectSilent()
	h.gate.release()

	var resp jute.ConnectResponse
	d := jute.NewDecoder(cl.next())
	resp.Decode(&d)
	if d.Err() != nil || resp.SessionID == 0 {
		t.Fatalf("first frame is not a ConnectResponse: %+v %v", resp, d.Err())
	}
	if r := cl.nextReply(); r.hdr.Xid != get || r.hdr.Err != jute.CodeNoNode {
		t.Fatalf("reply %v, want getData (xid %d) NONODE", r, get)
	}
	if r := cl.nextReply(); r.hdr.Xid != create || r.hdr.Err != jute.CodeOK {
		t.Fatalf("reply %v, want create (xid %d)", r, create)
	}
	r := cl.nextReply()
	var list jute.ChildrenResponse
	r.decode(t, &list)
	if r.hdr.Xid != eph || len(list.Children) != 1 || list.Children[0] != "/e" {
		t.Fatalf("getEphemerals %v %q, want xid %d [/e]", r, list.Children, eph)
	}
	if st, code := h.tree.Exists("/e", nil, nil); code != jute.CodeOK || jute.SessionID(st.EphemeralOwner) != jute.SessionID(resp.SessionID) {
		t.Fatalf("ephemeral owner %#x (%v), want the new session %#x", st.EphemeralOwner, code, resp.SessionID)
	}
}

// maxClientCnxns limits connections per address, not overall.
func TestMaxClientCnxnsPerAddress(t *testing.T) {
	h := newHarness(t, func(c *session.Config) { c.MaxClientCnxns = 2 })
	a := h.dial()
	h.dial()
	if _, err := h.srv.NewConn(newFakeTransport(), "127.0.0.1", "127.0.0.1:1"); !errors.Is(err, session.ErrTooManyConnections) {
		t.Fatalf("third connection from one address: err = %v, want ErrTooManyConnections", err)
	}
	if _, err := h.srv.NewConn(newFakeTransport(), "10.0.0.9", "10.0.0.9:1"); err != nil {
		t.Fatalf("connection from another address: %v", err)
	}
	a.c.Closed()
	a.c.Closed() // twice is harmless
	if _, err := h.srv.NewConn(newFakeTransport(), "127.0.0.1", "127.0.0.1:2"); err != nil {
		t.Fatalf("connection after one closed: %v", err)
	}
	if n := h.srv.ConnCount(); n != 3 {
		t.Fatalf("ConnCount = %d, want 3", n)
	}
}

// With the connection throttle on, a ConnectRequest past the bucket's tokens
// is closed without a reply and counted in connection_rejected, as ZooKeeper
// does; those let through are observed in connection_token_deficit.
func TestConnectionThrottleRefusesPastItsTokens(t *testing.T) {
	h := newHarness(t, func(c *session.Config) {
		c.FourLetterWords = []string{"*"}
		c.ConnThrottle = session.ConnThrottleConfig{Tokens: 2, FillTime: time.Hour, FillCount: 1, FreezeTime: -1}
	})
	h.connect()
	h.connect()
	if _, ok := h.dial().handshake(jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true}); ok {
		t.Fatal("a third connection got past a bucket of two tokens")
	}
	mntr := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(h.srv.FourLetterWord("mntr")), "\n") {
		k, v, _ := strings.Cut(line, "\t")
		mntr[k] = v
	}
	for k, want := range map[string]string{"zk_connection_rejected": "1", "zk_cnt_connection_token_deficit": "2",
		"zk_max_connection_token_deficit": "2", "zk_connection_drop_probability": "0.0"} {
		if mntr[k] != want {
			t.Errorf("%s = %q, want %q", k, mntr[k], want)
		}
	}
}
