package session

import "time"

// Monitor returns mntr's keys (without "zk_"), in the order ZooKeeper 3.8 printed
// them (spec/ops.md §3), limited to those that mean something in zkd. The
// summaries are "since the last srst", as with ZooKeeper's default provider.
func (s *Server) Monitor() []Stat {
	minL, avgL, maxL := s.Latency()
	recv, sent := s.Packets()
	_, _, watches := s.Tree().WatchCounts()
	openFDs, maxFDs := fileDescriptors()
	o := s.ops()
	stats := []Stat{
		{"version", s.versionString()},
		{"server_state", s.ServerState()},
		{"ephemerals_count", int64(s.Tree().EphemeralCount())},
		{"num_alive_connections", int64(s.ConnCount())},
		{"avg_latency", avgL},
		{"outstanding_requests", int64(s.Outstanding())},
		{"znode_count", s.NodeCount()},
		{"global_sessions", int64(s.SessionCount())},
		{"packets_sent", sent},
		{"packets_received", recv},
		{"watch_count", int64(watches)},
		{"min_latency", minL},
		{"max_file_descriptor_count", maxFDs},
		{"approximate_data_size", s.Tree().ApproximateDataSize()},
		{"open_file_descriptor_count", openFDs},
		{"local_sessions", int64(0)}, // zkd has global sessions only
		{"uptime", s.Uptime().Milliseconds()},
		{"max_latency", maxL},
		{"connection_rejected", o.rejected.Load()},
		{"sessionless_connections_expired", o.net.handshakeTimeouts.Load()},
	}
	if d := o.cfg.Load().Disk; d != nil {
		stats = appendSummary(stats, "fsynctime", d.Fsync.window(), false)
	}
	reads, updates := o.latencyWindows()
	stats = appendSummary(stats, "readlatency", reads, true)
	stats = appendSummary(stats, "updatelatency", updates, true)
	return stats
}

// latencyWindows sums the per-opcode windows into ZooKeeper's readlatency and
// updatelatency.
func (o *opsState) latencyWindows() (reads, updates window) {
	for _, op := range trackedOps {
		w := o.requests[opSlot(op)].window()
		if isUpdate(op) {
			updates.merge(w)
		} else {
			reads.merge(w)
		}
	}
	return reads, updates
}

// appendSummary appends a ZooKeeper summary of durations (ns) in ms:
// avg_, min_, max_, cnt_, sum_ and, for an advanced one, p50_, p95_, p99_, p999_.
func appendSummary(dst []Stat, name string, w window, advanced bool) []Stat {
	const ms = int64(time.Millisecond)
	avg := 0.0
	if w.count > 0 {
		avg = float64(w.sum) / float64(w.count) / float64(ms)
	}
	dst = append(dst,
		Stat{"avg_" + name, avg},
		Stat{"min_" + name, w.min / ms},
		Stat{"max_" + name, w.max / ms},
		Stat{"cnt_" + name, w.count},
		Stat{"sum_" + name, w.sum / ms})
	if advanced {
		dst = append(dst,
			Stat{"p50_" + name, w.quantile(0.5) / ms},
			Stat{"p95_" + name, w.quantile(0.95) / ms},
			Stat{"p99_" + name, w.quantile(0.99) / ms},
			Stat{"p999_" + name, w.quantile(0.999) / ms})
	}
	return dst
}

// OpLatency is one opcode's request latency histogram (ns).
type OpLatency struct {
	Op   string // ZooKeeper's name of the opcode: getData, create, ...
	Hist HistogramSnapshot
}

// Metrics are the cumulative figures for Prometheus; nothing here is reset by srst.
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

// Metrics returns the cumulative figures for Prometheus.
func (s *Server) Metrics() Metrics {
	o := s.ops()
	var m Metrics
	for _, op := range trackedOps {
		snap := o.requests[opSlot(op)].Snapshot()
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
	m.ThrottlePauses, m.Dropped, m.Rejected = o.throttle.Load(), o.dropped.Load(), o.rejected.Load()
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
