package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
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
		Disk: session.NewDiskStats(time.Second, 0, quiet)})
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

// fixture reads a ZooKeeper 3.8.0 AdminServer capture from testdata
// (testdata/zk-3.8.0/README.md); a missing one is a broken checkout.
func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "zk-3.8.0", "admin", name))
	if err != nil {
		t.Fatalf("ZooKeeper capture: %v", err)
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

// scrape gathers what /metrics serves, through the Prometheus text parser.
func scrape(t *testing.T, url string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, body := get(t, url)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus cannot parse the scrape: %v\n%s", err, body)
	}
	return families, body
}

// A scrape parses with Prometheus' own text parser and carries ZooKeeper's names
// and types (so its Grafana dashboards work), zkd's histograms, and the Go runtime
// and process collectors standing where ZooKeeper's JVM metrics are.
func TestMetricsParseWithPrometheusTextParser(t *testing.T) {
	srv := newSession(t)
	connect(t, srv)
	m, err := admin.ListenMetrics(admin.MetricsConfig{Addr: "127.0.0.1:0", Logger: quiet,
		ApplyLag: func() int64 { return 0 }}, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	families, body := scrape(t, "http://"+m.Addr().String()+"/metrics")
	wantTypes := map[string]string{
		// ZooKeeper's gauges (ZooKeeperServer.registerMetrics), counters and summaries (ServerMetrics).
		"znode_count": "GAUGE", "watch_count": "GAUGE", "ephemerals_count": "GAUGE",
		"approximate_data_size": "GAUGE", "num_alive_connections": "GAUGE", "outstanding_requests": "GAUGE",
		"avg_latency": "GAUGE", "min_latency": "GAUGE", "max_latency": "GAUGE", "packets_received": "GAUGE",
		"packets_sent": "GAUGE", "uptime": "GAUGE", "global_sessions": "GAUGE", "local_sessions": "GAUGE",
		"open_file_descriptor_count": "GAUGE", "max_file_descriptor_count": "GAUGE",
		"connection_drop_probability": "GAUGE", "auth_failed_count": "GAUGE", "outstanding_tls_handshake": "GAUGE",
		"non_mtls_remote_conn_count": "GAUGE", "non_mtls_local_conn_count": "GAUGE",
		"connection_rejected": "COUNTER", "connection_request_count": "COUNTER", "commit_count": "COUNTER",
		"snap_count": "COUNTER", "diff_count": "COUNTER", "looking_count": "COUNTER", "proposal_count": "COUNTER",
		"fsynctime": "SUMMARY", "readlatency": "SUMMARY", "updatelatency": "SUMMARY",
		// zkd's own.
		"zkd_request_duration_seconds": "HISTOGRAM", "zkd_fsync_duration_seconds": "HISTOGRAM",
		"zkd_fsync_entries": "HISTOGRAM", "zkd_fsync_threshold_exceeded_total": "COUNTER",
		"zkd_apply_lag_entries": "GAUGE", "zkd_output_queue_bytes": "GAUGE",
		"zkd_connection_throttle_events_total": "COUNTER", "zkd_connections_dropped_total": "COUNTER",
		"sessionless_connections_expired": "COUNTER", "zkd_accept_errors_total": "COUNTER",
		"zkd_input_queue_bytes": "GAUGE",
		// The standard collectors: memory, CPU, threads and descriptors of the process.
		"go_goroutines": "GAUGE", "go_memstats_heap_alloc_bytes": "GAUGE", "go_gc_duration_seconds": "SUMMARY",
		"go_info": "GAUGE", "process_cpu_seconds_total": "COUNTER", "process_resident_memory_bytes": "GAUGE",
		"process_open_fds": "GAUGE", "process_max_fds": "GAUGE", "process_start_time_seconds": "GAUGE",
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
	// Every ZooKeeper metric mntr reports is served under its own name and type,
	// with no _total suffix (ZooKeeper's provider adds none).
	kinds := map[session.MetricKind]string{session.KindGauge: "GAUGE", session.KindCounter: "COUNTER",
		session.KindSummary: "SUMMARY", session.KindAdvancedSummary: "SUMMARY"}
	for _, zm := range srv.ZooKeeperMetrics() {
		if zm.Kind == session.KindInfo {
			if _, ok := families[zm.Name]; ok {
				t.Errorf("%s is a string in mntr and has no place in Prometheus", zm.Name)
			}
			continue
		}
		f := families[zm.Name]
		if f == nil || f.GetType().String() != kinds[zm.Kind] {
			t.Errorf("ZooKeeper metric %s: family %v, want a %s", zm.Name, f.GetType(), kinds[zm.Kind])
		}
	}
	if f := families["znode_count"]; f != nil && f.GetMetric()[0].GetGauge().GetValue() != float64(srv.NodeCount()) {
		t.Errorf("znode_count = %v, want %d", f.GetMetric()[0].GetGauge().GetValue(), srv.NodeCount())
	}
	if f := families["connection_request_count"]; f != nil && f.GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("connection_request_count = %v, want 1", f.GetMetric()[0].GetCounter().GetValue())
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
	rl := families["readlatency"].GetMetric()[0].GetSummary()
	if q := rl.GetQuantile(); len(q) != 3 || q[0].GetQuantile() != 0.5 || q[1].GetQuantile() != 0.9 || q[2].GetQuantile() != 0.99 {
		t.Errorf("readlatency quantiles %v, want 0.5, 0.9, 0.99 (ADVANCED)", q)
	}
	if rl.GetSampleCount() != 3 {
		t.Errorf("readlatency_count = %d, want the 3 getData", rl.GetSampleCount())
	}
	if q := families["fsynctime"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 1 || q[0].GetQuantile() != 0.5 {
		t.Errorf("fsynctime quantiles %v, want the median only (BASIC)", q)
	}
	// A set's figures carry their namespace in "key", as ZooKeeper's provider
	// writes them: the three getData of /zookeeper.
	ns := families["read_per_namespace"].GetMetric()
	if len(ns) != 1 || len(ns[0].GetLabel()) != 1 || ns[0].GetLabel()[0].GetName() != "key" ||
		ns[0].GetLabel()[0].GetValue() != "zookeeper" || ns[0].GetSummary().GetSampleCount() != 3 {
		t.Errorf("read_per_namespace: %v, want key=\"zookeeper\" with 3 reads", ns)
	}
	// srst resets mntr, never a Prometheus counter or summary.
	srv.ResetStats()
	families, _ = scrape(t, "http://"+m.Addr().String()+"/metrics")
	if n := families["readlatency"].GetMetric()[0].GetSummary().GetSampleCount(); n != 3 {
		t.Errorf("readlatency_count after srst = %d, want 3", n)
	}
	if v := families["connection_request_count"].GetMetric()[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("connection_request_count after srst = %v, want 1", v)
	}
}

// A leader's scrape has the leader's gauges; a standalone server's does not.
func TestMetricsLeaderGauges(t *testing.T) {
	srv := newSession(t)
	reg, err := admin.NewRegistry(admin.MetricsConfig{}, srv)
	if err != nil {
		t.Fatal(err)
	}
	names := func() map[string]string {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, f := range fams {
			out[f.GetName()] = f.GetType().String()
		}
		return out
	}
	leaderGauges := []string{"learners", "synced_followers", "synced_non_voting_followers", "synced_observers",
		"quorum_size", "last_proposal_size", "min_proposal_size", "max_proposal_size"}
	got := names()
	for _, n := range leaderGauges {
		if _, ok := got[n]; ok {
			t.Errorf("standalone scrape has %s", n)
		}
	}
	srv.SetOps(session.OpsConfig{Quorum: func() session.QuorumStats {
		return session.QuorumStats{Mode: "leader", PeerState: "leading - broadcast", QuorumSize: 3,
			Leader: &session.LeaderStats{Learners: 2, SyncedFollowers: 2, LastProposalSize: session.Known(126),
				MinProposalSize: session.Known(48), MaxProposalSize: session.Known(126)}}
	}})
	got = names()
	for _, n := range leaderGauges {
		if got[n] != "GAUGE" {
			t.Errorf("leader scrape: %s is %q, want a GAUGE", n, got[n])
		}
	}
	if _, ok := got["commit_count"]; ok {
		t.Error("commit_count served although the hook does not know it")
	}
}

// Summary quantiles cover about the last ten minutes, as the Prometheus Java
// client's do for ZooKeeper; _count and _sum stay cumulative.
func TestSummaryQuantilesSlideOverTenMinutes(t *testing.T) {
	srv := newSession(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg, err := admin.NewRegistry(admin.MetricsConfig{Now: func() time.Time { return now }}, srv)
	if err != nil {
		t.Fatal(err)
	}
	readlatency := func() *dto.Summary {
		t.Helper()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "readlatency" {
				return f.GetMetric()[0].GetSummary()
			}
		}
		t.Fatal("no readlatency")
		return nil
	}
	hasQuantiles := func(s *dto.Summary) bool { return !math.IsNaN(s.GetQuantile()[0].GetValue()) }

	if s := readlatency(); s.GetSampleCount() != 0 || hasQuantiles(s) {
		t.Fatalf("no reads yet: count %d, quantiles %v", s.GetSampleCount(), s.GetQuantile())
	}
	connect(t, srv) // 3 reads
	if s := readlatency(); s.GetSampleCount() != 3 || !hasQuantiles(s) {
		t.Fatalf("after 3 reads: count %d, quantiles %v", s.GetSampleCount(), s.GetQuantile())
	}
	now = now.Add(3 * time.Minute)
	if s := readlatency(); !hasQuantiles(s) {
		t.Fatalf("3 minutes later the reads are still in the window: %v", s.GetQuantile())
	}
	now = now.Add(8 * time.Minute)
	if s := readlatency(); s.GetSampleCount() != 3 || hasQuantiles(s) {
		t.Fatalf("11 minutes later: count %d (want 3), quantiles %v (want NaN: the reads left the window)",
			s.GetSampleCount(), s.GetQuantile())
	}
	connect(t, srv)
	if s := readlatency(); s.GetSampleCount() != 6 || !hasQuantiles(s) {
		t.Fatalf("new reads: count %d, quantiles %v", s.GetSampleCount(), s.GetQuantile())
	}
}

// /commands/monitor has mntr's keys without zk_, in mntr's order, with the JSON
// types of ZooKeeper's capture.
var namespaceField = regexp.MustCompile(`^(avg|min|max|cnt|sum)_.+_((read|write)_per_namespace)$`)

func TestMonitorCommandMatchesCapture(t *testing.T) {
	srv := newSession(t)
	connect(t, srv)
	_, body := get(t, startAdmin(t, srv, nil)+"/commands/monitor")
	type field struct{ key, kind string }
	fields := func(json string) []field {
		var out []field
		for _, line := range strings.Split(json, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), " : ")
			if !ok {
				continue
			}
			kind := "number"
			switch {
			case strings.HasPrefix(v, `"`):
				kind = "string"
			case strings.HasPrefix(v, "null"):
				kind = "null"
			}
			out = append(out, field{strings.Trim(k, `"`), kind})
		}
		return out
	}
	want := map[string]string{}
	for _, f := range fields(fixture(t, "monitor.json")) {
		want[f.key] = f.kind
	}
	got := fields(body)
	var keys []string
	for _, f := range got {
		if f.key == "command" || f.key == "error" {
			continue
		}
		keys = append(keys, f.key)
		// A namespace's figures are like those of the capture's "app".
		ck := namespaceField.ReplaceAllString(f.key, "${1}_app_$2")
		if want[ck] != f.kind {
			t.Errorf("monitor field %s is a %s, ZooKeeper's a %q", f.key, f.kind, want[f.key])
		}
	}
	var mntr []string
	for _, st := range srv.Monitor() {
		mntr = append(mntr, st.Key)
	}
	if strings.Join(keys, ",") != strings.Join(mntr, ",") {
		t.Errorf("monitor fields %v\nmntr keys %v", keys, mntr)
	}
	if n := len(got); got[n-2].key != "command" || got[n-1].key != "error" {
		t.Errorf("monitor ends with %v", got[n-2:])
	}
}

// server_stats carries the sizes of the replies sent, as ZooKeeper's BufferStats
// (-1 before the first), the same figures mntr reports.
func TestServerStatsReportResponseSizes(t *testing.T) {
	srv := newSession(t)
	url := startAdmin(t, srv, nil) + "/commands/server_stats"
	var before struct {
		ServerStats struct {
			ClientResponseStats struct {
				Last int64 `json:"last_buffer_size"`
				Min  int64 `json:"min_buffer_size"`
				Max  int64 `json:"max_buffer_size"`
			} `json:"client_response_stats"`
		} `json:"server_stats"`
	}
	after := before
	_, body := get(t, url)
	if err := json.Unmarshal([]byte(body), &before); err != nil {
		t.Fatal(err)
	}
	if r := before.ServerStats.ClientResponseStats; r.Last != -1 || r.Min != -1 || r.Max != -1 {
		t.Errorf("before any reply: %+v, want -1s", r)
	}
	connect(t, srv)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = get(t, url)
		if err := json.Unmarshal([]byte(body), &after); err != nil {
			t.Fatal(err)
		}
		if after.ServerStats.ClientResponseStats.Max > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mntr := map[string]any{}
	for _, st := range srv.Monitor() {
		mntr[st.Key] = st.Value
	}
	r := after.ServerStats.ClientResponseStats
	if r.Min <= 0 || r.Min > r.Max || r.Last < r.Min || r.Last > r.Max {
		t.Errorf("after replies: %+v", r)
	}
	if mntr["max_client_response_size"] != r.Max || mntr["min_client_response_size"] != r.Min {
		t.Errorf("server_stats %+v, mntr max %v min %v", r, mntr["max_client_response_size"], mntr["min_client_response_size"])
	}
}
