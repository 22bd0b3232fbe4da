package session_test

import (
	"testing"

	"zkd/jute"
)

// TestPipelineRepliesInOrderAndReadsSeeExactlyEarlierWrites sends a session's reads
// and writes in one burst. Replies must leave in request order, and every read
// queued behind a write must see that write and none after it (DESIGN.md
// invariants 2 and 3). With held=true every write is still in flight when the
// whole burst has been read, so each queued read runs only when the write before
// it applies: a read run too late would see a later setData.
func TestPipelineRepliesInOrderAndReadsSeeExactlyEarlierWrites(t *testing.T) {
	for _, held := range []bool{false, true} {
		name := "writes=flowing"
		if held {
			name = "writes=held"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			cl := h.connect()
			const p = "/pipe"
			type step struct {
				op   jute.OpCode
				rec  jute.Record
				data string // getData: the data it must see; writes: what they write
			}
			steps := []step{
				{jute.OpCreate, &jute.CreateRequest{Path: p, Data: []byte("v0"), ACL: jute.OpenACLUnsafe}, "v0"},
				{jute.OpGetData, &jute.PathWatchRequest{Path: p}, "v0"},
				{jute.OpSetData, &jute.SetDataRequest{Path: p, Data: []byte("v1"), Version: -1}, "v1"},
				{jute.OpGetData, &jute.PathWatchRequest{Path: p}, "v1"},
				{jute.OpExists, &jute.PathWatchRequest{Path: p}, "v1"},
				{jute.OpSync, &jute.PathRequest{Path: p}, ""},
				{jute.OpGetData, &jute.PathWatchRequest{Path: p}, "v1"},
				{jute.OpSetData, &jute.SetDataRequest{Path: p, Data: []byte("v2"), Version: 1}, "v2"},
				{jute.OpGetData, &jute.PathWatchRequest{Path: p}, "v2"},
				{jute.OpPing, nil, ""},
				{jute.OpGetChildren, &jute.PathWatchRequest{Path: p}, ""},
			}
			if held {
				h.gate.hold()
			}
			xids := make([]int32, len(steps))
			for i, s := range steps {
				xid := cl.nextXid()
				if s.op == jute.OpPing {
					xid = jute.XidPing
				}
				xids[i] = xid
				if !cl.c.HandleFrame(request(xid, s.op, s.rec)) {
					t.Fatalf("step %d (%v) dropped the connection", i, s.op)
				}
			}
			if held {
				cl.expectSilent() // the first request is a write still in flight
				if got := cl.c.Outstanding(); got != len(steps) {
					t.Fatalf("Outstanding = %d with everything queued, want %d", got, len(steps))
				}
				h.gate.release()
			}

			var lastZxid, writeZxid jute.Zxid
			version := int32(-1)
			for i, s := range steps {
				r := cl.nextReply()
				if r.hdr.Xid != xids[i] {
					t.Fatalf("reply %d: %v, want xid %d (%v)", i, r, xids[i], s.op)
				}
				if r.hdr.Err != jute.CodeOK {
					t.Fatalf("reply %d (%v): %v", i, s.op, r)
				}
				if r.hdr.Zxid < lastZxid {
					t.Fatalf("reply %d (%v): zxid %v went back from %v", i, s.op, r.hdr.Zxid, lastZxid)
				}
				lastZxid = r.hdr.Zxid
				switch s.op {
				case jute.OpCreate, jute.OpSetData:
					writeZxid = r.hdr.Zxid
					version++
				case jute.OpGetData:
					var resp jute.GetDataResponse
					r.decode(t, &resp)
					if string(resp.Data) != s.data || resp.Stat.Version != version || jute.Zxid(resp.Stat.Mzxid) != writeZxid {
						t.Fatalf("read %d saw data %q version %d mzxid %#x, want %q version %d mzxid %v (the write just before it)",
							i, resp.Data, resp.Stat.Version, resp.Stat.Mzxid, s.data, version, writeZxid)
					}
					if r.hdr.Zxid != writeZxid {
						t.Fatalf("read %d answered at zxid %v, want %v: it ran after a later write applied", i, r.hdr.Zxid, writeZxid)
					}
				case jute.OpExists:
					var st jute.Stat
					r.decode(t, &st)
					if st.Version != version || jute.Zxid(st.Mzxid) != writeZxid {
						t.Fatalf("exists %d saw version %d mzxid %#x, want %d %v", i, st.Version, st.Mzxid, version, writeZxid)
					}
				case jute.OpSync:
					var resp jute.PathRequest
					r.decode(t, &resp)
					if resp.Path != p {
						t.Fatalf("sync replied path %q, want %q", resp.Path, p)
					}
				}
			}
			cl.expectSilent()
			if cl.c.Outstanding() != 0 {
				t.Fatalf("Outstanding = %d after every reply", cl.c.Outstanding())
			}
		})
	}
}

// A watch fired by the connection's own write reaches it before the write's
// reply, and before any later reply (DESIGN.md invariant 2).
func TestWatchEventPrecedesReplyOfOwnWrite(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.connect()
	other := h.connect()
	cl.create("/w", []byte("a"), 0, jute.OpenACLUnsafe)
	for _, c := range []*client{cl, other} {
		if r := c.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/w", Watch: true}); r.hdr.Err != jute.CodeOK {
			t.Fatalf("getData watch: %v", r)
		}
		if r := c.call(jute.OpExists, &jute.PathWatchRequest{Path: "/w/kid", Watch: true}); r.hdr.Err != jute.CodeNoNode {
			t.Fatalf("exists watch: %v", r)
		}
	}

	set := cl.send(jute.OpSetData, &jute.SetDataRequest{Path: "/w", Data: []byte("b"), Version: -1})
	get := cl.send(jute.OpGetData, &jute.PathWatchRequest{Path: "/w"})
	create := cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/w/kid", ACL: jute.OpenACLUnsafe})

	ev := cl.nextReply().event(t)
	if ev.Type != jute.EventNodeDataChanged || ev.Path != "/w" || ev.State != jute.StateSyncConnected {
		t.Fatalf("first frame: event %+v, want NodeDataChanged /w", ev)
	}
	if r := cl.nextReply(); r.hdr.Xid != set || r.hdr.Err != jute.CodeOK {
		t.Fatalf("second frame %v, want the setData reply (xid %d)", r, set)
	}
	r := cl.nextReply()
	if r.hdr.Xid != get {
		t.Fatalf("third frame %v, want the getData reply (xid %d)", r, get)
	}
	var data jute.GetDataResponse
	r.decode(t, &data)
	if string(data.Data) != "b" {
		t.Fatalf("getData after own setData = %q", data.Data)
	}
	ev = cl.nextReply().event(t)
	if ev.Type != jute.EventNodeCreated || ev.Path != "/w/kid" {
		t.Fatalf("fourth frame: event %+v, want NodeCreated /w/kid", ev)
	}
	if r := cl.nextReply(); r.hdr.Xid != create || r.hdr.Err != jute.CodeOK {
		t.Fatalf("fifth frame %v, want the create reply (xid %d)", r, create)
	}

	// The other watcher gets both events, in zxid order, and nothing else.
	for _, want := range []jute.WatcherEvent{
		{Type: jute.EventNodeDataChanged, State: jute.StateSyncConnected, Path: "/w"},
		{Type: jute.EventNodeCreated, State: jute.StateSyncConnected, Path: "/w/kid"},
	} {
		if got := other.nextReply().event(t); got != want {
			t.Fatalf("other watcher got %+v, want %+v", got, want)
		}
	}
	other.expectSilent()
	cl.expectSilent()
}

// Pings are answered with xid -2 and the last zxid, in request order even when
// queued behind a write.
func TestPingReplyXid(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.connect()
	if r := cl.ping(); r.hdr.Zxid != h.tree.LastZxid() {
		t.Fatalf("ping zxid %v, want last zxid %v", r.hdr.Zxid, h.tree.LastZxid())
	}

	// A ping sent with an ordinary xid is still answered with -2.
	cl.c.HandleFrame(request(77, jute.OpPing, nil))
	if r := cl.nextReply(); r.hdr.Xid != jute.XidPing || r.hdr.Err != jute.CodeOK {
		t.Fatalf("ping with xid 77: reply %v, want xid -2", r)
	}

	// Behind a write in flight.
	h.gate.hold()
	create := cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/p", ACL: jute.OpenACLUnsafe})
	cl.c.HandleFrame(request(jute.XidPing, jute.OpPing, nil))
	cl.expectSilent()
	h.gate.release()
	r := cl.nextReply()
	if r.hdr.Xid != create {
		t.Fatalf("first reply %v, want create xid %d", r, create)
	}
	p := cl.nextReply()
	if p.hdr.Xid != jute.XidPing || p.hdr.Zxid != r.hdr.Zxid {
		t.Fatalf("ping behind a write: %v, want xid -2 at the write's zxid %v", p, r.hdr.Zxid)
	}
}
