package bench

import (
	"bytes"
	"encoding/binary"
	"testing"

	"zkd/jute"
)

// unframe checks the length prefix of the one frame in b and returns its payload.
func unframe(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 4 || int(binary.BigEndian.Uint32(b)) != len(b)-4 {
		t.Fatalf("not one frame: % x", b)
	}
	return b[4:]
}

func request(xid int32, op jute.OpCode, rec jute.Record) []byte {
	b := (&jute.RequestHeader{Xid: xid, Type: op}).Append(nil)
	if rec != nil {
		b = rec.Append(b)
	}
	return b
}

func TestNullReplyConnectMirrorsReadOnlyAndSession(t *testing.T) {
	for _, tc := range []struct {
		name        string
		req         jute.ConnectRequest
		wantTimeout int32
		wantSession int64
	}{
		{"new session, 3.x client", jute.ConnectRequest{TimeOut: 10_000, Passwd: make([]byte, 16), HasReadOnly: true}, 10_000, NullSessionID},
		{"new session, no readOnly byte", jute.ConnectRequest{TimeOut: 10_000, Passwd: make([]byte, 16)}, 10_000, NullSessionID},
		{"timeout below the minimum", jute.ConnectRequest{TimeOut: 1, Passwd: make([]byte, 16), HasReadOnly: true}, nullMinTimeout, NullSessionID},
		{"timeout above the maximum", jute.ConnectRequest{TimeOut: 1 << 30, Passwd: make([]byte, 16), HasReadOnly: true}, nullMaxTimeout, NullSessionID},
		{"resumed session", jute.ConnectRequest{TimeOut: 5000, SessionID: 77, Passwd: make([]byte, 16), HasReadOnly: true}, 5000, 77},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, connect, closeAfter := NullReply(nil, tc.req.Append(nil), false)
			if !connect || closeAfter {
				t.Fatalf("connect %v close %v", connect, closeAfter)
			}
			var resp jute.ConnectResponse
			d := jute.NewDecoder(unframe(t, out))
			resp.Decode(&d)
			if d.Err() != nil || d.Remaining() != 0 {
				t.Fatalf("ConnectResponse: %v, %d bytes left", d.Err(), d.Remaining())
			}
			if resp.HasReadOnly != tc.req.HasReadOnly || resp.ReadOnly {
				t.Fatalf("readOnly byte present %v (value %v), request had it %v", resp.HasReadOnly, resp.ReadOnly, tc.req.HasReadOnly)
			}
			if resp.TimeOut != tc.wantTimeout || resp.SessionID != tc.wantSession || len(resp.Passwd) != 16 {
				t.Fatalf("got %+v", resp)
			}
		})
	}
}

func TestNullReplyShapeOfEveryOpcode(t *testing.T) {
	const path = "/zkbench/a/b"
	stat := func(d *jute.Decoder) {
		var st jute.Stat
		st.Decode(d)
		if st != (jute.Stat{}) {
			t.Errorf("Stat %+v, want zero", st)
		}
	}
	wantPath := func(d *jute.Decoder) {
		if p := d.String(); p != path {
			t.Errorf("path %q, want %q", p, path)
		}
	}
	emptyList := func(d *jute.Decoder) {
		if l := d.Strings(); len(l) != 0 {
			t.Errorf("list %q, want empty", l)
		}
	}
	create := &jute.CreateRequest{Path: path, Data: []byte("x"), ACL: jute.OpenACLUnsafe}
	for _, tc := range []struct {
		op      jute.OpCode
		xid     int32
		rec     jute.Record
		wantXid int32
		body    func(d *jute.Decoder) // decodes and checks the body
		close   bool
	}{
		{op: jute.OpPing, xid: jute.XidPing, wantXid: jute.XidPing},
		{op: jute.OpGetData, xid: 1, rec: &jute.PathWatchRequest{Path: path, Watch: true}, body: func(d *jute.Decoder) {
			var r jute.GetDataResponse
			r.Decode(d)
			if !bytes.Equal(r.Data, payload(NullDataSize)) || r.Stat != (jute.Stat{}) {
				t.Errorf("getData reply %d bytes, stat %+v", len(r.Data), r.Stat)
			}
		}},
		{op: jute.OpExists, xid: 2, rec: &jute.PathWatchRequest{Path: path}, body: stat},
		{op: jute.OpSetData, xid: 3, rec: &jute.SetDataRequest{Path: path, Data: []byte("y"), Version: -1}, body: stat},
		{op: jute.OpSetACL, xid: 4, rec: &jute.SetACLRequest{Path: path, ACL: jute.OpenACLUnsafe, Version: -1}, body: stat},
		{op: jute.OpCreate, xid: 5, rec: create, body: wantPath},
		{op: jute.OpSync, xid: 6, rec: &jute.PathRequest{Path: path}, body: wantPath},
		{op: jute.OpCreate2, xid: 7, rec: create, body: func(d *jute.Decoder) { wantPath(d); stat(d) }},
		{op: jute.OpCreateContainer, xid: 8, rec: create, body: func(d *jute.Decoder) { wantPath(d); stat(d) }},
		{op: jute.OpCreateTTL, xid: 9, rec: &jute.CreateTTLRequest{CreateRequest: *create, TTL: 1000}, body: func(d *jute.Decoder) { wantPath(d); stat(d) }},
		{op: jute.OpGetChildren, xid: 10, rec: &jute.PathWatchRequest{Path: path}, body: emptyList},
		{op: jute.OpGetChildren2, xid: 11, rec: &jute.PathWatchRequest{Path: path}, body: func(d *jute.Decoder) {
			r := jute.ChildrenResponse{HasStat: true}
			r.Decode(d)
			if len(r.Children) != 0 || r.Stat != (jute.Stat{}) {
				t.Errorf("getChildren2 %+v", r)
			}
		}},
		{op: jute.OpGetEphemerals, xid: 12, rec: &jute.PathRequest{Path: path}, body: emptyList},
		{op: jute.OpGetACL, xid: 13, rec: &jute.PathRequest{Path: path}, body: func(d *jute.Decoder) {
			var r jute.GetACLResponse
			r.Decode(d)
			if len(r.ACL) != 1 || r.ACL[0] != jute.OpenACLUnsafe[0] {
				t.Errorf("getACL %+v", r.ACL)
			}
		}},
		{op: jute.OpGetAllChildrenNumber, xid: 14, rec: &jute.PathRequest{Path: path}, body: func(d *jute.Decoder) {
			if n := d.Int(); n != 0 {
				t.Errorf("getAllChildrenNumber %d", n)
			}
		}},
		{op: jute.OpWhoAmI, xid: 15, body: func(d *jute.Decoder) {
			var r jute.WhoAmIResponse
			r.Decode(d)
			if len(r.ClientInfo) != 0 {
				t.Errorf("whoAmI %+v", r.ClientInfo)
			}
		}},
		{op: jute.OpMulti, xid: 16, rec: &jute.MultiRequest{Ops: []jute.MultiOp{{Type: jute.OpDelete, Path: path, Version: -1}}}, body: func(d *jute.Decoder) {
			var r jute.MultiResponse
			r.Decode(d)
			if len(r.Results) != 0 {
				t.Errorf("multi results %+v", r.Results)
			}
		}},
		{op: jute.OpDelete, xid: 17, rec: &jute.PathVersionRequest{Path: path, Version: -1}},
		{op: jute.OpAuth, xid: jute.XidAuth, rec: &jute.AuthPacket{Scheme: "digest", Auth: []byte("u:p")}, wantXid: jute.XidAuth},
		{op: jute.OpSetWatches, xid: jute.XidSetWatches, rec: &jute.SetWatches{DataWatches: []string{path}}, wantXid: jute.XidSetWatches},
		{op: jute.OpAddWatch, xid: 18, rec: &jute.PathTypeRequest{Path: path, Type: 1}},
		{op: jute.OpRemoveWatches, xid: 19, rec: &jute.PathTypeRequest{Path: path, Type: 1}},
		{op: jute.OpCloseSession, xid: 20, close: true},
		{op: jute.OpCode(999), xid: 21},
	} {
		t.Run(tc.op.String(), func(t *testing.T) {
			prefix := []byte("earlier replies")
			out, connect, closeAfter := NullReply(bytes.Clone(prefix), request(tc.xid, tc.op, tc.rec), true)
			if connect || closeAfter != tc.close {
				t.Fatalf("connect %v close %v, want close %v", connect, closeAfter, tc.close)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("reply does not append to dst: % x", out)
			}
			d := jute.NewDecoder(unframe(t, out[len(prefix):]))
			var h jute.ReplyHeader
			h.Decode(&d)
			want := tc.wantXid
			if want == 0 {
				want = tc.xid
			}
			if h.Xid != want || h.Err != jute.CodeOK {
				t.Fatalf("header %+v, want xid %d and ok", h, want)
			}
			if tc.body != nil {
				tc.body(&d)
			}
			if d.Err() != nil || d.Remaining() != 0 {
				t.Fatalf("body: %v, %d bytes left", d.Err(), d.Remaining())
			}
		})
	}
}

func TestNullReplyClosesOnMalformedFrames(t *testing.T) {
	f := func(name string, frame []byte, started bool) {
		t.Helper()
		out, connect, closeAfter := NullReply([]byte("kept"), frame, started)
		if string(out) != "kept" || connect || !closeAfter {
			t.Errorf("%s: out %q connect %v close %v", name, out, connect, closeAfter)
		}
	}
	f("short ConnectRequest", []byte{0, 0, 0}, false)
	f("short request header", []byte{0, 0, 0, 1, 0}, true)
	f("create without its path", request(1, jute.OpCreate, nil), true)
	f("create2 with a path longer than the frame", append(request(1, jute.OpCreate2, nil), 0, 0, 1, 0, 'x'), true)
	f("sync without its path", request(1, jute.OpSync, nil), true)
}

func TestNullReplyDoesNotAllocate(t *testing.T) {
	get := request(7, jute.OpGetData, &jute.PathWatchRequest{Path: "/zkbench/k1"})
	create := request(8, jute.OpCreate, &jute.CreateRequest{Path: "/zkbench/w1/n1", Data: payload(32), ACL: jute.OpenACLUnsafe})
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		out, _, _ := NullReply(dst[:0], get, true)
		out, _, _ = NullReply(out, create, true)
		dst = out
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per getData + create reply", allocs)
	}
}

// recordingWatcher keeps the events it is sent.
type recordingWatcher struct{ events [][]byte }

func (w *recordingWatcher) NullEvent(event []byte) {
	w.events = append(w.events, bytes.Clone(event))
}

// A getData with its watch flag arms a watch; a setData of that path fires every
// armed watch once, with one NodeDataChanged frame; other paths, other requests
// and getData without the flag arm nothing.
func TestNullWatchesFireOnceOnSetData(t *testing.T) {
	var n NullWatches
	a, b, c := &recordingWatcher{}, &recordingWatcher{}, &recordingWatcher{}
	getW := func(path string, watch bool) []byte {
		return request(1, jute.OpGetData, &jute.PathWatchRequest{Path: path, Watch: watch})
	}
	set := func(path string) []byte {
		return request(2, jute.OpSetData, &jute.SetDataRequest{Path: path, Data: payload(10), Version: -1})
	}
	n.Observe(getW("/w", true), a)
	n.Observe(getW("/w", true), b)
	n.Observe(getW("/w", false), c)
	n.Observe(getW("/other", true), c)
	n.Observe(request(3, jute.OpExists, &jute.PathWatchRequest{Path: "/w", Watch: true}), c)
	n.Observe(set("/w"), c)
	n.Observe(set("/w"), c) // the watches are spent
	for name, w := range map[string]*recordingWatcher{"a": a, "b": b} {
		if len(w.events) != 1 {
			t.Fatalf("%s got %d events, want 1", name, len(w.events))
		}
		d := jute.NewDecoder(unframe(t, w.events[0]))
		var hdr jute.ReplyHeader
		var ev jute.WatcherEvent
		hdr.Decode(&d)
		ev.Decode(&d)
		if d.Err() != nil || d.Remaining() != 0 || hdr.Xid != jute.XidNotification ||
			ev.Type != jute.EventNodeDataChanged || ev.State != jute.StateSyncConnected || ev.Path != "/w" {
			t.Fatalf("%s: event %+v %+v (%v, %d bytes left)", name, hdr, ev, d.Err(), d.Remaining())
		}
	}
	if len(c.events) != 0 {
		t.Fatalf("c watched nothing that was written, got %d events", len(c.events))
	}
	n.Observe(set("/other"), a)
	if len(c.events) != 1 {
		t.Fatalf("c's watch on /other: %d events", len(c.events))
	}
	n.Observe([]byte{0, 0}, a) // too short to read: ignored
}
