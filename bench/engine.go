package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"zkd/jute"
)

// env is what a workload runs with: the configuration and the run's own root znode.
type env struct {
	cfg  *Config
	root string // every znode of the run lives below it; deleted afterwards
}

// dial opens one session with the configured timeout.
func (e *env) dial(ctx context.Context, onEvent EventFunc) (*Conn, error) {
	return Dial(ctx, e.cfg.Addr, DialOptions{SessionTimeout: e.cfg.SessionTimeout, OnEvent: onEvent})
}

// dialN opens n sessions, at most 32 handshakes at a time. onEvent(i) gives session
// i's notification handler (nil for none). On error every session opened is closed.
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
			conns[i], errs[i] = e.dial(ctx, h)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			closeAll(conns)
			return nil, err
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
	// clientsOf, when set, gives the default sessions from the configuration.
	clientsOf func(*Config) int
	inFlight  int // default requests in flight per session (closed loop)
	// setup creates the znodes the run needs (on one session, pipelined).
	setup func(ctx context.Context, e *env, c *Conn) error
	// worker builds session i's request generator.
	worker func(e *env, i int, rng *rand.Rand) mixWorker
	// finish adds workload metrics after the run.
	finish func(res *Result)
}

// slot is one session of a mix run.
type slot struct {
	run  *mixRun
	w    mixWorker
	conn *Conn
	rec  *recorder // rec.mu also guards w
	cb   Callback  // s.complete, bound once so Submit does not allocate
}

// mixRun is the shared state of one closed- or open-loop run.
type mixRun struct {
	measureStart int64 // now() when measurement starts (after warm-up)
	deadline     int64 // now() when issuing stops
	budget       atomic.Int64
	wg           sync.WaitGroup // one per request in flight, plus starters
	closed       bool           // closed loop: a reply triggers the next request
	stopped      atomic.Bool    // the caller's context ended: issue nothing more
}

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
// schedule time (0 in closed loop). It reports whether a request went out.
func (s *slot) issue(intended int64) bool {
	r := s.run
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	t := now()
	if r.stopped.Load() || (intended == 0 && t >= r.deadline) {
		return false
	}
	at := t
	if intended != 0 {
		at = intended
	}
	measured := at >= r.measureStart
	if measured && r.budget.Add(-1) < 0 {
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
// Config.Rate, open loop at a fixed rate across the sessions.
func runMix(ctx context.Context, e *env, spec mixSpec) (*Result, error) {
	cfg := e.cfg
	clients := spec.clients
	if spec.clientsOf != nil {
		clients = spec.clientsOf(cfg)
	}
	if cfg.Clients > 0 {
		clients = cfg.Clients
	}
	inFlight := spec.inFlight
	if cfg.InFlight > 0 {
		inFlight = cfg.InFlight
	}
	res := &Result{Mode: "closed", Clients: clients, InFlight: inFlight}
	if cfg.Rate > 0 {
		res.Mode, res.InFlight, res.Rate = "open", 0, cfg.Rate
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
	}

	run := &mixRun{closed: cfg.Rate <= 0}
	slots := make([]*slot, clients)
	for i := range slots {
		s := &slot{run: run, w: spec.worker(e, i, e.rng(i))}
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
	run.budget.Store(cfg.Count)
	for i, s := range slots {
		s.conn = conns[i]
		s.rec = newRecorder(len(spec.kinds.names), run.measureStart)
		if b, ok := s.w.(binder); ok {
			b.bind(s.rec)
		}
	}

	stopWatch := context.AfterFunc(ctx, func() { run.stopped.Store(true) })
	defer stopWatch()

	var win window
	winDone := make(chan struct{})
	go func() { // sample the server when measurement starts
		defer close(winDone)
		sleepUntil(ctx, run.measureStart)
		win.begin(cfg.ServerPID)
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
			openLoop(ctx, run, slots, cfg.Rate, start)
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
	end := now()
	<-winDone
	win.end(res)

	recs := make([]*recorder, len(slots))
	for i, s := range slots {
		recs[i] = s.rec
	}
	merge(res, spec.kinds, recs...)
	res.ElapsedSec = float64(end-run.measureStart) / 1e9
	checkAccounting(res)
	if spec.finish != nil {
		spec.finish(res)
	}
	return res, nil
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
		if intended >= run.deadline || ctx.Err() != nil {
			return
		}
		if intended >= run.measureStart && run.budget.Load() <= 0 {
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
