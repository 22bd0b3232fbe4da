package datatree

import (
	"slices"
	"testing"

	"zkd/jute"
)

// TestCheckACL is the check algorithm of semantics.md §10.1.
func TestCheckACL(t *testing.T) {
	tree := New(Config{})
	skip := New(Config{SkipACL: true})
	ipID := func(addr string) Identity { return Identity{{Scheme: "ip", ID: addr}} }
	tests := []struct {
		name string
		acl  []jute.ACL
		id   Identity
		perm int32
		want bool
	}{
		{"empty acl passes", nil, nil, jute.PermAdmin, true},
		{"world anyone", acl(jute.PermRead, "world", "anyone"), nil, jute.PermRead, true},
		{"world anyone, other perm", acl(jute.PermRead, "world", "anyone"), nil, jute.PermWrite, false},
		{"world other id matches nobody", acl(jute.PermAll, "world", "someone"), Identity{{Scheme: "world", ID: "anyone"}}, jute.PermRead, false},
		{"digest exact", acl(jute.PermAll, "digest", bobDigest), bobID, jute.PermWrite, true},
		{"digest other user", acl(jute.PermAll, "digest", bobDigest), aliceID, jute.PermWrite, false},
		{"digest prefix is not a match", acl(jute.PermAll, "digest", "bob:"), bobID, jute.PermRead, false},
		{"digest needs the scheme", acl(jute.PermAll, "digest", "127.0.0.1"), bobID, jute.PermRead, false},
		{"no identity", acl(jute.PermAll, "digest", bobDigest), nil, jute.PermRead, false},
		{"perm bit missing", acl(jute.PermAll&^jute.PermDelete, "digest", bobDigest), bobID, jute.PermDelete, false},
		{"second entry matches", []jute.ACL{
			{Perms: jute.PermRead, ID: jute.Id{Scheme: "digest", ID: "alice:hash="}},
			{Perms: jute.PermWrite, ID: jute.Id{Scheme: "digest", ID: bobDigest}}}, bobID, jute.PermWrite, true},
		{"entry matches id but not perm, other perm", []jute.ACL{
			{Perms: jute.PermRead, ID: jute.Id{Scheme: "digest", ID: bobDigest}},
			{Perms: jute.PermWrite, ID: jute.Id{Scheme: "digest", ID: "alice:hash="}}}, bobID, jute.PermWrite, false},
		{"ip exact", acl(jute.PermRead, "ip", "10.1.2.3"), ipID("10.1.2.3"), jute.PermRead, true},
		{"ip exact, other", acl(jute.PermRead, "ip", "10.1.2.3"), ipID("10.1.2.4"), jute.PermRead, false},
		{"ip /8", acl(jute.PermRead, "ip", "10.0.0.0/8"), ipID("10.200.3.4"), jute.PermRead, true},
		{"ip /8 outside", acl(jute.PermRead, "ip", "10.0.0.0/8"), ipID("11.0.0.1"), jute.PermRead, false},
		{"ip /24 with host bits", acl(jute.PermRead, "ip", "192.168.1.77/24"), ipID("192.168.1.3"), jute.PermRead, true},
		{"ip /24 outside", acl(jute.PermRead, "ip", "192.168.1.0/24"), ipID("192.168.2.3"), jute.PermRead, false},
		{"ip /0", acl(jute.PermRead, "ip", "0.0.0.0/0"), ipID("8.8.8.8"), jute.PermRead, true},
		{"ip /32", acl(jute.PermRead, "ip", "8.8.8.8/32"), ipID("8.8.8.9"), jute.PermRead, false},
		{"ip /33 never matches", acl(jute.PermRead, "ip", "8.8.8.8/33"), ipID("8.8.8.8"), jute.PermRead, false},
		{"ip garbage never matches", acl(jute.PermRead, "ip", "nope"), ipID("8.8.8.8"), jute.PermRead, false},
		{"ip client unparsable", acl(jute.PermRead, "ip", "0.0.0.0/0"), ipID("localhost"), jute.PermRead, false},
		{"ip v6 network, v4 client", acl(jute.PermRead, "ip", "::/0"), ipID("8.8.8.8"), jute.PermRead, false},
		{"ip v6", acl(jute.PermRead, "ip", "fe80::/10"), ipID("fe80::1"), jute.PermRead, true},
		{"ip id under the digest scheme", acl(jute.PermRead, "ip", "10.1.2.3"), Identity{{Scheme: "digest", ID: "10.1.2.3"}}, jute.PermRead, false},
		{"super bypasses", acl(jute.PermRead, "digest", bobDigest), Identity{{Scheme: "ip", ID: "1.1.1.1"}, {Scheme: "super"}}, jute.PermAdmin, true},
		{"super with zero perms", acl(0, "world", "anyone"), superID, jute.PermWrite, true},
		{"zero perms", acl(0, "world", "anyone"), nil, jute.PermRead, false},
	}
	for _, tt := range tests {
		if got := tree.CheckACL(tt.acl, tt.id, tt.perm); got != tt.want {
			t.Errorf("%s: CheckACL = %v, want %v", tt.name, got, tt.want)
		}
		if !skip.CheckACL(tt.acl, tt.id, tt.perm) {
			t.Errorf("%s: SkipACL tree refused", tt.name)
		}
	}
}

// TestFixupACL is semantics.md §10.3.
func TestFixupACL(t *testing.T) {
	a := func(perms int32, scheme, id string) jute.ACL {
		return jute.ACL{Perms: perms, ID: jute.Id{Scheme: scheme, ID: id}}
	}
	tests := []struct {
		name string
		in   []jute.ACL
		id   Identity
		want []jute.ACL
		code jute.Code
	}{
		{"nil", nil, bobID, nil, jute.CodeInvalidACL},
		{"empty", []jute.ACL{}, bobID, nil, jute.CodeInvalidACL},
		{"world anyone", jute.OpenACLUnsafe, nil, jute.OpenACLUnsafe, jute.CodeOK},
		{"world other", []jute.ACL{a(31, "world", "everyone")}, nil, nil, jute.CodeInvalidACL},
		{"auth expands to digest, not ip", jute.CreatorAllACL, bobID, []jute.ACL{a(31, "digest", bobDigest)}, jute.CodeOK},
		{"auth keeps perms", []jute.ACL{a(jute.PermRead, "auth", "whatever")}, bobID, []jute.ACL{a(1, "digest", bobDigest)}, jute.CodeOK},
		{"auth with several ids", jute.CreatorAllACL,
			Identity{{Scheme: "ip", ID: "1.2.3.4"}, {Scheme: "digest", ID: "a:1"}, {Scheme: "sasl", ID: "svc"}, {Scheme: "x509", ID: "CN=x"}},
			[]jute.ACL{a(31, "digest", "a:1"), a(31, "sasl", "svc"), a(31, "x509", "CN=x")}, jute.CodeOK},
		{"auth with only ip", jute.CreatorAllACL, anonID, nil, jute.CodeInvalidACL},
		{"auth with only super", jute.CreatorAllACL, superID, nil, jute.CodeInvalidACL},
		{"auth with nobody", jute.CreatorAllACL, nil, nil, jute.CodeInvalidACL},
		{"digest ok", []jute.ACL{a(31, "digest", "u:h")}, nil, []jute.ACL{a(31, "digest", "u:h")}, jute.CodeOK},
		{"digest without colon", []jute.ACL{a(31, "digest", "u")}, nil, nil, jute.CodeInvalidACL},
		{"digest with two colons", []jute.ACL{a(31, "digest", "u:h:x")}, nil, nil, jute.CodeInvalidACL},
		{"ip ok", []jute.ACL{a(1, "ip", "10.0.0.1")}, nil, []jute.ACL{a(1, "ip", "10.0.0.1")}, jute.CodeOK},
		{"ip bits ok", []jute.ACL{a(1, "ip", "10.0.0.0/8")}, nil, []jute.ACL{a(1, "ip", "10.0.0.0/8")}, jute.CodeOK},
		{"ip /32", []jute.ACL{a(1, "ip", "10.0.0.0/32")}, nil, []jute.ACL{a(1, "ip", "10.0.0.0/32")}, jute.CodeOK},
		{"ip /33", []jute.ACL{a(1, "ip", "10.0.0.0/33")}, nil, nil, jute.CodeInvalidACL},
		{"ip /-1", []jute.ACL{a(1, "ip", "10.0.0.0/-1")}, nil, nil, jute.CodeInvalidACL},
		{"ip /x", []jute.ACL{a(1, "ip", "10.0.0.0/x")}, nil, nil, jute.CodeInvalidACL},
		{"ip garbage", []jute.ACL{a(1, "ip", "10.0.0")}, nil, nil, jute.CodeInvalidACL},
		{"ip empty", []jute.ACL{a(1, "ip", "")}, nil, nil, jute.CodeInvalidACL},
		{"unknown scheme", []jute.ACL{a(1, "foo", "bar")}, nil, nil, jute.CodeInvalidACL},
		{"super is not an ACL scheme", []jute.ACL{a(1, "super", "")}, nil, nil, jute.CodeInvalidACL},
		{"one bad entry spoils the list", []jute.ACL{a(31, "world", "anyone"), a(1, "ip", "x")}, nil, nil, jute.CodeInvalidACL},
		{"duplicates removed", []jute.ACL{a(31, "world", "anyone"), a(1, "ip", "1.1.1.1"), a(31, "world", "anyone")}, nil,
			[]jute.ACL{a(31, "world", "anyone"), a(1, "ip", "1.1.1.1")}, jute.CodeOK},
		{"entries after a dropped duplicate kept in order",
			[]jute.ACL{a(31, "world", "anyone"), a(31, "world", "anyone"), a(1, "ip", "1.1.1.1"), a(3, "digest", "u:h")}, nil,
			[]jute.ACL{a(31, "world", "anyone"), a(1, "ip", "1.1.1.1"), a(3, "digest", "u:h")}, jute.CodeOK},
		{"auth after a kept entry", []jute.ACL{a(1, "ip", "1.1.1.1"), a(31, "auth", "")}, bobID,
			[]jute.ACL{a(1, "ip", "1.1.1.1"), a(31, "digest", bobDigest)}, jute.CodeOK},
		{"auth expanding to an entry already given", []jute.ACL{a(31, "digest", bobDigest), a(31, "auth", "")}, bobID,
			[]jute.ACL{a(31, "digest", bobDigest)}, jute.CodeOK},
		{"different perms are different entries", []jute.ACL{a(31, "world", "anyone"), a(1, "world", "anyone")}, nil,
			[]jute.ACL{a(31, "world", "anyone"), a(1, "world", "anyone")}, jute.CodeOK},
	}
	for _, tt := range tests {
		got, code := FixupACL(tt.in, tt.id)
		if code != tt.code || !slices.Equal(got, tt.want) {
			t.Errorf("%s: FixupACL = %v %v, want %v %v", tt.name, got, code, tt.want, tt.code)
		}
	}
	// The common list is returned as it came, once per create on the write path.
	if n := testing.AllocsPerRun(100, func() { FixupACL(jute.OpenACLUnsafe, bobID) }); n != 0 {
		t.Errorf("FixupACL(OPEN_ACL_UNSAFE) allocates %v times", n)
	}
}

// TestCreatorACL: a create with CREATOR_ALL_ACL stores the caller's digest id.
func TestCreatorACL(t *testing.T) {
	h := newHarness(t, Config{})
	h.id = bobID
	h.mustCreateACL("/mine", jute.CreatorAllACL)
	got, _, code := h.tree.GetACL("/mine", bobID)
	if code != jute.CodeOK || !slices.Equal(got, acl(jute.PermAll, "digest", bobDigest)) {
		t.Fatalf("acl %v %v", got, code)
	}
	// Equal lists are interned: one slice shared by every node that has it.
	h.mustCreateACL("/mine2", jute.CreatorAllACL)
	n1 := nodeOf(h.tree, "/mine")
	n2 := nodeOf(h.tree, "/mine2")
	if n1.acl != n2.acl {
		t.Fatal("equal ACL lists not interned")
	}
}

// TestReadPermissions: reads need READ (exists too, as 3.8.4+), getACL needs READ or
// ADMIN and masks digest hashes without ADMIN (semantics.md §4, §10.1).
func TestReadPermissions(t *testing.T) {
	h := newHarness(t, Config{})
	h.id = bobID
	both := []jute.ACL{
		{Perms: jute.PermAll, ID: jute.Id{Scheme: "digest", ID: bobDigest}},
		{Perms: jute.PermRead, ID: jute.Id{Scheme: "world", ID: "anyone"}},
		{Perms: jute.PermAdmin, ID: jute.Id{Scheme: "ip", ID: "10.0.0.0/8"}},
	}
	h.mustCreateACL("/shared", both)
	h.mustCreateACL("/private", acl(jute.PermAll, "digest", bobDigest))
	h.mustCreate("/private/kid", "", 0)
	h.mustCreateACL("/adminonly", acl(jute.PermAdmin, "world", "anyone"))

	masked := slices.Clone(both)
	masked[0].ID.ID = "bob:x"
	admin10 := Identity{{Scheme: "ip", ID: "10.9.9.9"}}
	tests := []struct {
		path string
		id   Identity
		acl  []jute.ACL
		code jute.Code
	}{
		{"/shared", bobID, both, jute.CodeOK},
		{"/shared", anonID, masked, jute.CodeOK},
		{"/shared", admin10, both, jute.CodeOK},
		{"/shared", superID, both, jute.CodeOK},
		{"/private", anonID, nil, jute.CodeNoAuth},
		{"/adminonly", anonID, acl(jute.PermAdmin, "world", "anyone"), jute.CodeOK},
		{"/missing", bobID, nil, jute.CodeNoNode},
	}
	for _, tt := range tests {
		got, _, code := h.tree.GetACL(tt.path, tt.id)
		if code != tt.code || !slices.Equal(got, tt.acl) {
			t.Errorf("GetACL(%s, %v) = %v %v, want %v %v", tt.path, tt.id, got, code, tt.acl, tt.code)
		}
	}
	// Masking never touches the stored list.
	if got, _, _ := h.tree.GetACL("/shared", bobID); got[0].ID.ID != bobDigest {
		t.Fatalf("stored ACL changed: %v", got)
	}

	w := newWatcher("w", anonID)
	if _, code := h.tree.Exists("/private", w, anonID); code != jute.CodeNoAuth {
		t.Fatalf("exists without READ: %v", code)
	}
	if _, code := h.tree.Exists("/private", nil, bobID); code != jute.CodeOK {
		t.Fatalf("exists with READ: %v", code)
	}
	if _, code := h.tree.Exists("/private/missing", w, anonID); code != jute.CodeNoNode {
		t.Fatalf("exists absent: %v", code)
	}
	if _, code := h.tree.Exists("/adminonly", nil, anonID); code != jute.CodeNoAuth {
		t.Fatalf("exists with ADMIN only: %v", code)
	}
	if _, code := h.tree.Exists("/a\x00", w, anonID); code != jute.CodeBadArguments {
		t.Fatalf("exists with NUL: %v", code)
	}
	if _, code := h.tree.Exists("no slash", nil, anonID); code != jute.CodeNoNode {
		t.Fatalf("exists on a malformed path: %v", code)
	}
	// Only the absent-node exists set a watch.
	if got := h.tree.WatchedPaths(w); !slices.Equal(got, []string{"/private/missing"}) {
		t.Fatalf("watches %v", got)
	}
	if _, _, code := h.tree.GetData("/private", w, anonID); code != jute.CodeNoAuth {
		t.Fatalf("getData: %v", code)
	}
	if _, _, code := h.tree.GetChildren("/private", w, anonID, nil); code != jute.CodeNoAuth {
		t.Fatalf("getChildren: %v", code)
	}
	if _, code := h.tree.AllChildrenNumber("/private", anonID); code != jute.CodeNoAuth {
		t.Fatalf("getAllChildrenNumber: %v", code)
	}
	if got := h.tree.WatchedPaths(w); len(got) != 1 {
		t.Fatalf("failed reads set watches: %v", got)
	}
	// Writes by someone else.
	h.id = anonID
	if _, code := h.setData("/private", "x", -1); code != jute.CodeNoAuth {
		t.Fatalf("setData: %v", code)
	}
	if code := h.delete("/private/kid", -1); code != jute.CodeNoAuth {
		t.Fatalf("delete: %v", code)
	}
	if _, code := h.create("/private/x", "", 0); code != jute.CodeNoAuth {
		t.Fatalf("create: %v", code)
	}
	if _, code := h.setACL("/private", jute.OpenACLUnsafe, -1); code != jute.CodeNoAuth {
		t.Fatalf("setACL: %v", code)
	}
	res := h.multi(opCheck("/private", -1))
	if res[0].Err != jute.CodeNoAuth {
		t.Fatalf("check: %v", res[0].Err)
	}
	// The super identity does everything.
	h.id = append(Identity{{Scheme: "ip", ID: "9.9.9.9"}}, superID...)
	if _, code := h.setData("/private", "x", -1); code != jute.CodeOK {
		t.Fatalf("super setData: %v", code)
	}
	if code := h.delete("/private/kid", -1); code != jute.CodeOK {
		t.Fatalf("super delete: %v", code)
	}
}
