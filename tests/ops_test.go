package tests

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
	"zkd/internal/zktest"
	"zkd/zoocfg"
)

// opsServer starts a zkd with every four-letter word and the AdminServer on a
// kernel-chosen port; it returns the server and the AdminServer's base URL.
func opsServer(t *testing.T, edit ...func(*zoocfg.Config)) (*zktest.Server, string) {
	t.Helper()
	edits := append([]func(*zoocfg.Config){func(c *zoocfg.Config) {
		c.Admin.Enabled, c.Admin.Port, c.Admin.PortSet = true, 0, true
		c.ConfigText = "tickTime=200\n"
	}}, edit...)
	s := zktest.StartServer(t, edits...)
	if s.AdminAddr() == nil {
		t.Fatal("AdminServer not started")
	}
	return s, "http://" + s.AdminAddr().String()
}

// buildOpsState creates, on any server, a small version of the state the 3.8.0
// fixtures were captured on: two sessions, persistent and sequential nodes,
// ephemerals, data, exist and child watches. The sessions live until Cleanup.
func buildOpsState(t *testing.T, addr string) {
	t.Helper()
	a, _ := zktest.ConnectZK(t, addr, 30*time.Second)
	b, _ := zktest.ConnectZK(t, addr, 30*time.Second)
	acl := zk.WorldACL(zk.PermAll)
	for _, n := range []struct {
		c     *zk.Conn
		path  string
		data  string
		flags int32
	}{
		{a, "/app", "app", 0}, {a, "/app/config", "cfg=1", 0}, {a, "/app/counter", "0", 0},
		{a, "/app/queue", "", 0}, {a, "/app/queue/item-", "a", zk.FlagSequence}, {a, "/app/queue/item-", "b", zk.FlagSequence},
		{a, "/app/locks", "", 0}, {a, "/app/locks/lock-", "", zk.FlagEphemeral | zk.FlagSequence},
		{b, "/app/locks/lock-", "", zk.FlagEphemeral | zk.FlagSequence},
		{a, "/app/ephA", "A", zk.FlagEphemeral}, {b, "/app/ephB", "B", zk.FlagEphemeral},
	} {
		if _, err := n.c.Create(n.path, []byte(n.data), n.flags, acl); err != nil {
			t.Fatalf("create %s: %v", n.path, err)
		}
	}
	for i := 1; i <= 20; i++ {
		if _, err := a.Set("/app/counter", []byte(strconv.Itoa(i)), -1); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := a.GetW("/app/config"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.ExistsW("/app/missing"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.ChildrenW("/app"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := b.GetW("/app/config"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := b.ExistsW("/app/ephA"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := b.ChildrenW("/app/locks"); err != nil {
		t.Fatal(err)
	}
}

// stateWords are compared on the built state, in this order (the resets last).
var stateWords = []string{"ruok", "srvr", "stat", "conf", "cons", "dump", "envi", "mntr", "wchs",
	"wchc", "wchp", "dirs", "isro", "gtmk", "hash", "crst", "srst"}

// stmkWord is stmk with its 8-byte argument 0x172, as in the fixtures.
var stmkWord = "stmk" + string(binary.BigEndian.AppendUint64(nil, 0x172))

// adminCommands are the 26 primary commands of ZooKeeper 3.8.
var adminCommands = []string{"configuration", "connection_stat_reset", "connections", "dirs", "dump",
	"environment", "get_trace_mask", "hash", "initial_configuration", "is_read_only", "last_snapshot",
	"leader", "monitor", "observer_connection_stat_reset", "observers", "ruok", "server_stats",
	"set_trace_mask", "stat_reset", "stats", "system_properties", "voting_view", "watch_summary",
	"watches", "watches_by_path", "zabstate"}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// capture reads a capture of Apache ZooKeeper 3.8.0's output (testdata/zk-3.8.0).
func capture(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "zk-3.8.0", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every four-letter word and every AdminServer command, over real sockets, has
// the form of what Apache ZooKeeper 3.8.0 answered (fixtures/zk-3.8.0).
func TestOperatorOutputMatchesCapturedShapes(t *testing.T) {
	s, base := opsServer(t)
	buildOpsState(t, s.ConnectString())
	for _, w := range stateWords {
		got, err := zktest.FourLetterWord(s.ConnectString(), w)
		if err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		for _, d := range compareWord(w, got, capture(t, "4lw/"+w+".txt")) {
			t.Error(d)
		}
	}
	got, err := zktest.FourLetterWord(s.ConnectString(), stmkWord)
	if err != nil || got != capture(t, "4lw/stmk.txt") {
		t.Errorf("stmk 0x172 over the socket = %q, %v", got, err)
	}
	if got, _ := zktest.FourLetterWord(s.ConnectString(), "gtmk"); got != "370" {
		t.Errorf("gtmk after stmk = %q", got)
	}
	for _, cmd := range adminCommands {
		fixture := cmd + ".json"
		if cmd == "set_trace_mask" {
			fixture = "set_trace_mask-traceMask=306.json"
			cmd += "?traceMask=306"
		}
		want, err := parseJSON(capture(t, "admin/"+fixture))
		if err != nil {
			t.Fatalf("%s: %v", fixture, err)
		}
		body := httpGet(t, base+"/commands/"+cmd)
		gotJSON, err := parseJSON(body)
		if err != nil {
			t.Errorf("%s: not JSON: %v\n%s", cmd, err, body)
			continue
		}
		for _, d := range compareJSON(strings.Split(cmd, "?")[0], gotJSON, want) {
			t.Error(d)
		}
	}
}

// The same state on zkd and on a live Apache ZooKeeper 3.8: every four-letter word
// and AdminServer command has the same form on both.
func TestOperatorOutputMatchesLiveZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM")
	}
	adminPort := testutil.FreePort(t)
	live := zktest.StartZooKeeper(t, zktest.ZooKeeperOptions{AdminPort: adminPort})
	zkAddr, zkBase := live.Addr, "http://127.0.0.1:"+strconv.Itoa(adminPort)
	s, base := opsServer(t)
	buildOpsState(t, s.ConnectString())
	buildOpsState(t, zkAddr)
	zktest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		if _, err := http.Get(zkBase + "/commands/ruok"); err != nil {
			return err
		}
		return nil
	})
	if v, err := zktest.FourLetterWord(zkAddr, "srvr"); err != nil || !strings.HasPrefix(v, "Zookeeper version: 3.8") || strings.Contains(v, "zkd") {
		t.Fatalf("the reference server is not Apache ZooKeeper 3.8: %q %v", v, err)
	}
	if m := httpGet(t, zkBase+"/commands/monitor"); strings.Count(m, "\n") < 400 {
		t.Fatalf("the reference AdminServer's monitor has %d lines:\n%s", strings.Count(m, "\n"), m)
	}
	for _, w := range append(stateWords, stmkWord) {
		got, err := zktest.FourLetterWord(s.ConnectString(), w)
		if err != nil {
			t.Fatalf("zkd %s: %v", w, err)
		}
		want, err := zktest.FourLetterWord(zkAddr, w)
		if err != nil {
			t.Fatalf("ZooKeeper %s: %v", w, err)
		}
		if w == stmkWord {
			if got != want {
				t.Errorf("stmk: zkd %q, ZooKeeper %q", got, want)
			}
			continue
		}
		for _, d := range compareWord(w, got, want) {
			t.Errorf("%s\nzkd:\n%s\nZooKeeper:\n%s", d, got, want)
		}
	}
	for _, cmd := range append(adminCommands, "set_trace_mask?traceMask=306", "nosuchcmd", "srvr", "wchc") {
		body, zkBody := httpGet(t, base+"/commands/"+cmd), httpGet(t, zkBase+"/commands/"+cmd)
		got, err := parseJSON(body)
		if err != nil {
			t.Errorf("zkd %s: %v\n%s", cmd, err, body)
			continue
		}
		want, err := parseJSON(zkBody)
		if err != nil {
			t.Errorf("ZooKeeper %s: %v\n%s", cmd, err, zkBody)
			continue
		}
		for _, d := range compareJSON(strings.Split(cmd, "?")[0], got, want) {
			t.Errorf("%s\nzkd:\n%s\nZooKeeper:\n%s", d, body, zkBody)
		}
	}
	if got, want := httpGet(t, base+"/commands"), httpGet(t, zkBase+"/commands"); got != want {
		t.Errorf("command list differs:\nzkd:\n%s\nZooKeeper:\n%s", got, want)
	}
}

// With the Prometheus provider configured, /metrics serves ZooKeeper's names, and
// the fsync figures come from the write-ahead log.
func TestPrometheusProviderServesMetrics(t *testing.T) {
	s := zktest.StartServer(t, func(c *zoocfg.Config) {
		c.Admin.Enabled = false
		c.Metrics = zoocfg.MetricsSettings{ClassName: zoocfg.PrometheusMetricsProvider, Host: "127.0.0.1", Port: 0}
	})
	if s.AdminAddr() != nil || s.MetricsAddr() == nil {
		t.Fatalf("admin=%v metrics=%v: want only metrics", s.AdminAddr(), s.MetricsAddr())
	}
	c, _ := zktest.ConnectZK(t, s.ConnectString(), 10*time.Second)
	if _, err := c.Create("/m", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	body := httpGet(t, "http://"+s.MetricsAddr().String()+"/metrics")
	for _, want := range []string{"\nznode_count 6\n", "\nfsynctime_count ", `zkd_request_duration_seconds_count{op="create"} 1`,
		"\nzkd_fsync_entries_bucket{le=", "\nzkd_apply_lag_entries "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// bare zkd must start where 8080 is taken: the default admin port is best effort,
// an explicit one is not.
func TestAdminServerPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port

	s := zktest.StartServer(t, func(c *zoocfg.Config) { c.Admin.Enabled, c.Admin.Port, c.Admin.PortSet = true, taken, false })
	if s.AdminAddr() != nil {
		t.Fatal("AdminServer started on a taken port")
	}
	if !strings.Contains(s.Log.String(), "AdminServer not started") {
		t.Errorf("no warning in the log:\n%s", s.Log.String())
	}
	if got, err := zktest.FourLetterWord(s.ConnectString(), "ruok"); err != nil || got != "imok" {
		t.Errorf("server not serving after the warning: %q %v", got, err)
	}

	cfg := zoocfg.Default()
	cfg.ClientAddr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.Admin.Port, cfg.Admin.PortSet = taken, true
	if in, err := zktest.Start(cfg, slog.New(slog.DiscardHandler)); err == nil {
		_ = in.Stop()
		t.Fatal("an explicitly configured admin port that is taken did not fail start-up")
	} else if !strings.Contains(err.Error(), "AdminServer") {
		t.Errorf("error %q does not name the AdminServer", err)
	}

	s2 := zktest.StartServer(t, func(c *zoocfg.Config) { c.Admin.Enabled = false })
	if s2.AdminAddr() != nil {
		t.Fatal("admin.enableServer=false still started the AdminServer")
	}
}

// stmk's 8-byte argument may arrive in pieces: the server waits for all of it.
func TestStmkArgumentSplitAcrossReads(t *testing.T) {
	s, _ := opsServer(t)
	for _, split := range []int{4, 5, 11} {
		c := zktest.Dial(t, s.ConnectString())
		c.Write([]byte(stmkWord[:split]))
		time.Sleep(20 * time.Millisecond)
		c.Write([]byte(stmkWord[split:]))
		b, err := c.Raw().ReadAll()
		if err != nil || string(b) != "370" {
			t.Fatalf("stmk split at %d = %q, %v", split, b, err)
		}
	}
}
