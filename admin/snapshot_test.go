package admin_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"zkd/admin"
	"zkd/datatree"
	"zkd/jute"
	"zkd/replica/replicatest"
	"zkd/session"
	"zkd/snapshot"
)

// snapshotFixture is a session server over a standalone replica that keeps its
// snapshots, with an AdminServer whose snapshot command takes them.
type snapshotFixture struct {
	srv  *session.Server
	rep  *replicatest.Standalone
	conn *session.Conn
	xid  int32
	base string
}

const superPassword = "super:s3cret"

func newSnapshotFixture(t *testing.T, edit func(*admin.Config)) *snapshotFixture {
	t.Helper()
	rep := replicatest.NewStandalone(t, replicatest.StandaloneOptions{Logger: quiet})
	cfg := session.DefaultConfig()
	cfg.Logger = quiet
	cfg.ClientAddr = "127.0.0.1:2181"
	cfg.SuperDigest = session.DigestID(superPassword)
	srv, err := session.NewServer(cfg, rep)
	if err != nil {
		t.Fatal(err)
	}
	rep.SetListener(srv)
	srv.SetOps(session.OpsConfig{DataDir: t.TempDir(), DataLogDir: t.TempDir(), ClientPort: 2181,
		Disk: session.NewDiskStats(time.Second, 0, quiet)})
	f := &snapshotFixture{srv: srv, rep: rep}
	f.base = startAdmin(t, srv, func(c *admin.Config) {
		c.SnapshotEnabled = true
		c.RateLimiterInterval = 0
		c.TakeSnapshot = func(ctx context.Context) (admin.Snapshot, error) {
			s, err := rep.SnapshotNow(ctx)
			return admin.Snapshot{Zxid: s.Index, Size: s.Size, Body: s.File}, err
		}
		if edit != nil {
			edit(c)
		}
	})
	f.conn, err = srv.NewConn(nopTransport{}, "127.0.0.1", "127.0.0.1:40001")
	if err != nil {
		t.Fatal(err)
	}
	req := jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)}
	if !f.conn.HandleFrame(req.Append(nil)) {
		t.Fatal("handshake refused")
	}
	f.settle(t)
	return f
}

// settle waits until the connection has no request outstanding.
func (f *snapshotFixture) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.conn.Outstanding() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("request not answered")
		}
		time.Sleep(time.Millisecond)
	}
}

// write sends one write request and waits for it to apply.
func (f *snapshotFixture) write(t *testing.T, op jute.OpCode, body []byte) {
	t.Helper()
	f.xid++
	frame := (&jute.RequestHeader{Xid: f.xid, Type: op}).Append(nil)
	if !f.conn.HandleFrame(append(frame, body...)) {
		t.Fatal("the write dropped the connection")
	}
	f.settle(t)
}

func (f *snapshotFixture) create(t *testing.T, path string, acl []jute.ACL) {
	t.Helper()
	f.write(t, jute.OpCreate, (&jute.CreateRequest{Path: path, Data: []byte(path), ACL: acl}).Append(nil))
	if _, code := f.srv.Tree().Exists(path, nil, nil); code != jute.CodeOK {
		t.Fatalf("create %s: %v", path, code)
	}
}

// request sends GET path with an Authorization header ("" for none).
func request(t *testing.T, url, auth string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func commandBody(errMsg string) string {
	msg := "null"
	if errMsg != "" {
		msg = strconv.Quote(errMsg)
	}
	return "{\n  \"command\" : \"snapshot\",\n  \"error\" : " + msg + "\n}"
}

// Refusals come in ZooKeeper 3.9's order with its statuses and bodies: auth
// (missing, unknown scheme, ids without ALL on "/"), then the feature flag, then
// the rate limit.
func TestSnapshotCommandRefusals(t *testing.T) {
	bob := []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "digest", ID: session.DigestID("bob:pw")}}}
	disabled := newSnapshotFixture(t, func(c *admin.Config) { c.SnapshotEnabled = false })
	limited := newSnapshotFixture(t, func(c *admin.Config) { c.RateLimiterInterval = time.Hour })
	locked := newSnapshotFixture(t, nil)
	locked.write(t, jute.OpSetACL, (&jute.SetACLRequest{Path: "/", ACL: bob, Version: -1}).Append(nil))

	cases := []struct {
		name   string
		f      *snapshotFixture
		path   string
		auth   string
		status int
		msg    string
	}{
		{"no auth, disabled", disabled, "snapshot", "", 401, "Auth info is missing for the command"},
		{"disabled", disabled, "snapshot", "ip", 503, ""},
		{"disabled, by alias", disabled, "snap?streaming=false", "digest a:b", 503, ""},
		{"unknown scheme", locked, "snapshot", "sasl x", 401, "Not authenticated"},
		{"digest without data", locked, "snapshot", "digest", 401, "Not authenticated"},
		{"too many parts", locked, "snapshot", "digest a:b c", 401, "Not authenticated"},
		{"ip without ALL on /", locked, "snapshot", "ip", 403, "Not authorized"},
		{"wrong password", locked, "snapshot", "digest bob:wrong", 403, "Not authorized"},
		{"rate limited, first", limited, "snapshot?streaming=false", "ip", 200, ""},
		{"rate limited, second", limited, "snapshot?streaming=false", "ip", 429, ""},
	}
	for _, c := range cases {
		resp, body := request(t, c.f.base+"/commands/"+c.path, c.auth)
		if resp.StatusCode != c.status || string(body) != commandBody(c.msg) {
			t.Errorf("%s: %d\n%s\nwant %d\n%s", c.name, resp.StatusCode, body, c.status, commandBody(c.msg))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
	}
	// The right digest, and the super digest, pass.
	for _, auth := range []string{"digest bob:pw", "digest " + superPassword} {
		if resp, body := request(t, locked.base+"/commands/snapshot", auth); resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("%s: %d %q", auth, resp.StatusCode, body)
		}
	}
	// Listed on the command page only when enabled.
	if _, page := request(t, disabled.base+"/commands", ""); strings.Contains(string(page), "/commands/snapshot") {
		t.Errorf("disabled snapshot command listed:\n%s", page)
	}
	if _, page := request(t, locked.base+"/commands", ""); !strings.Contains(string(page), `<a href="/commands/snapshot">snapshot</a>`) ||
		!strings.Contains(string(page), "set_trace_mask</a>\n<br/>\n<a href=\"/commands/snapshot\">snapshot</a>\n<br/>\n<a href=\"/commands/stat_reset\">") {
		t.Errorf("enabled snapshot command not listed in order:\n%s", page)
	}
}

// The stream is the snapshot file of the tree at the zxid in last_zxid, every
// write acknowledged before the request included; streaming=false takes the
// snapshot and answers with the headers only.
func TestSnapshotCommandStreamsTheTree(t *testing.T) {
	f := newSnapshotFixture(t, nil)
	f.create(t, "/a", jute.OpenACLUnsafe)
	for i := range 20 {
		f.create(t, "/a/n"+strconv.Itoa(i), jute.OpenACLUnsafe)
	}
	f.write(t, jute.OpSetData, (&jute.SetDataRequest{Path: "/a", Data: []byte("v2"), Version: -1}).Append(nil))
	tree := f.srv.Tree()
	wantZxid, wantDigest := tree.LastZxid(), tree.Digest()

	resp, body := request(t, f.base+"/commands/snapshot", "ip")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("status %d, Content-Type %q: %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if got := resp.Header.Get("last_zxid"); got != "0x"+strconv.FormatInt(int64(wantZxid), 16) {
		t.Errorf("last_zxid %q, want 0x%x", got, int64(wantZxid))
	}
	if got := resp.Header.Get("snapshot_size"); got != strconv.Itoa(len(body)) {
		t.Errorf("snapshot_size %q for %d bytes", got, len(body))
	}
	// ZooKeeper's header names, lower case on the wire (net/http's client
	// canonicalises what it reads, so look at the bytes).
	head := rawResponseHead(t, f.base, "/commands/snapshot?streaming=false", "ip")
	if !strings.Contains(head, "\r\nlast_zxid: 0x") || !strings.Contains(head, "\r\nsnapshot_size: ") {
		t.Errorf("response head:\n%s", head)
	}
	got, meta, err := snapshot.Decode(body, datatree.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if jute.Zxid(meta.Index) != wantZxid || got.Digest() != wantDigest || got.NodeCount() != tree.NodeCount() {
		t.Errorf("stream: zxid 0x%x digest %d nodes %d; tree: %v %d %d", meta.Index, got.Digest(), got.NodeCount(),
			wantZxid, wantDigest, tree.NodeCount())
	}
	// The snapshot is one of the server's own.
	infos, err := snapshot.List(f.rep.FS, "/data/snapshots")
	if err != nil || len(infos) == 0 || jute.Zxid(infos[0].Index) != wantZxid {
		t.Errorf("server's snapshots %v, %v", infos, err)
	}

	f.create(t, "/b", jute.OpenACLUnsafe)
	resp, body = request(t, f.base+"/commands/snap?streaming=FALSE", "ip")
	if resp.StatusCode != 200 || string(body) != commandBody("") || resp.Header.Get("last_zxid") != "0x"+strconv.FormatInt(int64(f.srv.Tree().LastZxid()), 16) {
		t.Errorf("streaming=false: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
}

// With no way to take snapshots the command fails as ZooKeeper's does when
// taking one throws.
func TestSnapshotCommandWithoutSnapshots(t *testing.T) {
	f := newSnapshotFixture(t, func(c *admin.Config) { c.TakeSnapshot = nil })
	if resp, body := request(t, f.base+"/commands/snapshot", "ip"); resp.StatusCode != 500 || string(body) != commandBody("") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

// rawResponseHead sends GET path over a plain connection and returns the
// response's status line and headers as sent.
func rawResponseHead(t *testing.T, base, path, auth string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", path, auth); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b), "\r\n\r\n")
	return head
}
