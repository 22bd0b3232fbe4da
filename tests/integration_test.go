package tests

// End-to-end tests of a standalone zkd through go-zookeeper/zk and through raw
// frames (spec/wire.md, spec/semantics.md).

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
	"zkd/internal/zktest"
	"zkd/internal/zktest/raw"
	"zkd/jute"
	"zkd/session"
	"zkd/zoocfg"
)

var openACL = zk.WorldACL(zk.PermAll)

// mustCreate creates a node with OPEN_ACL_UNSAFE through go-zookeeper.
func mustCreate(t *testing.T, c *zk.Conn, path string, data []byte, flags int32) string {
	t.Helper()
	p, err := c.Create(path, data, flags, openACL)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	return p
}

func mustExist(t *testing.T, c *zk.Conn, path string, want bool) *zk.Stat {
	t.Helper()
	ok, st, err := c.Exists(path)
	if err != nil {
		t.Fatalf("exists %s: %v", path, err)
	}
	if ok != want {
		t.Fatalf("exists %s = %v, want %v", path, ok, want)
	}
	return st
}

func sortedChildren(t *testing.T, c *zk.Conn, path string) []string {
	t.Helper()
	names, _, err := c.Children(path)
	if err != nil {
		t.Fatalf("children %s: %v", path, err)
	}
	slices.Sort(names)
	return names
}

func TestIntegrationNodeKinds(t *testing.T) {
	srv := zktest.StartServer(t, func(c *zoocfg.Config) {
		c.ExtendedTypes = true
		c.ContainerCheckInterval = 100 * time.Millisecond
	})
	c, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)

	t.Run("persistent", func(t *testing.T) {
		if p := mustCreate(t, c, "/p", []byte("data"), zk.FlagPersistent); p != "/p" {
			t.Fatalf("created %q", p)
		}
		st := mustExist(t, c, "/p", true)
		if st.EphemeralOwner != 0 || st.DataLength != 4 || st.NumChildren != 0 {
			t.Fatalf("stat %+v", st)
		}
	})
	t.Run("ephemeral", func(t *testing.T) {
		mustCreate(t, c, "/p/e", nil, zk.FlagEphemeral)
		if st := mustExist(t, c, "/p/e", true); st.EphemeralOwner != c.SessionID() {
			t.Fatalf("ephemeralOwner %#x, want session %#x", st.EphemeralOwner, c.SessionID())
		}
		if _, err := c.Create("/p/e/kid", nil, 0, openACL); !errors.Is(err, zk.ErrNoChildrenForEphemerals) {
			t.Fatalf("child of an ephemeral: %v, want ErrNoChildrenForEphemerals", err)
		}
	})
	t.Run("sequential", func(t *testing.T) {
		// /p has had one child (/p/e), so the next suffix is 1 (semantics.md §5.1).
		if p := mustCreate(t, c, "/p/s-", nil, zk.FlagSequence); p != "/p/s-0000000001" {
			t.Fatalf("persistent sequential: %q", p)
		}
		p := mustCreate(t, c, "/p/es-", nil, zk.FlagEphemeralSequential)
		if p != "/p/es-0000000002" {
			t.Fatalf("ephemeral sequential: %q", p)
		}
		if st := mustExist(t, c, p, true); st.EphemeralOwner != c.SessionID() {
			t.Fatalf("ephemeral sequential owner %#x", st.EphemeralOwner)
		}
		// Deletes do not give numbers back.
		if err := c.Delete("/p/s-0000000001", -1); err != nil {
			t.Fatal(err)
		}
		if p := mustCreate(t, c, "/p/s-", nil, zk.FlagSequence); p != "/p/s-0000000003" {
			t.Fatalf("after a delete: %q", p)
		}
	})
	t.Run("container", func(t *testing.T) {
		p, err := c.CreateContainer("/ctr", []byte("c"), zk.FlagContainer, openACL)
		if err != nil || p != "/ctr" {
			t.Fatalf("CreateContainer: %q, %v", p, err)
		}
		if _, err := c.CreateContainer("/ctr-unused", nil, zk.FlagContainer, openACL); err != nil {
			t.Fatal(err)
		}
		if st := mustExist(t, c, "/ctr", true); st.EphemeralOwner != 0 {
			t.Fatalf("container shows ephemeralOwner %#x, want 0", st.EphemeralOwner)
		}
		mustCreate(t, c, "/ctr/kid", nil, zk.FlagPersistent)
		_, _, ch, err := c.ExistsW("/ctr")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Delete("/ctr/kid", -1); err != nil {
			t.Fatal(err)
		}
		// The reaper deletes the emptied container; the never-used one stays.
		zktest.ExpectEvent(t, ch, zk.EventNodeDeleted, "/ctr")
		mustExist(t, c, "/ctr", false)
		mustExist(t, c, "/ctr-unused", true)
	})
	t.Run("ttl", func(t *testing.T) {
		if _, err := c.CreateTTL("/ttl-long", nil, zk.FlagTTL, openACL, time.Hour); err != nil {
			t.Fatal(err)
		}
		ps, err := c.CreateTTL("/ttls-", nil, zk.FlagPersistentSequentialWithTTL, openACL, time.Hour)
		if err != nil || !strings.HasPrefix(ps, "/ttls-") || len(ps) != len("/ttls-")+10 {
			t.Fatalf("sequential TTL: %q, %v", ps, err)
		}
		if st := mustExist(t, c, "/ttl-long", true); st.EphemeralOwner != 0 {
			t.Fatalf("TTL node shows ephemeralOwner %#x, want 0", st.EphemeralOwner)
		}
		p, err := c.CreateTTL("/ttl", []byte("t"), zk.FlagTTL, openACL, 300*time.Millisecond)
		if err != nil || p != "/ttl" {
			t.Fatalf("CreateTTL: %q, %v", p, err)
		}
		ok, _, ch, err := c.ExistsW("/ttl")
		if err != nil {
			t.Fatal(err)
		}
		if ok { // else already reaped: the test ran slower than the TTL
			zktest.ExpectEvent(t, ch, zk.EventNodeDeleted, "/ttl")
		}
		mustExist(t, c, "/ttl", false)
		mustExist(t, c, "/ttl-long", true)
		mustExist(t, c, ps, true)
	})
}

// With znode.container.maxNeverUsedIntervalMs a container that never had a
// child is reaped once that long has passed since it was created; one that
// has a child stays.
func TestIntegrationNeverUsedContainerIsReaped(t *testing.T) {
	srv := zktest.StartServer(t, func(c *zoocfg.Config) {
		c.ContainerCheckInterval = 100 * time.Millisecond
		c.ContainerMaxNeverUsed = time.Second
	})
	c, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	for _, p := range []string{"/unused", "/kept"} {
		if _, err := c.CreateContainer(p, nil, zk.FlagContainer, openACL); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, c, "/kept/kid", nil, zk.FlagPersistent)
	_, _, ch, err := c.ExistsW("/unused")
	if err != nil {
		t.Fatal(err)
	}
	zktest.ExpectEvent(t, ch, zk.EventNodeDeleted, "/unused")
	mustExist(t, c, "/kept", true)
}

func TestIntegrationStat(t *testing.T) {
	srv := zktest.StartServer(t)
	r := zktest.Connect(t, srv.ConnectString(), 4000)

	root, _ := r.Exists("/")
	zkNode, _ := r.Exists("/zookeeper")
	if root.Cversion != -1 || root.NumChildren != 1 || zkNode.Cversion != -2 || zkNode.NumChildren != 2 {
		t.Fatalf("fresh / %+v, /zookeeper %+v; want cversion -1/1 child and -2/2 children (wire.md §9)", root, zkNode)
	}

	// create2 returns the new node's Stat.
	before := time.Now().UnixMilli()
	h, rb := r.Call(jute.OpCreate2, zktest.CreateBody("/c2", []byte("hello"), jute.OpenACLUnsafe, jute.ModePersistent))
	if h.Err != jute.CodeOK {
		t.Fatalf("create2: %v", h.Err)
	}
	var cr jute.Create2Response
	d := jute.NewDecoder(rb)
	cr.Decode(&d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("create2 reply % x: %v", rb, d.Err())
	}
	st := cr.Stat
	z := int64(h.Zxid)
	if cr.Path != "/c2" || st.Czxid != z || st.Mzxid != z || st.Pzxid != z || st.Ctime != st.Mtime ||
		st.Ctime < before-3_600_000 || st.Ctime > before+3_600_000 || st.Version != 0 || st.Cversion != 0 || st.Aversion != 0 ||
		st.EphemeralOwner != 0 || st.DataLength != 5 || st.NumChildren != 0 {
		t.Fatalf("create2 %q stat %+v (reply zxid %d)", cr.Path, st, z)
	}
	if got, _ := r.Exists("/c2"); got != st {
		t.Fatalf("exists stat %+v != create2 stat %+v", got, st)
	}
	if root, _ = r.Exists("/"); root.Pzxid != z || root.Cversion != 0 || root.NumChildren != 2 {
		t.Fatalf("/ after a create: %+v", root)
	}

	// An ephemeral create2 names its owner.
	h, rb = r.Call(jute.OpCreate2, zktest.CreateBody("/c2e", nil, jute.OpenACLUnsafe, jute.ModeEphemeral))
	d = jute.NewDecoder(rb)
	cr.Decode(&d)
	if h.Err != jute.CodeOK || cr.Stat.EphemeralOwner != r.SessionID() || cr.Stat.DataLength != 0 {
		t.Fatalf("ephemeral create2: %v %+v", h.Err, cr.Stat)
	}

	// setData moves version, mzxid and mtime only; setACL moves aversion only.
	rb = r.MustCall(jute.OpSetData, zktest.SetDataBody("/c2", []byte("hi"), 0), jute.CodeOK)
	var sd jute.Stat
	d = jute.NewDecoder(rb)
	sd.Decode(&d)
	if sd.Version != 1 || sd.Czxid != z || sd.Mzxid <= z || sd.DataLength != 2 || sd.Pzxid != z || sd.Cversion != 0 {
		t.Fatalf("setData stat %+v", sd)
	}
	rb = r.MustCall(jute.OpSetACL, zktest.SetACLBody("/c2", jute.ReadACLUnsafe, 0), jute.CodeOK)
	var sa jute.Stat
	d = jute.NewDecoder(rb)
	sa.Decode(&d)
	if sa.Aversion != 1 || sa.Version != 1 || sa.Mzxid != sd.Mzxid {
		t.Fatalf("setACL stat %+v", sa)
	}

	// The cversion/pzxid/sequence walk observed on ZooKeeper 3.8.0 (semantics.md §3).
	steps := []struct {
		op       jute.OpCode
		path     string
		flags    jute.CreateMode
		wantErr  jute.Code
		wantPath string
		cversion int32
		kids     int32
	}{
		{jute.OpCreate, "/c", 0, 0, "/c", 0, 0},
		{jute.OpCreate, "/c/a", 0, 0, "", 1, 1},
		{jute.OpCreate, "/c/b", 0, 0, "", 2, 2},
		{jute.OpCreate, "/c/d", 0, 0, "", 3, 3},
		{jute.OpDelete, "/c/b", 0, 0, "", 4, 2},
		{jute.OpCreate, "/c/s-", jute.ModePersistentSequential, 0, "/c/s-0000000003", 5, 3},
		{jute.OpDelete, "/c/a", 0, 0, "", 6, 2},
		{jute.OpDelete, "/c/d", 0, 0, "", 7, 1},
		{jute.OpCreate, "/c/s-", jute.ModePersistentSequential, 0, "/c/s-0000000004", 8, 2},
		{jute.OpCreate, "/c/a", 0, 0, "", 9, 3},
		{jute.OpCreate, "/c/a", 0, jute.CodeNodeExists, "", 9, 3},
	}
	var lastPzxid int64
	for i, s := range steps {
		var body []byte
		if s.op == jute.OpDelete {
			body = zktest.PathVersionBody(s.path, -1)
		} else {
			body = zktest.CreateBody(s.path, nil, jute.OpenACLUnsafe, s.flags)
		}
		h, rb := r.Call(s.op, body)
		if h.Err != s.wantErr {
			t.Fatalf("step %d %v %s: err %v, want %v", i, s.op, s.path, h.Err, s.wantErr)
		}
		if s.wantPath != "" {
			d := jute.NewDecoder(rb)
			if got := d.String(); got != s.wantPath {
				t.Fatalf("step %d: created %q, want %q", i, got, s.wantPath)
			}
		}
		st, _ := r.Exists("/c")
		if i == 0 {
			lastPzxid = st.Pzxid
			continue
		}
		if st.Cversion != s.cversion || st.NumChildren != s.kids {
			t.Fatalf("step %d %v %s: /c cversion %d numChildren %d, want %d %d", i, s.op, s.path,
				st.Cversion, st.NumChildren, s.cversion, s.kids)
		}
		if s.wantErr == jute.CodeOK && (st.Pzxid != int64(h.Zxid) || st.Pzxid <= lastPzxid) {
			t.Fatalf("step %d: /c pzxid %d, reply zxid %d, previous %d", i, st.Pzxid, h.Zxid, lastPzxid)
		}
		if s.wantErr != jute.CodeOK && st.Pzxid != lastPzxid {
			t.Fatalf("step %d: a failed create moved pzxid to %d", i, st.Pzxid)
		}
		lastPzxid = st.Pzxid
	}
}

func TestIntegrationCRUDVersions(t *testing.T) {
	srv := zktest.StartServer(t)
	c, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)

	mustCreate(t, c, "/v", []byte("a"), 0)
	data, st, err := c.Get("/v")
	if err != nil || string(data) != "a" || st.Version != 0 {
		t.Fatalf("get: %q %+v %v", data, st, err)
	}
	st, err = c.Set("/v", []byte("b"), 0)
	if err != nil || st.Version != 1 || st.Mzxid <= st.Czxid {
		t.Fatalf("set v0: %+v %v", st, err)
	}
	if _, err := c.Set("/v", []byte("c"), 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("set with a stale version: %v, want ErrBadVersion", err)
	}
	if st, err = c.Set("/v", []byte("c"), -1); err != nil || st.Version != 2 {
		t.Fatalf("set any version: %+v %v", st, err)
	}
	if data, _, _ := c.Get("/v"); string(data) != "c" {
		t.Fatalf("data %q after a failed set, want c", data)
	}
	if err := c.Delete("/v", 1); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("delete with a stale version: %v", err)
	}
	mustCreate(t, c, "/v/kid", nil, 0)
	if err := c.Delete("/v", 2); !errors.Is(err, zk.ErrNotEmpty) {
		t.Fatalf("delete of a parent: %v, want ErrNotEmpty", err)
	}
	if err := c.Delete("/v/kid", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/v", 2); err != nil {
		t.Fatalf("delete at the current version: %v", err)
	}
	mustExist(t, c, "/v", false)
	if _, _, err := c.Get("/v"); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := c.Set("/v", nil, -1); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("set deleted: %v", err)
	}
	if err := c.Delete("/v", -1); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("delete deleted: %v", err)
	}
	if _, err := c.Create("/missing/kid", nil, 0, openACL); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("create without a parent: %v", err)
	}
	if _, err := c.Create("/zookeeper", nil, 0, openACL); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("create /zookeeper: %v", err)
	}
	// Null and empty data stay distinct on the wire, both with dataLength 0.
	mustCreate(t, c, "/empty", []byte{}, 0)
	if data, st, err := c.Get("/empty"); err != nil || len(data) != 0 || st.DataLength != 0 {
		t.Fatalf("empty data: %q %+v %v", data, st, err)
	}
}

func TestIntegrationACL(t *testing.T) {
	const superDigest = "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=" // super:admin, wire.md §8.2
	srv := zktest.StartServer(t, func(c *zoocfg.Config) { c.SuperDigest = superDigest })
	owner, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	other, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	bob, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	if err := owner.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	if err := bob.AddAuth("digest", []byte("bob:secret")); err != nil {
		t.Fatal(err)
	}

	aliceACL := zk.DigestACL(zk.PermAll, "alice", "secret")
	if _, err := owner.Create("/acl", []byte("x"), 0, aliceACL); err != nil {
		t.Fatal(err)
	}
	acl, st, err := owner.GetACL("/acl")
	want := []zk.ACL{{Perms: zk.PermAll, Scheme: "digest", ID: session.DigestID("alice:secret")}}
	if err != nil || !slices.Equal(acl, want) || st.Aversion != 0 {
		t.Fatalf("getACL: %v %+v %v, want %v", acl, st, err, want)
	}

	for name, c := range map[string]*zk.Conn{"unauthenticated": other, "bob": bob} {
		if _, _, err := c.Get("/acl"); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s get: %v, want ErrNoAuth", name, err)
		}
		if _, err := c.Set("/acl", nil, -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s set: %v", name, err)
		}
		if _, _, err := c.Children("/acl"); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s children: %v", name, err)
		}
		if _, err := c.Create("/acl/kid", nil, 0, openACL); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s create child: %v", name, err)
		}
		if _, _, err := c.GetACL("/acl"); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s getACL: %v", name, err)
		}
		if _, err := c.SetACL("/acl", openACL, -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s setACL: %v", name, err)
		}
		// exists checks READ since 3.8.4 (semantics.md §10.1).
		if _, _, err := c.Exists("/acl"); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s exists: %v", name, err)
		}
	}
	if data, _, err := owner.Get("/acl"); err != nil || string(data) != "x" {
		t.Fatalf("owner get: %q %v", data, err)
	}

	// The auth scheme expands to the caller's digest id; without one it is invalid.
	if _, err := owner.Create("/acl/mine", nil, 0, zk.AuthACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if acl, _, _ := owner.GetACL("/acl/mine"); !slices.Equal(acl, want) {
		t.Fatalf("auth ACL expanded to %v, want %v", acl, want)
	}
	if _, err := other.Create("/authless", nil, 0, zk.AuthACL(zk.PermAll)); !errors.Is(err, zk.ErrInvalidACL) {
		t.Fatalf("auth ACL without an authenticated id: %v, want ErrInvalidACL", err)
	}

	// A super user passes every check.
	super, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	if err := super.AddAuth("digest", []byte("super:admin")); err != nil {
		t.Fatal(err)
	}
	if _, err := super.Set("/acl/mine", []byte("s"), -1); err != nil {
		t.Fatalf("super set: %v", err)
	}

	// setACL with versions; READ for everyone opens reads but not writes.
	if st, err := owner.SetACL("/acl", append(zk.WorldACL(zk.PermRead), aliceACL...), 0); err != nil || st.Aversion != 1 {
		t.Fatalf("setACL: %+v %v", st, err)
	}
	if _, err := owner.SetACL("/acl", aliceACL, 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("setACL stale version: %v", err)
	}
	if data, _, err := other.Get("/acl"); err != nil || string(data) != "x" {
		t.Fatalf("world-readable get: %q %v", data, err)
	}
	if _, err := other.Set("/acl", nil, -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("set without WRITE: %v", err)
	}
	// Without ADMIN, digest ids come back masked.
	acl, _, err = other.GetACL("/acl")
	if err != nil || len(acl) != 2 || acl[1].ID != "alice:x" || acl[0] != zk.WorldACL(zk.PermRead)[0] {
		t.Fatalf("masked getACL: %v %v", acl, err)
	}
	if acl, _, _ := owner.GetACL("/acl"); acl[1].ID != want[0].ID {
		t.Fatalf("owner sees %v", acl)
	}
}

func TestIntegrationChildrenSync(t *testing.T) {
	srv := zktest.StartServer(t)
	c, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	m, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)

	mustCreate(t, c, "/ch", nil, 0)
	for _, n := range []string{"b", "a", "c"} {
		mustCreate(t, c, "/ch/"+n, nil, 0)
	}
	names, st, err := c.Children("/ch")
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"a", "b", "c"}) || st.NumChildren != 3 {
		t.Fatalf("children: %v %+v %v", names, st, err)
	}
	if _, _, err := c.Children("/nope"); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("children of a missing node: %v", err)
	}
	_, _, ch, err := c.ChildrenW("/ch")
	if err != nil {
		t.Fatal(err)
	}
	// A data change is not a child change.
	if _, err := m.Set("/ch", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "/ch/d", nil, 0)
	zktest.ExpectEvent(t, ch, zk.EventNodeChildrenChanged, "/ch")

	// sync echoes its path, and a read after it sees every write acknowledged before.
	if _, err := m.Set("/ch/d", []byte("after"), -1); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Sync("/ch/d"); err != nil || p != "/ch/d" {
		t.Fatalf("sync: %q %v", p, err)
	}
	if data, _, _ := c.Get("/ch/d"); string(data) != "after" {
		t.Fatalf("read after sync: %q", data)
	}
}

func TestIntegrationMulti(t *testing.T) {
	srv := zktest.StartServer(t)
	c, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	w, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)

	res, err := c.Multi(
		&zk.CreateRequest{Path: "/m", Data: []byte("0"), Acl: openACL},
		&zk.CreateRequest{Path: "/m/a", Acl: openACL},
		&zk.SetDataRequest{Path: "/m", Data: []byte("1"), Version: 0},
		&zk.CheckVersionRequest{Path: "/m", Version: 1},
		&zk.CreateRequest{Path: "/m/q-", Acl: openACL, Flags: zk.FlagSequence},
		&zk.DeleteRequest{Path: "/m/a", Version: 0},
	)
	if err != nil || len(res) != 6 {
		t.Fatalf("multi: %v %v", res, err)
	}
	if res[0].String != "/m" || res[1].String != "/m/a" || res[2].Stat == nil || res[2].Stat.Version != 1 ||
		res[4].String != "/m/q-0000000001" {
		t.Fatalf("multi results %+v %+v %+v", res[0], res[1], res[4])
	}
	for i, r := range res {
		if r.Error != nil {
			t.Fatalf("op %d: %v", i, r.Error)
		}
	}
	if got := sortedChildren(t, c, "/m"); !slices.Equal(got, []string{"q-0000000001"}) {
		t.Fatalf("children after multi: %v", got)
	}

	// A failing multi: ops before the failure report ok, the failing one its code,
	// the rest RUNTIMEINCONSISTENCY (-2); nothing is applied, no watch fires, and
	// sequence numbers are not consumed (semantics.md §6).
	_, _, dataCh, err := w.GetW("/m")
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Multi(
		&zk.CreateRequest{Path: "/m/b", Acl: openACL},
		&zk.CreateRequest{Path: "/m/q-", Acl: openACL, Flags: zk.FlagSequence},
		&zk.SetDataRequest{Path: "/m", Data: []byte("2"), Version: 1},
		&zk.CheckVersionRequest{Path: "/m", Version: 7},
		&zk.DeleteRequest{Path: "/m/q-0000000001", Version: -1},
	)
	if !errors.Is(err, zk.ErrBadVersion) || len(res) != 5 {
		t.Fatalf("failing multi: %v, %v", res, err)
	}
	for i := 0; i < 3; i++ {
		if res[i].Error != nil {
			t.Errorf("op %d before the failure: %v, want ok", i, res[i].Error)
		}
	}
	if !errors.Is(res[3].Error, zk.ErrBadVersion) {
		t.Errorf("failing op: %v", res[3].Error)
	}
	if res[4].Error == nil || !strings.Contains(res[4].Error.Error(), "-2") {
		t.Errorf("op after the failure: %v, want runtime inconsistency (-2)", res[4].Error)
	}
	mustExist(t, c, "/m/b", false)
	if data, st, _ := c.Get("/m"); string(data) != "1" || st.Version != 1 {
		t.Fatalf("/m changed by a failed multi: %q %+v", data, st)
	}
	if got := sortedChildren(t, c, "/m"); !slices.Equal(got, []string{"q-0000000001"}) {
		t.Fatalf("children after a failed multi: %v", got)
	}
	if p := mustCreate(t, c, "/m/q-", nil, zk.FlagSequence); p != "/m/q-0000000002" {
		t.Fatalf("sequence after a failed multi: %q, want /m/q-0000000002", p)
	}
	if _, err := c.Set("/m", []byte("3"), 1); err != nil {
		t.Fatal(err)
	}
	// The first event on the watch is this set, not anything from the failed multi.
	zktest.ExpectEvent(t, dataCh, zk.EventNodeDataChanged, "/m")

	// Multi is atomic for readers too: a reader never sees half of one.
	mustCreate(t, c, "/pair", nil, 0)
	done := make(chan struct{})
	var seen sync.WaitGroup
	seen.Add(1)
	var torn string
	stop := sync.OnceFunc(func() { close(done); seen.Wait() })
	defer stop()
	go func() {
		defer seen.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			kids, _, err := w.Children("/pair")
			if err != nil {
				torn = err.Error()
				return
			}
			if len(kids)%2 != 0 {
				torn = fmt.Sprint(kids)
				return
			}
		}
	}()
	for i := 0; i < 50; i++ {
		a, b := fmt.Sprintf("/pair/a%d", i), fmt.Sprintf("/pair/b%d", i)
		if _, err := c.Multi(&zk.CreateRequest{Path: a, Acl: openACL}, &zk.CreateRequest{Path: b, Acl: openACL}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Multi(&zk.DeleteRequest{Path: a, Version: -1}, &zk.DeleteRequest{Path: b, Version: -1}); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if torn != "" {
		t.Fatalf("a reader saw part of a multi: %s", torn)
	}
}

// TestIntegrationRawOps covers the ops go-zookeeper v1.0.4 has no call for: whoAmI,
// getEphemerals, getAllChildrenNumber, multiRead, addWatch (persistent and
// recursive), checkWatches/removeWatches, reconfig and the old-client handshake.
func TestIntegrationRawOps(t *testing.T) {
	srv := zktest.StartServer(t)
	r := zktest.Connect(t, srv.ConnectString(), 4000)
	o := zktest.Connect(t, srv.ConnectString(), 4000)

	t.Run("whoAmI", func(t *testing.T) {
		r.T = t
		r.MustCall(jute.OpAuth, (&jute.AuthPacket{Scheme: "digest", Auth: []byte("alice:secret")}).Append(nil), jute.CodeOK)
		rb := r.MustCall(jute.OpWhoAmI, nil, jute.CodeOK)
		var who jute.WhoAmIResponse
		d := jute.NewDecoder(rb)
		who.Decode(&d)
		// ZooKeeper 3.8's order (zkCli's whoami against it: digest, then ip).
		want := []jute.ClientInfo{{AuthScheme: "digest", User: "alice"}, {AuthScheme: "ip", User: "127.0.0.1"}}
		if d.Err() != nil || !slices.Equal(who.ClientInfo, want) {
			t.Fatalf("whoAmI: %+v %v, want %+v", who.ClientInfo, d.Err(), want)
		}
	})
	t.Run("getEphemerals", func(t *testing.T) {
		r.T, o.T = t, t
		r.Create("/re", nil, jute.ModePersistent)
		r.Create("/re/e1", nil, jute.ModeEphemeral)
		r.Create("/re/e2", nil, jute.ModeEphemeral)
		r.Create("/rex", nil, jute.ModeEphemeral)
		o.Create("/re/other", nil, jute.ModeEphemeral)
		for prefix, want := range map[string][]string{
			"/re":  {"/re/e1", "/re/e2", "/rex"}, // a string prefix, not a path prefix
			"/re/": {"/re/e1", "/re/e2"},
			"/":    {"/re/e1", "/re/e2", "/rex"},
			"":     {"/re/e1", "/re/e2", "/rex"},
			"/zz":  {},
		} {
			rb := r.MustCall(jute.OpGetEphemerals, zktest.PathBody(prefix), jute.CodeOK)
			d := jute.NewDecoder(rb)
			got := slices.Clone(d.Strings())
			slices.Sort(got)
			if d.Err() != nil || !slices.Equal(got, want) {
				t.Errorf("getEphemerals(%q) = %v, want %v", prefix, got, want)
			}
		}
	})
	t.Run("getAllChildrenNumber", func(t *testing.T) {
		r.T = t
		r.Create("/re/p", nil, jute.ModePersistent)
		r.Create("/re/p/q", nil, jute.ModePersistent)
		count := func(path string) int32 {
			rb := r.MustCall(jute.OpGetAllChildrenNumber, zktest.PathBody(path), jute.CodeOK)
			d := jute.NewDecoder(rb)
			return d.Int()
		}
		// /re: e1 e2 other p p/q. /: those, /re, /rex, /zookeeper and its 2 children.
		if n := count("/re"); n != 5 {
			t.Errorf("getAllChildrenNumber(/re) = %d, want 5", n)
		}
		if n := count("/"); n != 10 {
			t.Errorf("getAllChildrenNumber(/) = %d, want 10", n)
		}
		r.MustCall(jute.OpGetAllChildrenNumber, zktest.PathBody("/nope"), jute.CodeNoNode)
	})
	t.Run("multiRead", func(t *testing.T) {
		r.T = t
		r.MustCall(jute.OpSetData, zktest.SetDataBody("/re", []byte("rd"), -1), jute.CodeOK)
		req := jute.MultiRequest{Read: true, Ops: []jute.MultiOp{
			{Type: jute.OpGetData, Path: "/re"},
			{Type: jute.OpGetChildren, Path: "/re/p"},
			{Type: jute.OpGetData, Path: "/missing"},
			{Type: jute.OpGetChildren, Path: "/re/p/q"},
		}}
		rb := r.MustCall(jute.OpMultiRead, req.Append(nil), jute.CodeOK)
		resp := jute.MultiResponse{}
		d := jute.NewDecoder(rb)
		resp.Decode(&d)
		if d.Err() != nil || len(resp.Results) != 4 {
			t.Fatalf("multiRead reply: %+v %v", resp, d.Err())
		}
		res := resp.Results
		if res[0].Type != jute.OpGetData || string(res[0].Data) != "rd" || res[0].Stat.Version != 1 {
			t.Errorf("getData result %+v", res[0])
		}
		if res[1].Type != jute.OpGetChildren || !slices.Equal(res[1].Children, []string{"q"}) {
			t.Errorf("getChildren result %+v", res[1])
		}
		if res[2].Type != jute.OpError || res[2].Err != jute.CodeNoNode {
			t.Errorf("failing read result %+v, want an error result -101", res[2])
		}
		if res[3].Type != jute.OpGetChildren || len(res[3].Children) != 0 {
			t.Errorf("empty getChildren result %+v", res[3])
		}
	})
	t.Run("addWatch", func(t *testing.T) {
		r.T, o.T = t, t
		r.Create("/pw", nil, jute.ModePersistent)
		r.Create("/rw", nil, jute.ModePersistent)
		add := func(path string, mode int32) {
			rb := r.MustCall(jute.OpAddWatch, (&jute.PathTypeRequest{Path: path, Type: mode}).Append(nil), jute.CodeOK)
			if !bytes.Equal(rb, []byte{0, 0, 0, 0}) {
				t.Fatalf("addWatch reply body % x, want ErrorResponse{0}", rb)
			}
		}
		add("/pw", jute.AddWatchPersistent)
		add("/rw", jute.AddWatchPersistentRecursive)
		r.ClearEvents()
		// Another session's writes; o's replies come after r's events are queued, and
		// r's next reply (a ping-like exists) comes after those events.
		o.MustCall(jute.OpSetData, zktest.SetDataBody("/pw", []byte("1"), -1), jute.CodeOK)
		o.MustCall(jute.OpSetData, zktest.SetDataBody("/pw", []byte("2"), -1), jute.CodeOK)
		o.Create("/pw/kid", nil, jute.ModePersistent)
		o.Create("/rw/a", nil, jute.ModePersistent)
		o.Create("/rw/a/b", nil, jute.ModePersistent)
		o.MustCall(jute.OpSetData, zktest.SetDataBody("/rw/a", []byte("x"), -1), jute.CodeOK)
		o.MustCall(jute.OpDelete, zktest.PathVersionBody("/rw/a/b", -1), jute.CodeOK)
		r.Exists("/")
		want := []jute.WatcherEvent{
			{Type: jute.EventNodeDataChanged, State: 3, Path: "/pw"},
			{Type: jute.EventNodeDataChanged, State: 3, Path: "/pw"},
			{Type: jute.EventNodeChildrenChanged, State: 3, Path: "/pw"},
			{Type: jute.EventNodeCreated, State: 3, Path: "/rw/a"},
			{Type: jute.EventNodeCreated, State: 3, Path: "/rw/a/b"},
			{Type: jute.EventNodeDataChanged, State: 3, Path: "/rw/a"},
			{Type: jute.EventNodeDeleted, State: 3, Path: "/rw/a/b"},
		}
		if !slices.Equal(r.Events(), want) {
			t.Fatalf("persistent/recursive events:\n got %+v\nwant %+v", r.Events(), want)
		}
		// checkWatches and removeWatches (semantics.md §8.3, 3.8 rules).
		cw := func(op jute.OpCode, path string, typ int32, want jute.Code) {
			r.MustCall(op, (&jute.PathTypeRequest{Path: path, Type: typ}).Append(nil), want)
		}
		cw(jute.OpCheckWatches, "/pw", jute.WatcherData, jute.CodeOK)
		cw(jute.OpCheckWatches, "/nowatch", jute.WatcherAny, jute.CodeNoWatcher)
		cw(jute.OpRemoveWatches, "/pw", jute.WatcherAny, jute.CodeOK)
		cw(jute.OpCheckWatches, "/pw", jute.WatcherAny, jute.CodeNoWatcher)
		r.ClearEvents()
		o.MustCall(jute.OpSetData, zktest.SetDataBody("/pw", []byte("3"), -1), jute.CodeOK)
		r.Exists("/")
		if len(r.Events()) != 0 {
			t.Fatalf("events after removeWatches: %+v", r.Events())
		}
		r.MustCall(jute.OpAddWatch, (&jute.PathTypeRequest{Path: "/pw", Type: 7}).Append(nil), jute.CodeMarshallingError)
	})
	t.Run("multiEvents", func(t *testing.T) {
		// Watches fire in op order after each sub-op of a multi (semantics.md §6),
		// before the multi's reply; a standard watch fires once.
		r.T, o.T = t, t
		r.Create("/mw", nil, jute.ModePersistent)
		r.MustCall(jute.OpAddWatch, (&jute.PathTypeRequest{Path: "/mw/a", Type: jute.AddWatchPersistent}).Append(nil), jute.CodeOK)
		r.MustCall(jute.OpExists, zktest.PathWatchBody("/mw/b", true), jute.CodeNoNode)
		r.ClearEvents()
		multi := (&jute.MultiRequest{Ops: []jute.MultiOp{
			{Type: jute.OpCreate, Path: "/mw/a", ACL: jute.OpenACLUnsafe},
			{Type: jute.OpSetData, Path: "/mw/a", Data: []byte("x"), Version: 0},
			{Type: jute.OpCreate, Path: "/mw/b", ACL: jute.OpenACLUnsafe},
			{Type: jute.OpDelete, Path: "/mw/b", Version: 0},
			{Type: jute.OpDelete, Path: "/mw/a", Version: 1},
		}}).Append(nil)
		r.MustCall(jute.OpMulti, multi, jute.CodeOK)
		want := []jute.WatcherEvent{
			{Type: jute.EventNodeCreated, State: 3, Path: "/mw/a"},
			{Type: jute.EventNodeDataChanged, State: 3, Path: "/mw/a"},
			{Type: jute.EventNodeCreated, State: 3, Path: "/mw/b"},
			{Type: jute.EventNodeDeleted, State: 3, Path: "/mw/a"},
		}
		if !slices.Equal(r.Events(), want) {
			t.Fatalf("multi events before its reply:\n got %+v\nwant %+v", r.Events(), want)
		}
	})
	t.Run("aclFilteredEvents", func(t *testing.T) {
		// Events go only to connections with READ on the node (parent for
		// NodeChildrenChanged), as 3.8.4+ does (semantics.md §8.2, §10.1).
		r.T, o.T = t, t
		o.MustCall(jute.OpAuth, (&jute.AuthPacket{Scheme: "digest", Auth: []byte("carol:pw")}).Append(nil), jute.CodeOK)
		o.MustCall(jute.OpCreate, zktest.CreateBody("/secret", nil, jute.CreatorAllACL, 0), jute.CodeOK)
		r.MustCall(jute.OpAddWatch, (&jute.PathTypeRequest{Path: "/", Type: jute.AddWatchPersistentRecursive}).Append(nil), jute.CodeOK)
		r.ClearEvents()
		o.MustCall(jute.OpCreate, zktest.CreateBody("/secret/kid", nil, jute.CreatorAllACL, 0), jute.CodeOK)
		o.MustCall(jute.OpSetData, zktest.SetDataBody("/secret", []byte("s"), -1), jute.CodeOK)
		o.Create("/open", nil, jute.ModePersistent)
		o.MustCall(jute.OpDelete, zktest.PathVersionBody("/secret/kid", -1), jute.CodeOK)
		r.Exists("/")
		want := []jute.WatcherEvent{{Type: jute.EventNodeCreated, State: 3, Path: "/open"}}
		if !slices.Equal(r.Events(), want) {
			t.Fatalf("events seen without READ:\n got %+v\nwant %+v", r.Events(), want)
		}
		r.MustCall(jute.OpRemoveWatches, (&jute.PathTypeRequest{Path: "/", Type: jute.WatcherAny}).Append(nil), jute.CodeOK)
	})
	t.Run("reconfig", func(t *testing.T) {
		r.T = t
		body := (&jute.ReconfigRequest{JoiningServers: "server.2=127.0.0.1:2888:3888", CurConfigID: -1}).Append(nil)
		r.MustCall(jute.OpReconfig, body, jute.CodeReconfigDisabled)
		r.Exists("/") // still connected
	})
	t.Run("oldClientHandshake", func(t *testing.T) {
		// 44-byte ConnectRequest (no readOnly byte, as go-zookeeper sends) gets a
		// 36-byte response; the 45-byte form gets 37 (wire.md §3.3).
		for _, withRO := range []bool{false, true} {
			conn := zktest.Dial(t, srv.ConnectString())
			req := jute.ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16), HasReadOnly: withRO}
			payload := req.Append(nil)
			conn.Write(raw.Frame(payload))
			b := conn.ReadFrame()
			wantReq, wantResp := 44, 36
			if withRO {
				wantReq, wantResp = 45, 37
			}
			if len(payload) != wantReq || len(b) != wantResp {
				t.Errorf("readOnly byte %v: request %d bytes, response %d, want %d/%d", withRO, len(payload), len(b), wantReq, wantResp)
			}
			var resp jute.ConnectResponse
			d := jute.NewDecoder(b)
			resp.Decode(&d)
			if want := session.SessionPassword(jute.SessionID(resp.SessionID)); !bytes.Equal(resp.Passwd, want) {
				t.Errorf("password % x, want % x", resp.Passwd, want)
			}
		}
	})
}

// TestIntegrationWatchOrder checks event types, paths and order on one connection
// that both watches and writes: the event precedes the reply of the write that
// fired it (wire.md §6.4, semantics.md §8.2).
func TestIntegrationWatchOrder(t *testing.T) {
	srv := zktest.StartServer(t)
	r := zktest.Connect(t, srv.ConnectString(), 4000)
	r.Create("/o", []byte("0"), jute.ModePersistent)

	// expect sends a write and checks exactly the given events arrive, in order,
	// before its reply.
	expect := func(op jute.OpCode, body []byte, want ...jute.WatcherEvent) {
		t.Helper()
		xid := r.Send(op, body)
		var got []jute.WatcherEvent
		for {
			h, rb := r.Next()
			if h.Xid == jute.XidNotification {
				if h.Zxid != -1 || h.Err != 0 {
					t.Fatalf("notification header %+v, want zxid -1 err 0 (3.8)", h)
				}
				ev, err := raw.DecodeEvent(rb)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ev)
				continue
			}
			if h.Xid != xid || h.Err != jute.CodeOK {
				t.Fatalf("reply %+v, want xid %d ok", h, xid)
			}
			break
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%v: events before the reply\n got %+v\nwant %+v", op, got, want)
		}
	}
	ev := func(typ jute.EventType, path string) jute.WatcherEvent {
		return jute.WatcherEvent{Type: typ, State: jute.StateSyncConnected, Path: path}
	}

	r.MustCall(jute.OpGetData, zktest.PathWatchBody("/o", true), jute.CodeOK)
	r.MustCall(jute.OpExists, zktest.PathWatchBody("/o/c", true), jute.CodeNoNode) // exist watch on an absent node
	r.MustCall(jute.OpGetChildren, zktest.PathWatchBody("/o", true), jute.CodeOK)

	expect(jute.OpSetData, zktest.SetDataBody("/o", []byte("1"), -1), ev(jute.EventNodeDataChanged, "/o"))
	expect(jute.OpCreate, zktest.CreateBody("/o/c", nil, jute.OpenACLUnsafe, 0),
		ev(jute.EventNodeCreated, "/o/c"), ev(jute.EventNodeChildrenChanged, "/o"))
	// Watches are one-shot: the same changes again fire nothing.
	expect(jute.OpSetData, zktest.SetDataBody("/o", []byte("2"), -1))
	expect(jute.OpCreate, zktest.CreateBody("/o/d", nil, jute.OpenACLUnsafe, 0))

	r.MustCall(jute.OpGetData, zktest.PathWatchBody("/o/c", true), jute.CodeOK)
	r.MustCall(jute.OpGetChildren, zktest.PathWatchBody("/o/c", true), jute.CodeOK)
	r.MustCall(jute.OpGetChildren, zktest.PathWatchBody("/o", true), jute.CodeOK)
	// One NodeDeleted per connection even with a data and a child watch on the node.
	expect(jute.OpDelete, zktest.PathVersionBody("/o/c", -1),
		ev(jute.EventNodeDeleted, "/o/c"), ev(jute.EventNodeChildrenChanged, "/o"))

	// setACL fires nothing; a failed write fires nothing.
	r.MustCall(jute.OpGetData, zktest.PathWatchBody("/o", true), jute.CodeOK)
	expect(jute.OpSetACL, zktest.SetACLBody("/o", jute.OpenACLUnsafe, -1))
	r.MustCall(jute.OpSetData, zktest.SetDataBody("/o", nil, 99), jute.CodeBadVersion)
	if len(r.Events()) != 0 {
		t.Fatalf("events from setACL or a failed write: %+v", r.Events())
	}
	expect(jute.OpSetData, zktest.SetDataBody("/o", []byte("3"), -1), ev(jute.EventNodeDataChanged, "/o"))

	// Across connections: a reader that sees a change has already had its event.
	w := zktest.Connect(t, srv.ConnectString(), 4000)
	w.MustCall(jute.OpGetData, zktest.PathWatchBody("/o", true), jute.CodeOK)
	m := zktest.Connect(t, srv.ConnectString(), 4000)
	xid := m.Send(jute.OpSetData, zktest.SetDataBody("/o", []byte("4"), -1))
	for deadline := time.Now().Add(zktest.IOTimeout); ; {
		_, st := w.GetData("/o")
		if st.Version == 4 {
			if !slices.Equal(w.Events(), []jute.WatcherEvent{ev(jute.EventNodeDataChanged, "/o")}) {
				t.Fatalf("read the new version with events %+v", w.Events())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("setData never became visible")
		}
	}
	if h, _ := m.Reply(); h.Xid != xid || h.Err != jute.CodeOK {
		t.Fatalf("setData reply %+v", h)
	}

	// go-zookeeper sees the same events through its watch channels.
	c, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	mz, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)
	_, _, dataCh, err := c.GetW("/o")
	if err != nil {
		t.Fatal(err)
	}
	_, _, existCh, err := c.ExistsW("/o/new")
	if err != nil {
		t.Fatal(err)
	}
	_, _, childCh, err := c.ChildrenW("/o")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mz.Set("/o", []byte("5"), -1); err != nil {
		t.Fatal(err)
	}
	zktest.ExpectEvent(t, dataCh, zk.EventNodeDataChanged, "/o")
	mustCreate(t, mz, "/o/new", nil, 0)
	zktest.ExpectEvent(t, existCh, zk.EventNodeCreated, "/o/new")
	zktest.ExpectEvent(t, childCh, zk.EventNodeChildrenChanged, "/o")
	_, _, delData, err := c.GetW("/o/new")
	if err != nil {
		t.Fatal(err)
	}
	_, _, delChild, err := c.ChildrenW("/o/new")
	if err != nil {
		t.Fatal(err)
	}
	if err := mz.Delete("/o/new", -1); err != nil {
		t.Fatal(err)
	}
	zktest.ExpectEvent(t, delData, zk.EventNodeDeleted, "/o/new")
	zktest.ExpectEvent(t, delChild, zk.EventNodeDeleted, "/o/new")
}

// TestIntegrationSessionExpiry: a session whose connection dies is expired after its
// timeout; its ephemerals go with it, watchers see NodeDeleted, and a reconnect
// with its id gets the invalid-session response (semantics.md §7).
func TestIntegrationSessionExpiry(t *testing.T) {
	srv := zktest.StartServer(t)
	b, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)

	t.Run("expiry", func(t *testing.T) {
		mustCreate(t, b, "/keep", nil, 0)
		a := zktest.Connect(t, srv.ConnectString(), 1000)
		if a.Timeout() != 1000 {
			t.Fatalf("negotiated %d ms, want 1000", a.Timeout())
		}
		a.Create("/eph", []byte("a"), jute.ModeEphemeral)
		a.Create("/eph-seq-", nil, jute.ModeEphemeralSequential)
		ok, _, ch, err := b.ExistsW("/eph")
		if err != nil || !ok {
			t.Fatalf("existsW: %v %v", ok, err)
		}
		_, _, kids, err := b.ChildrenW("/")
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		zktest.ExpectEvent(t, ch, zk.EventNodeDeleted, "/eph")
		zktest.ExpectEvent(t, kids, zk.EventNodeChildrenChanged, "/")
		if got := sortedChildren(t, b, "/"); !slices.Equal(got, []string{"keep", "zookeeper"}) {
			t.Fatalf("children of / after expiry: %v", got)
		}
		gone, resp := zktest.Resume(t, srv.ConnectString(), a.SessionID(), a.Passwd(), 1000)
		if resp.TimeOut != 0 || resp.SessionID != 0 || !bytes.Equal(resp.Passwd, make([]byte, 16)) {
			t.Fatalf("resume of an expired session: %+v, want timeOut 0, id 0, zero password", resp)
		}
		gone.ExpectClosedSilently()
	})
	t.Run("timeoutClamp", func(t *testing.T) {
		// Requested timeouts are clamped into [2, 20] ticks (semantics.md §7.1).
		for req, want := range map[int32]int32{1: 400, 399: 400, 1234: 1234, 4000: 4000, 60000: 4000} {
			c := zktest.Connect(t, srv.ConnectString(), req)
			if c.Timeout() != want {
				t.Errorf("requested %d ms, negotiated %d, want %d", req, c.Timeout(), want)
			}
			c.CloseSession()
		}
	})
	t.Run("wrongPassword", func(t *testing.T) {
		a := zktest.Connect(t, srv.ConnectString(), 4000)
		bad := bytes.Clone(a.Passwd())
		bad[0] ^= 1
		c, resp := zktest.Resume(t, srv.ConnectString(), a.SessionID(), bad, 4000)
		if resp.TimeOut != 0 || resp.SessionID != 0 {
			t.Fatalf("wrong password accepted: %+v", resp)
		}
		c.ExpectClosedSilently()
		a.Exists("/") // the real owner is unaffected
	})
	t.Run("resume", func(t *testing.T) {
		a := zktest.Connect(t, srv.ConnectString(), 4000)
		a.Create("/eph2", nil, jute.ModeEphemeral)
		a2, resp := zktest.Resume(t, srv.ConnectString(), a.SessionID(), a.Passwd(), 4000)
		if resp.SessionID != a.SessionID() || !bytes.Equal(resp.Passwd, a.Passwd()) || resp.TimeOut != 4000 {
			t.Fatalf("resume: %+v", resp)
		}
		// The older connection of the session is closed.
		a.ExpectClosedSilently()
		if _, ok := a2.Exists("/eph2"); !ok {
			t.Fatal("ephemeral lost on resume")
		}
		ok, _, ch, err := b.ExistsW("/eph2")
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		// closeSession removes the ephemerals at once.
		a2.CloseSession()
		zktest.ExpectEvent(t, ch, zk.EventNodeDeleted, "/eph2")
	})
	t.Run("goClientExpired", func(t *testing.T) {
		p := testutil.StartProxy(t, srv.ConnectString())
		c, events := zktest.ConnectZK(t, p.Addr(), 2*time.Second)
		mustCreate(t, c, "/eph3", nil, zk.FlagEphemeral)
		ok, _, ch, err := b.ExistsW("/eph3")
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		p.Sever()
		zktest.ExpectEvent(t, ch, zk.EventNodeDeleted, "/eph3")
		p.Heal()
		events.Wait(t, zk.StateExpired)
	})
}

// TestIntegrationReconnectSetWatches: a client that loses its connection keeps its
// session, re-sends its watches with setWatches and gets the events for changes it
// missed, judged against its last seen zxid (semantics.md §8.4).
func TestIntegrationReconnectSetWatches(t *testing.T) {
	srv := zktest.StartServer(t)
	p := testutil.StartProxy(t, srv.ConnectString())
	w, events := zktest.ConnectZK(t, p.Addr(), 4*time.Second)
	m, _ := zktest.ConnectZK(t, srv.ConnectString(), 4*time.Second)

	mustCreate(t, m, "/rw", []byte("0"), 0)
	mustCreate(t, m, "/rw/gone", nil, 0)
	mustCreate(t, m, "/same", []byte("0"), 0)
	sid := w.SessionID()
	// Auth is re-sent on reconnect, before setWatches, so events on a node only
	// the client's digest may read keep coming.
	for _, c := range []*zk.Conn{w, m} {
		if err := c.AddAuth("digest", []byte("alice:pw")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Create("/private", []byte("0"), 0, zk.AuthACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}

	watch := func(f func(string) ([]byte, *zk.Stat, <-chan zk.Event, error), path string) <-chan zk.Event {
		t.Helper()
		_, _, ch, err := f(path)
		if err != nil {
			t.Fatalf("watch %s: %v", path, err)
		}
		return ch
	}
	childrenW := func(path string) ([]byte, *zk.Stat, <-chan zk.Event, error) {
		_, st, ch, err := w.ChildrenW(path)
		return nil, st, ch, err
	}
	existsW := func(path string) ([]byte, *zk.Stat, <-chan zk.Event, error) {
		_, st, ch, err := w.ExistsW(path)
		return nil, st, ch, err
	}
	dataCh := watch(w.GetW, "/rw")
	childCh := watch(childrenW, "/rw")
	existCh := watch(existsW, "/rw-new")
	goneCh := watch(w.GetW, "/rw/gone")
	sameData := watch(w.GetW, "/same")
	sameChild := watch(childrenW, "/same")
	sameExist := watch(existsW, "/same-new")
	privCh := watch(w.GetW, "/private")

	p.Sever()
	events.Wait(t, zk.StateDisconnected)
	if _, err := m.Set("/rw", []byte("1"), -1); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "/rw-new", nil, 0)
	if err := m.Delete("/rw/gone", -1); err != nil {
		t.Fatal(err)
	}
	p.Heal()
	events.Wait(t, zk.StateHasSession)
	if w.SessionID() != sid {
		t.Fatalf("session %#x after reconnect, want %#x", w.SessionID(), sid)
	}
	zktest.ExpectEvent(t, dataCh, zk.EventNodeDataChanged, "/rw")
	zktest.ExpectEvent(t, childCh, zk.EventNodeChildrenChanged, "/rw")
	zktest.ExpectEvent(t, existCh, zk.EventNodeCreated, "/rw-new")
	zktest.ExpectEvent(t, goneCh, zk.EventNodeDeleted, "/rw/gone")
	// Those events came from setWatches; once a later request on the connection is
	// answered, setWatches has been answered too, and unchanged nodes fired nothing.
	if _, err := w.Sync("/"); err != nil {
		t.Fatal(err)
	}
	zktest.NoEvent(t, sameData)
	zktest.NoEvent(t, sameChild)
	zktest.NoEvent(t, sameExist)
	zktest.NoEvent(t, privCh)
	// ... but their watches were re-registered.
	if _, err := m.Set("/same", []byte("1"), -1); err != nil {
		t.Fatal(err)
	}
	zktest.ExpectEvent(t, sameData, zk.EventNodeDataChanged, "/same")
	mustCreate(t, m, "/same/kid", nil, 0)
	zktest.ExpectEvent(t, sameChild, zk.EventNodeChildrenChanged, "/same")
	mustCreate(t, m, "/same-new", nil, 0)
	zktest.ExpectEvent(t, sameExist, zk.EventNodeCreated, "/same-new")
	if _, err := m.Set("/private", []byte("1"), -1); err != nil {
		t.Fatal(err)
	}
	zktest.ExpectEvent(t, privCh, zk.EventNodeDataChanged, "/private")
}

// TestIntegrationConcurrentFIFO runs 100 raw clients at once, each pipelining about
// 100 mixed requests without waiting; every client checks its replies come back in
// xid order and that each read sees exactly the write sent just before it.
func TestIntegrationConcurrentFIFO(t *testing.T) {
	const clients, rounds, shared = 100, 45, 5
	srv := zktest.StartServer(t)
	setup := zktest.Connect(t, srv.ConnectString(), 4000)
	setup.Create("/fifo", nil, jute.ModePersistent)

	conns := make([]*zktest.Client, clients)
	for i := range conns {
		conns[i] = zktest.Connect(t, srv.ConnectString(), 4000)
	}

	// check is what a reply must satisfy; it returns a description of a mismatch.
	type expect struct {
		xid   int32
		op    jute.OpCode
		check func(h jute.ReplyHeader, body []byte) string
	}
	okOnly := func(h jute.ReplyHeader, _ []byte) string {
		if h.Err != jute.CodeOK {
			return fmt.Sprintf("err %v", h.Err)
		}
		return ""
	}
	run := func(i int, c *zktest.Client, start <-chan struct{}) error {
		path := fmt.Sprintf("/fifo/c%03d", i)
		var out []byte
		var exp []expect
		add := func(op jute.OpCode, body []byte, check func(jute.ReplyHeader, []byte) string) {
			xid := c.NextXid()
			out = append(out, raw.RequestFrame(xid, op, body)...)
			exp = append(exp, expect{xid, op, check})
		}
		lastZxid := jute.Zxid(0)
		add(jute.OpCreate, zktest.CreateBody(path, []byte("v0"), jute.OpenACLUnsafe, 0), okOnly)
		for k := 1; k <= rounds; k++ {
			want := fmt.Sprintf("v%d", k)
			add(jute.OpSetData, zktest.SetDataBody(path, []byte(want), int32(k-1)), func(h jute.ReplyHeader, b []byte) string {
				var st jute.Stat
				d := jute.NewDecoder(b)
				st.Decode(&d)
				if h.Err != jute.CodeOK || st.Version != int32(k) {
					return fmt.Sprintf("setData %s: err %v version %d", want, h.Err, st.Version)
				}
				return ""
			})
			add(jute.OpGetData, zktest.PathWatchBody(path, false), func(h jute.ReplyHeader, b []byte) string {
				var r jute.GetDataResponse
				d := jute.NewDecoder(b)
				r.Decode(&d)
				if h.Err != jute.CodeOK || string(r.Data) != want || r.Stat.Version != int32(k) {
					return fmt.Sprintf("getData after setData %s: err %v data %q version %d", want, h.Err, r.Data, r.Stat.Version)
				}
				return ""
			})
			if k%10 == 0 {
				add(jute.OpSetData, zktest.SetDataBody("/fifo", nil, -1), okOnly) // contended
			}
		}
		for range shared - rounds/10 {
			add(jute.OpSetData, zktest.SetDataBody("/fifo", nil, -1), okOnly)
		}
		add(jute.OpSync, zktest.PathBody(path), func(h jute.ReplyHeader, b []byte) string {
			d := jute.NewDecoder(b)
			if p := d.String(); h.Err != jute.CodeOK || p != path {
				return fmt.Sprintf("sync: %v %q", h.Err, p)
			}
			return ""
		})
		add(jute.OpCreate, zktest.CreateBody(path+"/e", nil, jute.OpenACLUnsafe, jute.ModeEphemeral), okOnly)
		add(jute.OpGetChildren, zktest.PathWatchBody(path, false), func(h jute.ReplyHeader, b []byte) string {
			d := jute.NewDecoder(b)
			if kids := d.Strings(); h.Err != jute.CodeOK || !slices.Equal(kids, []string{"e"}) {
				return fmt.Sprintf("getChildren after create: %v %v", h.Err, kids)
			}
			return ""
		})
		add(jute.OpDelete, zktest.PathVersionBody(path+"/e", 0), okOnly)
		add(jute.OpExists, zktest.PathWatchBody(path+"/e", false), func(h jute.ReplyHeader, _ []byte) string {
			if h.Err != jute.CodeNoNode {
				return fmt.Sprintf("exists after delete: %v", h.Err)
			}
			return ""
		})
		add(jute.OpDelete, zktest.PathVersionBody(path, 0), func(h jute.ReplyHeader, _ []byte) string {
			if h.Err != jute.CodeBadVersion {
				return fmt.Sprintf("delete at a stale version: %v", h.Err)
			}
			return ""
		})
		add(jute.OpPing, nil, okOnly)

		<-start
		errc := make(chan error, 1)
		go func() {
			errc <- c.Raw().Write(out)
		}()
		for n, e := range exp {
			b, err := c.Raw().ReadFrame()
			if err != nil {
				return fmt.Errorf("client %d: reply %d of %d: %w", i, n, len(exp), err)
			}
			var h jute.ReplyHeader
			d := jute.NewDecoder(b)
			h.Decode(&d)
			wantXid := e.xid
			if e.op == jute.OpPing {
				wantXid = jute.XidPing
			}
			if h.Xid != wantXid {
				return fmt.Errorf("client %d: reply %d has xid %d, want %d (%v)", i, n, h.Xid, wantXid, e.op)
			}
			if h.Zxid < lastZxid {
				return fmt.Errorf("client %d: reply zxid went back from %d to %d", i, lastZxid, h.Zxid)
			}
			lastZxid = h.Zxid
			if msg := e.check(h, d.Rest()); msg != "" {
				return fmt.Errorf("client %d, reply %d: %s", i, n, msg)
			}
		}
		return <-errc
	}

	start := make(chan struct{})
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- run(i, c, start)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	// Every write landed exactly once. A fresh session checks: the setup one sat
	// idle for the whole run, which on a loaded machine can outlast its timeout.
	setup = zktest.Connect(t, srv.ConnectString(), 4000)
	kids := setup.Children("/fifo")
	if len(kids) != clients {
		t.Fatalf("/fifo has %d children, want %d", len(kids), clients)
	}
	for _, k := range kids {
		data, st := setup.GetData("/fifo/" + k)
		if string(data) != fmt.Sprintf("v%d", rounds) || st.Version != rounds || st.NumChildren != 0 {
			t.Fatalf("/fifo/%s: %q %+v", k, data, st)
		}
	}
	if _, st := setup.GetData("/fifo"); st.Version != clients*shared {
		t.Fatalf("/fifo version %d, want %d", st.Version, clients*shared)
	}
}
