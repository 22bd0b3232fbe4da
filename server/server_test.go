package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/zoocfg"
)

var quiet = slog.New(slog.DiscardHandler)

func testConfig(t *testing.T, dataDir string) zoocfg.Config {
	t.Helper()
	cfg := zoocfg.Default()
	cfg.DataDir = dataDir
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.Admin.Enabled = false
	cfg.PreAllocSize = 1 << 20
	return cfg
}

func start(t *testing.T, cfg zoocfg.Config) *Server {
	t.Helper()
	s, err := Start(context.Background(), cfg, Options{Version: "test", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func TestSecondInstanceOnTheSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	start(t, testConfig(t, dir))
	_, err := Start(context.Background(), testConfig(t, dir), Options{Logger: quiet})
	if !errors.Is(err, ErrDirLocked) {
		t.Fatalf("second instance: %v, want ErrDirLocked", err)
	}
	if want := "process " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the holder (%s)", err, want)
	}
}

func TestSeparateDataLogDirIsLockedToo(t *testing.T) {
	logDir := t.TempDir()
	a := testConfig(t, t.TempDir())
	a.DataLogDir = logDir
	start(t, a)
	b := testConfig(t, t.TempDir())
	b.DataLogDir = logDir
	if _, err := Start(context.Background(), b, Options{Logger: quiet}); !errors.Is(err, ErrDirLocked) {
		t.Fatalf("second instance on the same dataLogDir: %v, want ErrDirLocked", err)
	}
}

// A port that cannot be bound fails the start before the log or a snapshot is
// written: the lock file is the only trace, and the lock is released.
func TestFailedBindLeavesTheDataDirUntouched(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.ClientAddr = ln.Addr().String()
	if _, err := Start(context.Background(), cfg, Options{Logger: quiet}); err == nil {
		t.Fatal("started on a port in use")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != lockFileName {
			t.Fatalf("a failed start left %s in the data directory", e.Name())
		}
	}
	// The lock went with the failed start.
	start(t, testConfig(t, dir))
}

func TestStartServeStopRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	s, err := Start(context.Background(), cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := zk.Connect([]string{s.Addr().String()}, 5e9, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create("/kept", []byte("v"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "zkd", "snapshots")); err != nil {
		t.Fatalf("no snapshot directory: %v", err)
	}
	s2 := start(t, cfg)
	conn, _, err = zk.Connect([]string{s2.Addr().String()}, 5e9, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data, _, err := conn.Get("/kept")
	if err != nil || string(data) != "v" {
		t.Fatalf("after restart: %q %v", data, err)
	}
}

type nopLogger struct{}

// startStoppable starts a server that the test stops itself, and a client of it
// (which the test closes).
func startStoppable(t *testing.T, cfg zoocfg.Config) (*Server, *zk.Conn) {
	t.Helper()
	s, err := Start(context.Background(), cfg, Options{Version: "test", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := zk.Connect([]string{s.Addr().String()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		_ = s.Stop()
		t.Fatal(err)
	}
	return s, conn
}

func (nopLogger) Printf(string, ...any) {}

// A data directory holding Apache ZooKeeper's files and no zkd data is refused,
// naming the files and the import command, rather than served as an empty tree.
func TestZooKeeperDataDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	v2 := filepath.Join(dir, "version-2")
	if err := os.MkdirAll(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	// A snapshot name is enough for Detect; its contents are not read.
	if err := os.WriteFile(filepath.Join(v2, "snapshot.1a2"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), testConfig(t, dir), Options{Logger: quiet})
	if !errors.Is(err, ErrZooKeeperData) {
		t.Fatalf("start on ZooKeeper data: %v, want ErrZooKeeperData", err)
	}
	for _, want := range []string{"version-2", "0x1a2", "zkd import"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("refusal %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "zkd")); !os.IsNotExist(err) {
		t.Fatalf("the refused start created zkd's directory: %v", err)
	}
}

// A restart reports its load in mntr as ZooKeeper does: one observation each of
// the snapshot's load, the log entries replayed after it and their time, and
// the whole load.
func TestRestartReportsItsLoadInMntr(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	s, conn := startStoppable(t, cfg)
	const writes = 20
	for i := range writes {
		if _, err := conn.Create(fmt.Sprintf("/n%d", i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	mntr := map[string]any{}
	for _, st := range start(t, cfg).Sessions().Monitor() {
		mntr[st.Key] = st.Value
	}
	for _, name := range []string{"dbinittime", "startup_snap_load_time", "startup_txns_load_time", "startup_txns_loaded"} {
		if mntr["cnt_"+name] != int64(1) {
			t.Errorf("cnt_%s = %v, want 1", name, mntr["cnt_"+name])
		}
	}
	// The session's entries and the creates: all after the bootstrap snapshot.
	if n, _ := mntr["sum_startup_txns_loaded"].(int64); n < writes {
		t.Errorf("sum_startup_txns_loaded = %v, want at least %d", mntr["sum_startup_txns_loaded"], writes)
	}
}

// The log is opened while the snapshot loads, at the newest snapshot's index; when
// that snapshot proves unreadable and an older one is loaded instead, the log is
// opened again at the older index and replays everything after it: no write is
// lost to the early open.
func TestRestartPastAnUnreadableNewestSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SnapCount = 10
	cfg.PreAllocSize = 16 << 10 // segments of a few entries each: the early open skips some
	s, conn := startStoppable(t, cfg)
	const writes = 60
	for i := range writes {
		data := append([]byte(strconv.Itoa(i)+":"), make([]byte, 4<<10)...)
		if _, err := conn.Create(fmt.Sprintf("/n%d", i), data, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	snapDir := SnapshotDir(&cfg)
	names, err := os.ReadDir(snapDir)
	if err != nil || len(names) < 2 {
		t.Fatalf("snapshots: %d, %v; want at least 2", len(names), err)
	}
	newest := filepath.Join(snapDir, names[len(names)-1].Name())
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b); i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(newest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := start(t, cfg)
	conn, _, err = zk.Connect([]string{s2.Addr().String()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range writes {
		data, _, err := conn.Get(fmt.Sprintf("/n%d", i))
		if err != nil || !strings.HasPrefix(string(data), strconv.Itoa(i)+":") {
			t.Fatalf("/n%d after the restart: %q %v", i, data, err)
		}
	}
}

// txnLogSizeLimitInKb bounds each log file, as ZooKeeper rolls its log past
// it, and the log stays whole across those files.
func TestTxnLogSizeLimitBoundsLogFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.TxnLogSizeLimitKB = 16
	s, conn := startStoppable(t, cfg)
	const writes = 40
	for i := range writes {
		if _, err := conn.Create(fmt.Sprintf("/n%d", i), make([]byte, 2<<10), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(LogDir(&cfg), "*.log"))
	if err != nil || len(files) < 4 {
		t.Fatalf("log files: %v (%v); want at least 4 for %d writes of 2 KiB", files, err, writes)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 16<<10 {
			t.Fatalf("%s: %v bytes (%v), over the 16 KiB limit", f, fi.Size(), err)
		}
	}
	s2 := start(t, cfg)
	conn, _, err = zk.Connect([]string{s2.Addr().String()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	children, _, err := conn.Children("/")
	if err != nil || len(children) != writes+1 { // and /zookeeper
		t.Fatalf("after the restart: %d children (%v), want %d", len(children), err, writes+1)
	}
}
