package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"zkd/session"
)

// PrometheusProvider is the metricsProvider.className that turns the /metrics
// endpoint on, as it does for ZooKeeper.
const PrometheusProvider = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Addr is metricsProvider.httpHost:metricsProvider.httpPort; port 0 picks a free port.
	Addr string
	// ApplyLag returns how many entries are durable in the log but not applied
	// yet; nil leaves the gauge out.
	ApplyLag func() int64
	Logger   *slog.Logger
}

// MetricsServer serves GET /metrics in the Prometheus text format (version 0.0.4).
type MetricsServer struct {
	cfg  MetricsConfig
	sess *session.Server
	ln   net.Listener
	http *http.Server
	errc chan error // buffer 1: Serve's result
}

// ListenMetrics binds the metrics port and serves in the background.
func ListenMetrics(cfg MetricsConfig, sess *session.Server) (*MetricsServer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: metrics: listen %s: %w", cfg.Addr, err)
	}
	m := &MetricsServer{cfg: cfg, sess: sess, ln: ln, errc: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", m.serve)
	m.http = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	go func() { m.errc <- m.http.Serve(ln) }()
	cfg.Logger.Info("Prometheus metrics served", "addr", ln.Addr().String(), "path", "/metrics")
	return m, nil
}

// Addr returns the bound address.
func (m *MetricsServer) Addr() net.Addr { return m.ln.Addr() }

// Stop closes the listener and waits for scrapes in progress (bounded by ctx).
func (m *MetricsServer) Stop(ctx context.Context) error {
	err := m.http.Shutdown(ctx)
	if serr := <-m.errc; err == nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("admin: metrics: stop: %w", err)
	}
	return nil
}

func (m *MetricsServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed) // TRACE included, as ZooKeeper
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = WriteMetrics(w, m.sess, m.cfg.ApplyLag)
}

// zkSummaries are the mntr summaries exposed as Prometheus summaries under
// ZooKeeper's names, in ms: BASIC ones with the median only, ADVANCED ones with
// 0.5, 0.9 and 0.99 (spec/ops.md §5).
var zkSummaries = map[string]bool{"fsynctime": false, "readlatency": true, "updatelatency": true}

// zkCounters are the mntr keys that are counters; every other numeric key is a gauge.
var zkCounters = map[string]bool{"connection_rejected": true, "sessionless_connections_expired": true}

// zkHelp describes ZooKeeper's gauges.
var zkHelp = map[string]string{
	"ephemerals_count":           "Number of ephemeral znodes",
	"num_alive_connections":      "Number of open client connections",
	"avg_latency":                "Average request latency since the last stat reset, ms",
	"outstanding_requests":       "Requests read and not answered yet",
	"znode_count":                "Number of znodes (the root counted twice, as ZooKeeper does)",
	"global_sessions":            "Number of sessions",
	"packets_sent":               "Packets sent since the last stat reset",
	"packets_received":           "Packets received since the last stat reset",
	"watch_count":                "Watch registrations (path, connection)",
	"min_latency":                "Minimum request latency since the last stat reset, ms",
	"max_file_descriptor_count":  "Limit on open file descriptors",
	"approximate_data_size":      "Sum of the lengths of every path and data",
	"open_file_descriptor_count": "Open file descriptors",
	"local_sessions":             "Number of local sessions (zkd has none)",
	"uptime":                     "Time since the server started, ms",
	"max_latency":                "Maximum request latency since the last stat reset, ms",
	"connection_rejected":        "Connections refused over maxClientCnxns",
}

// WriteMetrics writes every metric in the Prometheus text format: ZooKeeper's
// names first (so its Grafana dashboards work), then zkd's own, prefixed zkd_.
func WriteMetrics(w io.Writer, sess *session.Server, applyLag func() int64) error {
	var p promWriter
	monitor := sess.Monitor()
	for _, st := range monitor {
		if isSummaryKey(st.Key) {
			continue
		}
		var v float64
		switch x := st.Value.(type) {
		case int64:
			v = float64(x)
		case float64:
			v = x
		default:
			continue // version, server_state
		}
		typ := "gauge"
		if zkCounters[st.Key] {
			typ = "counter"
		}
		p.header(st.Key, zkHelp[st.Key], typ)
		p.sample(st.Key, "", v)
	}
	m := sess.Metrics()
	const msPerNs = 1e-6
	if m.Fsync != nil {
		p.summary("fsynctime", "Time to write and fdatasync the log, ms", *m.Fsync, msPerNs, zkSummaries["fsynctime"])
	}
	p.summary("readlatency", "Latency of read requests, ms", m.ReadLatency, msPerNs, zkSummaries["readlatency"])
	p.summary("updatelatency", "Latency of write requests, ms", m.UpdateLatency, msPerNs, zkSummaries["updatelatency"])

	const secPerNs = 1e-9
	p.header("zkd_request_duration_seconds", "Request latency by opcode, from read to reply", "histogram")
	for _, op := range m.Requests {
		p.histogram("zkd_request_duration_seconds", `op="`+op.Op+`"`, op.Hist, secPerNs)
	}
	if m.Fsync != nil {
		p.header("zkd_fsync_duration_seconds", "Time to write and fdatasync one batch of the log", "histogram")
		p.histogram("zkd_fsync_duration_seconds", "", *m.Fsync, secPerNs)
		p.header("zkd_fsync_entries", "Entries made durable by one fdatasync (group commit)", "histogram")
		p.histogram("zkd_fsync_entries", "", *m.FsyncEntries, 1)
		p.header("zkd_fsync_threshold_exceeded_total", "fdatasyncs slower than fsync.warningthresholdms", "counter")
		p.sample("zkd_fsync_threshold_exceeded_total", "", float64(m.FsyncThresholdExceeded))
	}
	if applyLag != nil {
		p.header("zkd_apply_lag_entries", "Entries durable in the log but not applied to the tree yet", "gauge")
		p.sample("zkd_apply_lag_entries", "", float64(applyLag()))
	}
	p.header("zkd_output_queue_bytes", "Reply and event bytes owed to clients, queued or unsent", "gauge")
	p.sample("zkd_output_queue_bytes", "", float64(m.OutputQueueBytes))
	p.header("zkd_connection_throttle_events_total",
		"Times reading from a connection was paused: too many requests in flight or too much unsent output", "counter")
	p.sample("zkd_connection_throttle_events_total", "", float64(m.ThrottlePauses))
	p.header("zkd_connections_dropped_total", "Connections closed or refused by the server's limits", "counter")
	p.sample("zkd_connections_dropped_total", `reason="slow_reader"`, float64(m.Dropped))
	p.sample("zkd_connections_dropped_total", `reason="max_client_cnxns"`, float64(m.Rejected))
	n := sess.NetStats()
	p.sample("zkd_connections_dropped_total", `reason="handshake_timeout"`, float64(n.HandshakeTimeouts))
	p.sample("zkd_connections_dropped_total", `reason="input_limit"`, float64(n.InputLimitCloses))
	p.header("zkd_accept_errors_total", "Failed accepts of the client port (out of file descriptors, most often)", "counter")
	p.sample("zkd_accept_errors_total", "", float64(n.AcceptErrors))
	p.header("zkd_input_queue_bytes", "Request bytes read from client sockets and not handled yet", "gauge")
	p.sample("zkd_input_queue_bytes", "", float64(n.UnreadBytes))

	open, maxFDs := int64(-1), int64(-1)
	for _, st := range monitor {
		switch st.Key {
		case "open_file_descriptor_count":
			open, _ = st.Value.(int64)
		case "max_file_descriptor_count":
			maxFDs, _ = st.Value.(int64)
		}
	}
	if open >= 0 {
		p.header("process_open_fds", "Number of open file descriptors.", "gauge")
		p.sample("process_open_fds", "", float64(open))
	}
	if maxFDs >= 0 {
		p.header("process_max_fds", "Maximum number of open file descriptors.", "gauge")
		p.sample("process_max_fds", "", float64(maxFDs))
	}
	p.header("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge")
	p.sample("process_start_time_seconds", "", float64(time.Now().Add(-sess.Uptime()).UnixMilli())/1e3)
	p.header("go_goroutines", "Number of goroutines that currently exist.", "gauge")
	p.sample("go_goroutines", "", float64(runtime.NumGoroutine()))
	_, err := io.WriteString(w, p.b.String())
	return err
}

// isSummaryKey reports whether an mntr key is part of a summary's expansion
// (avg_fsynctime, p99_readlatency, ...), which Prometheus gets as one summary.
func isSummaryKey(key string) bool {
	prefix, name, ok := strings.Cut(key, "_")
	if !ok {
		return false
	}
	switch prefix {
	case "avg", "min", "max", "cnt", "sum", "p50", "p95", "p99", "p999":
		_, known := zkSummaries[name]
		return known
	}
	return false
}

// promWriter builds the text exposition (Prometheus text format 0.0.4).
type promWriter struct{ b strings.Builder }

func (p *promWriter) header(name, help, typ string) {
	if help != "" {
		p.b.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
	}
	p.b.WriteString("# TYPE " + name + " " + typ + "\n")
}

// sample writes one line; labels is the inside of {...} (already escaped) or "".
func (p *promWriter) sample(name, labels string, v float64) {
	p.b.WriteString(name)
	if labels != "" {
		p.b.WriteString("{" + labels + "}")
	}
	p.b.WriteByte(' ')
	p.b.WriteString(formatValue(v))
	p.b.WriteByte('\n')
}

// histogram writes the _bucket, _sum and _count lines of one series; scale
// converts the snapshot's unit to the exposed one.
func (p *promWriter) histogram(name, labels string, h session.HistogramSnapshot, scale float64) {
	sep := ""
	if labels != "" {
		sep = ","
	}
	for i, bound := range h.Bounds {
		p.sample(name+"_bucket", labels+sep+`le="`+formatValue(float64(bound)*scale)+`"`, float64(h.Cumulative[i]))
	}
	p.sample(name+"_bucket", labels+sep+`le="+Inf"`, float64(h.Count()))
	p.sample(name+"_sum", labels, float64(h.Sum)*scale)
	p.sample(name+"_count", labels, float64(h.Count()))
}

// summary writes a ZooKeeper summary: quantiles estimated from the histogram.
func (p *promWriter) summary(name, help string, h session.HistogramSnapshot, scale float64, advanced bool) {
	p.header(name, help, "summary")
	qs := []float64{0.5}
	if advanced {
		qs = []float64{0.5, 0.9, 0.99}
	}
	for _, q := range qs {
		v := math.NaN() // Prometheus' value for a quantile without observations
		if h.Count() > 0 {
			v = float64(h.Quantile(q)) * scale
		}
		p.sample(name, `quantile="`+formatValue(q)+`"`, v)
	}
	p.sample(name+"_sum", "", float64(h.Sum)*scale)
	p.sample(name+"_count", "", float64(h.Count()))
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
