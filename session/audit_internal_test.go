package session

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/jute"
)

// The parts of a line ZooKeeper's test of its audit log does not reach: the
// time stamp and level, fields left out when empty, values with tabs or line
// breaks (which would forge fields or lines), the users of a connection with
// several ids, and the ACL and mode names.
func TestAuditLineFormat(t *testing.T) {
	var out bytes.Buffer
	a := NewAuditLog(&out)
	a.user = "zk"
	a.now = func() time.Time { return time.Date(2026, 12, 7, 3, 4, 5, 6_000_000, time.UTC) }
	a.log(auditEvent{session: "0x1", user: "bob,127.0.0.1", ip: "127.0.0.1", operation: auditCreate,
		znode: "/a\tb\nc", znodeType: "ephemeral", result: auditFailure})
	a.ServerStopping()
	want := "2026-12-07 03:04:05,006 ERROR audit.Slf4jAuditLogger: session=0x1\tuser=bob,127.0.0.1\tip=127.0.0.1\toperation=create\tznode=/abc\tznode_type=ephemeral\tresult=failure\n" +
		"2026-12-07 03:04:05,006 INFO audit.Slf4jAuditLogger: user=zk\toperation=serverStop\tresult=invoked\n"
	if out.String() != want {
		t.Fatalf("lines:\n%q\nwant\n%q", out.String(), want)
	}

	id := datatree.Identity{{Scheme: "ip", ID: "10.0.0.1"}, {Scheme: "digest", ID: "bob:hash="}, {Scheme: "super", ID: ""}}
	if got := auditUsers(id); got != "bob,10.0.0.1" { // in ZooKeeper's set order (whoami's)
		t.Errorf("users %q", got)
	}
	acl := []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "world", ID: "anyone"}},
		{Perms: jute.PermRead | jute.PermAdmin, ID: jute.Id{Scheme: "ip", ID: "10.0.0.0/8"}}}
	if got := aclString(acl); got != "world:anyone:cdrwaip:10.0.0.0/8:ra" {
		t.Errorf("acl %q", got)
	}
	for m, name := range map[jute.CreateMode]string{jute.ModeContainer: "container",
		jute.ModePersistentSequentialWithTTL: "persistent_sequential_with_ttl", 9: ""} {
		if got := createModeName(m); got != name {
			t.Errorf("mode %d: %q, want %q", m, got, name)
		}
	}
	if got := jute.SessionID(0x100026130a10000).String(); got != "0x100026130a10000" {
		t.Errorf("session %q", got)
	}
}

// A successful multi: a line per create, delete and setData, none for a check;
// a create's mode only where its name is the one asked for (ZooKeeper looks it
// up by the created name), so not for sequential or TTL creates.
func TestAuditMultiLines(t *testing.T) {
	var out bytes.Buffer
	a := NewAuditLog(&out)
	a.user = "zk"
	req := jute.MultiRequest{Ops: []jute.MultiOp{
		{Type: jute.OpCreate, Path: "/p", ACL: jute.OpenACLUnsafe},
		{Type: jute.OpCreate, Path: "/s-", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentSequential)},
		{Type: jute.OpCreateTTL, Path: "/t", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentWithTTL), TTL: 100},
		{Type: jute.OpCheck, Path: "/p", Version: 0},
		{Type: jute.OpSetData, Path: "/p", Version: -1},
		{Type: jute.OpDelete, Path: "/p", Version: -1},
	}}
	resp := jute.MultiResponse{Results: []jute.OpResult{
		{Type: jute.OpCreate, Path: "/p"}, {Type: jute.OpCreate, Path: "/s-0000000001"}, {Type: jute.OpCreate2, Path: "/t"},
		{Type: jute.OpCheck}, {Type: jute.OpSetData}, {Type: jute.OpDelete},
	}}
	ev := auditEvent{session: "0x1", user: "127.0.0.1", ip: "127.0.0.1", result: auditSuccess}
	d := jute.NewDecoder(req.Append(nil))
	a.multi(ev, &d, datatree.Result{Body: resp.Append(nil)})
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		_, fields, _ := strings.Cut(l, "ip=127.0.0.1\t")
		got = append(got, fields)
	}
	want := []string{
		"operation=create\tznode=/p\tznode_type=persistent\tresult=success",
		"operation=create\tznode=/s-0000000001\tresult=success",
		"operation=create\tznode=/t\tresult=success",
		"operation=setData\tznode=/p\tresult=success",
		"operation=delete\tznode=/p\tresult=success",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
