package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"zkd/jute"
)

// do sends one request on c, waits, and records it under kind in rec.
func (r *recorder) do(ctx context.Context, c *Conn, kind int, op jute.OpCode, body jute.Record) (Reply, error) {
	return r.doExpect(ctx, c, kind, op, body, jute.CodeOK)
}

// doExpect is do where the code expected also counts as success (NoNode for an
// exists that sets a watch on a node that may be gone).
func (r *recorder) doExpect(ctx context.Context, c *Conn, kind int, op jute.OpCode, body jute.Record, expected jute.Code) (Reply, error) {
	r.mu.Lock()
	r.issuedLocked(kind)
	r.mu.Unlock()
	rp, err := c.Do(ctx, op, body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.doneLocked(kind, jute.CodeConnectionLoss, 0, now())
		return rp, err
	}
	code := rp.Err
	if code == expected {
		code = jute.CodeOK
	}
	r.doneLocked(kind, code, rp.Done-rp.Sent, rp.Done)
	return rp, nil
}

// event records a derived latency under kind.
func (r *recorder) event(kind int, latency int64) {
	r.mu.Lock()
	r.eventLocked(kind, latency)
	r.mu.Unlock()
}

// fail records a derived measurement that did not happen.
func (r *recorder) fail(kind int, code jute.Code, n int) {
	r.mu.Lock()
	for range n {
		r.failLocked(kind, code)
	}
	r.mu.Unlock()
}

// warmup sends unmeasured exists requests on c for d.
func warmup(ctx context.Context, c *Conn, root string, d time.Duration) {
	end := now() + int64(d)
	req := jute.PathWatchRequest{Path: root}
	for now() < end && ctx.Err() == nil {
		if _, err := c.Do(ctx, jute.OpExists, &req); err != nil {
			return
		}
	}
}

// --- latency ----------------------------------------------------------------

// runLatency measures one session's synchronous latency per op kind, in phases of
// at most LatencyOps requests and Duration/5 each.
func runLatency(ctx context.Context, e *env) (*Result, error) {
	cfg := e.cfg
	k := kinds("create", "getData", "setData", "exists", "delete")
	c, err := e.dial(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	warmup(ctx, c, e.root, cfg.Warmup)

	res := &Result{Mode: "scenario", Clients: 1, InFlight: 1}
	n := cfg.LatencyOps
	if cfg.Count > 0 {
		n = int(min(int64(n), max(cfg.Count/5, 1)))
	}
	paths := make([]string, n)
	for i := range paths {
		paths[i] = e.root + "/l" + strconv.Itoa(i)
	}
	data := payload(100)
	phaseLen := int64(cfg.Duration / 5)

	start := now()
	rec := newRecorder(len(k.names), start)
	e.setLive(start, start+int64(cfg.Duration), k, []*recorder{rec})
	var win window
	win.begin(e.pids())
	created := 0
	phase := func(kind, count int, gen func(i int) (jute.OpCode, jute.Record)) error {
		deadline := now() + phaseLen
		for i := 0; i < count && now() < deadline; i++ {
			op, body := gen(i)
			r, err := rec.do(ctx, c, kind, op, body)
			if err != nil {
				return err
			}
			if kind == 0 && r.Err == jute.CodeOK {
				created = i + 1
			}
		}
		return nil
	}
	err = phase(0, n, func(i int) (jute.OpCode, jute.Record) {
		return jute.OpCreate, &jute.CreateRequest{Path: paths[i], Data: data, ACL: jute.OpenACLUnsafe}
	})
	if err == nil && created == 0 {
		err = fmt.Errorf("no znode created")
	}
	if err == nil {
		err = phase(1, n, func(i int) (jute.OpCode, jute.Record) {
			return jute.OpGetData, &jute.PathWatchRequest{Path: paths[i%created]}
		})
	}
	if err == nil {
		err = phase(2, n, func(i int) (jute.OpCode, jute.Record) {
			return jute.OpSetData, &jute.SetDataRequest{Path: paths[i%created], Data: data, Version: -1}
		})
	}
	if err == nil {
		err = phase(3, n, func(i int) (jute.OpCode, jute.Record) {
			return jute.OpExists, &jute.PathWatchRequest{Path: paths[i%created]}
		})
	}
	if err == nil {
		err = phase(4, created, func(i int) (jute.OpCode, jute.Record) {
			return jute.OpDelete, &jute.PathVersionRequest{Path: paths[i], Version: -1}
		})
	}
	end := now()
	win.end(res)
	merge(res, k, rec)
	res.ElapsedSec = float64(end-start) / 1e9
	checkAccounting(res)
	return res, err
}

// --- watch fan-out ----------------------------------------------------------

// fanout is the round in progress of a watch fan-out run.
type fanout struct {
	mu       sync.Mutex
	node     int   // guarded by mu; znode index being set; -1 between rounds
	started  int64 // guarded by mu; now() when its setData was sent
	got      int   // guarded by mu; events received for it
	last     int64 // guarded by mu; now() of the latest one
	done     chan struct{}
	want     int
	measured bool // guarded by mu; the round is in the measured window
}

// fanoutShape is one watch fan-out workload.
type fanoutShape struct {
	sessFlag string // the flag that sets the watching sessions
	sessWant int    // explicit watching sessions (0: default)
	sessDef  int    // default watching sessions (reduced to fit -max-conns)
	znodes   int    // znodes each session watches
	rounds   int    // measured rounds at most (0: as many as the window holds)
}

// runFanout: fanoutShape: FanoutSessions (default 100) sessions each watch
// FanoutZnodes znodes, FanoutRounds rounds.
func runFanout(ctx context.Context, e *env) (*Result, error) {
	c := e.cfg
	return runWatch(ctx, e, fanoutShape{sessFlag: "-fanout-sessions", sessWant: c.FanoutSessions, sessDef: 100,
		znodes: c.FanoutZnodes, rounds: c.FanoutRounds})
}

// runWatch500: Watchers (default 500) sessions watch one znode, set every 10 ms for
// the window.
func runWatch500(ctx context.Context, e *env) (*Result, error) {
	return runWatch(ctx, e, fanoutShape{sessFlag: "-watchers", sessWant: e.cfg.Watchers, sessDef: 500, znodes: 1})
}

// runWatch: S sessions each watch W znodes (getData with a watch); one more
// session sets one znode at a time, at most one set every 10 ms, and a round ends
// when every watcher has its event (all-delivered: from the set's send time to the
// last event). Watchers re-arm on receipt. Rounds during the warm-up run the same
// way but are recorded nowhere.
func runWatch(ctx context.Context, e *env, shape fanoutShape) (*Result, error) {
	cfg := e.cfg
	S, err := e.sessionCount(shape.sessFlag, shape.sessWant, shape.sessDef, 1)
	if err != nil {
		return nil, err
	}
	W := shape.znodes
	maxRounds := int64(math.MaxInt64)
	if shape.rounds > 0 {
		maxRounds = int64(shape.rounds)
	}
	if cfg.Count > 0 {
		maxRounds = min(maxRounds, cfg.Count)
	}
	const (
		kRearm = iota
		kSet
		kEvent
		kAll
	)
	k := kinds("rearm getData+watch", "setData", "event", "all-delivered").event("event", "all-delivered")
	res := &Result{Mode: "scenario", Clients: S + 1}

	nodes := make([]string, W)
	index := make(map[string]int, W)
	for j := range nodes {
		nodes[j] = e.root + "/f" + strconv.Itoa(j)
		index[nodes[j]] = j
	}
	setter, err := e.dial(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer setter.Close()
	if err := createAll(ctx, setter, nodes, payload(16)); err != nil {
		return nil, err
	}
	if err := e.barrier(ctx); err != nil {
		return nil, err
	}

	st := &fanout{node: -1}
	var rearming atomic.Int64           // re-arming requests in flight
	rec := newRecorder(len(k.names), 0) // start set below; nothing is recorded before
	conns := make([]*Conn, S)
	var conMu sync.Mutex // publishes conns to the event handlers
	onEvent := func(i int) EventFunc {
		return func(ev *jute.WatcherEvent, at int64) {
			if ev.Type != jute.EventNodeDataChanged {
				return
			}
			j, ok := index[ev.Path]
			if !ok {
				return
			}
			st.mu.Lock()
			mine := j == st.node
			if mine {
				// Counted with the event, under st.mu: the setter sends the next
				// set once rearming is zero, and must not find it zero while an
				// event it has counted still has its watch to re-register (a
				// handler parked on a lock below would otherwise miss the next
				// event, and that round would time out).
				rearming.Add(1)
				st.got++
				st.last = at
				if st.got == st.want {
					close(st.done)
				}
			}
			started, measured := st.started, st.measured
			st.mu.Unlock()
			if !mine {
				return
			}
			conMu.Lock()
			c := conns[i]
			conMu.Unlock()
			rec.mu.Lock()
			if measured {
				rec.eventLocked(kEvent, at-started)
				rec.issuedLocked(kRearm)
			}
			rec.mu.Unlock()
			err := c.Submit(jute.OpGetData, &jute.PathWatchRequest{Path: nodes[j], Watch: true}, 0, func(r *Reply) {
				rec.mu.Lock()
				if measured {
					rec.doneLocked(kRearm, r.Err, r.Done-r.Sent, r.Done)
				} else {
					rec.seenLocked()
				}
				rec.mu.Unlock()
				rearming.Add(-1)
			})
			if err != nil {
				rec.mu.Lock()
				if measured {
					rec.doneLocked(kRearm, jute.CodeConnectionLoss, 0, now())
				}
				rec.mu.Unlock()
				rearming.Add(-1)
			}
		}
	}
	dialed, err := e.dialN(ctx, S, onEvent)
	if err != nil {
		return nil, err
	}
	conMu.Lock()
	copy(conns, dialed)
	conMu.Unlock()
	defer closeAll(dialed)

	// Register every watch, all sessions at once, each pipelined.
	pids := e.pids()
	var before procSample
	if len(pids) == 1 {
		before = readProc(pids[0])
	}
	regStart := now()
	var wg sync.WaitGroup
	regErr := make([]error, S)
	for i, c := range dialed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req jute.PathWatchRequest
			regErr[i] = pipeline(ctx, c, W, func(j int) (jute.OpCode, jute.Record) {
				req = jute.PathWatchRequest{Path: nodes[j], Watch: true}
				return jute.OpGetData, &req
			}, func(code jute.Code) bool { return code == jute.CodeOK })
		}()
	}
	wg.Wait()
	for _, err := range regErr {
		if err != nil {
			return nil, fmt.Errorf("registering watches: %w", err)
		}
	}
	res.Metrics = map[string]float64{
		"watches":            float64(S * W),
		"watch_register_s":   float64(now()-regStart) / 1e9,
		"sessions_watching":  float64(S),
		"znodes_watched":     float64(W),
		"rounds":             0,
		"events_delivered":   0,
		"events_expected":    0,
		"round_timeout_s":    10,
		"rss_per_watch_byte": -1,
	}
	if len(pids) == 1 && before.ok {
		if after := readProc(pids[0]); after.ok {
			res.Metrics["rss_per_watch_byte"] = float64(after.rss-before.rss) / float64(S*W)
		}
	}

	start := now()
	measureStart := start + int64(cfg.Warmup)
	deadline := measureStart + int64(cfg.Duration)
	rec.start = measureStart
	e.setLive(measureStart, deadline, k, []*recorder{rec})
	var win window
	winStarted := false
	data := payload(16)
	delivered, expected, done := 0, 0, int64(0)
	for r := 0; done < maxRounds && now() < deadline && ctx.Err() == nil; r++ {
		j := r % W
		if W == 1 || r%W == 0 {
			waitZero(ctx, &rearming, 10*time.Second) // the node set next must be watched again first
		}
		st.mu.Lock()
		st.node, st.got, st.want, st.done = j, 0, S, make(chan struct{})
		st.started = now()
		measured := st.started >= measureStart
		st.measured = measured
		doneCh := st.done
		st.mu.Unlock()
		if measured && !winStarted {
			win.begin(pids)
			winStarted = true
		}
		set := &jute.SetDataRequest{Path: nodes[j], Data: data, Version: -1}
		if measured {
			if _, err := rec.do(ctx, setter, kSet, jute.OpSetData, set); err != nil {
				break
			}
		} else if _, err := setter.Do(ctx, jute.OpSetData, set); err != nil {
			break
		}
		tm := time.NewTimer(10 * time.Second)
		select {
		case <-doneCh:
		case <-tm.C:
		case <-ctx.Done():
		}
		tm.Stop()
		st.mu.Lock()
		got, last, started := st.got, st.last, st.started
		st.node = -1
		st.mu.Unlock()
		if measured {
			done++
			expected += S
			delivered += got
			if got == S {
				rec.event(kAll, last-started)
			} else {
				rec.fail(kAll, jute.CodeOperationTimeout, 1)
				rec.fail(kEvent, jute.CodeOperationTimeout, S-got)
				res.Problems = append(res.Problems, fmt.Sprintf("round %d: %d of %d events delivered within 10s", r, got, S))
			}
		}
		sleepUntil(ctx, started+int64(10*time.Millisecond)) // one set every 10 ms at most
	}
	if !waitZero(ctx, &rearming, 10*time.Second) {
		res.Problems = append(res.Problems, "re-arming getData requests unanswered after 10s")
	}
	end := now()
	if !winStarted {
		win.begin(pids)
	}
	win.end(res)
	merge(res, k, rec)
	res.ElapsedSec = float64(max(end-measureStart, 0)) / 1e9
	res.WarmupSec = cfg.Warmup.Seconds()
	res.Metrics["rounds"] = float64(done)
	res.Metrics["events_delivered"] = float64(delivered)
	res.Metrics["events_expected"] = float64(expected)
	checkAccounting(res)
	return res, nil
}

// waitZero polls n until it is zero, for at most d; it reports whether it got there.
func waitZero(ctx context.Context, n *atomic.Int64, d time.Duration) bool {
	end := time.Now().Add(d)
	for n.Load() != 0 {
		if time.Now().After(end) || ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// --- session storm ----------------------------------------------------------

// runStorm opens StormSessions sessions that each create one ephemeral, then closes
// every socket without closeSession and times, from a watcher session, how long the
// server takes to expire them all (its session timeout plus expiry-check slack).
func runStorm(ctx context.Context, e *env) (*Result, error) {
	cfg := e.cfg
	const (
		kConnect = iota
		kCreate
		kWatch
		kGone
	)
	k := kinds("connect", "create-ephemeral", "getChildren2+watch", "all-gone").event("connect", "all-gone")
	res := &Result{Mode: "scenario"}
	n, err := e.sessionCount("-storm-sessions", cfg.StormSessions, 200, 1)
	if err != nil {
		return nil, err
	}
	if cfg.Count > 0 {
		n = int(min(int64(n), cfg.Count))
	}
	parent := e.root + "/storm"

	start := now()
	rec := newRecorder(len(k.names), start)
	e.setLive(start, 0, k, []*recorder{rec})
	var abandonedAt atomic.Int64 // now() when the first socket was dropped; 0 before
	var goneAt atomic.Int64
	goneCh := make(chan struct{})
	var left atomic.Int64
	left.Store(-1)

	var watcher *Conn
	var watchOnce sync.Once
	//lint:ignore S1021 the closure re-arms itself, so it must be declared first
	var rearm func()
	rearm = func() {
		rec.mu.Lock()
		rec.issuedLocked(kWatch)
		rec.mu.Unlock()
		err := watcher.Submit(jute.OpGetChildren2, &jute.PathWatchRequest{Path: parent, Watch: true}, 0, func(r *Reply) {
			rec.mu.Lock()
			rec.doneLocked(kWatch, r.Err, r.Done-r.Sent, r.Done)
			rec.mu.Unlock()
			if r.Err != jute.CodeOK {
				return
			}
			cr := jute.ChildrenResponse{HasStat: true}
			d := jute.NewDecoder(r.Body)
			cr.Decode(&d)
			if d.Err() != nil {
				return
			}
			left.Store(int64(len(cr.Children)))
			if len(cr.Children) == 0 && abandonedAt.Load() != 0 {
				goneAt.Store(r.Done)
				watchOnce.Do(func() { close(goneCh) })
			}
		})
		if err != nil {
			rec.mu.Lock()
			rec.doneLocked(kWatch, jute.CodeConnectionLoss, 0, now())
			rec.mu.Unlock()
		}
	}
	watcher, err = e.dial(ctx, func(ev *jute.WatcherEvent, at int64) {
		if ev.Type == jute.EventNodeChildrenChanged && ev.Path == parent {
			rearm() // called on the reader goroutine; the reply is handled later
		}
	})
	if err != nil {
		return nil, err
	}
	defer watcher.Close()
	if err := createAll(ctx, watcher, []string{parent}, nil); err != nil {
		return nil, err
	}
	rearm()

	var win window
	win.begin(e.pids())
	deadline := start + int64(cfg.Duration)
	conns := make([]*Conn, n)
	var mu sync.Mutex
	var dialErr error
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	openStart := now()
	for i := 0; i < n && now() < deadline && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := now()
			c, err := e.dialAt(ctx, i, nil)
			if err != nil {
				rec.fail(kConnect, jute.CodeConnectionLoss, 1)
				mu.Lock()
				dialErr = err
				mu.Unlock()
				return
			}
			rec.event(kConnect, now()-t0)
			conns[i] = c
			req := jute.CreateRequest{Path: parent + "/e" + strconv.Itoa(i), Data: payload(8), ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeral)}
			_, _ = rec.do(ctx, c, kCreate, jute.OpCreate, &req)
		}()
	}
	wg.Wait()
	opened := 0
	var timeout time.Duration
	for _, c := range conns {
		if c != nil {
			opened++
			timeout = max(timeout, c.Timeout())
		}
	}
	openTook := float64(now()-openStart) / 1e9
	res.Clients = opened + 1
	if dialErr != nil {
		res.Problems = append(res.Problems, "some sessions failed to open: "+dialErr.Error())
	}

	// Drop every socket at once, without closeSession.
	abandonedAt.Store(now())
	t0 := abandonedAt.Load()
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.Abandon() }()
	}
	wg.Wait()
	rearm() // in case the last event came before abandonedAt was set
	limit := 3*timeout + 10*time.Second
	tm := time.NewTimer(limit)
	select {
	case <-goneCh:
	case <-tm.C:
	case <-ctx.Done():
	}
	tm.Stop()
	end := now()
	win.end(res)

	if g := goneAt.Load(); g != 0 {
		rec.event(kGone, g-t0)
	} else {
		rec.fail(kGone, jute.CodeOperationTimeout, 1)
		res.Problems = append(res.Problems, fmt.Sprintf("%d ephemerals still present %v after the sockets closed", left.Load(), limit))
	}
	merge(res, k, rec)
	res.ElapsedSec = float64(end-start) / 1e9
	res.Metrics = map[string]float64{
		"sessions":          float64(opened),
		"sessions_per_s":    float64(opened) / max(openTook, 1e-9),
		"session_timeout_s": timeout.Seconds(),
		"ephemerals_left":   float64(left.Load()),
		"storm_cleanup_s":   -1,
	}
	if g := goneAt.Load(); g != 0 {
		res.Metrics["storm_cleanup_s"] = float64(g-t0) / 1e9
	}
	checkAccounting(res)
	return res, nil
}

// --- lock recipe ------------------------------------------------------------

// runLock runs the ZooKeeper lock recipe (Reference: ZooKeeper Recipes and
// Solutions, "Locks") with LockContenders sessions on one lock znode, written on
// the raw client: create EPHEMERAL_SEQUENTIAL, getChildren, lowest wins; otherwise
// exists+watch on the predecessor and wait for its deletion.
func runLock(ctx context.Context, e *env) (*Result, error) {
	cfg := e.cfg
	const (
		kAcquire = 4 + iota // after lockContender's request kinds
		kHandoff
	)
	k := kinds("create-seq-ephemeral", "getChildren", "exists+watch", "delete", "acquire", "handoff").event("acquire", "handoff")
	C, err := e.sessionCount("-lock-contenders", cfg.LockContenders, cfg.LockContenders, 0)
	if err != nil {
		return nil, err
	}
	res := &Result{Mode: "scenario", Clients: C}
	dir := e.root + "/lock"

	signals := make([]chan struct{}, C)
	for i := range signals {
		signals[i] = make(chan struct{}, 1)
	}
	conns, err := e.dialN(ctx, C, func(i int) EventFunc {
		return func(ev *jute.WatcherEvent, at int64) {
			select {
			case signals[i] <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	if err := createAll(ctx, conns[0], []string{dir}, nil); err != nil {
		return nil, err
	}
	warmup(ctx, conns[0], e.root, cfg.Warmup)

	start := now()
	deadline := start + int64(cfg.Duration)
	var acquisitions atomic.Int64
	var lastRelease atomic.Int64
	var holders atomic.Int32
	var violations atomic.Int64
	stop := func() bool {
		return now() >= deadline || (cfg.Count > 0 && acquisitions.Load() >= cfg.Count) || ctx.Err() != nil
	}
	recs := make([]*recorder, C)
	var win window
	win.begin(e.pids())
	var wg sync.WaitGroup
	errs := make([]error, C)
	for i := range C {
		recs[i] = newRecorder(len(k.names), start)
	}
	e.setLive(start, deadline, k, recs)
	for i := range C {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = lockContender(ctx, conns[i], recs[i], dir, signals[i], stop, deadline, func(acquiredAt, requested int64) {
				if holders.Add(1) != 1 {
					violations.Add(1)
				}
				acquisitions.Add(1)
				recs[i].event(kAcquire, acquiredAt-requested)
				if lr := lastRelease.Load(); lr != 0 {
					recs[i].event(kHandoff, acquiredAt-lr)
				}
			}, func() {
				holders.Add(-1)
				lastRelease.Store(now())
			})
		}()
	}
	wg.Wait()
	end := now()
	win.end(res)
	merge(res, k, recs...)
	res.ElapsedSec = float64(end-start) / 1e9
	res.Metrics = map[string]float64{
		"acquisitions":   float64(acquisitions.Load()),
		"handoffs_per_s": float64(acquisitions.Load()) / max(res.ElapsedSec, 1e-9),
		"contenders":     float64(C),
	}
	if v := violations.Load(); v > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("mutual exclusion violated %d times", v))
	}
	for _, err := range errs {
		if err != nil {
			res.Problems = append(res.Problems, "contender: "+err.Error())
			break
		}
	}
	checkAccounting(res)
	return res, nil
}

// lockContender acquires and releases the lock until stop says so; acquired and
// released bracket each hold.
func lockContender(ctx context.Context, c *Conn, rec *recorder, dir string, signal <-chan struct{},
	stop func() bool, deadline int64, acquired func(at, requested int64), released func()) error {
	const (
		kCreate = iota
		kChildren
		kExists
		kDelete
	)
	for !stop() {
		requested := now()
		r, err := rec.do(ctx, c, kCreate, jute.OpCreate, &jute.CreateRequest{
			Path: dir + "/lock-", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeralSequential)})
		if err != nil {
			return err
		}
		if r.Err != jute.CodeOK {
			return fmt.Errorf("create: %w", r.Err)
		}
		var cr jute.PathRequest
		d := jute.NewDecoder(r.Body)
		cr.Decode(&d)
		me := cr.Path
		myName := me[strings.LastIndexByte(me, '/')+1:]
		got := false
		for !got {
			// Drain a stale signal: the getChildren below sees the state after it.
			select {
			case <-signal:
			default:
			}
			r, err := rec.do(ctx, c, kChildren, jute.OpGetChildren, &jute.PathWatchRequest{Path: dir})
			if err != nil {
				return err
			}
			if r.Err != jute.CodeOK {
				return fmt.Errorf("getChildren: %w", r.Err)
			}
			var ch jute.ChildrenResponse
			d := jute.NewDecoder(r.Body)
			ch.Decode(&d)
			sort.Strings(ch.Children) // same prefix, 10-digit sequence: lexical = numeric
			pos := sort.SearchStrings(ch.Children, myName)
			if pos >= len(ch.Children) || ch.Children[pos] != myName {
				return fmt.Errorf("own lock node %s missing", me)
			}
			if pos == 0 {
				got = true
				break
			}
			pred := dir + "/" + ch.Children[pos-1]
			r, err = rec.doExpect(ctx, c, kExists, jute.OpExists, &jute.PathWatchRequest{Path: pred, Watch: true}, jute.CodeNoNode)
			if err != nil {
				return err
			}
			if r.Err == jute.CodeNoNode {
				continue
			}
			wait := time.Duration(deadline-now()) + 10*time.Second
			tm := time.NewTimer(max(wait, time.Millisecond))
			select {
			case <-signal:
			case <-tm.C:
			case <-ctx.Done():
			}
			tm.Stop()
			if now() >= deadline+int64(10*time.Second) || ctx.Err() != nil {
				break // give up: delete our node below
			}
		}
		if got {
			acquired(now(), requested)
			released()
		}
		if _, err := rec.do(ctx, c, kDelete, jute.OpDelete, &jute.PathVersionRequest{Path: me, Version: -1}); err != nil {
			return err
		}
		if !got {
			return nil
		}
	}
	return nil
}
