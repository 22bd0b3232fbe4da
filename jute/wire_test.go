package jute_test

import (
	"errors"
	"reflect"
	"testing"

	"zkd/jute"
)

// Byte-level examples of wire.md §10 and captures of semantics.md §8.3 and
// fixtures/zk-3.8.0/probes, encoded with the package's Append functions and decoded
// back.

var (
	// wire.md §10: ConnectRequest for a new session, timeout 30000, readOnly=false.
	connectReq45 = hx(`
		00 00 00 2d
		00 00 00 00
		00 00 00 00 00 00 00 00
		00 00 75 30
		00 00 00 00 00 00 00 00
		00 00 00 10  00000000000000000000000000000000
		00`)
	// The same without readOnly (go-zookeeper, clients <= 3.3).
	connectReq44 = hx(`
		00 00 00 2c
		00 00 00 00
		00 00 00 00 00 00 00 00
		00 00 75 30
		00 00 00 00 00 00 00 00
		00 00 00 10  00000000000000000000000000000000`)
	// wire.md §10: getData("/a", watch=true), xid 5.
	getDataReqFrame = hx(`00 00 00 0f | 00 00 00 05 | 00 00 00 04 | 00 00 00 02 2f 61 | 01`)
	// wire.md §10 reply when /a is missing; zxid 0x30 as captured in b-check.out.txt.
	noNodeReplyFrame = hx(`00 00 00 10 | 00 00 00 05 | 00 00 00 00 00 00 00 30 | ff ff ff 9b`)
	pingReqFrame     = hx(`00 00 00 08 ff ff ff fe 00 00 00 0b`)
	// Ping reply with last applied zxid 0x2e.
	pingReplyFrame = hx(`00 00 00 10 ff ff ff fe 00 00 00 00 00 00 00 2e 00 00 00 00`)
	// semantics.md §8.3: NodeDataChanged on /w as sent by 3.8.0, length 0x1e in front.
	notifyFrame = hx(`0000001e ffffffff ffffffffffffffff 00000000 | 00000003 00000003 00000002 2f77`)
)

func TestConnectRequestBytes(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		req   jute.ConnectRequest
	}{
		{"45 bytes with readOnly", connectReq45, jute.ConnectRequest{TimeOut: 30000, Passwd: zeros(16), HasReadOnly: true}},
		{"44 bytes without readOnly", connectReq44, jute.ConnectRequest{TimeOut: 30000, Passwd: zeros(16)}},
		{"readOnly true", cat(hx("0000002d"), connectReq45[4:48], []byte{1}),
			jute.ConnectRequest{TimeOut: 30000, Passwd: zeros(16), ReadOnly: true, HasReadOnly: true}},
		{"resume session", hx(`0000002d 00000000 000000000000002a 00001388 0100000000000000
			00000010 f22acd4a97e69d6d20a49bb638eadb38 00`),
			jute.ConnectRequest{LastZxidSeen: 42, TimeOut: 5000, SessionID: 0x0100000000000000,
				Passwd: hx("f22acd4a97e69d6d20a49bb638eadb38"), HasReadOnly: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, mark := jute.BeginFrame(nil)
			dst = tt.req.Append(dst)
			requireBytes(t, jute.EndFrame(dst, mark), tt.frame)

			var got jute.ConnectRequest
			rest, err := decode(&got, tt.frame[4:])
			if err != nil || rest != 0 {
				t.Fatalf("decode: err=%v rest=%d", err, rest)
			}
			if !deepEqual(got, tt.req) {
				t.Fatalf("decode = %+v, want %+v", got, tt.req)
			}
		})
	}
}

func TestConnectRequestReadOnlyByte(t *testing.T) {
	// Java's reader takes any non-zero byte as true; trailing bytes after readOnly are
	// not part of the record.
	for _, b := range []byte{1, 2, 0x80, 0xff} {
		var r jute.ConnectRequest
		if _, err := decode(&r, cat(connectReq44[4:], []byte{b})); err != nil || !r.ReadOnly || !r.HasReadOnly {
			t.Fatalf("readOnly byte %#x: err=%v %+v", b, err, r)
		}
	}
	var r jute.ConnectRequest
	rest, err := decode(&r, cat(connectReq45[4:], []byte{9, 9}))
	if err != nil || rest != 2 || r.ReadOnly || !r.HasReadOnly {
		t.Fatalf("trailing bytes: err=%v rest=%d %+v", err, rest, r)
	}
}

func TestConnectResponseBytes(t *testing.T) {
	pw := hx("f22acd4a97e69d6d20a49bb638eadb38") // semantics.md §7 example for session 0x0100000000000000
	tests := []struct {
		name string
		resp jute.ConnectResponse
		want []byte
	}{
		{"with readOnly", jute.ConnectResponse{TimeOut: 30000, SessionID: 0x0100000000000000, Passwd: pw, HasReadOnly: true},
			hx(`00000025 00000000 00007530 0100000000000000 00000010 f22acd4a97e69d6d20a49bb638eadb38 00`)},
		{"without readOnly", jute.ConnectResponse{TimeOut: 30000, SessionID: 0x0100000000000000, Passwd: pw},
			hx(`00000024 00000000 00007530 0100000000000000 00000010 f22acd4a97e69d6d20a49bb638eadb38`)},
		{"read-only server", jute.ConnectResponse{TimeOut: 4000, SessionID: 0x0100000000000000, Passwd: pw, ReadOnly: true, HasReadOnly: true},
			hx(`00000025 00000000 00000fa0 0100000000000000 00000010 f22acd4a97e69d6d20a49bb638eadb38 01`)},
		{"invalid session", jute.ConnectResponse{Passwd: zeros(16), HasReadOnly: true},
			hx(`00000025 00000000 00000000 0000000000000000 00000010 00000000000000000000000000000000 00`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, mark := jute.BeginFrame(nil)
			dst = tt.resp.Append(dst)
			requireBytes(t, jute.EndFrame(dst, mark), tt.want)
			if n := len(tt.want) - 4; (tt.resp.HasReadOnly && n != 37) || (!tt.resp.HasReadOnly && n != 36) {
				t.Fatalf("payload %d bytes, wire.md §3.3 says 37 with readOnly, 36 without", n)
			}
			var got jute.ConnectResponse
			if rest, err := decode(&got, tt.want[4:]); err != nil || rest != 0 {
				t.Fatalf("decode: err=%v rest=%d", err, rest)
			}
			if !deepEqual(got, tt.resp) {
				t.Fatalf("decode = %+v, want %+v", got, tt.resp)
			}
		})
	}
}

func TestRequestFrames(t *testing.T) {
	t.Run("getData", func(t *testing.T) {
		h := jute.RequestHeader{Xid: 5, Type: jute.OpGetData}
		body := jute.PathWatchRequest{Path: "/a", Watch: true}
		dst, mark := jute.BeginFrame(nil)
		dst = body.Append(h.Append(dst))
		requireBytes(t, jute.EndFrame(dst, mark), getDataReqFrame)

		d := jute.NewDecoder(getDataReqFrame[4:])
		var gh jute.RequestHeader
		var gb jute.PathWatchRequest
		gh.Decode(&d)
		gb.Decode(&d)
		if d.Err() != nil || d.Remaining() != 0 || gh != h || gb != body {
			t.Fatalf("decode: err=%v rest=%d %+v %+v", d.Err(), d.Remaining(), gh, gb)
		}
	})
	t.Run("ping", func(t *testing.T) {
		h := jute.RequestHeader{Xid: jute.XidPing, Type: jute.OpPing}
		dst, mark := jute.BeginFrame(nil)
		requireBytes(t, jute.EndFrame(h.Append(dst), mark), pingReqFrame)
		var gh jute.RequestHeader
		if rest, err := decode(&gh, pingReqFrame[4:]); err != nil || rest != 0 || gh != h {
			t.Fatalf("decode: err=%v rest=%d %+v", err, rest, gh)
		}
	})
}

func TestReplyFrames(t *testing.T) {
	tests := []struct {
		name string
		hdr  jute.ReplyHeader
		want []byte
	}{
		{"NoNode", jute.ReplyHeader{Xid: 5, Zxid: 0x30, Err: jute.CodeNoNode}, noNodeReplyFrame},
		{"ping", jute.ReplyHeader{Xid: jute.XidPing, Zxid: 0x2e}, pingReplyFrame},
		// b-check.out.txt: check with the wrong version, captured from 3.8.0.
		{"BadVersion", jute.ReplyHeader{Xid: 5, Zxid: 0x2e, Err: jute.CodeBadVersion},
			hx("0000001000000005000000000000002effffff99")},
		{"BadArguments", jute.ReplyHeader{Xid: 5, Zxid: 0x34, Err: jute.CodeBadArguments},
			hx("00000010000000050000000000000034fffffff8")},
		{"Unimplemented", jute.ReplyHeader{Xid: 9, Zxid: -1, Err: jute.CodeUnimplemented},
			hx("00000010 00000009 ffffffffffffffff fffffffa")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst, mark := jute.BeginFrame(nil)
			dst = jute.AppendReplyHeader(dst, tt.hdr.Xid, tt.hdr.Zxid, tt.hdr.Err)
			requireBytes(t, jute.EndFrame(dst, mark), tt.want)

			dst, mark = jute.BeginFrame(nil)
			requireBytes(t, jute.EndFrame(tt.hdr.Append(dst), mark), tt.want)

			var got jute.ReplyHeader
			if rest, err := decode(&got, tt.want[4:]); err != nil || rest != 0 || got != tt.hdr {
				t.Fatalf("decode: err=%v rest=%d %+v", err, rest, got)
			}
			if len(tt.want)-4 != jute.ReplyHeaderSize {
				t.Fatalf("header-only reply payload is %d bytes", len(tt.want)-4)
			}
		})
	}
}

func TestAppendNotification(t *testing.T) {
	tests := []struct {
		zxid jute.Zxid
		typ  jute.EventType
		path string
		want []byte
	}{
		{-1, jute.EventNodeDataChanged, "/w", notifyFrame},
		// d-notify.out.txt raw payloads, with the frame length added.
		{-1, jute.EventNodeCreated, "/w/new", hx("00000022 ffffffffffffffffffffffff000000000000000100000003000000062f772f6e6577")},
		{-1, jute.EventNodeChildrenChanged, "/w", hx("0000001e ffffffffffffffffffffffff000000000000000400000003000000022f77")},
		{-1, jute.EventNodeDeleted, "/w/new", hx("00000022 ffffffffffffffffffffffff000000000000000200000003000000062f772f6e6577")},
		// 3.9 puts the txn zxid in the header.
		{0x13, jute.EventNodeDeleted, "/w/new", hx("00000022 ffffffff 0000000000000013 00000000 00000002 00000003 00000006 2f772f6e6577")},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			requireBytes(t, jute.AppendNotification(nil, tt.zxid, tt.typ, tt.path), tt.want)

			// Appending after an earlier frame keeps both intact.
			prev := append([]byte(nil), pingReplyFrame...)
			requireBytes(t, jute.AppendNotification(prev, tt.zxid, tt.typ, tt.path), cat(pingReplyFrame, tt.want))

			d := jute.NewDecoder(tt.want[4:])
			var h jute.ReplyHeader
			var ev jute.WatcherEvent
			h.Decode(&d)
			ev.Decode(&d)
			want := jute.WatcherEvent{Type: tt.typ, State: jute.StateSyncConnected, Path: tt.path}
			if d.Err() != nil || d.Remaining() != 0 || h != (jute.ReplyHeader{Xid: jute.XidNotification, Zxid: tt.zxid}) || ev != want {
				t.Fatalf("decode: err=%v rest=%d %+v %+v", d.Err(), d.Remaining(), h, ev)
			}
		})
	}
}

func TestFrameBatch(t *testing.T) {
	// Several frames built back to back in one reused buffer, as a connection does.
	buf := make([]byte, 0, 8)
	for round := 0; round < 3; round++ {
		buf = buf[:0]
		var mark int
		buf, mark = jute.BeginFrame(buf)
		buf = jute.EndFrame(jute.AppendReplyHeader(buf, 5, 0x30, jute.CodeNoNode), mark)
		buf, mark = jute.BeginFrame(buf)
		buf = jute.EndFrame(jute.AppendReplyHeader(buf, jute.XidPing, 0x2e, jute.CodeOK), mark)
		buf, mark = jute.BeginFrame(buf)
		buf = jute.EndFrame(buf, mark) // empty payload
		requireBytes(t, buf, cat(noNodeReplyFrame, pingReplyFrame, hx("00000000")))
	}
}

func TestStatLayout(t *testing.T) {
	b := sampleStat.Append(nil)
	if len(b) != jute.StatSize || jute.StatSize != 68 {
		t.Fatalf("Stat is %d bytes, StatSize %d, want 68", len(b), jute.StatSize)
	}
	requireBytes(t, b, sampleStatBytes)
	// Field offsets of wire.md §8.1.
	offsets := []struct {
		name string
		off  int
		want string
	}{
		{"czxid", 0, "0102030405060708"}, {"mzxid", 8, "1112131415161718"},
		{"ctime", 16, "2122232425262728"}, {"mtime", 24, "3132333435363738"},
		{"version", 32, "41424344"}, {"cversion", 36, "51525354"}, {"aversion", 40, "61626364"},
		{"ephemeralOwner", 44, "7172737475767778"}, {"dataLength", 52, "01020304"},
		{"numChildren", 56, "05060708"}, {"pzxid", 60, "090a0b0c0d0e0f10"},
	}
	for _, o := range offsets {
		w := hx(o.want)
		requireBytes(t, b[o.off:o.off+len(w)], w)
	}
	var got jute.Stat
	if rest, err := decode(&got, b); err != nil || rest != 0 || got != sampleStat {
		t.Fatalf("decode: err=%v rest=%d %+v", err, rest, got)
	}
	// Reply to exists: header + 68-byte Stat = 84-byte payload.
	dst, mark := jute.BeginFrame(nil)
	dst = jute.EndFrame(sampleStat.Append(jute.AppendReplyHeader(dst, 6, 44, jute.CodeOK)), mark)
	requireBytes(t, dst, cat(hx("00000054 00000006 000000000000002c 00000000"), sampleStatBytes))
}

// Well-known ACL bytes: world:anyone with ALL.
var openACLBytes = hx("00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65")

func TestMultiRequestBytes(t *testing.T) {
	tests := []struct {
		name string
		req  jute.MultiRequest
		want []byte
	}{
		{"write", jute.MultiRequest{Ops: []jute.MultiOp{
			{Type: jute.OpCreate, Path: "/m", Data: []byte("x"), ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeral)},
			{Type: jute.OpCheck, Path: "/m", Version: 0},
			{Type: jute.OpSetData, Path: "/m", Data: []byte("yz"), Version: 3},
			{Type: jute.OpDelete, Path: "/n", Version: -1},
			{Type: jute.OpCreateTTL, Path: "/t", Data: nil, ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentWithTTL), TTL: 60000},
		}}, cat(
			hx("00000001 00 ffffffff  00000002 2f6d  00000001 78"), openACLBytes, hx("00000001"),
			hx("0000000d 00 ffffffff  00000002 2f6d  00000000"),
			hx("00000005 00 ffffffff  00000002 2f6d  00000002 797a  00000003"),
			hx("00000002 00 ffffffff  00000002 2f6e  ffffffff"),
			hx("00000015 00 ffffffff  00000002 2f74  ffffffff"), openACLBytes, hx("00000005 000000000000ea60"),
			hx("ffffffff 01 ffffffff"),
		)},
		{"read", jute.MultiRequest{Read: true, Ops: []jute.MultiOp{
			{Type: jute.OpGetData, Path: "/a"},
			{Type: jute.OpGetChildren, Path: "/", Watch: true},
		}}, hx(`00000004 00 ffffffff 00000002 2f61 00
			00000008 00 ffffffff 00000001 2f 01
			ffffffff 01 ffffffff`)},
		{"empty", jute.MultiRequest{}, hx("ffffffff 01 ffffffff")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireBytes(t, tt.req.Append(nil), tt.want)
			got := jute.MultiRequest{Read: tt.req.Read}
			if rest, err := decode(&got, tt.want); err != nil || rest != 0 {
				t.Fatalf("decode: err=%v rest=%d", err, rest)
			}
			if len(got.Ops) == 0 && len(tt.req.Ops) == 0 {
				return
			}
			if !deepEqual(got, tt.req) {
				t.Fatalf("decode = %+v\nwant %+v", got, tt.req)
			}
		})
	}

	// A whole multi request frame: RequestHeader{xid 7, multi} + ops.
	req := tests[0].req
	h := jute.RequestHeader{Xid: 7, Type: jute.OpMulti}
	dst, mark := jute.BeginFrame(nil)
	dst = jute.EndFrame(req.Append(h.Append(dst)), mark)
	requireBytes(t, dst, cat(jute.AppendInt(nil, int32(8+len(tests[0].want))), hx("00000007 0000000e"), tests[0].want))
}

func TestMultiRequestRejects(t *testing.T) {
	end := hx("ffffffff 01 ffffffff")
	create := func(flags string) []byte {
		return cat(hx("00000001 00 ffffffff 00000002 2f6d ffffffff"), openACLBytes, hx(flags))
	}
	tests := []struct {
		name string
		read bool
		in   []byte
		want error
	}{
		{"read op in multi", false, cat(hx("00000004 00 ffffffff 00000002 2f61 00"), end), jute.ErrBadMulti},
		{"write op in multiRead", true, cat(hx("00000002 00 ffffffff 00000002 2f6e ffffffff"), end), jute.ErrBadMulti},
		{"setACL in multi", false, cat(hx("00000007 00 ffffffff 00000002 2f6e 00000000 ffffffff"), end), jute.ErrBadMulti},
		{"unknown op", false, cat(hx("00000063 00 ffffffff"), end), jute.ErrBadMulti},
		// Any flags decode: apply answers them as ZooKeeper 3.8 does
		// (datatree's multi), BADARGUMENTS for flags no mode has, or the
		// whole multi failing for a TTL mode under create.
		{"create mode 7 ok", false, cat(create("00000007"), end), nil},
		{"create mode -1 ok", false, cat(create("ffffffff"), end), nil},
		{"create mode 6 ok", false, cat(create("00000006"), end), nil},
		{"missing end", false, create("00000000"), jute.ErrShortBuffer},
		{"empty input", false, nil, jute.ErrShortBuffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jute.MultiRequest{Read: tt.read}
			_, err := decode(&r, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMultiResponseBytes(t *testing.T) {
	stat := sampleStat
	tests := []struct {
		name string
		resp jute.MultiResponse
		want []byte
	}{
		// wire.md §6.3: op 1 of 3 fails with NoNode; earlier ops report OK, later -2.
		{"failed multi", jute.MultiResponse{Results: []jute.OpResult{
			{Type: jute.OpError, Err: jute.CodeOK},
			{Type: jute.OpError, Err: jute.CodeNoNode},
			{Type: jute.OpError, Err: jute.CodeRuntimeInconsistency},
		}}, hx(`ffffffff 00 00000000  00000000
			ffffffff 00 ffffff9b  ffffff9b
			ffffffff 00 fffffffe  fffffffe
			ffffffff 01 ffffffff`)},
		{"successful multi", jute.MultiResponse{Results: []jute.OpResult{
			{Type: jute.OpCreate, Path: "/m0000000001"},
			{Type: jute.OpCreate2, Path: "/c", Stat: stat},
			{Type: jute.OpDelete},
			{Type: jute.OpSetData, Stat: stat},
			{Type: jute.OpCheck},
		}}, cat(
			hx("00000001 00 00000000  0000000c 2f6d30303030303030303031"),
			hx("0000000f 00 00000000  00000002 2f63"), sampleStatBytes,
			hx("00000002 00 00000000"),
			hx("00000005 00 00000000"), sampleStatBytes,
			hx("0000000d 00 00000000"),
			hx("ffffffff 01 ffffffff"),
		)},
		{"multiRead", jute.MultiResponse{Results: []jute.OpResult{
			{Type: jute.OpGetData, Data: []byte("hi"), Stat: stat},
			{Type: jute.OpGetData, Data: nil, Stat: stat},
			{Type: jute.OpGetChildren, Children: []string{"a", "bc"}},
			{Type: jute.OpError, Err: jute.CodeNoNode},
		}}, cat(
			hx("00000004 00 00000000  00000002 6869"), sampleStatBytes,
			hx("00000004 00 00000000  ffffffff"), sampleStatBytes,
			hx("00000008 00 00000000  00000002 00000001 61 00000002 6263"),
			hx("ffffffff 00 ffffff9b  ffffff9b"),
			hx("ffffffff 01 ffffffff"),
		)},
		{"empty", jute.MultiResponse{}, hx("ffffffff 01 ffffffff")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireBytes(t, tt.resp.Append(nil), tt.want)

			// AppendOpResult + AppendMultiEnd build the same bytes.
			var b []byte
			for i := range tt.resp.Results {
				b = jute.AppendOpResult(b, &tt.resp.Results[i])
			}
			requireBytes(t, jute.AppendMultiEnd(b), tt.want)

			var got jute.MultiResponse
			if rest, err := decode(&got, tt.want); err != nil || rest != 0 {
				t.Fatalf("decode: err=%v rest=%d", err, rest)
			}
			if len(got.Results) == 0 && len(tt.resp.Results) == 0 {
				return
			}
			if !deepEqual(got, tt.resp) {
				t.Fatalf("decode = %+v\nwant %+v", got, tt.resp)
			}
		})
	}

	// The failed multi in a reply frame: ReplyHeader.err is 0 even though an op failed.
	dst, mark := jute.BeginFrame(nil)
	dst = jute.AppendReplyHeader(dst, 7, 0x30, jute.CodeOK)
	dst = jute.EndFrame(tests[0].resp.Append(dst), mark)
	requireBytes(t, dst, cat(hx("00000040 00000007 0000000000000030 00000000"), tests[0].want))
}

func TestMultiResponseRejects(t *testing.T) {
	for _, typ := range []string{"00000013", "00000015", "00000003", "00000063", "fffffff6"} {
		var r jute.MultiResponse
		if _, err := decode(&r, hx(typ+"00 00000000 ffffffff 01 ffffffff")); !errors.Is(err, jute.ErrBadMulti) {
			t.Fatalf("result type %s: err = %v, want ErrBadMulti", typ, err)
		}
	}
}

func TestNullAndEmpty(t *testing.T) {
	t.Run("buffer", func(t *testing.T) {
		requireBytes(t, jute.AppendBuffer(nil, nil), hx("ffffffff"))
		requireBytes(t, jute.AppendBuffer(nil, []byte{}), hx("00000000"))

		d := jute.NewDecoder(hx("ffffffff 00000000 00000001 7a"))
		null, empty, one := d.Buffer(), d.Buffer(), d.Buffer()
		if d.Err() != nil || null != nil || empty == nil || len(empty) != 0 || string(one) != "z" {
			t.Fatalf("err=%v null=%#v empty=%#v one=%q", d.Err(), null, empty, one)
		}
	})
	t.Run("getData reply", func(t *testing.T) {
		// Znode data created null comes back as -1, empty data as 0; dataLength is 0 both ways.
		for _, tt := range []struct {
			data []byte
			want string
		}{{nil, "ffffffff"}, {[]byte{}, "00000000"}} {
			r := jute.GetDataResponse{Data: tt.data, Stat: sampleStat}
			b := r.Append(nil)
			requireBytes(t, b, cat(hx(tt.want), sampleStatBytes))
			var got jute.GetDataResponse
			if _, err := decode(&got, b); err != nil || (got.Data == nil) != (tt.data == nil) || len(got.Data) != 0 {
				t.Fatalf("%s: err=%v data=%#v", tt.want, err, got.Data)
			}
		}
	})
	t.Run("create request", func(t *testing.T) {
		for _, data := range [][]byte{nil, {}} {
			r := jute.CreateRequest{Path: "/n", Data: data, ACL: jute.OpenACLUnsafe}
			var got jute.CreateRequest
			if _, err := decode(&got, r.Append(nil)); err != nil || (got.Data == nil) != (data == nil) {
				t.Fatalf("data %#v: err=%v got %#v", data, err, got.Data)
			}
		}
	})
	t.Run("string", func(t *testing.T) {
		// Replies never carry null strings; a null string read decodes as "".
		requireBytes(t, jute.AppendString(nil, ""), hx("00000000"))
		requireBytes(t, jute.AppendString(nil, "/a"), hx("00000002 2f61"))
		d := jute.NewDecoder(hx("ffffffff 00000000"))
		if a, b := d.String(), d.String(); d.Err() != nil || a != "" || b != "" {
			t.Fatalf("err=%v %q %q", d.Err(), a, b)
		}
	})
	t.Run("vectors", func(t *testing.T) {
		requireBytes(t, jute.AppendStrings(nil, nil), hx("00000000"))
		requireBytes(t, jute.AppendStrings(nil, []string{}), hx("00000000"))
		requireBytes(t, jute.AppendACLs(nil, nil), hx("00000000"))
		d := jute.NewDecoder(hx("ffffffff 00000000 ffffffff 00000000"))
		ns, es, na, ea := d.Strings(), d.Strings(), d.ACLs(), d.ACLs()
		if d.Err() != nil || ns != nil || es == nil || len(es) != 0 || na != nil || ea == nil || len(ea) != 0 {
			t.Fatalf("err=%v %#v %#v %#v %#v", d.Err(), ns, es, na, ea)
		}
	})
	t.Run("bad lengths", func(t *testing.T) {
		for _, in := range []string{"fffffffe", "80000000", "00000005 61", "7fffffff 00000000"} {
			d := jute.NewDecoder(hx(in))
			if b := d.Buffer(); len(b) != 0 || !errors.Is(d.Err(), jute.ErrBadLength) {
				t.Fatalf("buffer %s: err=%v", in, d.Err())
			}
			d = jute.NewDecoder(hx(in))
			if s := d.String(); s != "" || !errors.Is(d.Err(), jute.ErrBadLength) {
				t.Fatalf("string %s: err=%v", in, d.Err())
			}
		}
		for _, in := range []string{"00000005 61", "7fffffff 00000000"} {
			d := jute.NewDecoder(hx(in))
			if v := d.Strings(); v != nil || !errors.Is(d.Err(), jute.ErrBadLength) {
				t.Fatalf("strings %s: err=%v", in, d.Err())
			}
			d = jute.NewDecoder(hx(in))
			if v := d.ACLs(); v != nil || !errors.Is(d.Err(), jute.ErrBadLength) {
				t.Fatalf("ACLs %s: err=%v", in, d.Err())
			}
		}
	})
	t.Run("negative vector counts", func(t *testing.T) {
		// ZooKeeper reads a vector count below -1 as no elements (BinaryIndex.done
		// is nelems <= 0), where a negative string or buffer length is an error.
		for _, in := range []string{"fffffffe", "fffffffb", "80000000"} {
			d := jute.NewDecoder(hx(in + " 00000007"))
			if v := d.Strings(); v == nil || len(v) != 0 || d.Err() != nil {
				t.Fatalf("strings %s: %#v err=%v", in, v, d.Err())
			}
			if n := d.Int(); n != 7 {
				t.Fatalf("strings %s: the next field reads %d, want 7", in, n)
			}
			d = jute.NewDecoder(hx(in + " 00000007"))
			if v := d.ACLs(); v == nil || len(v) != 0 || d.Err() != nil {
				t.Fatalf("ACLs %s: %#v err=%v", in, v, d.Err())
			}
			if n := d.Int(); n != 7 {
				t.Fatalf("ACLs %s: the next field reads %d, want 7", in, n)
			}
		}
	})
}

func TestDecoderSticky(t *testing.T) {
	d := jute.NewDecoder(hx("00000001 02"))
	if v := d.Int(); v != 1 || d.Err() != nil {
		t.Fatalf("Int = %d, err %v", v, d.Err())
	}
	if v := d.Long(); v != 0 || !errors.Is(d.Err(), jute.ErrShortBuffer) {
		t.Fatalf("Long past end = %d, err %v", v, d.Err())
	}
	// After the first error every read is zero and the error stays the first one.
	if d.Byte() != 0 || d.Int() != 0 || d.Bool() || d.String() != "" || len(d.Buffer()) != 0 ||
		d.Strings() != nil || d.ACLs() != nil || d.Remaining() != 0 || len(d.Rest()) != 0 {
		t.Fatal("reads after an error returned data")
	}
	if !errors.Is(d.Err(), jute.ErrShortBuffer) {
		t.Fatalf("err changed to %v", d.Err())
	}

	d = jute.NewDecoder(hx("01 00 7f"))
	if a, b, c := d.Bool(), d.Bool(), d.Bool(); !a || b || !c || d.Remaining() != 0 {
		t.Fatalf("bools %v %v %v", a, b, c)
	}
	d = jute.NewDecoder(hx("ffffff9b 8000000000000000 aa bb"))
	if i, l := d.Int(), d.Long(); i != -101 || l != -1<<63 || string(d.Rest()) != "\xaa\xbb" || d.Remaining() != 2 {
		t.Fatalf("int %d long %d rest %x", i, l, d.Rest())
	}
}

func TestDecodeAliasesInput(t *testing.T) {
	// Decoding is zero-copy: strings and buffers alias the frame; Clone detaches.
	b := hx("00000002 2f61 00000003 787978")
	d := jute.NewDecoder(b)
	s, data := d.String(), d.Buffer()
	kept := jute.Clone(s)
	b[5] = 'b'
	if s != "/b" || kept != "/a" {
		t.Fatalf("alias %q clone %q", s, kept)
	}
	b[11] = 'Z'
	if string(data) != "xZx" {
		t.Fatalf("buffer %q does not alias", data)
	}
	// A decoded buffer cannot grow into the bytes after it.
	if cap(data) != len(data) {
		t.Fatalf("buffer cap %d > len %d", cap(data), len(data))
	}
	if jute.Clone("") != "" {
		t.Fatal("Clone of empty")
	}
}

func TestCodeError(t *testing.T) {
	// Java's KeeperException.Code messages (wire.md §7).
	tests := []struct {
		code jute.Code
		want string
	}{
		{jute.CodeOK, "ok"},
		{jute.CodeSystemError, "SystemError"},
		{jute.CodeRuntimeInconsistency, "RuntimeInconsistency"},
		{jute.CodeDataInconsistency, "DataInconsistency"},
		{jute.CodeConnectionLoss, "ConnectionLoss"},
		{jute.CodeMarshallingError, "MarshallingError"},
		{jute.CodeUnimplemented, "Unimplemented"},
		{jute.CodeOperationTimeout, "OperationTimeout"},
		{jute.CodeBadArguments, "BadArguments"},
		{jute.CodeUnknownSession, "Unknown error -12"},
		{jute.CodeNewConfigNoQuorum, "NewConfigNoQuorum"},
		{jute.CodeReconfigInProgress, "ReconfigInProgress"},
		{jute.CodeAPIError, "APIError"},
		{jute.CodeNoNode, "NoNode"},
		{jute.CodeNoAuth, "NoAuth"},
		{jute.CodeBadVersion, "BadVersion"},
		{jute.CodeNoChildrenForEphemerals, "NoChildrenForEphemerals"},
		{jute.CodeNodeExists, "NodeExists"},
		{jute.CodeNotEmpty, "Directory not empty"},
		{jute.CodeSessionExpired, "Session expired"},
		{jute.CodeInvalidCallback, "Invalid callback"},
		{jute.CodeInvalidACL, "InvalidACL"},
		{jute.CodeAuthFailed, "AuthFailed"},
		{jute.CodeSessionMoved, "Session moved"},
		{jute.CodeNotReadOnly, "Not a read-only call"},
		{jute.CodeEphemeralOnLocalSession, "Ephemeral node on local session"},
		{jute.CodeNoWatcher, "No such watcher"},
		{jute.CodeRequestTimeout, "Unknown error -122"},
		{jute.CodeReconfigDisabled, "Reconfig is disabled"},
		{jute.CodeSessionClosedRequireSASL, "Session closed because client failed to authenticate"},
		{jute.CodeQuotaExceeded, "Quota has exceeded"},
		{jute.CodeThrottledOp, "Op throttled due to high load"},
		{-9, "Unknown error -9"},
		{-126, "Unknown error -126"},
		{7, "Unknown error 7"},
	}
	for _, tt := range tests {
		if got := tt.code.Error(); got != tt.want {
			t.Errorf("Code(%d).Error() = %q, want %q", int32(tt.code), got, tt.want)
		}
	}
	// A Code is an error value that errors.Is can match.
	var err error = jute.CodeNoNode
	if !errors.Is(err, jute.CodeNoNode) || errors.Is(err, jute.CodeNodeExists) {
		t.Fatal("errors.Is on Code")
	}
	var c jute.Code
	if !errors.As(err, &c) || c != -101 {
		t.Fatalf("errors.As = %d", c)
	}
}

func TestOpCodeString(t *testing.T) {
	tests := []struct {
		op   jute.OpCode
		want string
	}{
		{jute.OpNotification, "notification"}, {jute.OpCreate, "create"}, {jute.OpDelete, "delete"},
		{jute.OpExists, "exists"}, {jute.OpGetData, "getData"}, {jute.OpSetData, "setData"},
		{jute.OpGetACL, "getACL"}, {jute.OpSetACL, "setACL"}, {jute.OpGetChildren, "getChildren"},
		{jute.OpSync, "sync"}, {jute.OpPing, "ping"}, {jute.OpGetChildren2, "getChildren2"},
		{jute.OpCheck, "check"}, {jute.OpMulti, "multi"}, {jute.OpCreate2, "create2"},
		{jute.OpReconfig, "reconfig"}, {jute.OpCheckWatches, "checkWatches"},
		{jute.OpRemoveWatches, "removeWatches"}, {jute.OpCreateContainer, "createContainer"},
		{jute.OpDeleteContainer, "deleteContainer"}, {jute.OpCreateTTL, "createTTL"},
		{jute.OpMultiRead, "multiRead"}, {jute.OpAuth, "auth"}, {jute.OpSetWatches, "setWatches"},
		{jute.OpSASL, "sasl"}, {jute.OpGetEphemerals, "getEphemerals"},
		{jute.OpGetAllChildrenNumber, "getAllChildrenNumber"}, {jute.OpSetWatches2, "setWatches2"},
		{jute.OpAddWatch, "addWatch"}, {jute.OpWhoAmI, "whoAmI"},
		{jute.OpCreateSession, "createSession"}, {jute.OpCloseSession, "closeSession"},
		{jute.OpError, "error"},
		{10, "op(10)"}, {23, "op(23)"}, {-2, "op(-2)"},
	}
	for _, tt := range tests {
		if got := tt.op.String(); got != tt.want {
			t.Errorf("OpCode(%d).String() = %q, want %q", int32(tt.op), got, tt.want)
		}
	}
}

func TestOpCodeValues(t *testing.T) {
	// Values pinned by wire.md §5.
	want := map[jute.OpCode]int32{
		jute.OpNotification: 0, jute.OpCreate: 1, jute.OpDelete: 2, jute.OpExists: 3, jute.OpGetData: 4,
		jute.OpSetData: 5, jute.OpGetACL: 6, jute.OpSetACL: 7, jute.OpGetChildren: 8, jute.OpSync: 9,
		jute.OpPing: 11, jute.OpGetChildren2: 12, jute.OpCheck: 13, jute.OpMulti: 14, jute.OpCreate2: 15,
		jute.OpReconfig: 16, jute.OpCheckWatches: 17, jute.OpRemoveWatches: 18, jute.OpCreateContainer: 19,
		jute.OpDeleteContainer: 20, jute.OpCreateTTL: 21, jute.OpMultiRead: 22, jute.OpAuth: 100,
		jute.OpSetWatches: 101, jute.OpSASL: 102, jute.OpGetEphemerals: 103, jute.OpGetAllChildrenNumber: 104,
		jute.OpSetWatches2: 105, jute.OpAddWatch: 106, jute.OpWhoAmI: 107, jute.OpCreateSession: -10,
		jute.OpCloseSession: -11, jute.OpError: -1,
	}
	if len(want) != 33 {
		t.Fatalf("duplicate opcode constant: %d distinct", len(want))
	}
	for op, v := range want {
		if int32(op) != v {
			t.Errorf("%s = %d, want %d", op, int32(op), v)
		}
	}
}

func TestStringers(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{jute.Zxid(0x10).String(), "0x10"},
		{jute.Zxid(0).String(), "0x0"},
		{jute.SessionID(0x0100000000000000).String(), "0x100000000000000"},
		{jute.SessionID(-1).String(), "0xffffffffffffffff"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestCreateMode(t *testing.T) {
	tests := []struct {
		m                          jute.CreateMode
		valid, seq, ephemeral, ttl bool
	}{
		{jute.ModePersistent, true, false, false, false},
		{jute.ModeEphemeral, true, false, true, false},
		{jute.ModePersistentSequential, true, true, false, false},
		{jute.ModeEphemeralSequential, true, true, true, false},
		{jute.ModeContainer, true, false, false, false},
		{jute.ModePersistentWithTTL, true, false, false, true},
		{jute.ModePersistentSequentialWithTTL, true, true, false, true},
		{-1, false, false, false, false},
		{7, false, false, false, false},
	}
	for _, tt := range tests {
		if tt.m.Valid() != tt.valid || tt.m.Sequential() != tt.seq || tt.m.Ephemeral() != tt.ephemeral || tt.m.TTL() != tt.ttl {
			t.Errorf("mode %d: valid %v seq %v eph %v ttl %v", tt.m, tt.m.Valid(), tt.m.Sequential(), tt.m.Ephemeral(), tt.m.TTL())
		}
	}
}

func TestIsReadWriteOp(t *testing.T) {
	for op := jute.OpCode(-12); op < 110; op++ {
		write := op == jute.OpCreate || op == jute.OpCreate2 || op == jute.OpCreateContainer ||
			op == jute.OpCreateTTL || op == jute.OpDelete || op == jute.OpSetData || op == jute.OpCheck
		read := op == jute.OpGetData || op == jute.OpGetChildren
		if jute.IsWriteOp(op) != write || jute.IsReadOp(op) != read {
			t.Errorf("%s: IsWriteOp %v IsReadOp %v", op, jute.IsWriteOp(op), jute.IsReadOp(op))
		}
	}
}

func TestWellKnownACLs(t *testing.T) {
	requireBytes(t, jute.AppendACLs(nil, jute.OpenACLUnsafe), openACLBytes)
	requireBytes(t, jute.AppendACLs(nil, jute.ReadACLUnsafe),
		hx("00000001 00000001 00000005 776f726c64 00000006 616e796f6e65"))
	requireBytes(t, jute.AppendACLs(nil, jute.CreatorAllACL), hx("00000001 0000001f 00000004 61757468 00000000"))
	if jute.PermAll != 31 || jute.PermRead != 1 || jute.PermWrite != 2 || jute.PermCreate != 4 ||
		jute.PermDelete != 8 || jute.PermAdmin != 16 {
		t.Fatal("perm bits")
	}
}

func TestBufferPool(t *testing.T) {
	b := jute.AcquireBuffer()
	b.B = jute.AppendNotification(b.B[:0], -1, jute.EventNodeDataChanged, "/w")
	requireBytes(t, b.B, notifyFrame)
	jute.ReleaseBuffer(b)
}

// A vector count below -1 decodes as an empty vector inside every record that has
// vectors, and the fields after it decode as usual: ZooKeeper then answers create
// and setACL with INVALIDACL (from its ACL check), not MARSHALLINGERROR.
func TestNegativeVectorCountsInRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  jute.Record
		in   []byte
		want jute.Record
	}{
		{"create ACL -5", &jute.CreateRequest{}, hx("00000002 2f61 00000001 78 fffffffb 00000002"),
			&jute.CreateRequest{Path: "/a", Data: []byte("x"), ACL: []jute.ACL{}, Flags: 2}},
		{"setACL ACL -2", &jute.SetACLRequest{}, hx("00000002 2f61 fffffffe 00000003"),
			&jute.SetACLRequest{Path: "/a", ACL: []jute.ACL{}, Version: 3}},
		{"setWatches -3, null, 1", &jute.SetWatches{}, hx("0000000000000009 fffffffd ffffffff 00000001 00000002 2f61"),
			&jute.SetWatches{RelativeZxid: 9, DataWatches: []string{}, ChildWatches: []string{"/a"}}},
		{"getChildren reply -2", &jute.ChildrenResponse{}, hx("fffffffe"), &jute.ChildrenResponse{Children: []string{}}},
		{"whoAmI reply min int", &jute.WhoAmIResponse{}, hx("80000000"), &jute.WhoAmIResponse{ClientInfo: []jute.ClientInfo{}}},
		{"multi create ACL -2", &jute.MultiRequest{},
			cat(hx("00000001 00 ffffffff 00000002 2f61 ffffffff fffffffe 00000000"), hx("ffffffff 01 ffffffff")),
			&jute.MultiRequest{Ops: []jute.MultiOp{{Type: jute.OpCreate, Path: "/a", ACL: []jute.ACL{}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rest, err := decode(tc.rec, tc.in)
			if err != nil || rest != 0 {
				t.Fatalf("err=%v, %d bytes left", err, rest)
			}
			if !reflect.DeepEqual(tc.rec, tc.want) {
				t.Fatalf("decoded %#v\nwant    %#v", tc.rec, tc.want)
			}
		})
	}
}
