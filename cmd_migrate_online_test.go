package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/datatree"
	"zkd/internal/zktest"
	"zkd/jute"
	"zkd/session"
	"zkd/zkdisk"
	"zkd/zoocfg"
)

const onlineSuper = "super:export-test"

// startExportableServer starts an in-process zkd with extended types, a super
// digest and its AdminServer on a free loopback port, the snapshot command
// enabled unless disabled says otherwise. It returns the server and the
// AdminServer's base URL.
func startExportableServer(t *testing.T, enabled bool) (*zktest.Server, string) {
	t.Helper()
	s := zktest.StartServer(t, func(c *zoocfg.Config) {
		c.Admin.Enabled, c.Admin.Address, c.Admin.Port, c.Admin.PortSet = true, "127.0.0.1", 0, true
		c.Admin.SnapshotEnabled, c.Admin.RateLimiterInterval = enabled, 0
		c.ExtendedTypes = true
		c.SuperDigest = session.DigestID(onlineSuper)
	})
	return s, "http://" + s.AdminAddr().String()
}

// servedNodes reads every node through a real client (authenticated as super,
// so every ACL lets it read) as comparable lines.
func servedNodes(t *testing.T, c *zk.Conn) []string {
	t.Helper()
	var out []string
	stack := []string{"/"}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		data, st, err := c.Get(p)
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		acls, _, err := c.GetACL(p)
		if err != nil {
			t.Fatalf("getACL %s: %v", p, err)
		}
		kids, _, err := c.Children(p)
		if err != nil {
			t.Fatalf("children %s: %v", p, err)
		}
		stat := jute.Stat{Czxid: st.Czxid, Mzxid: st.Mzxid, Ctime: st.Ctime, Mtime: st.Mtime, Version: st.Version,
			Cversion: st.Cversion, Aversion: st.Aversion, EphemeralOwner: st.EphemeralOwner, DataLength: st.DataLength,
			NumChildren: st.NumChildren, Pzxid: st.Pzxid}
		var acl []jute.ACL
		for _, a := range acls {
			acl = append(acl, jute.ACL{Perms: a.Perms, ID: jute.Id{Scheme: a.Scheme, ID: a.ID}})
		}
		out = append(out, fmt.Sprintf("%s %q %+v %v", p, data, stat, acl))
		for _, k := range kids {
			stack = append(stack, strings.TrimSuffix(p, "/")+"/"+k)
		}
	}
	slices.Sort(out)
	return out
}

// exportedNodes loads an exported ZooKeeper data directory as ZooKeeper would
// and returns its nodes as servedNodes does, with the load's summary.
func exportedNodes(t *testing.T, dir string) ([]string, zkdisk.Summary) {
	t.Helper()
	db, err := zkdisk.Load(zkdisk.LoadOptions{DataDir: dir})
	if err != nil {
		t.Fatalf("loading the export: %v", err)
	}
	tree, err := db.Restore(datatree.Config{ExtendedTypes: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return walkTree(t, tree), db.Summary
}

func diffNodes(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s: %d nodes, the server serves %d", what, len(got), len(want))
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("first difference:\n got  %s\n want %s", got[i], want[i])
			return
		}
	}
}

// TestOnlineExportOfEveryNodeKind writes every kind of node into a running
// server, exports it through its AdminServer while a session holding an
// ephemeral stays open, and checks the exported ZooKeeper data node by node
// against what the server serves, with ZooKeeper's digest in the snapshot
// matching the server's tree. The same tree exported offline once the server
// has stopped gives the very same bytes.
func TestOnlineExportOfEveryNodeKind(t *testing.T) {
	s, admin := startExportableServer(t, true)
	c, _ := zktest.ConnectZK(t, s.ConnectString(), 20*time.Second)
	if err := c.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	open := zk.WorldACL(zk.PermAll)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	create := func(path string, data []byte, flags int32, acl []zk.ACL) string {
		t.Helper()
		p, err := c.Create(path, data, flags, acl)
		must("create "+path, err)
		return p
	}
	create("/app", []byte("persistent"), 0, open)
	create("/app/empty", []byte{}, 0, open)
	create("/app/null", nil, 0, open)
	var seqs []string
	for range 3 {
		seqs = append(seqs, create("/app/seq-", []byte("s"), zk.FlagSequence, open))
	}
	create("/app/eph", []byte("held by an open session"), zk.FlagEphemeral, open)
	create("/app/eseq-", nil, zk.FlagEphemeral|zk.FlagSequence, open)
	_, err := c.CreateContainer("/app/box", []byte("c"), zk.FlagContainer, open)
	must("create container", err)
	create("/app/box/in", []byte("keeps the container"), 0, open)
	_, err = c.CreateTTL("/app/ttl", []byte("t"), zk.FlagTTL, open, time.Hour)
	must("create ttl", err)
	create("/app/secret", []byte("alice only"), 0, zk.DigestACL(zk.PermAll, "alice", "secret"))
	create("/app/readonly", []byte("r"), 0, zk.WorldACL(zk.PermRead))
	_, err = c.SetACL("/app", append(zk.DigestACL(zk.PermAll, "alice", "secret"), zk.WorldACL(zk.PermRead|zk.PermCreate)...), -1)
	must("setACL", err)
	_, err = c.Set("/app/empty", []byte("v2"), -1)
	must("setData", err)
	must("delete", c.Delete(seqs[1], -1))
	// A quota on /app as zkCli's setquota writes it.
	create("/zookeeper/quota/app", nil, 0, open)
	create("/zookeeper/quota/app/zookeeper_limits", []byte("count=100,bytes=-1"), 0, open)
	create("/zookeeper/quota/app/zookeeper_stats", []byte("count=11,bytes=60"), 0, open)
	_, err = c.Multi(&zk.CreateRequest{Path: "/app/m", Data: []byte("m"), Acl: open},
		&zk.SetDataRequest{Path: "/app/m", Data: []byte("m2"), Version: 0})
	must("multi", err)

	super, _ := zktest.ConnectZK(t, s.ConnectString(), 20*time.Second)
	must("super auth", super.AddAuth("digest", []byte(onlineSuper)))
	served := servedNodes(t, super)
	tree := s.Replica().Tree()
	zxid, digest := tree.LastZxid(), tree.Digest()

	dir := filepath.Join(t.TempDir(), "zk")
	var out, errOut bytes.Buffer
	if code := exportCmd(context.Background(), []string{"--server", admin, "--to", dir}, &out, &errOut, false); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"exporting the running zkd at " + admin, "downloading snapshot 100%", "checking snapshot 100%",
		"exported:", "downloaded   " + admin + "/commands/snapshot", fmt.Sprintf("last zxid    0x%x", int64(zxid)),
		"sessions     2 (2 ephemerals)", fmt.Sprintf("digest       %d", digest)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("export output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\r") {
		t.Error("progress bar escapes in non-terminal output")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != zkdisk.VersionDir {
		t.Errorf("%s holds %v: the download was not removed", dir, ents)
	}
	got, sum := exportedNodes(t, dir)
	diffNodes(t, "online export", got, served)
	// ZooKeeper's digest section holds the server's tree digest at that zxid.
	if sum.LastZxid != int64(zxid) || sum.Digest != digest || sum.DigestChecks != 1 || sum.Sessions != 2 {
		t.Errorf("export summary %+v; server at %v with digest %d", sum, zxid, digest)
	}
	if tree.LastZxid() != zxid {
		t.Fatalf("the tree moved on to %v during the test", tree.LastZxid())
	}

	// The same state exported offline once the server has stopped (the sessions
	// still open): the same file.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	offline := filepath.Join(t.TempDir(), "zk")
	errOut.Reset()
	if code := exportCmd(context.Background(), []string{"--data-dir", s.Config().DataDir, "--extended-types", "--to", offline},
		io.Discard, &errOut, false); code != 0 {
		t.Fatalf("offline export: exit %d\n%s", code, errOut.String())
	}
	name := zkdisk.SnapshotName(int64(zxid), zkdisk.CodecPlain)
	a, errA := os.ReadFile(filepath.Join(dir, zkdisk.VersionDir, name))
	b, errB := os.ReadFile(filepath.Join(offline, zkdisk.VersionDir, name))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("online and offline exports of zxid %v differ (%d and %d bytes; %v %v)", zxid, len(a), len(b), errA, errB)
	}
}

// A root whose ACL lets only a digest id in: the default ip auth is refused
// with ZooKeeper's 403, the digest (here from a file) passes.
func TestOnlineExportAuth(t *testing.T) {
	s, admin := startExportableServer(t, true)
	c, _ := zktest.ConnectZK(t, s.ConnectString(), 20*time.Second)
	if _, err := c.SetACL("/", zk.DigestACL(zk.PermAll, "root", "pw"), -1); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "zk")
	var errOut bytes.Buffer
	if code := exportCmd(context.Background(), []string{"--server", admin, "--to", dir}, io.Discard, &errOut, false); code != 1 ||
		!strings.Contains(errOut.String(), "403 Forbidden: Not authorized (pass --auth") {
		t.Errorf("ip auth on a closed root: exit %d\n%s", code, errOut.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s exists after a refused export", dir)
	}
	authFile := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(authFile, []byte("digest root:pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := exportCmd(context.Background(), []string{"--server", admin, "--auth", "@" + authFile, "--to", dir},
		io.Discard, &errOut, false); code != 0 {
		t.Errorf("digest auth: exit %d\n%s", code, errOut.String())
	}
}

// A server without the command enabled answers as ZooKeeper does (503, error
// null), and the export says how to enable it and writes nothing.
func TestOnlineExportRefusedWhenDisabled(t *testing.T) {
	_, admin := startExportableServer(t, false)
	req, _ := http.NewRequest(http.MethodGet, admin+"/commands/snapshot", nil)
	req.Header.Set("Authorization", "ip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "{\n  \"command\" : \"snapshot\",\n  \"error\" : null\n}" {
		t.Errorf("disabled: %d\n%s", resp.StatusCode, body)
	}
	dir := filepath.Join(t.TempDir(), "zk")
	var errOut bytes.Buffer
	code := exportCmd(context.Background(), []string{"--server", admin, "--to", dir}, io.Discard, &errOut, false)
	if code != 1 || !strings.Contains(errOut.String(), "503 Service Unavailable") ||
		!strings.Contains(errOut.String(), "admin.snapshot.enabled=true") || !strings.Contains(errOut.String(), "nothing was written") {
		t.Errorf("export from a disabled server: exit %d\n%s", code, errOut.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s exists after a refused export", dir)
	}
}

// A stream cut short or damaged on the way (a proxy between the exporter and
// the server) is refused with the offset, and nothing is written.
func TestOnlineExportRefusesDamagedStreams(t *testing.T) {
	s, admin := startExportableServer(t, true)
	c, _ := zktest.ConnectZK(t, s.ConnectString(), 20*time.Second)
	for i := range 300 {
		if _, err := c.Create(fmt.Sprintf("/n%03d", i), bytes.Repeat([]byte{byte(i)}, 200), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		damage func([]byte) []byte
		want   string
	}{
		{"cut", func(b []byte) []byte { return b[:len(b)/2] }, "truncated"},
		{"flipped", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }, "snapshot: corrupt"},
	}
	for _, cs := range cases {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, _ := http.NewRequest(http.MethodGet, admin+r.URL.RequestURI(), nil)
			req.Header.Set("Authorization", r.Header.Get("Authorization"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(cs.damage(b))
		}))
		dir := filepath.Join(t.TempDir(), "zk")
		var errOut bytes.Buffer
		code := exportCmd(context.Background(), []string{"--server", proxy.URL, "--to", dir}, io.Discard, &errOut, false)
		proxy.Close()
		if code != 1 || !strings.Contains(errOut.String(), cs.want) || !strings.Contains(errOut.String(), "at offset") ||
			!strings.Contains(errOut.String(), "nothing was written") {
			t.Errorf("%s: exit %d\n%s", cs.name, code, errOut.String())
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: %s exists after a refused export", cs.name, dir)
		}
	}
}

// Flags for a stopped data directory make no sense with --server.
func TestOnlineExportFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--server", "127.0.0.1:1", "--data-dir", "x", "--to", "y"}, "--data-dir are for a stopped data directory"},
		{[]string{"--server", "127.0.0.1:1", "--extended-types", "--skip-acl", "--to", "y"}, "--extended-types, --skip-acl are for"},
		{[]string{"--server", "127.0.0.1:1"}, "--to is required"},
		{[]string{"--server", "ftp://x", "--to", "y"}, "want http://host:port"},
		{[]string{"--server", "127.0.0.1:1", "--to", "y", "--compression", "lz4"}, "want gz or snappy"},
		{[]string{"--server", "127.0.0.1:1", "--to", "y", "--auth", "@/nonexistent/auth"}, "--auth"},
	} {
		var errOut bytes.Buffer
		if code := exportCmd(context.Background(), c.args, io.Discard, &errOut, false); code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("export %v: exit %d, %q", c.args, code, errOut.String())
		}
	}
}
