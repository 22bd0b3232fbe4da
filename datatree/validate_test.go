package datatree

import (
	"testing"

	"zkd/jute"
)

const unknownSession jute.SessionID = 0x7777

// validationTree returns a harness with the nodes the validation tables use:
//
//	/p        persistent, OPEN_ACL_UNSAFE, with child /p/kid
//	/e        ephemeral of testSession
//	/noc      every permission but CREATE, with child /noc/kid
//	/nodel    every permission but DELETE, with child /nodel/kid
//	/ro       READ only (no WRITE, no ADMIN)
//	/cont     container
func validationTree(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := newHarness(t, cfg)
	h.mustCreate("/p", "data", 0)
	h.mustCreate("/p/kid", "", 0)
	h.mustCreate("/e", "", int32(jute.ModeEphemeral))
	h.mustCreate("/noc", "", 0)
	h.mustCreate("/noc/kid", "", 0)
	if _, code := h.setACL("/noc", acl(jute.PermAll&^jute.PermCreate, "world", "anyone"), -1); code != jute.CodeOK {
		t.Fatal(code)
	}
	h.mustCreate("/nodel", "", 0)
	h.mustCreate("/nodel/kid", "", 0)
	if _, code := h.setACL("/nodel", acl(jute.PermAll&^jute.PermDelete, "world", "anyone"), -1); code != jute.CodeOK {
		t.Fatal(code)
	}
	h.mustCreateACL("/ro", acl(jute.PermRead, "world", "anyone"))
	if _, _, code := h.createFull(jute.OpCreateContainer, "/cont", nil, jute.OpenACLUnsafe, int32(jute.ModeContainer), 0); code != jute.CodeOK {
		t.Fatal(code)
	}
	return h
}

// TestCreateValidationOrder walks semantics.md §4's create checks: each case breaks
// two or more rules and must report the first one.
func TestCreateValidationOrder(t *testing.T) {
	bad := []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "world", ID: "nobody"}}}
	type tc struct {
		name    string
		ext     bool
		op      jute.OpCode
		path    string
		flags   int32
		ttl     int64
		acl     []jute.ACL
		session jute.SessionID
		want    jute.Code
		wantP   string
	}
	tests := []tc{
		// 1 flags
		{name: "flags 7 beats everything", op: jute.OpCreate, path: "bad", flags: 7, acl: bad, session: unknownSession, want: jute.CodeBadArguments},
		{name: "flags -1", op: jute.OpCreate2, path: "/p/x", flags: -1, want: jute.CodeBadArguments},
		{name: "flags 7 createTTL", ext: true, op: jute.OpCreateTTL, path: "/p/x", flags: 7, ttl: 10, want: jute.CodeBadArguments},
		// 2 TTL mode with extended types off
		{name: "ttl mode, ext off, createTTL", op: jute.OpCreateTTL, path: "bad", flags: 5, ttl: 10, session: unknownSession, want: jute.CodeUnimplemented},
		{name: "ttl seq mode, ext off", op: jute.OpCreateTTL, path: "/p/x", flags: 6, ttl: 0, want: jute.CodeUnimplemented},
		{name: "ttl mode, ext off, create", op: jute.OpCreate, path: "/p/x", flags: 5, want: jute.CodeUnimplemented},
		// 3 TTL validity
		{name: "ttl 0", ext: true, op: jute.OpCreateTTL, path: "bad", flags: 5, ttl: 0, session: unknownSession, want: jute.CodeBadArguments},
		{name: "ttl -1", ext: true, op: jute.OpCreateTTL, path: "/p/x", flags: 5, ttl: -1, want: jute.CodeBadArguments},
		{name: "ttl max+1", ext: true, op: jute.OpCreateTTL, path: "/p/x", flags: 5, ttl: 0xFF_FFFF_FFFF + 1, want: jute.CodeBadArguments},
		{name: "ttl max", ext: true, op: jute.OpCreateTTL, path: "/p/x", flags: 5, ttl: 0xFF_FFFF_FFFF, wantP: "/p/x"},
		{name: "ttl 1 sequential", ext: true, op: jute.OpCreateTTL, path: "/p/x", flags: 6, ttl: 1, wantP: "/p/x0000000001"},
		{name: "ttl mode through create (no ttl)", ext: true, op: jute.OpCreate, path: "/p/x", flags: 5, want: jute.CodeBadArguments},
		{name: "createTTL with persistent mode", ext: true, op: jute.OpCreateTTL, path: "/p/x", flags: 0, ttl: 10, want: jute.CodeBadArguments},
		{name: "createTTL with persistent mode, ttl -1", ext: true, op: jute.OpCreateTTL, path: "/p/x", flags: 0, ttl: -1, want: jute.CodeBadArguments},
		{name: "createTTL ext off, persistent mode", op: jute.OpCreateTTL, path: "/p/x", flags: 0, ttl: 10, want: jute.CodeBadArguments},
		// 4 session
		{name: "unknown session before path", op: jute.OpCreate, path: "bad", acl: bad, session: unknownSession, want: jute.CodeSessionExpired},
		{name: "unknown session", op: jute.OpCreate, path: "/p/x", session: unknownSession, want: jute.CodeSessionExpired},
		// 5 parent-part sanity
		{name: "no slash before bad acl", op: jute.OpCreate, path: "bad", acl: bad, want: jute.CodeBadArguments},
		{name: "empty path", op: jute.OpCreate, path: "", want: jute.CodeBadArguments},
		{name: "NUL before bad acl", op: jute.OpCreate, path: "/missing/a\x00b", acl: bad, want: jute.CodeBadArguments},
		// 6 ACL fix-up
		{name: "bad acl before missing parent", op: jute.OpCreate, path: "/missing/x", acl: bad, want: jute.CodeInvalidACL},
		{name: "empty acl", op: jute.OpCreate, path: "/p/x", acl: []jute.ACL{}, want: jute.CodeInvalidACL},
		{name: "auth without authenticated id", op: jute.OpCreate, path: "/p/x", acl: jute.CreatorAllACL, want: jute.CodeInvalidACL},
		// 7 parent exists
		{name: "missing parent", op: jute.OpCreate, path: "/missing/x", want: jute.CodeNoNode},
		{name: "a//b: parent /a/ missing", op: jute.OpCreate, path: "/p//b", want: jute.CodeNoNode},
		{name: "a/./b: parent /a/. missing", op: jute.OpCreate, path: "/p/./b", want: jute.CodeNoNode},
		{name: "a/../b: parent /a/.. missing", op: jute.OpCreate, path: "/p/../b", want: jute.CodeNoNode},
		// 8 CREATE on parent
		{name: "no CREATE", op: jute.OpCreate, path: "/noc/x", want: jute.CodeNoAuth},
		{name: "no CREATE before bad path", op: jute.OpCreate, path: "/noc/x\x01", want: jute.CodeNoAuth},
		{name: "no CREATE before exists", op: jute.OpCreate, path: "/noc/kid", want: jute.CodeNoAuth},
		{name: "no CREATE, sequential", op: jute.OpCreate, path: "/noc/s", flags: 2, want: jute.CodeNoAuth},
		// 10 full path after the suffix
		{name: "trailing slash", op: jute.OpCreate, path: "/p/", want: jute.CodeBadArguments},
		{name: "trailing slash sequential", op: jute.OpCreate, path: "/p/", flags: 2, wantP: "/p/0000000001"},
		{name: "dot", op: jute.OpCreate, path: "/p/.", want: jute.CodeBadArguments},
		{name: "dot sequential", op: jute.OpCreate, path: "/p/.", flags: 2, wantP: "/p/.0000000001"},
		{name: "dotdot", op: jute.OpCreate, path: "/p/..", want: jute.CodeBadArguments},
		{name: "control char", op: jute.OpCreate, path: "/p/a\x1f", want: jute.CodeBadArguments},
		{name: "control char sequential", op: jute.OpCreate, path: "/p/a\x01", flags: 2, want: jute.CodeBadArguments},
		{name: "DEL", op: jute.OpCreate, path: "/p/a\x7f", want: jute.CodeBadArguments},
		{name: "C1 control", op: jute.OpCreate, path: "/p/a\u0085", want: jute.CodeBadArguments},
		{name: "emoji", op: jute.OpCreate, path: "/p/\U0001F600", want: jute.CodeBadArguments},
		{name: "private use", op: jute.OpCreate, path: "/p/\uE000", want: jute.CodeBadArguments},
		{name: "U+FFF0", op: jute.OpCreate, path: "/p/\uFFF0", want: jute.CodeBadArguments},
		{name: "bad UTF-8", op: jute.OpCreate, path: "/p/\xff", want: jute.CodeBadArguments},
		{name: "bad path before exists", op: jute.OpCreate, path: "/p/kid/", want: jute.CodeBadArguments},
		{name: "bad path before ephemeral parent", op: jute.OpCreate, path: "/e/\x01", want: jute.CodeBadArguments},
		{name: "legal dots", op: jute.OpCreate, path: "/p/...", wantP: "/p/..."},
		{name: "legal BMP", op: jute.OpCreate, path: "/p/é日本", wantP: "/p/é日本"},
		// 11 exists
		{name: "exists", op: jute.OpCreate, path: "/p/kid", want: jute.CodeNodeExists},
		{name: "root", op: jute.OpCreate, path: "/", want: jute.CodeNodeExists},
		{name: "exists before ephemeral parent", op: jute.OpCreate, path: "/e", flags: 1, want: jute.CodeNodeExists},
		// 12 ephemeral parent
		{name: "child of ephemeral", op: jute.OpCreate, path: "/e/x", want: jute.CodeNoChildrenForEphemerals},
		{name: "ephemeral child of ephemeral", op: jute.OpCreate2, path: "/e/x", flags: 3, want: jute.CodeNoChildrenForEphemerals},
		{name: "child of container", op: jute.OpCreate, path: "/cont/x", flags: 1, wantP: "/cont/x"},
		// Opcode quirks of §4: flags 4 under 1/15 is a plain node; 19 always a container.
		{name: "flags 4 via create", op: jute.OpCreate, path: "/p/x", flags: 4, wantP: "/p/x"},
		{name: "createContainer flags 0", op: jute.OpCreateContainer, path: "/p/x", flags: 0, wantP: "/p/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validationTree(t, Config{ExtendedTypes: tt.ext})
			before := dumpTree(h.tree)
			a := tt.acl
			if a == nil {
				a = jute.OpenACLUnsafe
			}
			sid := tt.session
			if sid == 0 {
				sid = testSession
			}
			h.sid = sid
			path, _, code := h.createFull(tt.op, tt.path, nil, a, tt.flags, tt.ttl)
			if code != tt.want || path != tt.wantP {
				t.Fatalf("create(op %v, %q, flags %d, ttl %d) = (%q, %v), want (%q, %v)",
					tt.op, tt.path, tt.flags, tt.ttl, path, code, tt.wantP, tt.want)
			}
			if code != jute.CodeOK {
				if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
					t.Fatalf("failed create changed the tree:%s", diff)
				}
				return
			}
			if !h.exists(path) {
				t.Fatalf("%q not created", path)
			}
		})
	}
}

// TestCreateOpcodeKinds checks which node kind each opcode/flags pair makes
// (semantics.md §4 quirks, §5.5 stored ephemeralOwner).
func TestCreateOpcodeKinds(t *testing.T) {
	h := validationTree(t, Config{ExtendedTypes: true})
	tests := []struct {
		op    jute.OpCode
		path  string
		flags int32
		ttl   int64
		owner int64
	}{
		{jute.OpCreate, "/k1", 4, 0, 0},
		{jute.OpCreate2, "/k2", 4, 0, 0},
		{jute.OpCreateContainer, "/k3", 0, 0, containerOwner},
		{jute.OpCreateContainer, "/k4", 1, 0, containerOwner},
		{jute.OpCreateContainer, "/k5", 4, 0, containerOwner},
		{jute.OpCreate, "/k6", 1, 0, int64(testSession)},
		{jute.OpCreateTTL, "/k7", 5, 1234, ttlMask | 1234},
	}
	for _, tt := range tests {
		_, st, code := h.createFull(tt.op, tt.path, nil, jute.OpenACLUnsafe, tt.flags, tt.ttl)
		if code != jute.CodeOK {
			t.Fatalf("%v %s flags %d: %v", tt.op, tt.path, tt.flags, code)
		}
		n := nodeOf(h.tree, tt.path)
		if n.owner != tt.owner {
			t.Errorf("%v %s flags %d: stored owner %#x, want %#x", tt.op, tt.path, tt.flags, n.owner, tt.owner)
		}
		wantClient := int64(0)
		if tt.flags == 1 && tt.op != jute.OpCreateContainer {
			wantClient = int64(testSession)
		}
		if tt.op != jute.OpCreate && st.EphemeralOwner != wantClient {
			t.Errorf("%v %s: reply ephemeralOwner %#x, want %#x", tt.op, tt.path, st.EphemeralOwner, wantClient)
		}
		if got := h.stat(tt.path).EphemeralOwner; got != wantClient {
			t.Errorf("%v %s: ephemeralOwner %#x, want %#x", tt.op, tt.path, got, wantClient)
		}
	}
}

// TestCreateContainerFlags: createContainer checks its flags' CreateMode like any
// create and then always writes a CreateContainerTxn (ZooKeeper 3.8
// PrepRequestProcessor.pRequest2TxnCreate and DataTree.processTxn): a TTL mode is
// UNIMPLEMENTED without extended types and BADARGUMENTS with them (no TTL travels
// with opcode 19), a sequential mode appends the parent's sequence number, and the
// node is a container whatever the mode, ephemeral ones included. A live ZooKeeper
// 3.8.0 (Debian 3.8.0-11+deb12u2), probed with raw createContainer requests for
// flags 0-7, answered exactly this table, with and without extendedTypesEnabled.
func TestCreateContainerFlags(t *testing.T) {
	tests := []struct {
		name  string
		ext   bool
		flags int32
		want  jute.Code
		wantP string
	}{
		{"persistent", false, 0, jute.CodeOK, "/p/c"},
		{"ephemeral", false, 1, jute.CodeOK, "/p/c"},
		{"persistent sequential", false, 2, jute.CodeOK, "/p/c0000000000"},
		{"ephemeral sequential", false, 3, jute.CodeOK, "/p/c0000000000"},
		{"container", false, 4, jute.CodeOK, "/p/c"},
		{"ttl, extended types off", false, 5, jute.CodeUnimplemented, ""},
		{"sequential ttl, extended types off", false, 6, jute.CodeUnimplemented, ""},
		{"ttl, extended types on", true, 5, jute.CodeBadArguments, ""},
		{"sequential ttl, extended types on", true, 6, jute.CodeBadArguments, ""},
		{"sequential, extended types on", true, 2, jute.CodeOK, "/p/c0000000000"},
		{"invalid mode", false, 7, jute.CodeBadArguments, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{ExtendedTypes: tt.ext})
			h.mustCreate("/p", "", 0)
			before := dumpTree(h.tree)
			path, st, code := h.createFull(jute.OpCreateContainer, "/p/c", []byte("d"), jute.OpenACLUnsafe, tt.flags, 0)
			if code != tt.want || path != tt.wantP {
				t.Fatalf("createContainer flags %d = (%q, %v), want (%q, %v)", tt.flags, path, code, tt.wantP, tt.want)
			}
			if code != jute.CodeOK {
				if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
					t.Fatalf("failed create changed the tree:%s", diff)
				}
				return
			}
			if n := nodeOf(h.tree, path); n.owner != containerOwner {
				t.Fatalf("%s: stored owner %#x, want the container marker", path, n.owner)
			}
			if st.EphemeralOwner != 0 || h.stat("/p").Cversion != 1 {
				t.Fatalf("%s: reply ephemeralOwner %#x, parent cversion %d", path, st.EphemeralOwner, h.stat("/p").Cversion)
			}
		})
	}
}

// TestCreateReplies checks the reply body of each create opcode: a bare path for 1,
// path and Stat for 15, 19 and 21.
func TestCreateReplies(t *testing.T) {
	h := newHarness(t, Config{ExtendedTypes: true})
	h.now = 4242
	for _, op := range []jute.OpCode{jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL} {
		flags := int32(0)
		switch op {
		case jute.OpCreateContainer:
			flags = 4
		case jute.OpCreateTTL:
			flags = 5
		}
		path := "/r" + op.String()
		body := &jute.CreateTTLRequest{CreateRequest: jute.CreateRequest{Path: path, Data: []byte("xy"), ACL: jute.OpenACLUnsafe, Flags: flags}, TTL: 99}
		var r Result
		if op == jute.OpCreateTTL {
			r = h.request(op, body)
		} else {
			r = h.request(op, &body.CreateRequest)
		}
		if r.Err != jute.CodeOK {
			t.Fatalf("%v: %v", op, r.Err)
		}
		z := int64(h.zxid)
		want := jute.Stat{Czxid: z, Mzxid: z, Pzxid: z, Ctime: 4242, Mtime: 4242, DataLength: 2}
		if op == jute.OpCreate {
			if string(r.Body) != string(jute.AppendString(nil, path)) {
				t.Fatalf("%v reply % x", op, r.Body)
			}
			continue
		}
		wantBody := want.Append(jute.AppendString(nil, path))
		if string(r.Body) != string(wantBody) {
			t.Fatalf("%v reply\n% x\nwant\n% x", op, r.Body, wantBody)
		}
	}
}

// TestDeleteValidationOrder walks semantics.md §4's delete checks.
func TestDeleteValidationOrder(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		version int32
		session jute.SessionID
		want    jute.Code
	}{
		{"unknown session before special", "/", -1, unknownSession, jute.CodeSessionExpired},
		{"root", "/", -1, 0, jute.CodeBadArguments},
		{"/zookeeper", "/zookeeper", -1, 0, jute.CodeBadArguments},
		{"/zookeeper/quota", "/zookeeper/quota", -1, 0, jute.CodeBadArguments},
		{"/zookeeper/config", "/zookeeper/config", 0, 0, jute.CodeBadArguments},
		{"empty", "", -1, 0, jute.CodeBadArguments},
		{"no slash", "a", -1, 0, jute.CodeBadArguments},
		{"NUL", "/p/kid\x00", -1, 0, jute.CodeBadArguments},
		{"missing parent", "/missing/x", 7, 0, jute.CodeNoNode},
		{"no DELETE on parent before missing node", "/nodel/missing", -1, 0, jute.CodeNoAuth},
		{"no DELETE on parent", "/nodel/kid", -1, 0, jute.CodeNoAuth},
		{"missing node", "/p/missing", 7, 0, jute.CodeNoNode},
		{"trailing slash: no full path check", "/p/", -1, 0, jute.CodeNoNode},
		{"a//b", "/p//kid", -1, 0, jute.CodeNoNode},
		{"control char: no full path check", "/p/\x01", -1, 0, jute.CodeNoNode},
		{"emoji: no full path check", "/\U0001F600", -1, 0, jute.CodeNoNode},
		{"bad version before not empty", "/p", 3, 0, jute.CodeBadVersion},
		{"not empty", "/p", -1, 0, jute.CodeNotEmpty},
		{"not empty, right version", "/p", 0, 0, jute.CodeNotEmpty},
		{"bad version", "/p/kid", 1, 0, jute.CodeBadVersion},
		{"ok any version", "/p/kid", -1, 0, jute.CodeOK},
		{"ok exact version", "/p/kid", 0, 0, jute.CodeOK},
		{"ephemeral of the session", "/e", -1, 0, jute.CodeOK},
		{"created under /zookeeper", "/zookeeper/mine", -1, 0, jute.CodeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validationTree(t, Config{})
			h.mustCreate("/zookeeper/mine", "", 0)
			before := dumpTree(h.tree)
			if tt.session != 0 {
				h.sid = tt.session
			}
			if code := h.delete(tt.path, tt.version); code != tt.want {
				t.Fatalf("delete(%q, %d) = %v, want %v", tt.path, tt.version, code, tt.want)
			}
			if tt.want != jute.CodeOK {
				if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
					t.Fatalf("failed delete changed the tree:%s", diff)
				}
			} else if h.exists(tt.path) {
				t.Fatalf("%q still exists", tt.path)
			}
		})
	}
}

// TestSetDataValidationOrder walks semantics.md §4's setData checks.
func TestSetDataValidationOrder(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		version int32
		session jute.SessionID
		want    jute.Code
	}{
		{"unknown session before path", "bad", -1, unknownSession, jute.CodeSessionExpired},
		{"empty", "", -1, 0, jute.CodeBadArguments},
		{"no slash", "a", -1, 0, jute.CodeBadArguments},
		{"trailing slash", "/p/", -1, 0, jute.CodeBadArguments},
		{"double slash", "/p//kid", -1, 0, jute.CodeBadArguments},
		{"dot", "/p/./kid", -1, 0, jute.CodeBadArguments},
		{"dotdot", "/p/../p", -1, 0, jute.CodeBadArguments},
		{"control", "/p\x01", -1, 0, jute.CodeBadArguments},
		{"NUL", "/p\x00", -1, 0, jute.CodeBadArguments},
		{"emoji", "/\U0001F600", -1, 0, jute.CodeBadArguments},
		{"missing", "/missing", -1, 0, jute.CodeNoNode},
		{"no WRITE before version", "/ro", 99, 0, jute.CodeNoAuth},
		{"config is read-only", "/zookeeper/config", -1, 0, jute.CodeNoAuth},
		{"bad version", "/p", 1, 0, jute.CodeBadVersion},
		{"ok", "/p", 0, 0, jute.CodeOK},
		{"ok any", "/p", -1, 0, jute.CodeOK},
		{"root", "/", -1, 0, jute.CodeOK},
		{"ephemeral of the session", "/e", -1, 0, jute.CodeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validationTree(t, Config{})
			before := dumpTree(h.tree)
			if tt.session != 0 {
				h.sid = tt.session
			}
			h.now += 1000
			st, code := h.setData(tt.path, "new", tt.version)
			if code != tt.want {
				t.Fatalf("setData(%q, %d) = %v, want %v", tt.path, tt.version, code, tt.want)
			}
			if code != jute.CodeOK {
				if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
					t.Fatalf("failed setData changed the tree:%s", diff)
				}
				return
			}
			old := before.Nodes[tt.path].Stat
			want := old
			want.Version, want.Mzxid, want.Mtime, want.DataLength = old.Version+1, int64(h.zxid), h.now, 3
			if st != want || h.stat(tt.path) != want || h.data(tt.path) != "new" {
				t.Fatalf("after setData: %+v, want %+v", st, want)
			}
		})
	}
}

// TestSetACLValidationOrder walks semantics.md §4's setACL checks and §3's rule that
// setACL moves aversion only.
func TestSetACLValidationOrder(t *testing.T) {
	bad := acl(jute.PermAll, "digest", "nocolon")
	tests := []struct {
		name    string
		path    string
		acl     []jute.ACL
		version int32
		session jute.SessionID
		want    jute.Code
	}{
		{"unknown session before path", "bad", bad, -1, unknownSession, jute.CodeSessionExpired},
		{"bad path before bad acl", "/p/", bad, -1, 0, jute.CodeBadArguments},
		{"empty path", "", nil, -1, 0, jute.CodeBadArguments},
		{"bad acl before missing", "/missing", bad, -1, 0, jute.CodeInvalidACL},
		{"empty acl", "/p", []jute.ACL{}, -1, 0, jute.CodeInvalidACL},
		{"missing", "/missing", nil, -1, 0, jute.CodeNoNode},
		{"no ADMIN before version", "/ro", nil, 42, 0, jute.CodeNoAuth},
		{"config: no ADMIN", "/zookeeper/config", nil, -1, 0, jute.CodeNoAuth},
		{"bad aversion", "/p", nil, 1, 0, jute.CodeBadVersion},
		{"data version is not aversion", "/nodel", nil, 0, 0, jute.CodeBadVersion}, // aversion 1
		{"ok exact", "/nodel", nil, 1, 0, jute.CodeOK},
		{"ok any", "/p", nil, -1, 0, jute.CodeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validationTree(t, Config{})
			before := dumpTree(h.tree)
			if tt.session != 0 {
				h.sid = tt.session
			}
			a := tt.acl
			if a == nil {
				a = acl(jute.PermRead|jute.PermAdmin, "world", "anyone")
			}
			w := newWatcher("w", nil)
			h.tree.GetData("/p", w, nil)
			h.tree.GetData("/nodel", w, nil)
			st, code := h.setACL(tt.path, a, tt.version)
			if code != tt.want {
				t.Fatalf("setACL(%q, %d) = %v, want %v", tt.path, tt.version, code, tt.want)
			}
			expectEvents(t, w) // setACL fires nothing (§8.2)
			if code != jute.CodeOK {
				if diff := diffDumps(before, dumpTree(h.tree)); diff != "" {
					t.Fatalf("failed setACL changed the tree:%s", diff)
				}
				return
			}
			want := before.Nodes[tt.path].Stat
			want.Aversion++
			if st != want || h.stat(tt.path) != want {
				t.Fatalf("after setACL: %+v, want %+v (only aversion moves)", st, want)
			}
			got, _, _ := h.tree.GetACL(tt.path, superID)
			if len(got) != 1 || got[0] != a[0] {
				t.Fatalf("acl = %v, want %v", got, a)
			}
			// aversion keeps counting.
			st, code = h.setACL(tt.path, jute.OpenACLUnsafe, want.Aversion)
			if code != jute.CodeOK || st.Aversion != want.Aversion+1 {
				t.Fatalf("second setACL: %v aversion %d", code, st.Aversion)
			}
		})
	}
}

// TestValidatePath is the table of semantics.md §2.1.
func TestValidatePath(t *testing.T) {
	f := func(path string, want bool) {
		t.Helper()
		if got := ValidatePath(path); got != want {
			t.Errorf("ValidatePath(%q) = %v, want %v", path, got, want)
		}
	}
	f("", false)
	f("a", false)
	f("a/b", false)
	f("/", true)
	f("//", false)
	f("/a", true)
	f("/a/", false)
	f("/a//b", false)
	f("/a/./b", false)
	f("/a/../b", false)
	f("/a/.", false)
	f("/a/..", false)
	f("/.", false)
	f("/..", false)
	f("/.a", true)
	f("/a.", true)
	f("/...", true)
	f("/a..b", true)
	f("/a\x00b", false)
	f("/a\x01", false)
	f("/a\x1f", false)
	f("/a\x20", true)
	f("/a\x7f", false)
	f("/a\u0080", false)
	f("/a\u009f", false)
	f("/a\u00a0", true)
	f("/\ud7ff", true)
	f("/\ue000", false)
	f("/\uf8ff", false)
	f("/\uf900", true)
	f("/\uffef", true)
	f("/\ufff0", false)
	f("/\ufffd", false)
	f("/\uffff", false)
	f("/\U0001F600", false)
	f("/\U00010000", false)
	f("/\xed\xa0\x80", false) // an encoded surrogate is malformed UTF-8
	f("/\xc0\xaf", false)     // overlong '/'
	f("/\xff", false)
	f("/zookeeper", true)
	f("/a b/c-d_e", true)
}
