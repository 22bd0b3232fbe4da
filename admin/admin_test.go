package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"zkd/admin"
	"zkd/jute"
	"zkd/replica/replicatest"
	"zkd/session"
)

var quiet = slog.New(slog.DiscardHandler)

// nopTransport stands in for netloop: the test never reads the replies.
type nopTransport struct{}

func (nopTransport) Wake()  {}
func (nopTransport) Close() {}

// newSession starts a tree, a one-voter quorum and a session.Server.
func newSession(t *testing.T) *session.Server {
	t.Helper()
	rep := replicatest.NewStandalone(t, replicatest.StandaloneOptions{Logger: quiet})
	cfg := session.DefaultConfig()
	cfg.Logger = quiet
	cfg.ClientAddr = "127.0.0.1:2181"
	srv, err := session.NewServer(cfg, rep)
	if err != nil {
		t.Fatal(err)
	}
	rep.SetListener(srv)
	srv.SetOps(session.OpsConfig{DataDir: t.TempDir(), DataLogDir: t.TempDir(), ClientPort: 2181,
		Disk: session.NewDiskStats(time.Second, quiet)})
	return srv
}

// connect opens a session on srv and sends a few reads, so that the metrics
// have something to count.
func connect(t *testing.T, srv *session.Server) {
	t.Helper()
	c, err := srv.NewConn(nopTransport{}, "127.0.0.1", "127.0.0.1:40001")
	if err != nil {
		t.Fatal(err)
	}
	req := jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true}
	if !c.HandleFrame(req.Append(nil)) {
		t.Fatal("handshake refused")
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Outstanding() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("session not established")
		}
		time.Sleep(time.Millisecond)
	}
	for xid := int32(1); xid <= 3; xid++ {
		frame := (&jute.RequestHeader{Xid: xid, Type: jute.OpGetData}).Append(nil)
		frame = (&jute.PathWatchRequest{Path: "/zookeeper"}).Append(frame)
		if !c.HandleFrame(frame) {
			t.Fatal("getData dropped the connection")
		}
	}
}

func startAdmin(t *testing.T, srv *session.Server, edit func(*admin.Config)) string {
	t.Helper()
	cfg := admin.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = quiet
	if edit != nil {
		edit(&cfg)
	}
	a, err := admin.Listen(cfg, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return "http://" + a.Addr().String()
}

func get(t *testing.T, url string) (*http.Response, string) {
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
	return resp, string(b)
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("ZKD_SHARED")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared")
	}
	b, err := os.ReadFile(filepath.Join(dir, "fixtures", "zk-3.8.0", "admin", name))
	if os.IsNotExist(err) {
		t.Skipf("fixture %s not found (set ZKD_SHARED)", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Replies that do not depend on the server's state are byte-for-byte ZooKeeper's,
// Jackson's pretty printing included; the list of commands is the captured page.
func TestCommandsByteExactWithCapture(t *testing.T) {
	base := startAdmin(t, newSession(t), nil)
	cases := []struct{ path, fixture string }{
		{"/commands/ruok", "ruok.json"},
		{"/commands/leader", "leader.json"},
		{"/commands/lead", "leader.json"},
		{"/commands/nosuchcmd", "unknown-command-nosuchcmd.json"},
		{"/commands/set_trace_mask", "set_trace_mask.json"},
		{"/commands/set_trace_mask?traceMask=306", "set_trace_mask-traceMask=306.json"},
		{"/commands/get_trace_mask", "get_trace_mask.json"},
		{"/commands/gtmk", "get_trace_mask.json"},
		{"/commands/observers", "observers.json"},
		{"/commands/voting_view", "voting_view.json"},
		{"/commands/zabstate", "zabstate.json"},
		{"/commands/is_read_only", "is_read_only.json"},
		{"/commands/stat_reset", "stat_reset.json"},
		{"/commands/connection_stat_reset", "connection_stat_reset.json"},
		{"/commands/crst", "connection_stat_reset.json"},
		{"/commands/observer_connection_stat_reset", "observer_connection_stat_reset.json"},
		{"/commands", "commands.html"},
		{"/commands/", "commands.html"},
	}
	for _, c := range cases {
		resp, body := get(t, base+c.path)
		if want := fixture(t, c.fixture); body != want {
			t.Errorf("GET %s:\n%s\nZooKeeper:\n%s", c.path, body, want)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", c.path, resp.StatusCode)
		}
		ct, has := resp.Header["Content-Type"]
		if strings.HasSuffix(c.fixture, ".html") {
			if has {
				t.Errorf("GET %s: Content-Type %q; ZooKeeper sends none", c.path, ct)
			}
		} else if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: Content-Type %q", c.path, ct)
		}
	}
}

// Every alias answers with the primary name; other methods and paths fail as in 3.8.
func TestAliasesMethodsAndPaths(t *testing.T) {
	base := startAdmin(t, newSession(t), nil)
	aliases := map[string]string{
		"conf": "configuration", "config": "configuration", "crst": "connection_stat_reset",
		"cons": "connections", "env": "environment", "envi": "environment", "gtmk": "get_trace_mask",
		"icfg": "initial_configuration", "isro": "is_read_only", "lsnp": "last_snapshot", "mntr": "monitor",
		"orst": "observer_connection_stat_reset", "obsr": "observers", "srvr": "server_stats",
		"srst": "stat_reset", "stat": "stats", "sysp": "system_properties", "wchs": "watch_summary",
		"wchc": "watches", "wchp": "watches_by_path",
	}
	for alias, primary := range aliases {
		_, body := get(t, base+"/commands/"+alias)
		if !strings.Contains(body, `"command" : "`+primary+`"`) {
			t.Errorf("/commands/%s does not answer as %s:\n%s", alias, primary, body)
		}
	}
	resp, err := http.Post(base+"/commands/ruok", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", resp.StatusCode)
	}
	if resp, _ := get(t, base+"/elsewhere"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /elsewhere: status %d, want 404", resp.StatusCode)
	}
}

func TestCommandURLAndInitialConfiguration(t *testing.T) {
	base := startAdmin(t, newSession(t), func(c *admin.Config) {
		c.CommandURL = "/zk/"
		c.InitialConfiguration = "tickTime=2000\ndataDir=/var/lib/zk \"x\"\n"
	})
	_, body := get(t, base+"/zk/icfg")
	want := `{
  "initial_configuration" : "tickTime=2000\ndataDir=/var/lib/zk \"x\"\n",
  "command" : "initial_configuration",
  "error" : null
}`
	if body != want {
		t.Fatalf("initial_configuration:\n%s\nwant:\n%s", body, want)
	}
	if _, list := get(t, base+"/zk"); !strings.Contains(list, `<a href="/zk/ruok">ruok</a>`) {
		t.Fatalf("list under /zk:\n%s", list)
	}
}

// A scrape parses with Prometheus' own text parser and carries ZooKeeper's names
// (so its Grafana dashboards work) and zkd's histograms.
func TestMetricsParseWithPrometheusTextParser(t *testing.T) {
	srv := newSession(t)
	connect(t, srv)
	m, err := admin.ListenMetrics(admin.MetricsConfig{Addr: "127.0.0.1:0", Logger: quiet,
		ApplyLag: func() int64 { return 0 }}, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	resp, body := get(t, "http://"+m.Addr().String()+"/metrics")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus cannot parse the scrape: %v\n%s", err, body)
	}
	wantTypes := map[string]string{
		"znode_count": "GAUGE", "watch_count": "GAUGE", "ephemerals_count": "GAUGE",
		"approximate_data_size": "GAUGE", "num_alive_connections": "GAUGE", "outstanding_requests": "GAUGE",
		"avg_latency": "GAUGE", "min_latency": "GAUGE", "max_latency": "GAUGE", "packets_received": "GAUGE",
		"packets_sent": "GAUGE", "uptime": "GAUGE", "global_sessions": "GAUGE", "local_sessions": "GAUGE",
		"open_file_descriptor_count": "GAUGE", "max_file_descriptor_count": "GAUGE",
		"connection_rejected": "COUNTER",
		"fsynctime":           "SUMMARY", "readlatency": "SUMMARY", "updatelatency": "SUMMARY",
		"zkd_request_duration_seconds": "HISTOGRAM", "zkd_fsync_duration_seconds": "HISTOGRAM",
		"zkd_fsync_entries": "HISTOGRAM", "zkd_fsync_threshold_exceeded_total": "COUNTER",
		"zkd_apply_lag_entries": "GAUGE", "zkd_output_queue_bytes": "GAUGE",
		"zkd_connection_throttle_events_total": "COUNTER", "zkd_connections_dropped_total": "COUNTER",
		"sessionless_connections_expired": "COUNTER", "zkd_accept_errors_total": "COUNTER",
		"zkd_input_queue_bytes": "GAUGE",
	}
	for name, typ := range wantTypes {
		f, ok := families[name]
		if !ok {
			t.Errorf("metric %s missing", name)
			continue
		}
		if got := f.GetType().String(); got != typ {
			t.Errorf("%s is a %s, want %s", name, got, typ)
		}
	}
	if f := families["znode_count"]; f != nil && f.GetMetric()[0].GetGauge().GetValue() != float64(srv.NodeCount()) {
		t.Errorf("znode_count = %v, want %d", f.GetMetric()[0].GetGauge().GetValue(), srv.NodeCount())
	}
	// The getData histogram: three requests, cumulative buckets ending at the count.
	found := false
	for _, mm := range families["zkd_request_duration_seconds"].GetMetric() {
		for _, l := range mm.GetLabel() {
			if l.GetName() == "op" && l.GetValue() == "getData" {
				found = true
				if h := mm.GetHistogram(); h.GetSampleCount() != 3 || len(h.GetBucket()) == 0 {
					t.Errorf("getData histogram: count %d, %d buckets", h.GetSampleCount(), len(h.GetBucket()))
				}
			}
		}
	}
	if !found {
		t.Errorf("no getData series in zkd_request_duration_seconds:\n%s", body)
	}
	if q := families["readlatency"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 3 {
		t.Errorf("readlatency has %d quantiles, want 3 (ADVANCED)", len(q))
	}
	if q := families["fsynctime"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 1 {
		t.Errorf("fsynctime has %d quantiles, want 1 (BASIC)", len(q))
	}
}
