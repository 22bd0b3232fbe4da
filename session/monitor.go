package session

import (
	"time"

	"zkd/datatree"
	"zkd/jute"
)

// MetricKind says what one of ZooKeeper's metrics is: how mntr expands it and
// which Prometheus type carries it.
type MetricKind uint8

const (
	// KindInfo is a string (version, server_state, peer_state): mntr only.
	KindInfo MetricKind = iota
	// KindGauge is a value read when asked (znode_count, avg_latency, ...).
	KindGauge
	// KindCounter only grows; mntr shows it since the last srst.
	KindCounter
	// KindSummary is ZooKeeper's BASIC summary: avg_, min_, max_, cnt_, sum_ in
	// mntr; the median in Prometheus.
	KindSummary
	// KindAdvancedSummary adds p50_, p95_, p99_, p999_ in mntr; the quantiles
	// 0.5, 0.9 and 0.99 in Prometheus.
	KindAdvancedSummary
)

// Metric is one of ZooKeeper's metrics as zkd reports it, under ZooKeeper's name.
type Metric struct {
	// Name is ZooKeeper's name: mntr's key without "zk_", and the Prometheus name.
	Name string
	// Label is the label of a figure of one of ZooKeeper's sets (a top-level
	// namespace): mntr puts it before the name ("app_write_per_namespace"),
	// Prometheus in the label "key". Empty for other metrics.
	Label string
	Kind  MetricKind
	// Value is what mntr prints: a string for KindInfo, an int64 or a float64 for
	// a gauge, a counter's value since the last srst.
	Value any
	// Total is a counter's value since the server started (a Prometheus counter
	// never goes down); 0 for other kinds.
	Total int64
	// Summary holds a summary's observations; nil for other kinds.
	Summary *SummaryData
}

// Key is the metric's mntr key without "zk_" and a summary's prefix.
func (m Metric) Key() string {
	if m.Label == "" {
		return m.Name
	}
	return m.Label + "_" + m.Name
}

// SummaryData are a summary's observations, since the last srst for mntr and
// since start for Prometheus.
type SummaryData struct {
	// Cumulative are the observations since start, in the histogram's unit.
	Cumulative HistogramSnapshot
	// Unit is the histogram's unit expressed in ZooKeeper's: observations are
	// divided by it (1e6 turns ns into ms).
	Unit   int64
	window window // since the last srst
}

const nsPerMs = int64(time.Millisecond)

// ZooKeeperMetrics returns every ZooKeeper metric that means something in zkd, in
// the order ZooKeeper 3.8's mntr prints them (spec/ops.md §3; the order of the
// captured leader, whose keys include the standalone ones). The leader's keys are
// there only while the Quorum hook reports this server as an ensemble's leader,
// peer_state and quorum_size only in an ensemble, and a Figure the hook does not
// know leaves its key out: zkd prints no number it did not measure. Keys of
// ZooKeeper machinery zkd has no counterpart for (commit processor queues,
// response caches, Netty, ...) are never printed; docs/operations.md lists
// them with the reason.
func (s *Server) ZooKeeperMetrics() []Metric {
	qs := s.quorumStats()
	o := s.ops()
	minL, avgL, maxL := s.Latency()
	recv, sent := s.Packets()
	_, _, watches := s.Tree().WatchCounts()
	openFDs, maxFDs := fileDescriptors()
	lead := qs.Leader
	if lead == nil {
		lead = &LeaderStats{}
	}
	isLeader := qs.Leader != nil
	ensemble := qs.PeerState != ""

	var b metricsBuilder
	b.info("version", s.versionString())
	b.info("server_state", qs.Mode)
	if ensemble {
		b.info("peer_state", qs.PeerState)
	}
	b.gauge("ephemerals_count", int64(s.Tree().EphemeralCount()))
	b.gauge("num_alive_connections", int64(s.ConnCount()))
	b.gauge("avg_latency", avgL)
	b.figure(isLeader, "min_proposal_size", lead.MinProposalSize)
	b.gauge("outstanding_requests", int64(s.Outstanding()))
	b.gauge("znode_count", s.NodeCount())
	b.gauge("global_sessions", int64(s.SessionCount()))
	// ZooKeeper counts here the plain connections of its Netty factory. zkd's
	// plain port is like its NIO factory (its default), which counts none, and
	// its TLS port has no plain connections to count.
	b.gauge("non_mtls_remote_conn_count", int64(0))
	b.gauge("last_client_response_size", o.respSize.last.Load())
	b.gauge("packets_sent", sent)
	b.gauge("packets_received", recv)
	b.figure(isLeader, "max_proposal_size", lead.MaxProposalSize)
	b.gauge("max_client_response_size", o.respSize.max.Load())
	if isLeader {
		b.gauge("synced_followers", int64(lead.SyncedFollowers))
	}
	// The connection throttle's BLUE drop probability (0 unless it is on).
	b.gauge("connection_drop_probability", s.throttle.dropChance())
	b.gauge("watch_count", int64(watches))
	if isLeader {
		b.gauge("synced_non_voting_followers", int64(lead.SyncedNonVotingFollowers))
		b.gauge("synced_observers", int64(lead.SyncedObservers))
	}
	// ZooKeeper counts here the connections its TLS port refused at the
	// handshake: a failed TLS handshake or a client certificate that did not
	// authenticate. A failed SASL or digest authentication is not counted.
	b.gauge("auth_failed_count", o.net.tlsFailures.Load())
	b.gauge("min_latency", minL)
	b.gauge("max_file_descriptor_count", maxFDs)
	b.gauge("approximate_data_size", s.Tree().ApproximateDataSize())
	b.gauge("open_file_descriptor_count", openFDs)
	b.figure(isLeader, "last_proposal_size", lead.LastProposalSize)
	b.figure(isLeader, "pending_syncs", lead.PendingSyncs)
	b.figure(isLeader, "leader_uptime", lead.Uptime)
	b.gauge("local_sessions", int64(s.LocalSessionCount()))
	b.gauge("uptime", s.Uptime().Milliseconds())
	b.gauge("max_latency", maxL)
	b.gauge("outstanding_tls_handshake", o.net.tlsHandshaking.Load())
	if isLeader {
		b.gauge("learners", int64(lead.Learners))
	}
	b.gauge("min_client_response_size", max(o.respSize.min.Load(), 0))
	b.gauge("non_mtls_local_conn_count", int64(0))
	if ensemble {
		b.gauge("quorum_size", int64(qs.QuorumSize))
	}
	quotas := s.Tree().QuotaFigures()
	quotaGauge := func(name string, value func(q *datatree.NamespaceQuota) int64) {
		for i := range quotas {
			b.list = append(b.list, Metric{Name: name, Label: quotas[i].Namespace, Kind: KindGauge, Value: value(&quotas[i])})
		}
	}
	quotaGauge("quota_count_limit_per_namespace", func(q *datatree.NamespaceQuota) int64 { return q.CountLimit })
	quotaGauge("quota_bytes_limit_per_namespace", func(q *datatree.NamespaceQuota) int64 { return q.BytesLimit })
	quotaGauge("quota_count_usage_per_namespace", func(q *datatree.NamespaceQuota) int64 { return q.CountUsage })
	quotaGauge("quota_bytes_usage_per_namespace", func(q *datatree.NamespaceQuota) int64 { return q.BytesUsage })
	b.quorumCounter(o, "proposal_count", qs.ProposalCount)
	b.counter("watch_bytes", &o.watchBytes)
	b.counter("connection_rejected", &o.rejected)
	expired := o.net.handshakeTimeouts.Load()
	b.list = append(b.list, Metric{Name: "sessionless_connections_expired", Kind: KindCounter, Value: expired, Total: expired})
	b.quorumCounter(o, "looking_count", qs.LookingCount)
	b.quorumCounter(o, "learner_proposal_received_count", qs.LearnerProposals)
	b.counter("bytes_received_count", &o.bytesIn)
	b.quorumCounter(o, "learner_commit_received_count", qs.LearnerCommits)
	// A ConnectRequest answered is one served by the handshake's latency
	// histogram: ZooKeeper counts every request it starts to process, which
	// differs only for a client refused because it has seen a newer zxid.
	handshakes := opSlot(jute.OpCreateSession)
	b.list = append(b.list, Metric{Name: "connection_request_count", Kind: KindCounter,
		Value: o.opWindow(handshakes).count, Total: int64(o.opSnapshot(handshakes).Count())})
	b.counter("response_bytes", &o.bytesOut)
	b.quorumCounter(o, "diff_count", qs.DiffCount)
	b.quorumCounter(o, "snap_count", qs.SnapCount)
	b.quorumCounter(o, "unrecoverable_error_count", qs.UnrecoverableErrors)
	b.quorumCounter(o, "commit_count", qs.CommitCount)
	b.quorumCounter(o, "stale_sessions_expired", qs.StaleSessionsExpired)
	o.quotaExceeded.each(func(ns string, c *counter) {
		b.list = append(b.list, Metric{Name: "quota_exceeded_error_per_namespace", Label: ns, Kind: KindCounter,
			Value: c.sinceReset(), Total: c.total.Load()})
	})
	fired := func(name string, i int) {
		b.summary(name, KindSummary, o.fired[i].window(), o.fired[i].Snapshot(), 1)
	}
	timing := func(name string) {
		h := o.timings[name]
		b.summary(name, KindSummary, h.window(), h.Snapshot(), 1)
	}
	latency := func(name string) {
		h := o.timings[name]
		b.summary(name, KindAdvancedSummary, h.window(), h.Snapshot(), 1)
	}
	timing("leader_unavailable_time")
	fired("node_created_watch_count", 0)
	timing(tokenDeficitName)
	fired("node_deleted_watch_count", 1)
	timing("startup_txns_load_time")
	timing("follower_sync_time")
	if d := o.cfg.Load().Disk; d != nil {
		b.summary("fsynctime", KindSummary, d.Fsync.window(), d.Fsync.Snapshot(), nsPerMs)
	}
	timing("snapshottime")
	timing("unavailable_time")
	timing("startup_txns_loaded")
	timing("dbinittime")
	timing("election_time")
	fired("node_children_watch_count", 3)
	timing("observer_sync_time")
	fired("node_changed_watch_count", 2)
	timing("startup_snap_load_time")
	latency("jvm_pause_time_ms")
	reads, updates := o.latencyWindows()
	readSnap, updateSnap := o.latencySnapshots()
	b.summary("updatelatency", KindAdvancedSummary, updates, updateSnap, nsPerMs)
	b.summary("readlatency", KindAdvancedSummary, reads, readSnap, nsPerMs)
	latency("quorum_ack_latency")
	latency("commit_propagation_latency")
	latency("proposal_ack_creation_latency")
	latency("proposal_latency")
	latency("propagation_latency")
	summarySet := func(name string, kind MetricKind, sets ...*labelSet[Histogram]) {
		for _, ls := range summaries(sets...) {
			b.list = append(b.list, Metric{Name: name, Label: ls.label, Kind: kind,
				Summary: &SummaryData{Cumulative: ls.since, Unit: 1, window: ls.window}})
		}
	}
	summarySet("ack_latency", KindAdvancedSummary, &o.ackLatency)
	summarySet("read_per_namespace", KindSummary, o.readNS.all()...)
	summarySet("write_per_namespace", KindSummary, &o.writeNS)
	return b.list
}

// metricsBuilder collects metrics in order.
type metricsBuilder struct{ list []Metric }

func (b *metricsBuilder) info(name, v string) {
	b.list = append(b.list, Metric{Name: name, Kind: KindInfo, Value: v})
}

// gauge adds a gauge; v is an int64 or a float64.
func (b *metricsBuilder) gauge(name string, v any) {
	b.list = append(b.list, Metric{Name: name, Kind: KindGauge, Value: v})
}

// figure adds a gauge when it applies (when) and is known.
func (b *metricsBuilder) figure(when bool, name string, f Figure) {
	if when && f.Known {
		b.gauge(name, f.Value)
	}
}

func (b *metricsBuilder) counter(name string, c *counter) {
	b.list = append(b.list, Metric{Name: name, Kind: KindCounter, Value: c.sinceReset(), Total: c.total.Load()})
}

// quorumCounter adds a counter of the Quorum hook, since the last srst for mntr.
func (b *metricsBuilder) quorumCounter(o *opsState, name string, f Figure) {
	if !f.Known {
		return
	}
	o.baseMu.Lock()
	base := o.base[name]
	o.baseMu.Unlock()
	b.list = append(b.list, Metric{Name: name, Kind: KindCounter, Value: max(f.Value-base, 0), Total: f.Value})
}

func (b *metricsBuilder) summary(name string, kind MetricKind, w window, cum HistogramSnapshot, unit int64) {
	b.list = append(b.list, Metric{Name: name, Kind: kind, Summary: &SummaryData{Cumulative: cum, Unit: unit, window: w}})
}

// resetQuorumCounters records the Quorum hook's counters as the new srst baseline.
func (s *Server) resetQuorumCounters() {
	base := map[string]int64{}
	for _, m := range s.ZooKeeperMetrics() {
		if m.Kind == KindCounter && m.Label == "" {
			base[m.Name] = m.Total
		}
	}
	o := s.ops()
	o.baseMu.Lock()
	o.base = base
	o.baseMu.Unlock()
}

// Monitor returns mntr's keys (without "zk_") and values, in ZooKeeper's order:
// ZooKeeperMetrics with each summary expanded into its avg_, min_, max_, cnt_,
// sum_ (and p50_, p95_, p99_, p999_) keys. Counters and summaries are "since the
// last srst", as with ZooKeeper's default metrics provider.
func (s *Server) Monitor() []Stat {
	metrics := s.ZooKeeperMetrics()
	stats := make([]Stat, 0, len(metrics)+32)
	for _, m := range metrics {
		switch m.Kind {
		case KindSummary, KindAdvancedSummary:
			stats = appendSummary(stats, m.Key(), m.Summary.window, m.Summary.Unit, m.Kind == KindAdvancedSummary)
		default:
			stats = append(stats, Stat{m.Key(), m.Value})
		}
	}
	return stats
}

// latencyWindows sums the per-opcode windows into ZooKeeper's readlatency and
// updatelatency.
func (o *opsState) latencyWindows() (reads, updates window) {
	for _, op := range trackedOps {
		w := o.opWindow(opSlot(op))
		if isUpdate(op) {
			updates.merge(w)
		} else {
			reads.merge(w)
		}
	}
	return reads, updates
}

// latencySnapshots sums the per-opcode histograms since start.
func (o *opsState) latencySnapshots() (reads, updates HistogramSnapshot) {
	for _, op := range trackedOps {
		snap := o.opSnapshot(opSlot(op))
		if isUpdate(op) {
			updates = mergeSnapshots(updates, snap)
		} else {
			reads = mergeSnapshots(reads, snap)
		}
	}
	return reads, updates
}

// appendSummary appends a ZooKeeper summary, observations divided by unit:
// avg_, min_, max_, cnt_, sum_ and, for an advanced one, p50_, p95_, p99_, p999_.
func appendSummary(dst []Stat, name string, w window, unit int64, advanced bool) []Stat {
	avg := 0.0
	if w.count > 0 {
		avg = float64(w.sum) / float64(w.count) / float64(unit)
	}
	dst = append(dst,
		Stat{"avg_" + name, avg},
		Stat{"min_" + name, w.min / unit},
		Stat{"max_" + name, w.max / unit},
		Stat{"cnt_" + name, w.count},
		Stat{"sum_" + name, w.sum / unit})
	if advanced {
		dst = append(dst,
			Stat{"p50_" + name, w.quantile(0.5) / unit},
			Stat{"p95_" + name, w.quantile(0.95) / unit},
			Stat{"p99_" + name, w.quantile(0.99) / unit},
			Stat{"p999_" + name, w.quantile(0.999) / unit})
	}
	return dst
}

// OpLatency is one opcode's request latency histogram (ns).
type OpLatency struct {
	Op   string // ZooKeeper's name of the opcode: getData, create, ...
	Hist HistogramSnapshot
}

// Metrics are zkd's own cumulative figures, for Prometheus (ZooKeeper's are in
// ZooKeeperMetrics); nothing here is reset by srst.
type Metrics struct {
	Requests      []OpLatency       // opcodes answered at least once
	ReadLatency   HistogramSnapshot // all reads (ZooKeeper's readlatency), ns
	UpdateLatency HistogramSnapshot // all writes (updatelatency), ns
	// Fsync (ns) and FsyncEntries are nil without OpsConfig.Disk.
	Fsync, FsyncEntries    *HistogramSnapshot
	FsyncThresholdExceeded int64
	// OutputQueueBytes is the output owed to clients: queued in the session layer
	// plus what netloop still holds for the socket.
	OutputQueueBytes int64
	ThrottlePauses   int64 // times reading a connection was paused
	Dropped          int64 // connections closed for not reading their replies
	Rejected         int64 // connections refused over maxClientCnxns
}

// Metrics returns zkd's own cumulative figures, for Prometheus.
func (s *Server) Metrics() Metrics {
	o := s.ops()
	var m Metrics
	for _, op := range trackedOps {
		snap := o.opSnapshot(opSlot(op))
		if isUpdate(op) {
			m.UpdateLatency = mergeSnapshots(m.UpdateLatency, snap)
		} else {
			m.ReadLatency = mergeSnapshots(m.ReadLatency, snap)
		}
		if snap.Count() > 0 {
			m.Requests = append(m.Requests, OpLatency{Op: op.String(), Hist: snap})
		}
	}
	if d := o.cfg.Load().Disk; d != nil {
		f, e := d.Fsync.Snapshot(), d.Entries.Snapshot()
		m.Fsync, m.FsyncEntries = &f, &e
		m.FsyncThresholdExceeded = d.ThresholdExceeded()
	}
	for _, c := range s.connList() {
		m.OutputQueueBytes += int64(c.QueuedOutput()) + c.last.unsent.Load()
	}
	m.ThrottlePauses, m.Dropped, m.Rejected = o.throttle.Load(), o.dropped.Load(), o.rejected.total.Load()
	return m
}

// mergeSnapshots adds two snapshots over the same bounds.
func mergeSnapshots(a, b HistogramSnapshot) HistogramSnapshot {
	if a.Cumulative == nil {
		c := b
		c.Cumulative = append([]uint64(nil), b.Cumulative...)
		return c
	}
	for i := range a.Cumulative {
		a.Cumulative[i] += b.Cumulative[i]
	}
	a.Sum += b.Sum
	return a
}

// Quantile estimates the q-quantile as the upper bound of the bucket holding it
// (the largest bound when it falls in the +Inf bucket); 0 without observations.
func (s HistogramSnapshot) Quantile(q float64) int64 {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	for i, c := range s.Cumulative {
		if c >= rank {
			if i >= len(s.Bounds) {
				break
			}
			return s.Bounds[i]
		}
	}
	return s.Bounds[len(s.Bounds)-1]
}

// Sub returns the observations of s made after old, a snapshot of the same
// histogram taken earlier: Prometheus' summaries estimate their quantiles over
// such a sliding window, as ZooKeeper's do.
func (s HistogramSnapshot) Sub(old HistogramSnapshot) HistogramSnapshot {
	d := HistogramSnapshot{Bounds: s.Bounds, Cumulative: make([]uint64, len(s.Cumulative)), Sum: s.Sum - old.Sum}
	for i, c := range s.Cumulative {
		if i < len(old.Cumulative) && old.Cumulative[i] <= c {
			c -= old.Cumulative[i]
		}
		d.Cumulative[i] = c
	}
	return d
}
