package jute_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"zkd/jute"
)

// Fuzz targets, one per decoder family. The properties (STYLE §33):
//   - no input panics the decoder, and a failed decode leaves nothing unread;
//   - nothing decoded is larger than the input (no slice sized by a hostile length);
//   - a decoded value re-encodes to exactly the bytes it consumed in size, and that
//     encoding is canonical: e1 = encode(decode(x)) decodes again, to a value equal to
//     decode(x) up to the normalisations the format defines (null string -> "", null
//     vector -> empty), and encode(decode(e1)) == e1.

// checkRecord runs the properties on in decoded into fresh().
func checkRecord(t *testing.T, in []byte, fresh func() jute.Record) {
	t.Helper()
	r := fresh()
	d := jute.NewDecoder(in)
	r.Decode(&d)
	if d.Err() != nil {
		if d.Remaining() != 0 {
			t.Fatalf("error %v left %d bytes unread", d.Err(), d.Remaining())
		}
		return
	}
	consumed := len(in) - d.Remaining()
	checkSizes(t, reflect.ValueOf(r), len(in))

	e1 := r.Append(nil)
	if len(e1) != consumed {
		t.Fatalf("decoded %d bytes, re-encoded to %d\n in  % x\n out % x", consumed, len(e1), in[:consumed], e1)
	}
	r2 := fresh()
	rest, err := decode(r2, e1)
	if err != nil || rest != 0 {
		t.Fatalf("re-encoding does not decode: err=%v rest=%d\n in  % x\n out % x", err, rest, in, e1)
	}
	e2 := r2.Append(nil)
	if !bytes.Equal(e1, e2) {
		t.Fatalf("re-encoding not stable\n e1 % x\n e2 % x", e1, e2)
	}
	normalize(reflect.ValueOf(r))
	normalize(reflect.ValueOf(r2))
	if !reflect.DeepEqual(r, r2) {
		t.Fatalf("decode(encode(v)) != v\n v  %#v\n v2 %#v", r, r2)
	}
}

// normalize rewrites a decoded value into the form its encoding preserves: empty
// vectors become nil (null vectors decode as nil, empty ones as []T{}, both encode as
// count 0) and the MultiHeader.err of a non-error result is dropped (the encoder
// writes 0 there; only error results carry a code). []byte is left alone: buffers
// keep null and empty apart.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		if res, ok := v.Addr().Interface().(*jute.OpResult); ok && res.Type != jute.OpError {
			res.Err = 0
		}
		for i := 0; i < v.NumField(); i++ {
			normalize(v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for i := 0; i < v.Len(); i++ {
			normalize(v.Index(i))
		}
	}
}

// checkSizes fails if any slice or string reachable from v is larger than the input
// it was decoded from: a length or count field must never size an allocation by
// itself.
func checkSizes(t *testing.T, v reflect.Value, limit int) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			checkSizes(t, v.Elem(), limit)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			checkSizes(t, v.Field(i), limit)
		}
	case reflect.String:
		if v.Len() > limit {
			t.Fatalf("string of %d bytes from %d input bytes", v.Len(), limit)
		}
	case reflect.Slice:
		if v.Cap() > limit {
			t.Fatalf("%s with cap %d from %d input bytes", v.Type(), v.Cap(), limit)
		}
		for i := 0; i < v.Len(); i++ {
			checkSizes(t, v.Index(i), limit)
		}
	}
}

// seedCases adds the encodings of the round-trip cases accepted by keep, each prefixed
// by the selector byte sel returns (nil: no prefix).
func seedCases(f *testing.F, keep func(jute.Record) bool, sel func(jute.Record) []byte) {
	for _, tc := range rtCases() {
		if !keep(tc.val) {
			continue
		}
		var prefix []byte
		if sel != nil {
			prefix = sel(tc.val)
		}
		f.Add(cat(prefix, tc.val.Append(nil)))
	}
}

func isType[T any](r jute.Record) bool { _, ok := r.(T); return ok }

// opByte encodes an opcode as the selector byte of FuzzDecodeRequestBodies and
// FuzzDecodeReplyBodies (two's complement, so -11 is 0xf5).
func opByte(op jute.OpCode) []byte { return []byte{byte(int8(op))} }

func FuzzDecodeConnectRequest(f *testing.F) {
	f.Add(connectReq45[4:])
	f.Add(connectReq44[4:])
	f.Add(cat(connectReq45[4:], []byte{7, 7, 7}))
	f.Add(hx("00000000 0000000000000000 00007530 0000000000000000 ffffffff"))
	f.Add(cat(zeros(24), hx("7fffffff"), zeros(16)))
	seedCases(f, isType[*jute.ConnectRequest], nil)
	fresh := func() jute.Record { return &jute.ConnectRequest{} }
	f.Fuzz(func(t *testing.T, in []byte) { checkRecord(t, in, fresh) })
}

func FuzzDecodeConnectResponse(f *testing.F) {
	seedCases(f, isType[*jute.ConnectResponse], nil)
	f.Add(zeros(36))
	fresh := func() jute.Record { return &jute.ConnectResponse{} }
	f.Fuzz(func(t *testing.T, in []byte) { checkRecord(t, in, fresh) })
}

// requestOps are the opcodes whose bodies FuzzDecodeRequestBodies seeds.
var requestOps = []jute.OpCode{
	jute.OpCreate, jute.OpDelete, jute.OpExists, jute.OpGetData, jute.OpSetData, jute.OpGetACL,
	jute.OpSetACL, jute.OpGetChildren, jute.OpSync, jute.OpGetChildren2, jute.OpCheck,
	jute.OpMulti, jute.OpCreate2, jute.OpReconfig, jute.OpCheckWatches, jute.OpRemoveWatches,
	jute.OpCreateContainer, jute.OpCreateTTL, jute.OpMultiRead, jute.OpAuth, jute.OpSetWatches,
	jute.OpSASL, jute.OpGetEphemerals, jute.OpGetAllChildrenNumber, jute.OpSetWatches2,
	jute.OpAddWatch,
}

// FuzzDecodeRequestBodies picks the body record from the first byte, read as an
// opcode, the way the server dispatches on RequestHeader.type.
func FuzzDecodeRequestBodies(f *testing.F) {
	f.Add(cat(opByte(jute.OpGetData), getDataReqFrame[12:]))
	// Vector counts below -1, which ZooKeeper reads as empty vectors.
	f.Add(cat(opByte(jute.OpCreate), hx("00000002 2f61 00000001 78 fffffffb 00000000")))
	f.Add(cat(opByte(jute.OpSetACL), hx("00000002 2f61 80000000 ffffffff")))
	f.Add(cat(opByte(jute.OpSetWatches), hx("0000000000000000 fffffffe ffffffff fffffff0")))
	f.Add(cat(opByte(jute.OpMulti), hx("00000001 00 ffffffff 00000002 2f61 ffffffff fffffffe 00000000 ffffffff 01 ffffffff")))
	for _, op := range requestOps {
		want := reflect.TypeOf(requestBody(op))
		for _, tc := range rtCases() {
			// Pair every op with its own record's cases, keeping V2/Read matched.
			if reflect.TypeOf(tc.val) == want && sameConfig(tc.fresh(), requestBody(op)) {
				f.Add(cat(opByte(op), tc.val.Append(nil)))
			}
		}
	}
	for _, h := range hostileInputs() {
		for _, op := range requestOps {
			if reflect.TypeOf(requestBody(op)) == reflect.TypeOf(h.fresh()) {
				f.Add(cat(opByte(op), h.in))
				break
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		op := jute.OpCode(int8(in[0]))
		if requestBody(op) == nil {
			return
		}
		checkRecord(t, in[1:], func() jute.Record { return requestBody(op) })
	})
}

// FuzzDecodeReplyBodies is FuzzDecodeRequestBodies for the success reply bodies.
func FuzzDecodeReplyBodies(f *testing.F) {
	replyOps := append([]jute.OpCode{jute.OpNotification, jute.OpWhoAmI}, requestOps...)
	for _, op := range replyOps {
		want := replyBody(op)
		if want == nil {
			continue
		}
		for _, tc := range rtCases() {
			if reflect.TypeOf(tc.val) == reflect.TypeOf(want) && sameConfig(tc.fresh(), want) {
				f.Add(cat(opByte(op), tc.val.Append(nil)))
			}
		}
	}
	f.Add(cat(opByte(jute.OpNotification), notifyFrame[20:]))
	f.Add(cat(opByte(jute.OpExists), sampleStatBytes))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		op := jute.OpCode(int8(in[0]))
		if replyBody(op) == nil {
			return
		}
		checkRecord(t, in[1:], func() jute.Record { return replyBody(op) })
	})
}

// sameConfig reports whether two fresh records agree on the flags Decode does not read
// from the wire.
func sameConfig(a, b jute.Record) bool { return reflect.DeepEqual(a, b) }

// FuzzDecodeMulti decodes a multi (first byte even) or multiRead (odd) op list.
func FuzzDecodeMulti(f *testing.F) {
	for _, tc := range rtCases() {
		if m, ok := tc.val.(*jute.MultiRequest); ok {
			sel := byte(0)
			if m.Read {
				sel = 1
			}
			f.Add(cat([]byte{sel}, m.Append(nil)))
		}
	}
	end := hx("ffffffff 01 ffffffff")
	f.Add(cat([]byte{0}, hx("00000001 00 ffffffff 00000002 2f6d ffffffff"), openACLBytes, hx("00000007"), end))
	f.Add(cat([]byte{1}, hx("00000002 00 ffffffff 00000002 2f6e ffffffff"), end))
	f.Add(cat([]byte{0}, hx("00000001 00 ffffffff 00000000 ffffffff 7fffffff")))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		read := in[0]&1 == 1
		checkRecord(t, in[1:], func() jute.Record { return &jute.MultiRequest{Read: read} })
	})
}

func FuzzDecodeMultiResponse(f *testing.F) {
	seedCases(f, isType[*jute.MultiResponse], nil)
	f.Add(hx("00000008 00 00000000 7fffffff 00000000 00000000 00"))
	f.Add(hx("00000001 00 ffffff9b 00000001 61 ffffffff 01 ffffffff")) // header err on a create result
	f.Fuzz(func(t *testing.T, in []byte) {
		checkRecord(t, in, func() jute.Record { return &jute.MultiResponse{} })
	})
}

// FuzzDecodeSetWatches decodes setWatches (first byte even) or setWatches2 (odd).
func FuzzDecodeSetWatches(f *testing.F) {
	seedCases(f, isType[*jute.SetWatches], func(r jute.Record) []byte {
		if r.(*jute.SetWatches).V2 {
			return []byte{1}
		}
		return []byte{0}
	})
	f.Add(cat([]byte{0}, zeros(8), hx("7fffffff"), zeros(8)))
	f.Add(cat([]byte{1}, zeros(8), hx("00000001 ffffffff ffffffff 00000000 00000000 00000000")))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		v2 := in[0]&1 == 1
		checkRecord(t, in[1:], func() jute.Record { return &jute.SetWatches{V2: v2} })
	})
}

// FuzzDecodeRequestFrames decodes a stream of request frames the way a connection
// reads them after the handshake: length, RequestHeader, then the body record chosen
// by the opcode, which must satisfy checkRecord.
func FuzzDecodeRequestFrames(f *testing.F) {
	f.Add(cat(getDataReqFrame, pingReqFrame, getDataReqFrame))
	h := jute.RequestHeader{Xid: 7, Type: jute.OpMulti}
	for _, tc := range rtCases() {
		if m, ok := tc.val.(*jute.MultiRequest); ok && !m.Read {
			dst, mark := jute.BeginFrame(nil)
			f.Add(jute.EndFrame(m.Append(h.Append(dst)), mark))
		}
	}
	f.Add(hx("00000010 00000003 00000003 00000002 2f61 01 ffffffff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for len(in) >= 4 {
			n := int(int32(binary.BigEndian.Uint32(in)))
			if n < jute.RequestHeaderSize || n > len(in)-4 || n > jute.DefaultMaxBuffer {
				return
			}
			var frame []byte
			frame, in = in[4:4+n], in[4+n:]
			d := jute.NewDecoder(frame)
			var hdr jute.RequestHeader
			hdr.Decode(&d)
			if d.Err() != nil || d.Remaining() != n-jute.RequestHeaderSize {
				t.Fatalf("header of a %d-byte frame: err=%v rest=%d", n, d.Err(), d.Remaining())
			}
			if requestBody(hdr.Type) != nil {
				op := hdr.Type
				checkRecord(t, d.Rest(), func() jute.Record { return requestBody(op) })
			}
		}
	})
}
