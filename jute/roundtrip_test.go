package jute_test

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"zkd/jute"
)

// rtCase is one record value for the round-trip tests. fresh returns an empty record
// configured like val (V2, HasStat, Read), which Decode does not set.
//
// Decoding yields a non-nil empty slice for an empty vector and a nil slice only for
// null, while encoders write nil vectors as empty; so vals spell empty vectors as
// []T{} and keep nil for null buffers, which do round-trip.
type rtCase struct {
	name  string
	val   jute.Record
	fresh func() jute.Record
}

func rtCases() []rtCase {
	digestACL := []jute.ACL{
		{Perms: jute.PermRead | jute.PermAdmin, ID: jute.Id{Scheme: "digest", ID: "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="}},
		{Perms: jute.PermAll, ID: jute.Id{Scheme: "ip", ID: "10.0.0.0/8"}},
	}
	stat := sampleStat
	neg := jute.Stat{Czxid: -1, Mzxid: -1, Ctime: -1, Mtime: -1, Version: -1, Cversion: -2, Aversion: -1,
		EphemeralOwner: -1 << 63, DataLength: 0, NumChildren: 1<<31 - 1, Pzxid: 1<<63 - 1}
	big := bytes.Repeat([]byte{0xa5}, 70000)
	utf8 := "/ünïcødé/日本/\x00/\xff"

	n := func(r jute.Record) func() jute.Record {
		return func() jute.Record { return reflect.New(reflect.TypeOf(r).Elem()).Interface().(jute.Record) }
	}
	return []rtCase{
		{"Id", &jute.Id{Scheme: "world", ID: "anyone"}, n(&jute.Id{})},
		{"Id/empty", &jute.Id{}, n(&jute.Id{})},
		{"ACL", &jute.ACL{Perms: jute.PermAll, ID: jute.Id{Scheme: "auth"}}, n(&jute.ACL{})},
		{"ACL/negative perms", &jute.ACL{Perms: -1, ID: jute.Id{Scheme: "x", ID: utf8}}, n(&jute.ACL{})},
		{"Stat", &stat, n(&jute.Stat{})},
		{"Stat/zero", &jute.Stat{}, n(&jute.Stat{})},
		{"Stat/extremes", &neg, n(&jute.Stat{})},

		{"ConnectRequest/readOnly", &jute.ConnectRequest{LastZxidSeen: 0x10, TimeOut: 30000, SessionID: 0x0100000000000000,
			Passwd: hx("f22acd4a97e69d6d20a49bb638eadb38"), ReadOnly: true, HasReadOnly: true}, n(&jute.ConnectRequest{})},
		{"ConnectRequest/readOnly false", &jute.ConnectRequest{TimeOut: 30000, Passwd: zeros(16), HasReadOnly: true}, n(&jute.ConnectRequest{})},
		{"ConnectRequest/old client", &jute.ConnectRequest{ProtocolVersion: 0, TimeOut: 4000, Passwd: zeros(16)}, n(&jute.ConnectRequest{})},
		{"ConnectRequest/null passwd", &jute.ConnectRequest{ProtocolVersion: -1, LastZxidSeen: -1, TimeOut: -1, SessionID: -1}, n(&jute.ConnectRequest{})},
		{"ConnectResponse/readOnly", &jute.ConnectResponse{TimeOut: 4000, SessionID: 0x0100000000000000,
			Passwd: hx("f22acd4a97e69d6d20a49bb638eadb38"), ReadOnly: true, HasReadOnly: true}, n(&jute.ConnectResponse{})},
		{"ConnectResponse/old client", &jute.ConnectResponse{TimeOut: 30000, SessionID: 0x01000123456a0000,
			Passwd: hx("0431ce3541a8199d82d50313f2fceeaf")}, n(&jute.ConnectResponse{})},
		{"ConnectResponse/invalid", &jute.ConnectResponse{Passwd: zeros(16), HasReadOnly: true}, n(&jute.ConnectResponse{})},

		{"RequestHeader", &jute.RequestHeader{Xid: 5, Type: jute.OpGetData}, n(&jute.RequestHeader{})},
		{"RequestHeader/ping", &jute.RequestHeader{Xid: jute.XidPing, Type: jute.OpPing}, n(&jute.RequestHeader{})},
		{"RequestHeader/close", &jute.RequestHeader{Xid: 1<<31 - 1, Type: jute.OpCloseSession}, n(&jute.RequestHeader{})},
		{"ReplyHeader", &jute.ReplyHeader{Xid: 5, Zxid: 0x30, Err: jute.CodeNoNode}, n(&jute.ReplyHeader{})},
		{"ReplyHeader/notification", &jute.ReplyHeader{Xid: jute.XidNotification, Zxid: -1}, n(&jute.ReplyHeader{})},

		{"CreateRequest", &jute.CreateRequest{Path: "/app/lock-", Data: []byte("payload"), ACL: jute.OpenACLUnsafe,
			Flags: int32(jute.ModeEphemeralSequential)}, n(&jute.CreateRequest{})},
		{"CreateRequest/null data", &jute.CreateRequest{Path: "/n", ACL: digestACL}, n(&jute.CreateRequest{})},
		{"CreateRequest/empty", &jute.CreateRequest{Data: []byte{}, ACL: []jute.ACL{}, Flags: -1}, n(&jute.CreateRequest{})},
		{"CreateRequest/big data", &jute.CreateRequest{Path: utf8, Data: big, ACL: jute.CreatorAllACL}, n(&jute.CreateRequest{})},
		{"CreateTTLRequest", &jute.CreateTTLRequest{CreateRequest: jute.CreateRequest{Path: "/ttl", Data: []byte{0},
			ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentWithTTL)}, TTL: 60000}, n(&jute.CreateTTLRequest{})},
		{"CreateTTLRequest/negative", &jute.CreateTTLRequest{CreateRequest: jute.CreateRequest{ACL: []jute.ACL{}}, TTL: -1}, n(&jute.CreateTTLRequest{})},

		{"PathRequest", &jute.PathRequest{Path: "/zookeeper/config"}, n(&jute.PathRequest{})},
		{"PathRequest/empty", &jute.PathRequest{}, n(&jute.PathRequest{})},
		{"PathWatchRequest", &jute.PathWatchRequest{Path: "/a", Watch: true}, n(&jute.PathWatchRequest{})},
		{"PathWatchRequest/no watch", &jute.PathWatchRequest{Path: utf8}, n(&jute.PathWatchRequest{})},
		{"PathVersionRequest", &jute.PathVersionRequest{Path: "/a/b", Version: -1}, n(&jute.PathVersionRequest{})},
		{"PathVersionRequest/v7", &jute.PathVersionRequest{Path: "/chk", Version: 7}, n(&jute.PathVersionRequest{})},
		{"SetDataRequest", &jute.SetDataRequest{Path: "/a", Data: []byte("new"), Version: 3}, n(&jute.SetDataRequest{})},
		{"SetDataRequest/null", &jute.SetDataRequest{Path: "/a", Version: -1}, n(&jute.SetDataRequest{})},
		{"SetDataRequest/empty", &jute.SetDataRequest{Path: "/a", Data: []byte{}, Version: 0}, n(&jute.SetDataRequest{})},
		{"SetACLRequest", &jute.SetACLRequest{Path: "/a", ACL: digestACL, Version: 2}, n(&jute.SetACLRequest{})},
		{"SetACLRequest/empty ACL", &jute.SetACLRequest{Path: "/a", ACL: []jute.ACL{}, Version: -1}, n(&jute.SetACLRequest{})},
		{"PathTypeRequest", &jute.PathTypeRequest{Path: "/w", Type: jute.AddWatchPersistentRecursive}, n(&jute.PathTypeRequest{})},
		{"PathTypeRequest/any", &jute.PathTypeRequest{Path: "/w", Type: jute.WatcherAny}, n(&jute.PathTypeRequest{})},
		{"AuthPacket", &jute.AuthPacket{Scheme: "digest", Auth: []byte("bob:secret")}, n(&jute.AuthPacket{})},
		{"AuthPacket/null", &jute.AuthPacket{Type: 7, Scheme: "x"}, n(&jute.AuthPacket{})},

		{"SetWatches", &jute.SetWatches{RelativeZxid: 0x13, DataWatches: []string{"/a", "/b"},
			ExistWatches: []string{"/w/new"}, ChildWatches: []string{}}, n(&jute.SetWatches{})},
		{"SetWatches/empty", &jute.SetWatches{DataWatches: []string{}, ExistWatches: []string{}, ChildWatches: []string{}}, n(&jute.SetWatches{})},
		{"SetWatches2", &jute.SetWatches{RelativeZxid: -1, DataWatches: []string{"/a"}, ExistWatches: []string{},
			ChildWatches: []string{"/", ""}, PersistentWatches: []string{"/p"}, PersistentRecursive: []string{"/r", utf8}, V2: true},
			func() jute.Record { return &jute.SetWatches{V2: true} }},
		{"SetWatches2/empty", &jute.SetWatches{DataWatches: []string{}, ExistWatches: []string{}, ChildWatches: []string{},
			PersistentWatches: []string{}, PersistentRecursive: []string{}, V2: true},
			func() jute.Record { return &jute.SetWatches{V2: true} }},

		{"ReconfigRequest", &jute.ReconfigRequest{JoiningServers: "server.4=10.0.0.4:2888:3888;2181",
			LeavingServers: "2,3", CurConfigID: 0x100000000}, n(&jute.ReconfigRequest{})},
		{"ReconfigRequest/newMembers", &jute.ReconfigRequest{NewMembers: "server.1=a:1:2;3", CurConfigID: -1}, n(&jute.ReconfigRequest{})},
		{"BufferRecord", &jute.BufferRecord{Token: []byte{0x60, 0x82, 0, 1}}, n(&jute.BufferRecord{})},
		{"BufferRecord/null", &jute.BufferRecord{}, n(&jute.BufferRecord{})},
		{"BufferRecord/empty", &jute.BufferRecord{Token: []byte{}}, n(&jute.BufferRecord{})},

		{"Create2Response", &jute.Create2Response{Path: "/app/lock-0000000042", Stat: stat}, n(&jute.Create2Response{})},
		{"GetDataResponse", &jute.GetDataResponse{Data: bytes.Repeat([]byte("d"), 100), Stat: stat}, n(&jute.GetDataResponse{})},
		{"GetDataResponse/null", &jute.GetDataResponse{Stat: neg}, n(&jute.GetDataResponse{})},
		{"GetDataResponse/big", &jute.GetDataResponse{Data: big, Stat: stat}, n(&jute.GetDataResponse{})},
		{"GetACLResponse", &jute.GetACLResponse{ACL: digestACL, Stat: stat}, n(&jute.GetACLResponse{})},
		{"GetACLResponse/empty", &jute.GetACLResponse{ACL: []jute.ACL{}}, n(&jute.GetACLResponse{})},
		{"ChildrenResponse", &jute.ChildrenResponse{Children: []string{"a", "b", "lock-0000000001"}}, n(&jute.ChildrenResponse{})},
		{"ChildrenResponse/empty", &jute.ChildrenResponse{Children: []string{}}, n(&jute.ChildrenResponse{})},
		{"ChildrenResponse/stat", &jute.ChildrenResponse{Children: []string{"zookeeper"}, Stat: stat, HasStat: true},
			func() jute.Record { return &jute.ChildrenResponse{HasStat: true} }},
		{"ChildrenResponse/stat empty", &jute.ChildrenResponse{Children: []string{}, Stat: neg, HasStat: true},
			func() jute.Record { return &jute.ChildrenResponse{HasStat: true} }},
		{"WhoAmIResponse", &jute.WhoAmIResponse{ClientInfo: []jute.ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"},
			{AuthScheme: "digest", User: "bob"}, {AuthScheme: "sasl"}}}, n(&jute.WhoAmIResponse{})},
		{"WhoAmIResponse/empty", &jute.WhoAmIResponse{ClientInfo: []jute.ClientInfo{}}, n(&jute.WhoAmIResponse{})},
		{"WatcherEvent", &jute.WatcherEvent{Type: jute.EventNodeDataChanged, State: jute.StateSyncConnected, Path: "/w"}, n(&jute.WatcherEvent{})},
		{"WatcherEvent/none", &jute.WatcherEvent{Type: jute.EventNone, State: -112}, n(&jute.WatcherEvent{})},
		{"IntRecord", &jute.IntRecord{Value: 0}, n(&jute.IntRecord{})},
		{"IntRecord/err", &jute.IntRecord{Value: int32(jute.CodeNoNode)}, n(&jute.IntRecord{})},

		{"MultiHeader", &jute.MultiHeader{Type: jute.OpCreate, Done: false, Err: -1}, n(&jute.MultiHeader{})},
		{"MultiHeader/end", &jute.MultiHeader{Type: -1, Done: true, Err: -1}, n(&jute.MultiHeader{})},
		{"MultiRequest", &jute.MultiRequest{Ops: []jute.MultiOp{
			{Type: jute.OpCreate, Path: "/m", Data: []byte("x"), ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeral)},
			{Type: jute.OpCreate2, Path: "/m2", ACL: digestACL, Flags: int32(jute.ModePersistentSequential)},
			{Type: jute.OpCreateContainer, Path: "/c", Data: []byte{}, ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeContainer)},
			{Type: jute.OpCreateTTL, Path: "/t", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentSequentialWithTTL), TTL: 1000},
			{Type: jute.OpDelete, Path: "/d", Version: -1},
			{Type: jute.OpSetData, Path: "/s", Data: []byte("v"), Version: 4},
			{Type: jute.OpSetData, Path: "/s", Version: -1},
			{Type: jute.OpCheck, Path: "/k", Version: 0},
		}}, n(&jute.MultiRequest{})},
		{"MultiRequest/empty", &jute.MultiRequest{}, n(&jute.MultiRequest{})},
		{"MultiRequest/read", &jute.MultiRequest{Read: true, Ops: []jute.MultiOp{
			{Type: jute.OpGetData, Path: "/a"},
			{Type: jute.OpGetChildren, Path: "/", Watch: true},
			{Type: jute.OpGetData, Path: utf8, Watch: true},
		}}, func() jute.Record { return &jute.MultiRequest{Read: true} }},
		{"MultiResponse/failed", &jute.MultiResponse{Results: []jute.OpResult{
			{Type: jute.OpError, Err: jute.CodeOK},
			{Type: jute.OpError, Err: jute.CodeBadVersion},
			{Type: jute.OpError, Err: jute.CodeRuntimeInconsistency},
		}}, n(&jute.MultiResponse{})},
		{"MultiResponse/ok", &jute.MultiResponse{Results: []jute.OpResult{
			{Type: jute.OpCreate, Path: "/m"},
			{Type: jute.OpCreate2, Path: "/m2", Stat: stat},
			{Type: jute.OpDelete},
			{Type: jute.OpSetData, Stat: neg},
			{Type: jute.OpCheck},
		}}, n(&jute.MultiResponse{})},
		{"MultiResponse/read", &jute.MultiResponse{Results: []jute.OpResult{
			{Type: jute.OpGetData, Data: []byte("hello"), Stat: stat},
			{Type: jute.OpGetData, Stat: stat},
			{Type: jute.OpGetData, Data: []byte{}, Stat: stat},
			{Type: jute.OpGetChildren, Children: []string{"x", "y"}},
			{Type: jute.OpGetChildren, Children: []string{}},
			{Type: jute.OpError, Err: jute.CodeNoNode},
		}}, n(&jute.MultiResponse{})},
		{"MultiResponse/empty", &jute.MultiResponse{}, n(&jute.MultiResponse{})},
	}
}

// optionalTail reports whether r's encoding ends in an optional byte that a decoder
// accepts being absent (the readOnly flag of the handshake records).
func optionalTail(r jute.Record) bool {
	switch r := r.(type) {
	case *jute.ConnectRequest:
		return r.HasReadOnly
	case *jute.ConnectResponse:
		return r.HasReadOnly
	}
	return false
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range rtCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.val.Append(nil)

			// Append extends dst without touching what is already there.
			prefix := []byte("prefix")
			withPrefix := tc.val.Append(append(make([]byte, 0, 64), prefix...))
			requireBytes(t, withPrefix, cat(prefix, enc))

			got := tc.fresh()
			rest, err := decode(got, enc)
			if err != nil || rest != 0 {
				t.Fatalf("decode: err=%v rest=%d of % x", err, rest, enc)
			}
			if !deepEqual(got, tc.val) {
				t.Fatalf("decode(encode(x)) != x\n got  %#v\n want %#v", got, tc.val)
			}
			requireBytes(t, got.Append(nil), enc)
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	for _, tc := range rtCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.val.Append(nil)
			step := 1
			if len(enc) > 4096 {
				step = 97 // the big-data cases; both ends are covered below
			}
			check := func(i int) {
				in := append([]byte(nil), enc[:i]...) // exact capacity: no reading past the end
				got := tc.fresh()
				rest, err := decode(got, in)
				if i == len(enc)-1 && optionalTail(tc.val) {
					if err != nil || rest != 0 {
						t.Fatalf("prefix %d without optional readOnly: err=%v rest=%d", i, err, rest)
					}
					return
				}
				if err == nil {
					t.Fatalf("prefix %d of %d decoded without error: %#v", i, len(enc), got)
				}
				if !errors.Is(err, jute.ErrShortBuffer) && !errors.Is(err, jute.ErrBadLength) {
					t.Fatalf("prefix %d: unexpected error %v", i, err)
				}
				if rest != 0 {
					t.Fatalf("prefix %d: %d bytes left after an error", i, rest)
				}
			}
			for i := 0; i < len(enc); i += step {
				check(i)
			}
			for i := 0; i < min(80, len(enc)); i++ {
				check(i)
			}
			for i := max(0, len(enc)-80); i < len(enc); i++ {
				check(i)
			}
		})
	}
}

// TestDecodeReuse decodes each case into a record that already holds the result of
// decoding other cases of the same type (successfully or not): every field the wire
// carries must be overwritten, so the result equals a fresh decode.
func sameRecord(a, b jute.Record) bool {
	// A reused multi record keeps its backing array: an empty op or result list comes
	// back as a non-nil empty slice, which means the same as nil.
	switch a := a.(type) {
	case *jute.MultiRequest:
		if b := b.(*jute.MultiRequest); len(a.Ops) == 0 && len(b.Ops) == 0 {
			return a.Read == b.Read
		}
	case *jute.MultiResponse:
		if b := b.(*jute.MultiResponse); len(a.Results) == 0 && len(b.Results) == 0 {
			return true
		}
	}
	return deepEqual(a, b)
}

func TestDecodeReuse(t *testing.T) {
	cases := rtCases()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.val.Append(nil)
			for _, other := range cases {
				if reflect.TypeOf(other.val) != reflect.TypeOf(tc.val) || other.name == tc.name {
					continue
				}
				r := tc.fresh()
				decode(r, other.val.Append(nil))
				if rest, err := decode(r, enc); err != nil || rest != 0 {
					t.Fatalf("after %s: err=%v rest=%d", other.name, err, rest)
				}
				if !sameRecord(r, tc.val) {
					t.Fatalf("after decoding %s, decode = %#v\nwant %#v", other.name, r, tc.val)
				}
			}
		})
	}

	t.Run("null vectors", func(t *testing.T) {
		w := jute.WhoAmIResponse{ClientInfo: []jute.ClientInfo{{AuthScheme: "ip", User: "x"}}}
		if _, err := decode(&w, hx("ffffffff")); err != nil || w.ClientInfo != nil {
			t.Fatalf("WhoAmI null: err=%v %#v", err, w.ClientInfo)
		}
		c := jute.ChildrenResponse{Children: []string{"stale"}}
		if _, err := decode(&c, hx("ffffffff")); err != nil || c.Children != nil {
			t.Fatalf("children null: err=%v %#v", err, c.Children)
		}
		g := jute.GetACLResponse{ACL: jute.OpenACLUnsafe}
		if _, err := decode(&g, cat(hx("ffffffff"), sampleStatBytes)); err != nil || g.ACL != nil {
			t.Fatalf("ACL null: err=%v %#v", err, g.ACL)
		}
	})
}

// TestRecordCoverage keeps rtCases complete: every type of the package with a Decode
// method must have a round-trip case.
func TestRecordCoverage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var records []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "Decode" {
				continue
			}
			typ := fn.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			records = append(records, typ.(*ast.Ident).Name)
		}
	}
	sort.Strings(records)
	if len(records) < 25 {
		t.Fatalf("found only %d records: %v", len(records), records)
	}
	covered := map[string]bool{}
	for _, tc := range rtCases() {
		covered[reflect.TypeOf(tc.val).Elem().Name()] = true
	}
	for _, name := range records {
		if !covered[name] {
			t.Errorf("record %s has no round-trip case", name)
		}
	}
}

// hostile is a 20-byte input (or close) whose length or count field claims far more
// than is present.
type hostile struct {
	name  string
	fresh func() jute.Record
	in    []byte
}

func hostileInputs() []hostile {
	huge := hx("7fffffff")
	pad := func(b []byte) []byte { return cat(b, zeros(20-len(b))) }
	return []hostile{
		{"SetWatches data", func() jute.Record { return &jute.SetWatches{} }, pad(cat(zeros(8), huge))},
		{"SetWatches2 recursive", func() jute.Record { return &jute.SetWatches{V2: true} },
			cat(zeros(8), zeros(12), huge, zeros(4))}, // three empty vectors, then the count
		{"GetChildren", func() jute.Record { return &jute.ChildrenResponse{} }, pad(huge)},
		{"GetChildren2", func() jute.Record { return &jute.ChildrenResponse{HasStat: true} }, pad(huge)},
		{"GetACL", func() jute.Record { return &jute.GetACLResponse{} }, pad(huge)},
		{"SetACL", func() jute.Record { return &jute.SetACLRequest{} }, pad(cat(hx("00000001 2f"), huge))},
		{"Create ACL", func() jute.Record { return &jute.CreateRequest{} }, pad(cat(hx("00000001 2f ffffffff"), huge))},
		{"WhoAmI", func() jute.Record { return &jute.WhoAmIResponse{} }, pad(huge)},
		{"GetData buffer", func() jute.Record { return &jute.GetDataResponse{} }, pad(huge)},
		{"path string", func() jute.Record { return &jute.PathWatchRequest{} }, pad(huge)},
		{"Connect passwd", func() jute.Record { return &jute.ConnectRequest{} }, cat(zeros(24), huge)},
		{"multi create ACL", func() jute.Record { return &jute.MultiRequest{} },
			cat(hx("00000001 00 ffffffff 00000000 ffffffff"), huge)},
		{"multiRead children result", func() jute.Record { return &jute.MultiResponse{} },
			pad(cat(hx("00000008 00 00000000"), huge))},
		// Counts whose size in bytes overflows 32 bits (count × minimum element size).
		{"ACL count 0x40000000", func() jute.Record { return &jute.GetACLResponse{} }, pad(hx("40000000"))},
		{"strings count 0x40000000", func() jute.Record { return &jute.ChildrenResponse{} }, pad(hx("40000000"))},
		{"WhoAmI count 0x20000001", func() jute.Record { return &jute.WhoAmIResponse{} }, pad(hx("20000001"))},
		{"count 0x15555556", func() jute.Record { return &jute.GetACLResponse{} }, pad(hx("15555556"))},
	}
}

func TestHostileLengths(t *testing.T) {
	for _, h := range hostileInputs() {
		t.Run(h.name, func(t *testing.T) {
			r := h.fresh()
			if _, err := decode(r, h.in); !errors.Is(err, jute.ErrBadLength) {
				t.Fatalf("err = %v, want ErrBadLength", err)
			}
			// d lives outside the measured function: r.Decode is an interface call, so
			// &d escapes and a Decoder declared inside would be counted.
			in, d := h.in, jute.NewDecoder(nil)
			allocs := testing.AllocsPerRun(20, func() {
				d = jute.NewDecoder(in)
				r.Decode(&d)
			})
			if allocs != 0 {
				t.Fatalf("%v allocations decoding a hostile length", allocs)
			}
		})
	}
}
