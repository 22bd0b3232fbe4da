package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/internal/zktest"
	"zkd/jute"
	"zkd/snapshot"
	"zkd/zkdisk"
	"zkd/zoocfg"
)

// fixtureZK is ZooKeeper 3.8.0's data directory kept by the zkdisk tests.
const fixtureZK = "zkdisk/testdata/datadir"

// copyZKDir copies a ZooKeeper dataDir's version-2 files to a new directory.
func copyZKDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dst, "version-2"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(src, "version-2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, "version-2", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "version-2", e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestMigrateConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "zoo.cfg")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := migrateConfig(write("# comment\n! also\ntickTime=2000\ndataDir = /var/zk \ndataLogDir: /var/zklog\n" +
		"extendedTypesEnabled=true\nskipACL=yes\nserver.1=a:1:2\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := migrateSettings{dataDir: "/var/zk", dataLogDir: "/var/zklog", extendedTypes: true, skipACL: true}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := migrateConfig(write("clientPort=2181\n")); err == nil {
		t.Error("a zoo.cfg without dataDir was accepted")
	}
	if _, err := migrateConfig(filepath.Join(dir, "missing.cfg")); err == nil {
		t.Error("a missing zoo.cfg was accepted")
	}
}

// TestImportAndExportCommands runs both commands as a user would, on the real
// ZooKeeper 3.8.0 data of the zkdisk fixture: flags, zoo.cfg defaults, output,
// exit codes, and the refusal to overwrite.
func TestImportAndExportCommands(t *testing.T) {
	zkDir := copyZKDir(t, fixtureZK)
	var out, errOut bytes.Buffer
	if code := importCmd([]string{"--from", zkDir}, &out, &errOut, false); code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"imported:", "last zxid    0x122", "znodes       50", "sessions     1 (3 ephemerals)",
		"matches ZooKeeper's", "reading snapshot snapshot.11a", "replaying log log.11c"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("import output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\r") {
		t.Error("progress bar escapes in non-terminal output")
	}
	if _, err := os.Stat(filepath.Join(zkDir, "zkd", "snapshots", "snap-0000000000000122")); err != nil {
		t.Fatal(err)
	}
	// Again: refused, nothing touched.
	out.Reset()
	errOut.Reset()
	if code := importCmd([]string{"--from", zkDir}, &out, &errOut, false); code != 1 || !strings.Contains(errOut.String(), "already holds data") {
		t.Fatalf("second import: exit %d\n%s", code, errOut.String())
	}

	// Export back, with the defaults taken from a zoo.cfg, its compression too.
	cfg := filepath.Join(t.TempDir(), "zoo.cfg")
	if err := os.WriteFile(cfg, []byte("dataDir="+zkDir+"\nextendedTypesEnabled=true\nsnapshot.compression.method=gz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "back")
	out.Reset()
	errOut.Reset()
	if code := exportCmd(context.Background(), []string{"--config", cfg, "--to", to}, &out, &errOut, true); code != 0 {
		t.Fatalf("export: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "exported:") || !strings.Contains(out.String(), "\r\033[K") {
		t.Errorf("export output:\n%q", out.String())
	}
	db, err := zkdisk.Load(zkdisk.LoadOptions{DataDir: to})
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's tree digest: the same 50 nodes, every stored field.
	if s := db.Summary; s.LastZxid != 0x122 || s.Znodes != 50 || s.Digest != 83602003203 || s.DigestChecks != 1 ||
		filepath.Base(s.Snapshot) != "snapshot.122.gz" {
		t.Errorf("exported %+v", s)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--from (or --config) is required"},
		{[]string{"--from", zkDir, "extra"}, "unexpected argument"},
		{[]string{"--from", t.TempDir()}, "no ZooKeeper data"},
	} {
		errOut.Reset()
		if code := importCmd(c.args, io.Discard, &errOut, false); code == 0 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("import %v: exit %d, %q", c.args, code, errOut.String())
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data-dir", zkDir}, "--to is required"},
		{[]string{"--data-dir", zkDir, "--to", to}, "not empty"},
		{[]string{"--data-dir", zkDir, "--to", t.TempDir(), "--compression", "lz4"}, "want gz or snappy"},
		{[]string{"--data-dir", t.TempDir(), "--to", t.TempDir()}, "no zkd data"},
	} {
		errOut.Reset()
		if code := exportCmd(context.Background(), c.args, io.Discard, &errOut, false); code == 0 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("export %v: exit %d, %q", c.args, code, errOut.String())
		}
	}
}

// walkTree returns every node of a tree as a comparable line.
func walkTree(t *testing.T, tree *datatree.Tree) []string {
	t.Helper()
	super := datatree.Identity{{Scheme: "super", ID: "t"}}
	var out []string
	stack := []string{"/"}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		data, st, code := tree.GetData(p, nil, super)
		acl, _, _ := tree.GetACL(p, super)
		kids, _, _ := tree.GetChildren(p, nil, super, nil)
		if code != jute.CodeOK {
			t.Fatalf("%s: %v", p, code)
		}
		out = append(out, fmt.Sprintf("%s %q %+v %v", p, data, st, acl))
		for _, k := range kids {
			stack = append(stack, strings.TrimSuffix(p, "/")+"/"+k)
		}
	}
	slices.Sort(out)
	return out
}

// TestLoadZkdDataDirReplaysTheLog writes through a running zkd (snapshots every
// few dozen entries), stops it, and rebuilds its tree the way export does: from
// the newest snapshot plus the log entries after it. The result must be the tree
// the server held.
func TestLoadZkdDataDirReplaysTheLog(t *testing.T) {
	dir := t.TempDir()
	cfg := zoocfg.Default()
	cfg.Admin.Enabled = false
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.TickTime = 2 * time.Second
	cfg.MaxClientCnxns = 0
	cfg.SnapCount = 40
	cfg.PreAllocSize = 4 << 20
	cfg.ExtendedTypes = true
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	in, err := startInstance(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = in.Stop()
		}
	})
	c, _ := zktest.ConnectZK(t, in.Addr().String(), 20*time.Second)
	open := zk.WorldACL(zk.PermAll)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.Create("/m", nil, 0, open)
	must(err)
	for i := 0; i < 120; i++ {
		p := fmt.Sprintf("/m/n%03d", i)
		_, err := c.Create(p, []byte(p), 0, open)
		must(err)
		switch i % 6 {
		case 1:
			_, err = c.Set(p, []byte("v2"), 0)
		case 2:
			err = c.Delete(p, -1)
		case 3:
			_, err = c.Create(p+"/e", nil, zk.FlagEphemeral, open)
		case 4:
			_, err = c.CreateTTL(fmt.Sprintf("/m/ttl%03d", i), []byte("t"), zk.FlagTTL, open, time.Hour)
		case 5:
			_, err = c.Multi(&zk.CreateRequest{Path: p + "/x", Acl: open}, &zk.SetDataRequest{Path: p, Data: []byte("m"), Version: -1})
		}
		must(err)
	}
	_, err = c.SetACL("/m", zk.WorldACL(zk.PermRead|zk.PermCreate|zk.PermDelete), -1)
	must(err)
	// Make sure some entries lie after the newest snapshot, so the log is replayed.
	snapDir := zkdisk.ZkdLayout(dir, "").Snapshots
	for i := 0; ; i++ {
		infos, err := snapshot.List(vfs.OS(), snapDir)
		must(err)
		if len(infos) > 0 && infos[0].Index < uint64(in.Replica().Tree().LastZxid()) {
			break
		}
		if i == 20 {
			t.Fatal("every entry is in a snapshot")
		}
		// NB: not /m, whose ACL above no longer grants WRITE.
		_, err = c.Set("/m/n000", []byte(fmt.Sprint(i)), -1)
		must(err)
	}
	want := walkTree(t, in.Replica().Tree())
	wantZxid := in.Replica().Tree().LastZxid()
	stopped = true
	if err := in.Stop(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	tree, err := loadZkdDataDir(dir, "", datatree.Config{ExtendedTypes: true}, false, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if tree.LastZxid() != wantZxid {
		t.Errorf("loaded at %v, the server was at %v", tree.LastZxid(), wantZxid)
	}
	got := walkTree(t, tree)
	if !slices.Equal(got, want) {
		t.Errorf("loaded tree differs from the server's: %d vs %d nodes", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference:\n got  %s\n want %s", got[i], want[i])
				break
			}
		}
	}
}
