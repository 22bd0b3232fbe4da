package jute_test

import (
	"bytes"
	"fmt"
	"testing"

	"zkd/jute"
)

// Hot-path benchmarks: decoding the requests a ZooKeeper server sees most and encoding
// their replies into a reused buffer, the way a connection batches its writes.

// requestFrame builds a whole request frame.
func requestFrame(xid int32, op jute.OpCode, body jute.Record) []byte {
	h := jute.RequestHeader{Xid: xid, Type: op}
	dst, mark := jute.BeginFrame(nil)
	dst = h.Append(dst)
	if body != nil {
		dst = body.Append(dst)
	}
	return jute.EndFrame(dst, mark)
}

var (
	benchGetData = requestFrame(42, jute.OpGetData, &jute.PathWatchRequest{Path: "/services/payments/config", Watch: true})
	benchExists  = requestFrame(43, jute.OpExists, &jute.PathWatchRequest{Path: "/services/payments/leader", Watch: true})
	benchSetData = requestFrame(44, jute.OpSetData, &jute.SetDataRequest{Path: "/services/payments/config",
		Data: bytes.Repeat([]byte("v"), 100), Version: 7})
	benchCreate = requestFrame(45, jute.OpCreate, &jute.CreateRequest{Path: "/services/payments/locks/lock-",
		Data: bytes.Repeat([]byte("c"), 32), ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeralSequential)})

	benchStat = jute.Stat{Czxid: 0x100000012, Mzxid: 0x100000345, Ctime: 1718000000000, Mtime: 1718000123456,
		Version: 7, Cversion: 3, Aversion: 0, DataLength: 100, NumChildren: 3, Pzxid: 0x100000300}
	benchData = bytes.Repeat([]byte("d"), 100)
)

// requestDecoder decodes a request frame payload the way the server's dispatcher does:
// header, then a switch on the opcode into a concrete body record.
type requestDecoder struct {
	hdr    jute.RequestHeader
	pw     jute.PathWatchRequest
	set    jute.SetDataRequest
	create jute.CreateRequest
}

func (r *requestDecoder) decode(payload []byte) error {
	d := jute.NewDecoder(payload)
	r.hdr.Decode(&d)
	switch r.hdr.Type {
	case jute.OpGetData, jute.OpExists, jute.OpGetChildren, jute.OpGetChildren2:
		r.pw.Decode(&d)
	case jute.OpSetData:
		r.set.Decode(&d)
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer:
		r.create.Decode(&d)
	}
	return d.Err()
}

func appendGetDataReply(dst []byte, xid int32, zxid jute.Zxid, r *jute.GetDataResponse) []byte {
	dst, mark := jute.BeginFrame(dst)
	dst = jute.AppendReplyHeader(dst, xid, zxid, jute.CodeOK)
	return jute.EndFrame(r.Append(dst), mark)
}

func appendStatReply(dst []byte, xid int32, zxid jute.Zxid, s *jute.Stat) []byte {
	dst, mark := jute.BeginFrame(dst)
	dst = jute.AppendReplyHeader(dst, xid, zxid, jute.CodeOK)
	return jute.EndFrame(s.Append(dst), mark)
}

func appendCreate2Reply(dst []byte, xid int32, zxid jute.Zxid, r *jute.Create2Response) []byte {
	dst, mark := jute.BeginFrame(dst)
	dst = jute.AppendReplyHeader(dst, xid, zxid, jute.CodeOK)
	return jute.EndFrame(r.Append(dst), mark)
}

func TestBenchFrames(t *testing.T) {
	// The benchmark frames decode to what they were built from.
	var r requestDecoder
	for _, frame := range [][]byte{benchGetData, benchExists, benchSetData, benchCreate} {
		if err := r.decode(frame[4:]); err != nil {
			t.Fatalf("% x: %v", frame, err)
		}
	}
	if r.hdr != (jute.RequestHeader{Xid: 45, Type: jute.OpCreate}) || r.create.Path != "/services/payments/locks/lock-" ||
		r.pw.Path != "/services/payments/leader" || len(r.set.Data) != 100 {
		t.Fatalf("%+v", r)
	}
	reply := appendGetDataReply(nil, 42, 0x100000400, &jute.GetDataResponse{Data: benchData, Stat: benchStat})
	if len(reply) != 4+jute.ReplyHeaderSize+4+100+jute.StatSize {
		t.Fatalf("getData reply is %d bytes", len(reply))
	}
}

// TestHotPathAllocs pins the zero-allocation hot paths (STYLE §37).
func TestHotPathAllocs(t *testing.T) {
	var r requestDecoder
	for _, tt := range []struct {
		name  string
		frame []byte
	}{{"getData", benchGetData}, {"exists", benchExists}, {"setData", benchSetData}} {
		payload := tt.frame[4:]
		if n := testing.AllocsPerRun(100, func() {
			if r.decode(payload) != nil {
				panic("decode")
			}
		}); n != 0 {
			t.Errorf("decoding a %s request: %v allocs, want 0", tt.name, n)
		}
	}

	buf := make([]byte, 0, 1024)
	resp := jute.GetDataResponse{Data: benchData, Stat: benchStat}
	if n := testing.AllocsPerRun(100, func() {
		buf = appendGetDataReply(buf[:0], 42, 0x100000400, &resp)
	}); n != 0 {
		t.Errorf("encoding a getData reply: %v allocs, want 0", n)
	}
	stat := benchStat
	if n := testing.AllocsPerRun(100, func() {
		buf = appendStatReply(buf[:0], 43, 0x100000400, &stat)
		buf = jute.AppendNotification(buf, 0x100000401, jute.EventNodeDataChanged, "/services/payments/config")
	}); n != 0 {
		t.Errorf("encoding an exists reply and a notification: %v allocs, want 0", n)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	for _, bb := range []struct {
		name  string
		frame []byte
	}{{"getData", benchGetData}, {"exists", benchExists}, {"setData", benchSetData}, {"create", benchCreate}} {
		b.Run(bb.name, func(b *testing.B) {
			var r requestDecoder
			payload := bb.frame[4:]
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.frame)))
			for b.Loop() {
				if err := r.decode(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeReply(b *testing.B) {
	buf := make([]byte, 0, 4096)
	run := func(name string, build func(dst []byte) []byte) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(build(nil))))
			for b.Loop() {
				buf = build(buf[:0])
			}
		})
	}
	getData := jute.GetDataResponse{Data: benchData, Stat: benchStat}
	stat := benchStat
	create2 := jute.Create2Response{Path: "/services/payments/locks/lock-0000000042", Stat: benchStat}
	run("getData", func(dst []byte) []byte { return appendGetDataReply(dst, 42, 0x100000400, &getData) })
	run("exists", func(dst []byte) []byte { return appendStatReply(dst, 43, 0x100000400, &stat) })
	run("setData", func(dst []byte) []byte { return appendStatReply(dst, 44, 0x100000401, &stat) })
	run("create2", func(dst []byte) []byte { return appendCreate2Reply(dst, 45, 0x100000402, &create2) })
}

// BenchmarkEncodeReplyBatch appends n getData replies to one buffer, as a connection
// does when it drains its pipelined requests.
func BenchmarkEncodeReplyBatch(b *testing.B) {
	getData := jute.GetDataResponse{Data: benchData, Stat: benchStat}
	for _, n := range []int{1, 16, 128} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]byte, 0, 256*n)
			b.ReportAllocs()
			b.SetBytes(int64(n * len(appendGetDataReply(nil, 1, 1, &getData))))
			for b.Loop() {
				buf = buf[:0]
				for i := range n {
					buf = appendGetDataReply(buf, int32(i), 0x100000400, &getData)
				}
			}
		})
	}
}
