package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"zkd/jute"
)

// env is what a workload runs with: the configuration, the run's own root znode
// and the servers its sessions go to.
type env struct {
	cfg   *Config
	root  string   // every znode of the run lives below it; deleted afterwards
	addrs []string // immutable; session i goes to addrs[i%len(addrs)]

	mu struct {
		sync.Mutex
		notes []string // guarded by mu; informational lines for the Result
	}
	// live is what the progress line reads while the run is under way (nil before
	// the workload has set up its measurement).
	live atomic.Pointer[liveSource]

	treeOnce sync.Once
	treeKeys []string // set once by treeKeysOf; read only after
}

// newEnv returns the env of one run against cfg.Addr (already validated).
func newEnv(cfg *Config, root string) *env {
	addrs, _ := ParseConnectString(cfg.Addr)
	return &env{cfg: cfg, root: root, addrs: addrs}
}

// note adds an informational line to the run's Result.
func (e *env) note(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !contains(e.mu.notes, s) {
		e.mu.notes = append(e.mu.notes, s)
	}
}

func (e *env) notes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.mu.notes...)
}

// addrOf is the server of session i: round robin over the connect string.
func (e *env) addrOf(i int) string { return e.addrs[i%len(e.addrs)] }

// dial opens one session on the first server with the configured timeout.
func (e *env) dial(ctx context.Context, onEvent EventFunc) (*Conn, error) {
	return e.dialAt(ctx, 0, onEvent)
}

// dialAt opens session i's session, on addrOf(i).
func (e *env) dialAt(ctx context.Context, i int, onEvent EventFunc) (*Conn, error) {
	return dialRetrying(ctx, e.addrOf(i), DialOptions{SessionTimeout: e.cfg.SessionTimeout, OnEvent: onEvent, TLS: e.cfg.TLS})
}

// pids are the server processes whose CPU and memory a run reports: every server of
// the connect string that Control knows, else ServerPID.
func (e *env) pids() []int {
	if c := e.cfg.Control; c != nil {
		addrs := e.addrs
		if e.cfg.members != "" {
			addrs, _ = ParseConnectString(e.cfg.members)
		}
		var out []int
		for _, a := range addrs {
			if pid := c.PID(a); pid > 0 {
				out = append(out, pid)
			}
		}
		return out
	}
	if e.cfg.ServerPID > 0 {
		return []int{e.cfg.ServerPID}
	}
	return nil
}

// dialN opens n sessions spread over the servers, at most 32 handshakes at a time.
// onEvent(i) gives session i's notification handler (nil for none). On error every
// session opened is closed, and the error says how many were open.
func (e *env) dialN(ctx context.Context, n int, onEvent func(i int) EventFunc) ([]*Conn, error) {
	conns := make([]*Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var h EventFunc
			if onEvent != nil {
				h = onEvent(i)
			}
			conns[i], errs[i] = e.dialAt(ctx, i, h)
		}()
	}
	wg.Wait()
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	for i, err := range errs {
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("session %d of %d: %w (%d of this run's sessions had connected, plus its own)", i+1, n, err, open)
		}
	}
	return conns, nil
}

// closeAll ends every session with closeSession, in parallel.
func closeAll(conns []*Conn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
}

// rng returns the seeded random source of worker i.
func (e *env) rng(i int) *rand.Rand {
	return rand.New(rand.NewPCG(e.cfg.Seed, uint64(i)+0x9e3779b97f4a7c15))
}

// mixWorker generates one session's requests for a closed- or open-loop workload.
// The driver calls next and done under the worker's lock, so a worker needs no
// locking of its own.
type mixWorker interface {
	// next returns the op kind (index into the workload's kinds), opcode and body of
	// the next request. The body is encoded before the next call.
	next() (kind int, op jute.OpCode, body jute.Record)
	// done inspects a reply (Body valid only during the call) and returns the code
	// to count it under.
	done(kind int, r *Reply) jute.Code
}

// eventWorker is a mixWorker that also wants its session's notifications, called
// under the worker's lock.
type eventWorker interface {
	mixWorker
	event(ev *jute.WatcherEvent, at int64, rec *recorder, measured bool)
}

// binder is a mixWorker that records into its slot's recorder itself (it is handed
// the recorder once, before the first request).
type binder interface {
	bind(rec *recorder)
}

// mixSpec is a closed- or open-loop workload.
type mixSpec struct {
	kinds   opKinds
	clients int // default sessions
	// clientsOf and clientsFlag, when set, give the sessions from a configuration
	// field (an explicit setting) unless Config.Clients overrides it.
	clientsOf   func(*Config) int
	clientsFlag string
	inFlight    int // default requests in flight per session (closed loop)
	// openRate, when set, makes the workload open loop at this rate unless
	// Config.Rate says otherwise.
	openRate func(*Config) float64
	// tree: the workload reads and writes the base tree (ensureTree before setup).
	tree bool
	// setup creates the znodes the run needs (on one session, pipelined).
	setup func(ctx context.Context, e *env, c *Conn) error
	// worker builds session i's request generator.
	worker func(e *env, i int, rng *rand.Rand) mixWorker
	// finish adds workload metrics after the run.
	finish func(res *Result)
}

// slot is one session of a mix run.
type slot struct {
	run    *mixRun
	w      mixWorker
	conn   *Conn
	server int       // index of its server in env.addrs
	rec    *recorder // rec.mu also guards w
	cb     Callback  // s.complete, bound once so Submit does not allocate
}

// mixRun is the shared state of one closed- or open-loop run.
type mixRun struct {
	measureStart int64 // now() when measurement starts (after warm-up)
	deadline     int64 // now() when issuing stops: the end of the measured window
	budget       atomic.Int64
	cutAt        atomic.Int64   // now() when the run stopped before its deadline (count cap or cancel); 0 if not
	wg           sync.WaitGroup // one per request in flight, plus starters
	closed       bool           // closed loop: a reply triggers the next request
	stopped      atomic.Bool    // the caller's context ended: issue nothing more
}

// cut records that issuing stopped at t, before the deadline.
func (r *mixRun) cut(t int64) { r.cutAt.CompareAndSwap(0, t) }

// Tags carry (intended send time, kind, measured) through Submit:
//
//	| intended ns (55 bits; 0 = use Reply.Sent) | kind (7 bits) | measured (1 bit) |
func packTag(intended int64, kind int, measured bool) int64 {
	t := intended<<8 | int64(kind)<<1
	if measured {
		t |= 1
	}
	return t
}

func unpackTag(t int64) (intended int64, kind int, measured bool) {
	return t >> 8, int(t>>1) & 0x7f, t&1 == 1
}

// issue sends one request if the run's bounds allow it. intended is the open-loop
// schedule time (0 in closed loop). It reports whether a request went out. A
// request belongs to the measured window if it is sent (or, open loop, intended)
// at or after the end of warm-up.
func (s *slot) issue(intended int64) bool {
	r := s.run
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	t := now()
	if r.stopped.Load() {
		r.cut(t)
		return false
	}
	if intended == 0 && t >= r.deadline {
		return false
	}
	at := t
	if intended != 0 {
		at = intended
	}
	measured := at >= r.measureStart
	if measured && r.budget.Add(-1) < 0 {
		r.cut(t)
		return false
	}
	kind, op, body := s.w.next()
	r.wg.Add(1)
	if err := s.conn.Submit(op, body, packTag(intended, kind, measured), s.cb); err != nil {
		r.wg.Done()
		if measured {
			s.rec.issuedLocked(kind)
			s.rec.doneLocked(kind, jute.CodeConnectionLoss, 0, t)
		}
		return false
	}
	if measured {
		s.rec.issuedLocked(kind)
	}
	return true
}

// complete is the Callback of every request of the slot.
func (s *slot) complete(rp *Reply) {
	intended, kind, measured := unpackTag(rp.Tag)
	if intended == 0 {
		intended = rp.Sent
	}
	s.rec.mu.Lock()
	code := s.w.done(kind, rp)
	if measured {
		s.rec.doneLocked(kind, code, rp.Done-intended, rp.Done)
	} else {
		s.rec.seenLocked()
	}
	s.rec.mu.Unlock()
	if s.run.closed && rp.Err != jute.CodeConnectionLoss {
		s.issue(0)
	}
	s.run.wg.Done()
}

// onEvent routes a notification to an eventWorker.
func (s *slot) onEvent(ev *jute.WatcherEvent, at int64) {
	ew, ok := s.w.(eventWorker)
	if !ok {
		return
	}
	s.rec.mu.Lock()
	ew.event(ev, at, s.rec, at >= s.run.measureStart)
	s.rec.mu.Unlock()
}

// runMix runs a mixSpec: setup, then closed loop (Clients x InFlight) or, with
// Config.Rate (or the spec's own rate), open loop at a fixed rate across the
// sessions. Requests of the warm-up are sent and answered but recorded nowhere;
// the measured window is Config.Duration exactly unless Count or the caller's
// context cut it short, so every server is measured over the same window.
func runMix(ctx context.Context, e *env, spec mixSpec) (*Result, error) {
	cfg := e.cfg
	flagName, want := "-clients", cfg.Clients
	if spec.clientsOf != nil && want == 0 {
		flagName, want = spec.clientsFlag, spec.clientsOf(cfg)
	}
	clients, err := e.sessionCount(flagName, want, spec.clients, 0)
	if err != nil {
		return nil, err
	}
	inFlight := spec.inFlight
	if cfg.InFlight > 0 {
		inFlight = cfg.InFlight
	}
	rate := cfg.Rate
	if rate == 0 && spec.openRate != nil {
		rate = spec.openRate(cfg)
	}
	res := &Result{Mode: "closed", Clients: clients, InFlight: inFlight}
	if rate > 0 {
		res.Mode, res.InFlight, res.Rate = "open", 0, rate
	}

	if spec.tree {
		if err := ensureTree(ctx, e); err != nil {
			return nil, err
		}
	}
	if spec.setup != nil {
		c, err := e.dial(ctx, nil)
		if err != nil {
			return nil, err
		}
		err = spec.setup(ctx, e, c)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		if err := e.barrier(ctx); err != nil {
			return nil, err
		}
	}

	run := &mixRun{closed: rate <= 0}
	slots := make([]*slot, clients)
	for i := range slots {
		s := &slot{run: run, w: spec.worker(e, i, e.rng(i)), server: i % len(e.addrs)}
		s.cb = s.complete
		slots[i] = s
	}
	conns, err := e.dialN(ctx, clients, func(i int) EventFunc { return slots[i].onEvent })
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)

	start := now()
	run.measureStart = start + int64(cfg.Warmup)
	run.deadline = run.measureStart + int64(cfg.Duration)
	run.budget.Store(math.MaxInt64)
	if cfg.Count > 0 {
		run.budget.Store(cfg.Count)
	}
	recs := make([]*recorder, len(slots))
	for i, s := range slots {
		s.conn = conns[i]
		s.rec = newRecorder(len(spec.kinds.names), run.measureStart)
		recs[i] = s.rec
		if b, ok := s.w.(binder); ok {
			b.bind(s.rec)
		}
	}
	e.setLive(run.measureStart, run.deadline, spec.kinds, recs)

	stopWatch := context.AfterFunc(ctx, func() { run.stopped.Store(true) })
	defer stopWatch()

	var win window
	winDone := make(chan struct{})
	go func() { // sample the server when measurement starts
		defer close(winDone)
		sleepUntil(ctx, run.measureStart)
		win.begin(e.pids())
	}()

	if run.closed {
		for _, s := range slots {
			run.wg.Add(1)
			go func() {
				defer run.wg.Done()
				for range inFlight {
					if !s.issue(0) {
						break
					}
				}
			}()
		}
	} else {
		run.wg.Add(1)
		go func() {
			defer run.wg.Done()
			openLoop(ctx, run, slots, rate, start)
		}()
	}

	// Every request is bounded: past the deadline plus a grace period, sessions are
	// dropped and what is still in flight counts as ConnectionLoss.
	grace := max(10*time.Second, 2*cfg.SessionTimeout)
	if !waitTimeout(&run.wg, time.Duration(run.deadline-now())+grace) {
		for _, c := range conns {
			c.Abandon()
		}
		run.wg.Wait()
		res.Problems = append(res.Problems, "requests still in flight "+grace.String()+" after the deadline; sessions dropped")
	}
	<-winDone
	win.end(res)

	merge(res, spec.kinds, recs...)
	end := run.deadline
	if c := run.cutAt.Load(); c != 0 && c < end {
		end = max(c, run.measureStart)
		if ctx.Err() == nil {
			res.Notes = append(res.Notes, fmt.Sprintf("window cut to %.2fs of %v: -count %d reached", float64(end-run.measureStart)/1e9, cfg.Duration, cfg.Count))
		}
	}
	res.ElapsedSec = float64(end-run.measureStart) / 1e9
	res.WarmupSec = cfg.Warmup.Seconds()
	if len(e.addrs) > 1 {
		res.PerServer = perServer(e, spec.kinds, slots, res.ElapsedSec)
	}
	checkAccounting(res)
	if spec.finish != nil {
		spec.finish(res)
	}
	return res, nil
}

// perServer splits a run's figures by the server each session was on.
func perServer(e *env, k opKinds, slots []*slot, elapsed float64) []*ServerPart {
	out := make([]*ServerPart, len(e.addrs))
	for i, a := range e.addrs {
		var recs []*recorder
		for _, s := range slots {
			if s.server == i {
				recs = append(recs, s.rec)
			}
		}
		var part Result
		merge(&part, k, recs...)
		sp := &ServerPart{Addr: a, Sessions: len(recs), ElapsedSec: elapsed, Latency: &Histogram{}}
		for _, o := range part.Ops {
			if o.Event {
				continue
			}
			sp.Requests += o.Issued
			sp.Errors += o.ErrorCount()
			sp.Latency.Merge(o.Latency)
		}
		out[i] = sp
	}
	return out
}

// openPendingLimit caps the requests one session has in flight in open loop, like
// ZooKeeper's globalOutstandingLimit: past it a server stops reading the connection,
// and an unbounded backlog would only fill socket buffers.
const openPendingLimit = 1000

// openLoop issues requests at rate per second, round-robin over slots, each at its
// intended time start + i/rate. A request due while the loop was behind (or while
// every session had openPendingLimit requests in flight) goes out as soon as it can
// and keeps its intended time, so a server stall shows as latency rather than as
// fewer requests (no coordinated omission).
func openLoop(ctx context.Context, run *mixRun, slots []*slot, rate float64, start int64) {
	period := 1e9 / rate
	n := int64(len(slots))
	for i := int64(0); ; i++ {
		intended := start + int64(float64(i)*period)
		if intended >= run.deadline {
			return
		}
		if ctx.Err() != nil || (intended >= run.measureStart && run.budget.Load() <= 0) {
			run.cut(max(intended, now()))
			return
		}
		sleepUntil(ctx, intended)
		for tries := int64(0); ; tries++ {
			s := slots[(i+tries)%n]
			if s.conn.Pending() < openPendingLimit {
				s.issue(intended)
				break
			}
			if tries >= n-1 { // every session is saturated: wait for replies
				if now() >= run.deadline+int64(5*time.Second) || ctx.Err() != nil {
					return // the server is stalled; the main loop's grace period ends the run
				}
				time.Sleep(100 * time.Microsecond)
				tries = -1
			}
		}
	}
}

// sleepUntil sleeps until now() >= t or ctx ends.
func sleepUntil(ctx context.Context, t int64) {
	d := time.Duration(t - now())
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// waitTimeout waits for wg up to d; it reports whether wg finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tm := time.NewTimer(max(d, 0))
	defer tm.Stop()
	select {
	case <-done:
		return true
	case <-tm.C:
		return false
	}
}

// barrier makes every server of a connect string catch up with the writes made so
// far (a sync on each), so that sessions on followers see what setup created.
func (e *env) barrier(ctx context.Context) error {
	if len(e.addrs) < 2 {
		return nil
	}
	for i := range e.addrs {
		c, err := e.dialAt(ctx, i, nil)
		if err != nil {
			return err
		}
		r, err := c.Do(ctx, jute.OpSync, &jute.PathRequest{Path: "/"})
		c.Close()
		if err != nil {
			return fmt.Errorf("sync on %s: %w", e.addrs[i], err)
		}
		if r.Err != jute.CodeOK {
			return fmt.Errorf("sync on %s: %w", e.addrs[i], r.Err)
		}
	}
	return nil
}
