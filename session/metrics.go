package session

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Histogram counts observations (durations in ns, or plain counts) into fixed
// buckets. It serves two readers: Prometheus, which wants cumulative buckets that
// never go down, and mntr, whose avg/min/max/cnt/sum and percentiles are "since
// the last srst" (Reset). Observe takes no lock and does not allocate; every
// method is safe for concurrent use.
type Histogram struct {
	bounds []int64           // inclusive upper bounds, ascending; immutable
	counts []atomic.Uint64   // one per bound, then +Inf; not cumulative
	sum    atomic.Int64      // of every observation since creation
	min    atomic.Int64      // since Reset; -1: none yet
	max    atomic.Int64      // since Reset
	mu     sync.Mutex        // guards base
	base   histogramBaseline // the counts at the last Reset
}

type histogramBaseline struct {
	counts []uint64
	sum    int64
}

// NewHistogram returns a histogram with the given inclusive upper bounds.
func NewHistogram(bounds []int64) *Histogram {
	h := &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	h.base.counts = make([]uint64, len(bounds)+1)
	h.min.Store(-1)
	return h
}

// Observe records one value.
func (h *Histogram) Observe(v int64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
	for {
		cur := h.min.Load()
		if cur != -1 && cur <= v || h.min.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := h.max.Load()
		if cur >= v || h.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

// Reset starts a new mntr window (srst). Prometheus figures are not affected.
func (h *Histogram) Reset() {
	h.mu.Lock()
	for i := range h.counts {
		h.base.counts[i] = h.counts[i].Load()
	}
	h.base.sum = h.sum.Load()
	h.mu.Unlock()
	h.min.Store(-1)
	h.max.Store(0)
}

// HistogramSnapshot is a histogram's cumulative state, as Prometheus exposes it.
type HistogramSnapshot struct {
	Bounds     []int64  // inclusive upper bounds (shared with the histogram: do not modify)
	Cumulative []uint64 // observations <= Bounds[i]; the extra last element is the total count
	Sum        int64
}

// Count returns the number of observations.
func (s HistogramSnapshot) Count() uint64 {
	if len(s.Cumulative) == 0 {
		return 0
	}
	return s.Cumulative[len(s.Cumulative)-1]
}

// Snapshot returns the cumulative counts since the histogram was made.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Bounds: h.bounds, Cumulative: make([]uint64, len(h.counts))}
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		s.Cumulative[i] = n
	}
	s.Sum = h.sum.Load()
	return s
}

// window is the part of a histogram mntr reports: everything since the last Reset.
type window struct {
	counts   []uint64 // per bucket, not cumulative
	bounds   []int64
	count    int64
	sum      int64
	min, max int64 // min is 0 when count is 0, as ZooKeeper prints it
}

func (h *Histogram) window() window {
	h.mu.Lock()
	w := window{counts: make([]uint64, len(h.counts)), bounds: h.bounds}
	for i := range h.counts {
		c := h.counts[i].Load() - h.base.counts[i]
		w.counts[i] = c
		w.count += int64(c)
	}
	w.sum = h.sum.Load() - h.base.sum
	h.mu.Unlock()
	w.min, w.max = max(h.min.Load(), 0), h.max.Load()
	return w
}

// merge adds o's counts to w (the two share bounds); used to sum per-opcode
// histograms into readlatency and updatelatency.
func (w *window) merge(o window) {
	if w.counts == nil {
		*w = o
		return
	}
	if o.count == 0 {
		return
	}
	for i := range o.counts {
		w.counts[i] += o.counts[i]
	}
	if w.count == 0 || o.min < w.min {
		w.min = o.min
	}
	w.count += o.count
	w.sum += o.sum
	w.max = max(w.max, o.max)
}

// quantile returns the upper bound of the bucket that holds the q-th observation,
// clamped to [min, max]: an estimate within one bucket's width.
func (w *window) quantile(q float64) int64 {
	if w.count == 0 {
		return 0
	}
	rank := uint64(q*float64(w.count) + 0.999999)
	var n uint64
	for i, c := range w.counts {
		n += c
		if n >= rank {
			if i >= len(w.bounds) {
				return w.max
			}
			return min(max(w.bounds[i], w.min), w.max)
		}
	}
	return w.max
}

// latencyBounds are the buckets of request and fsync latency histograms, in ns:
// 50µs to 10s, roughly 1-2.5-5 per decade.
var latencyBounds = []int64{
	50e3, 100e3, 250e3, 500e3,
	1e6, 2.5e6, 5e6, 10e6, 25e6, 50e6, 100e6, 250e6, 500e6,
	1e9, 2.5e9, 5e9, 10e9,
}

// entryBounds are the buckets of the entries-per-fsync histogram.
var entryBounds = []int64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}

// DiskStats records every save of the write-ahead log: quorum calls Observe after
// each fdatasync (quorum.Config.SaveObserver). A save slower than the threshold is
// logged with ZooKeeper's warning, and counted; a log that failed is logged as
// ZooKeeper logs its log writer's death (Failed).
type DiskStats struct {
	Fsync   *Histogram // ns per save (write + fdatasync)
	Entries *Histogram // entries per save; 0 when only the raft state changed

	exceeded  atomic.Int64
	threshold time.Duration // immutable
	thread    string        // immutable: the name ZooKeeper's log writer has on this server
	log       *slog.Logger  // immutable
}

// NewDiskStats returns DiskStats that warn about saves slower than threshold
// (fsync.warningthresholdms; ZooKeeper's default is 1s). serverID is ZooKeeper's
// server id, which names its log writer in both sentences ("SyncThread:<id>"): 0
// standalone, myid in an ensemble.
func NewDiskStats(threshold time.Duration, serverID int64, log *slog.Logger) *DiskStats {
	if log == nil {
		log = slog.Default()
	}
	return &DiskStats{Fsync: NewHistogram(latencyBounds), Entries: NewHistogram(entryBounds),
		threshold: threshold, thread: fmt.Sprintf("SyncThread:%d", serverID), log: log}
}

// Observe records one save of entries entries that took took. It runs on the raft
// goroutine: it only updates atomics, and logs when the save was slow.
func (d *DiskStats) Observe(entries int, took time.Duration) {
	d.Fsync.Observe(int64(took))
	d.Entries.Observe(int64(entries))
	// As ZooKeeper compares them: whole milliseconds, strictly greater.
	if took.Milliseconds() > d.threshold.Milliseconds() {
		d.exceeded.Add(1)
		// Reference: ZooKeeper FileTxnLog.commit; operators grep for this sentence.
		d.log.Warn(fmt.Sprintf("fsync-ing the write ahead log in %s took %dms which will adversely effect operation latency. See the ZooKeeper troubleshooting guide",
			d.thread, took.Milliseconds()), "took_ms", took.Milliseconds(), "entries", entries,
			"threshold_ms", d.threshold.Milliseconds())
	}
}

// Failed logs that the write-ahead log failed (a full disk, an I/O error) and no
// write will be accepted again, in the sentence ZooKeeper logs when its log writer
// dies, which operators alert on.
func (d *DiskStats) Failed(err error) {
	// Reference: ZooKeeper ZooKeeperCriticalThread.handleException.
	d.log.Error("Severe unrecoverable error, from thread : "+d.thread, "err", err)
}

// ThresholdExceeded returns the number of saves slower than the threshold.
func (d *DiskStats) ThresholdExceeded() int64 { return d.exceeded.Load() }
