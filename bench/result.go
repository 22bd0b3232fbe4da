package bench

import (
	"sort"
	"strconv"
	"sync"

	"zkd/jute"
)

// OpStats is what one kind of operation did during a run's measured window.
type OpStats struct {
	Name string `json:"name"`
	// Event marks a derived measurement that is not a request (watch delivery,
	// lock handoff, fan-out completion): it has no Issued count.
	Event  bool             `json:"event,omitempty"`
	Issued int64            `json:"issued"`
	OK     int64            `json:"ok"`
	Errors map[string]int64 `json:"errors,omitempty"` // by ZooKeeper code name
	// Latency in nanoseconds: closed loop from send, open loop from the intended send
	// time, events from the change that caused them.
	Latency *Histogram `json:"latency_ns"`
}

// ErrorCount is the sum of Errors.
func (o *OpStats) ErrorCount() int64 {
	var n int64
	for _, v := range o.Errors {
		n += v
	}
	return n
}

// Result is one run of one workload against one server.
type Result struct {
	Workload string  `json:"workload"`
	Server   string  `json:"server"`
	Rep      int     `json:"rep"`
	Mode     string  `json:"mode"` // closed, open or scenario
	Clients  int     `json:"clients"`
	InFlight int     `json:"in_flight,omitempty"`
	Rate     float64 `json:"rate,omitempty"` // open loop: intended requests/s

	// ElapsedSec is the measured window: from the end of warm-up to the deadline
	// (loop workloads: Config.Duration unless a -count cap cut it, said in Notes),
	// or the scenario's own measured span.
	ElapsedSec float64 `json:"elapsed_s"`
	// WarmupSec is the unmeasured load before the window.
	WarmupSec float64    `json:"warmup_s,omitempty"`
	Ops       []*OpStats `json:"ops"`
	// Timeline counts completed measured requests per TimelineMs interval.
	TimelineMs int64   `json:"timeline_ms"`
	Timeline   []int64 `json:"timeline"`
	// Metrics are workload-specific figures (storm_cleanup_s, handoffs_per_s, ...).
	Metrics map[string]float64 `json:"metrics,omitempty"`

	// Server process figures over the measured window (-server-pid); -1 if unknown.
	ServerCPUSec       float64 `json:"server_cpu_s"`
	ServerRSSBytes     int64   `json:"server_rss_bytes"`
	ServerPeakRSSBytes int64   `json:"server_peak_rss_bytes"`
	// GenCPUSec is this process's CPU time (getrusage) over the measured window.
	GenCPUSec float64 `json:"gen_cpu_s"`
	// Problems lists broken accounting: lost replies, undelivered events, leftover
	// ephemerals. A clean run has none.
	Problems []string `json:"problems,omitempty"`
	// Notes are informational: a shape reduced to fit -max-conns, a window cut by
	// -count, a figure that needs server control and was not measured.
	Notes []string `json:"notes,omitempty"`
	// PerServer splits a run over a connect string of several servers by the
	// server each session was on (nil for one server).
	PerServer []*ServerPart `json:"per_server,omitempty"`
}

// ServerPart is the share of one server of a connect string in a run.
type ServerPart struct {
	Addr       string     `json:"addr"`
	Sessions   int        `json:"sessions"`
	Requests   int64      `json:"requests"` // measured requests of its sessions
	Errors     int64      `json:"errors"`
	ElapsedSec float64    `json:"elapsed_s"`
	Latency    *Histogram `json:"latency_ns"` // every request kind
}

// Throughput is the server's measured requests per second.
func (p *ServerPart) Throughput() float64 {
	if p.ElapsedSec <= 0 {
		return 0
	}
	return float64(p.Requests) / p.ElapsedSec
}

// Requests is the number of measured requests (issued, not events).
func (r *Result) Requests() int64 {
	var n int64
	for _, o := range r.Ops {
		if !o.Event {
			n += o.Issued
		}
	}
	return n
}

// Throughput is measured requests per second.
func (r *Result) Throughput() float64 {
	if r.ElapsedSec <= 0 {
		return 0
	}
	return float64(r.Requests()) / r.ElapsedSec
}

// ServerCPUPer1k is the server's CPU seconds per 1000 measured requests, or -1.
func (r *Result) ServerCPUPer1k() float64 {
	if r.ServerCPUSec < 0 || r.Requests() == 0 {
		return -1
	}
	return r.ServerCPUSec / float64(r.Requests()) * 1000
}

// Op returns the named op's stats, or nil.
func (r *Result) Op(name string) *OpStats {
	for _, o := range r.Ops {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// opRec accumulates one op kind inside a recorder.
type opRec struct {
	issued, ok int64
	errs       map[jute.Code]int64
	hist       Histogram
}

// recorder collects the measurements of one worker (or of one scenario). Workers
// record under their own mutex; the recorders are merged when the run ends.
type recorder struct {
	mu       sync.Mutex
	ops      []opRec // guarded by mu; indexed by op kind
	start    int64   // immutable: now() when measurement starts
	tick     int64   // immutable: timeline interval in ns
	timeline []int64 // guarded by mu; completions per tick since start
	seen     int64   // guarded by mu; every answered request or finished cycle, warm-up included (progress line)
}

const timelineTick = 100_000_000 // 100 ms

func newRecorder(kinds int, start int64) *recorder {
	return &recorder{ops: make([]opRec, kinds), start: start, tick: timelineTick}
}

// issuedLocked counts a measured request sent. REQUIRES r.mu.
func (r *recorder) issuedLocked(kind int) { r.ops[kind].issued++ }

// doneLocked records a measured request's outcome at time at. REQUIRES r.mu.
func (r *recorder) doneLocked(kind int, code jute.Code, latency, at int64) {
	r.seen++
	o := &r.ops[kind]
	if code == jute.CodeOK {
		o.ok++
		o.hist.Record(latency)
	} else {
		if o.errs == nil {
			o.errs = make(map[jute.Code]int64)
		}
		o.errs[code]++
	}
	r.tickLocked(at)
}

// seenLocked counts an answer that is not measured (warm-up). REQUIRES r.mu.
func (r *recorder) seenLocked() { r.seen++ }

// eventLocked records a derived latency (no request behind it). REQUIRES r.mu.
func (r *recorder) eventLocked(kind int, latency int64) {
	o := &r.ops[kind]
	o.ok++
	o.hist.Record(latency)
}

// failLocked records a derived measurement that did not happen (an event that never
// arrived). REQUIRES r.mu.
func (r *recorder) failLocked(kind int, code jute.Code) {
	o := &r.ops[kind]
	if o.errs == nil {
		o.errs = make(map[jute.Code]int64)
	}
	o.errs[code]++
}

func (r *recorder) tickLocked(at int64) {
	if at < r.start {
		return
	}
	i := int((at - r.start) / r.tick)
	if i > 100_000 { // a runaway clock must not allocate the world
		return
	}
	for len(r.timeline) <= i {
		r.timeline = append(r.timeline, 0)
	}
	r.timeline[i]++
}

// opKinds names the op kinds of a run; events marks the derived ones.
type opKinds struct {
	names  []string
	events []bool
}

func kinds(names ...string) opKinds { return opKinds{names: names, events: make([]bool, len(names))} }

// event marks the named kinds as derived events.
func (k opKinds) event(names ...string) opKinds {
	for _, n := range names {
		for i, m := range k.names {
			if m == n {
				k.events[i] = true
			}
		}
	}
	return k
}

// merge folds recorders into res.Ops and res.Timeline.
func merge(res *Result, k opKinds, recs ...*recorder) {
	res.TimelineMs = timelineTick / 1e6
	res.Ops = res.Ops[:0]
	for i, name := range k.names {
		o := &OpStats{Name: name, Event: k.events[i], Latency: &Histogram{}}
		for _, r := range recs {
			r.mu.Lock()
			src := &r.ops[i]
			o.Issued += src.issued
			o.OK += src.ok
			o.Latency.Merge(&src.hist)
			for code, n := range src.errs {
				if o.Errors == nil {
					o.Errors = make(map[string]int64)
				}
				o.Errors[code.Error()] += n
			}
			r.mu.Unlock()
		}
		if o.Issued == 0 && o.OK == 0 && len(o.Errors) == 0 {
			continue // a kind this run never used
		}
		res.Ops = append(res.Ops, o)
	}
	res.Timeline = nil
	for _, r := range recs {
		r.mu.Lock()
		for i, n := range r.timeline {
			for len(res.Timeline) <= i {
				res.Timeline = append(res.Timeline, 0)
			}
			res.Timeline[i] += n
		}
		r.mu.Unlock()
	}
}

// checkAccounting appends a problem for every request kind whose replies do not add
// up to what was issued.
func checkAccounting(res *Result) {
	for _, o := range res.Ops {
		if o.Event {
			continue
		}
		if got := o.OK + o.ErrorCount(); got != o.Issued {
			res.Problems = append(res.Problems, o.Name+": issued "+itoa(o.Issued)+" but "+itoa(got)+" answered")
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// sortedErrors returns the error names of o in a stable order.
func sortedErrors(o *OpStats) []string {
	names := make([]string, 0, len(o.Errors))
	for k := range o.Errors {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
