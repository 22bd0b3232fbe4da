package zkdisk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
)

// runZkd runs a bin/zkd subcommand and returns its output, failing the test on a
// non-zero exit.
func runZkd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("zkd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRoundTripZooKeeperZkdZooKeeper takes data a real ZooKeeper 3.8 wrote (and
// was killed on) through `zkd import`, serves it with bin/zkd, writes through zkd,
// exports it while it runs (`zkd export --server`, through its AdminServer),
// stops it, `zkd export`s it offline, and starts Apache ZooKeeper 3.8 on each
// result: each server must serve exactly what the one before it served, node by
// node, with zxids continuing upward; ZooKeeper must find our digest right when
// it loads the snapshot, and the digests it logs for its own next writes must
// match ours. Both exports of the same state are the same bytes.
func TestRoundTripZooKeeperZkdZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Apache ZooKeeper and zkd")
	}
	zkDir, served, live := generateZooKeeperData(t, 2, 150)
	bin := testutil.BuildZkd(t)

	// ZooKeeper -> zkd.
	zkdDir := filepath.Join(t.TempDir(), "zkd-data")
	out := runZkd(t, bin, "import", "--from", zkDir, "--to", zkdDir)
	if !strings.Contains(out, "imported:") || !strings.Contains(out, "matches ZooKeeper's") {
		t.Fatalf("import output:\n%s", out)
	}
	var importedZxid int64
	for _, n := range served {
		importedZxid = max(importedZxid, n.Stat.Mzxid, n.Stat.Pzxid, n.Stat.Czxid)
	}
	zkdSrv := startZkd(t, bin, zkdDir, true)
	// A session ZooKeeper opened resumes on zkd with ZooKeeper's password.
	held := live[len(live)-1]
	if _, resp := rawConnect(t, zkdSrv.addr, held.id, held.passwd); resp.SessionID != held.id || resp.TimeOut == 0 {
		t.Fatalf("resuming ZooKeeper's session 0x%x on zkd: %+v", held.id, resp)
	}
	if _, resp := rawConnect(t, zkdSrv.addr, held.id, make([]byte, 16)); resp.TimeOut != 0 {
		t.Fatalf("zkd resumed session 0x%x with a wrong password", held.id)
	}
	c := connect(t, zkdSrv.addr, 30*time.Second)
	if err := c.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	t.Run("zkd serves the import", func(t *testing.T) { compareTrees(t, served, servedTree(t, c)) })

	// Writes through zkd: every kind again, on imported nodes and new ones.
	open := zk.WorldACL(zk.PermAll)
	mustDo := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s on zkd: %v", what, err)
		}
	}
	_, err := c.Create("/rt", []byte("round trip"), 0, open)
	mustDo("create", err)
	created, err := c.Create("/rt/s-", nil, zk.FlagSequence, open)
	mustDo("create sequential", err)
	_, err = c.Create("/rt/eph", []byte("e"), zk.FlagEphemeral, open)
	mustDo("create ephemeral", err)
	_, err = c.CreateContainer("/rt/box", nil, zk.FlagContainer, open)
	mustDo("create container", err)
	_, err = c.Create("/rt/box/in", []byte("x"), 0, open)
	mustDo("create", err)
	_, err = c.CreateTTL("/rt/ttl", []byte("t"), zk.FlagTTL, open, time.Hour)
	mustDo("create ttl", err)
	_, err = c.Set("/app", []byte("changed by zkd"), -1)
	mustDo("setData", err)
	_, err = c.SetACL("/rt", append(zk.DigestACL(zk.PermAll, "alice", "secret"), zk.WorldACL(zk.PermRead)...), -1)
	mustDo("setACL", err)
	kids, _, err := c.Children("/app/persistent")
	mustDo("children", err)
	for i, k := range kids {
		if i%3 == 0 {
			mustDo("delete", c.Delete("/app/persistent/"+k, -1))
		}
	}
	_, err = c.Multi(&zk.CreateRequest{Path: "/rt/m", Data: []byte("m"), Acl: open}, &zk.SetDataRequest{Path: "/rt/m", Data: []byte("m2"), Version: 0})
	mustDo("multi", err)
	_, err = c.Set("/app/q", []byte("quota'd data"), -1)
	mustDo("setData under a quota", err)
	afterZkd := servedTree(t, c)
	if st := afterZkd[created].Stat; st.Czxid <= importedZxid {
		t.Errorf("zkd's new node %s has czxid 0x%x, not above the imported 0x%x", created, st.Czxid, importedZxid)
	}
	// zkd -> ZooKeeper while zkd serves, its sessions open.
	zk3 := filepath.Join(t.TempDir(), "zk3")
	out = runZkd(t, bin, "export", "--server", zkdSrv.admin, "--to", zk3)
	if !strings.Contains(out, "exported:") || !strings.Contains(out, "downloaded   "+zkdSrv.admin) {
		t.Fatalf("online export output:\n%s", out)
	}
	if !zkdSrv.proc.Stop() {
		t.Fatal("zkd did not stop on SIGTERM")
	}
	c.Close()

	// zkd -> ZooKeeper.
	zk2 := filepath.Join(t.TempDir(), "zk2")
	out = runZkd(t, bin, "export", "--data-dir", zkdDir, "--to", zk2, "--extended-types")
	if !strings.Contains(out, "exported:") {
		t.Fatalf("export output:\n%s", out)
	}
	online, _ := ListSnapshots(filepath.Join(zk3, VersionDir))
	offline, _ := ListSnapshots(filepath.Join(zk2, VersionDir))
	if len(online) != 1 || len(offline) != 1 || filepath.Base(online[0].Path) != filepath.Base(offline[0].Path) ||
		!sameFile(t, online[0].Path, offline[0].Path) {
		t.Errorf("online export %v and offline export %v of the same state differ", online, offline)
	}
	t.Run("ZooKeeper serves the online export", func(t *testing.T) {
		srv := startZooKeeper(t, zk3, "")
		c3 := connect(t, srv.addr, 30*time.Second)
		if err := c3.AddAuth("digest", []byte("alice:secret")); err != nil {
			t.Fatal(err)
		}
		compareTrees(t, afterZkd, servedTree(t, c3))
		if v := mntrValue(t, srv.addr, "zk_digest_mismatches_count"); v != "0" {
			t.Errorf("ZooKeeper counted %s digest mismatches loading the online export", v)
		}
		c3.Close()
		if !srv.proc.Stop() {
			t.Error("ZooKeeper did not stop on SIGTERM")
		}
	})
	zkSrv := startZooKeeper(t, zk2, "")
	c2 := connect(t, zkSrv.addr, 30*time.Second)
	if err := c2.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	t.Run("ZooKeeper serves the export", func(t *testing.T) { compareTrees(t, afterZkd, servedTree(t, c2)) })
	// ZooKeeper compares the snapshot's digest section with the tree it loaded.
	if v := mntrValue(t, zkSrv.addr, "zk_digest_mismatches_count"); v != "0" {
		t.Errorf("ZooKeeper counted %s digest mismatches loading the export", v)
	}
	// ZooKeeper's own writes on the exported tree log its digest after each txn:
	// replaying them over our snapshot must give the same digest every time.
	for i := 0; i < 5; i++ {
		p, err := c2.Create("/after-export-", []byte(fmt.Sprint(i)), zk.FlagSequence, open)
		if err != nil {
			t.Fatalf("create on ZooKeeper: %v", err)
		}
		if i == 0 {
			_, st, _ := c2.Get(p)
			if exported := afterZkd["/rt/m"].Stat.Mzxid; st.Czxid <= exported {
				t.Errorf("ZooKeeper's new node has czxid 0x%x, not above the exported 0x%x", st.Czxid, exported)
			}
		}
	}
	if _, err := c2.Set("/rt/m", []byte("m3"), -1); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if !zkSrv.proc.Stop() {
		t.Fatal("ZooKeeper did not stop on SIGTERM")
	}
	db, err := Load(LoadOptions{DataDir: zk2})
	if err != nil {
		t.Fatalf("reloading ZooKeeper's data after its writes: %v", err)
	}
	if db.Summary.DigestChecks < 5 || db.Summary.Txns < 6 {
		t.Errorf("after ZooKeeper's writes: %d txns, %d digest checks", db.Summary.Txns, db.Summary.DigestChecks)
	}
}

// sameFile reports whether two files hold the same bytes.
func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}
