package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	// Now is the clock of the summaries' sliding windows; nil is time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// MetricsServer serves GET /metrics in the Prometheus text format.
type MetricsServer struct {
	cfg  MetricsConfig
	ln   net.Listener
	http *http.Server
	errc chan error // buffer 1: Serve's result
}

// ListenMetrics binds the metrics port and serves in the background.
func ListenMetrics(cfg MetricsConfig, sess *session.Server) (*MetricsServer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	reg, err := NewRegistry(cfg, sess)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: metrics: listen %s: %w", cfg.Addr, err)
	}
	m := &MetricsServer{cfg: cfg, ln: ln, errc: make(chan error, 1)}
	scrape := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	mux := http.NewServeMux()
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed) // TRACE included, as ZooKeeper
			return
		}
		scrape.ServeHTTP(w, r)
	}))
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

// NewRegistry returns a registry holding everything /metrics serves: ZooKeeper's
// metrics under ZooKeeper's names and types (zooKeeperCollector), zkd's own under
// zkd_ (zkdCollector), and the standard Go runtime and process collectors, which
// stand where ZooKeeper's exportJvmInfo puts the JVM's (memory, CPU, threads,
// file descriptors).
func NewRegistry(cfg MetricsConfig, sess *session.Server) (*prometheus.Registry, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		newZooKeeperCollector(sess, now),
		&zkdCollector{sess: sess},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if cfg.ApplyLag != nil {
		lag := cfg.ApplyLag
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zkd_apply_lag_entries",
			Help: "Entries durable in the log but not applied to the tree yet",
		}, func() float64 { return float64(lag()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("admin: metrics: %w", err)
		}
	}
	return reg, nil
}

// zooKeeperCollector exports session.ZooKeeperMetrics as ZooKeeper's
// PrometheusMetricsProvider does (spec/ops.md §5): the raw names, no prefix and no
// _total suffix; gauges as gauges, counters as counters (since start: srst resets
// only mntr, as it cannot reset ZooKeeper's Prometheus values either); summaries in
// ZooKeeper's units (ms) as Prometheus summaries, the median for a BASIC one and
// the 0.5, 0.9 and 0.99 quantiles for an ADVANCED one. Quantiles cover a sliding
// window of about ten minutes, as the Prometheus Java client's summaries do;
// _count and _sum are since start.
//
// The set of metrics depends on the server's role (a leader has more), so the
// collector is unchecked: Describe sends nothing.
type zooKeeperCollector struct {
	sess *session.Server
	now  func() time.Time

	mu      sync.Mutex
	windows map[string]*slidingWindow // guarded by mu; one per summary
	descs   map[string]*prometheus.Desc
	created time.Time
}

func newZooKeeperCollector(sess *session.Server, now func() time.Time) *zooKeeperCollector {
	return &zooKeeperCollector{sess: sess, now: now, windows: map[string]*slidingWindow{},
		descs: map[string]*prometheus.Desc{}, created: now()}
}

// Describe sends nothing: the collector is unchecked.
func (*zooKeeperCollector) Describe(chan<- *prometheus.Desc) {}

// Collect reads every ZooKeeper metric once.
func (c *zooKeeperCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, m := range c.sess.ZooKeeperMetrics() {
		labels := labelValues(m)
		switch m.Kind {
		case session.KindGauge:
			ch <- prometheus.MustNewConstMetric(c.desc(m), prometheus.GaugeValue, number(m.Value), labels...)
		case session.KindCounter:
			ch <- prometheus.MustNewConstMetric(c.desc(m), prometheus.CounterValue, float64(m.Total), labels...)
		case session.KindSummary, session.KindAdvancedSummary:
			ch <- c.summary(m, now)
		}
	}
}

// desc returns the descriptor of a ZooKeeper metric; its help, as ZooKeeper's
// provider writes it, is the name itself. The figures of a set carry their
// label in "key", as ZooKeeper's provider writes them.
func (c *zooKeeperCollector) desc(m session.Metric) *prometheus.Desc {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.descs[m.Name]
	if d == nil {
		var variable []string
		if m.Label != "" {
			variable = []string{"key"}
		}
		d = prometheus.NewDesc(m.Name, m.Name, variable, nil)
		c.descs[m.Name] = d
	}
	return d
}

// labelValues are the values of a metric's variable labels.
func labelValues(m session.Metric) []string {
	if m.Label == "" {
		return nil
	}
	return []string{m.Label}
}

// basicQuantiles and advancedQuantiles are ZooKeeper's summary quantiles.
var (
	basicQuantiles    = []float64{0.5}
	advancedQuantiles = []float64{0.5, 0.9, 0.99}
)

func (c *zooKeeperCollector) summary(m session.Metric, now time.Time) prometheus.Metric {
	sd := m.Summary
	c.mu.Lock()
	w := c.windows[m.Key()]
	if w == nil {
		w = &slidingWindow{}
		// The histograms count from the server's start, which is the endpoint's.
		w.ring = append(w.ring, stampedSnapshot{at: c.created})
		c.windows[m.Key()] = w
	}
	c.mu.Unlock()
	recent := w.advance(now, sd.Cumulative)
	qs := basicQuantiles
	if m.Kind == session.KindAdvancedSummary {
		qs = advancedQuantiles
	}
	unit := float64(sd.Unit)
	quantiles := make(map[float64]float64, len(qs))
	for _, q := range qs {
		v := math.NaN() // the Prometheus clients' value for a quantile with no observation
		if recent.Count() > 0 {
			v = float64(recent.Quantile(q)) / unit
		}
		quantiles[q] = v
	}
	return prometheus.MustNewConstSummary(c.desc(m), sd.Cumulative.Count(), float64(sd.Cumulative.Sum)/unit, quantiles, labelValues(m)...)
}

// Sliding window of the summaries' quantiles: ZooKeeper's provider uses the
// Prometheus Java client's summaries, whose quantiles cover the last ten minutes
// in five age buckets.
const (
	summaryMaxAge     = 10 * time.Minute
	summaryAgeBuckets = 5
)

// slidingWindow keeps snapshots of one histogram, at least maxAge/ageBuckets
// apart and at most maxAge old: the observations made since the oldest are the
// window's, which so spans between 4/5 of maxAge and maxAge once it is full.
type slidingWindow struct {
	mu   sync.Mutex
	ring []stampedSnapshot // guarded by mu; oldest first
}

type stampedSnapshot struct {
	at   time.Time
	snap session.HistogramSnapshot
}

// advance records cur as of now and returns the observations made in the window.
func (w *slidingWindow) advance(now time.Time, cur session.HistogramSnapshot) session.HistogramSnapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := 0
	for i < len(w.ring) && now.Sub(w.ring[i].at) > summaryMaxAge {
		i++
	}
	w.ring = w.ring[i:]
	base := cur // nothing recent to compare with: the window is empty
	if len(w.ring) > 0 {
		base = w.ring[0].snap
	}
	if len(w.ring) == 0 || now.Sub(w.ring[len(w.ring)-1].at) >= summaryMaxAge/summaryAgeBuckets {
		w.ring = append(w.ring, stampedSnapshot{at: now, snap: cur})
	}
	return cur.Sub(base)
}

// number converts a gauge's value (int64 or float64) for Prometheus.
func number(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

// zkd's own metrics, for what ZooKeeper's names cannot show.
var (
	requestDurationDesc = prometheus.NewDesc("zkd_request_duration_seconds",
		"Request latency by opcode, from read to reply", []string{"op"}, nil)
	fsyncDurationDesc = prometheus.NewDesc("zkd_fsync_duration_seconds",
		"Time to write and fdatasync one batch of the log", nil, nil)
	fsyncEntriesDesc = prometheus.NewDesc("zkd_fsync_entries",
		"Entries made durable by one fdatasync (group commit)", nil, nil)
	fsyncExceededDesc = prometheus.NewDesc("zkd_fsync_threshold_exceeded_total",
		"fdatasyncs slower than fsync.warningthresholdms", nil, nil)
	outputQueueDesc = prometheus.NewDesc("zkd_output_queue_bytes",
		"Reply and event bytes owed to clients, queued or unsent", nil, nil)
	throttleDesc = prometheus.NewDesc("zkd_connection_throttle_events_total",
		"Times reading from a connection was paused: too many requests in flight or too much unsent output", nil, nil)
	droppedDesc = prometheus.NewDesc("zkd_connections_dropped_total",
		"Connections closed or refused by the server's limits", []string{"reason"}, nil)
	acceptErrorsDesc = prometheus.NewDesc("zkd_accept_errors_total",
		"Failed accepts of the client port (out of file descriptors, most often)", nil, nil)
	inputQueueDesc = prometheus.NewDesc("zkd_input_queue_bytes",
		"Request bytes read from client sockets and not handled yet", nil, nil)
)

// zkdCollector exports session.Metrics: histograms by opcode and of the log's
// fdatasyncs, and the back-pressure counters.
type zkdCollector struct{ sess *session.Server }

// Describe sends every descriptor: the set does not change.
func (*zkdCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requestDurationDesc, fsyncDurationDesc, fsyncEntriesDesc,
		fsyncExceededDesc, outputQueueDesc, throttleDesc, droppedDesc, acceptErrorsDesc, inputQueueDesc} {
		ch <- d
	}
}

// Collect reads the figures once.
func (c *zkdCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.sess.Metrics()
	const secPerNs = 1e-9
	for _, op := range m.Requests {
		ch <- constHistogram(requestDurationDesc, op.Hist, secPerNs, op.Op)
	}
	if m.Fsync != nil {
		ch <- constHistogram(fsyncDurationDesc, *m.Fsync, secPerNs)
		ch <- constHistogram(fsyncEntriesDesc, *m.FsyncEntries, 1)
		ch <- prometheus.MustNewConstMetric(fsyncExceededDesc, prometheus.CounterValue, float64(m.FsyncThresholdExceeded))
	}
	ch <- prometheus.MustNewConstMetric(outputQueueDesc, prometheus.GaugeValue, float64(m.OutputQueueBytes))
	ch <- prometheus.MustNewConstMetric(throttleDesc, prometheus.CounterValue, float64(m.ThrottlePauses))
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(m.Dropped), "slow_reader")
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(m.Rejected), "max_client_cnxns")
	n := c.sess.NetStats()
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n.HandshakeTimeouts), "handshake_timeout")
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n.InputLimitCloses), "input_limit")
	ch <- prometheus.MustNewConstMetric(acceptErrorsDesc, prometheus.CounterValue, float64(n.AcceptErrors))
	ch <- prometheus.MustNewConstMetric(inputQueueDesc, prometheus.GaugeValue, float64(n.UnreadBytes))
}

// constHistogram converts a histogram snapshot, scaling its bounds and sum.
func constHistogram(d *prometheus.Desc, h session.HistogramSnapshot, scale float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, bound := range h.Bounds {
		buckets[float64(bound)*scale] = h.Cumulative[i]
	}
	return prometheus.MustNewConstHistogram(d, h.Count(), float64(h.Sum)*scale, buckets, labels...)
}
