package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"zkd/jute"
)

// The table workloads: the shapes of the README's performance table, on the base tree of
// Config.TreeZnodes znodes of 100 B (basetree.go).

// treeKeysOf returns the base tree's key paths, built once per run and shared by
// every worker (read only).
func (e *env) treeKeysOf() []string {
	e.treeOnce.Do(func() { e.treeKeys = treeKeys(treeRoot, e.cfg.TreeZnodes) })
	return e.treeKeys
}

// treeGetSpec: getData of random base-tree znodes, clients x inFlight.
func treeGetSpec(clients, inFlight int) mixSpec {
	return mixSpec{
		kinds: kinds("getData"), clients: clients, inFlight: inFlight, tree: true,
		worker: func(e *env, _ int, rng *rand.Rand) mixWorker {
			return &readWorker{op: jute.OpGetData, keys: e.treeKeysOf(), rng: rng}
		},
	}
}

// treeSetSpec: setData of 100 B on random base-tree znodes, clients x inFlight.
func treeSetSpec(clients, inFlight int) mixSpec {
	return mixSpec{
		kinds: kinds("setData"), clients: clients, inFlight: inFlight, tree: true,
		worker: func(e *env, _ int, rng *rand.Rand) mixWorker {
			return &setDataWorker{keys: e.treeKeysOf(), data: payload(treeDataSize), rng: rng}
		},
	}
}

// treeMixSpec: 90% getData, 10% setData of 100 B on random base-tree znodes.
func treeMixSpec(clients, inFlight int) mixSpec {
	return mixSpec{
		kinds: kinds("getData", "setData"), clients: clients, inFlight: inFlight, tree: true,
		worker: func(e *env, _ int, rng *rand.Rand) mixWorker {
			return &readWriteWorker{keys: e.treeKeysOf(), data: payload(treeDataSize), rng: rng}
		},
	}
}

// treeOpenSpec: getData of random base-tree znodes, open loop at Config.OpenRate
// over clients sessions; latency from the intended send time.
func treeOpenSpec(clients int) mixSpec {
	s := treeGetSpec(clients, 1)
	s.openRate = func(c *Config) float64 { return c.OpenRate }
	return s
}

type readWriteWorker struct {
	keys []string
	data []byte
	rng  *rand.Rand
	get  jute.PathWatchRequest
	set  jute.SetDataRequest
}

func (w *readWriteWorker) next() (int, jute.OpCode, jute.Record) {
	path := w.keys[w.rng.IntN(len(w.keys))]
	if w.rng.IntN(10) == 0 {
		w.set = jute.SetDataRequest{Path: path, Data: w.data, Version: -1}
		return 1, jute.OpSetData, &w.set
	}
	w.get = jute.PathWatchRequest{Path: path}
	return 0, jute.OpGetData, &w.get
}

func (w *readWriteWorker) done(_ int, r *Reply) jute.Code { return r.Err }

// createSeqDeleteSpec: each session creates PERSISTENT_SEQUENTIAL znodes of 100 B
// under its own parent and deletes each one it created, clients x inFlight; a
// session's first request creates its parent.
func createSeqDeleteSpec(clients, inFlight int) mixSpec {
	return mixSpec{
		kinds: kinds("create-sequential", "delete"), clients: clients, inFlight: inFlight,
		worker: func(e *env, i int, _ *rand.Rand) mixWorker {
			return &createDeleteWorker{parent: e.root + "/w" + strconv.Itoa(i), data: payload(treeDataSize)}
		},
	}
}

type createDeleteWorker struct {
	parent  string
	data    []byte
	started bool     // the parent's create was sent
	created []string // sequential znodes created and not yet sent for deletion, oldest first
	create  jute.CreateRequest
	del     jute.PathVersionRequest
	resp    jute.PathRequest
}

func (w *createDeleteWorker) next() (int, jute.OpCode, jute.Record) {
	if !w.started {
		w.started = true
		w.create = jute.CreateRequest{Path: w.parent, ACL: jute.OpenACLUnsafe}
		return 0, jute.OpCreate, &w.create
	}
	if len(w.created) > 0 {
		w.del = jute.PathVersionRequest{Path: w.created[0], Version: -1}
		w.created = w.created[1:]
		return 1, jute.OpDelete, &w.del
	}
	w.create = jute.CreateRequest{Path: w.parent + "/n-", Data: w.data, ACL: jute.OpenACLUnsafe,
		Flags: int32(jute.ModePersistentSequential)}
	return 0, jute.OpCreate, &w.create
}

func (w *createDeleteWorker) done(kind int, r *Reply) jute.Code {
	if kind != 0 || r.Err != jute.CodeOK {
		return r.Err
	}
	d := jute.NewDecoder(r.Body)
	w.resp.Decode(&d)
	if d.Err() != nil {
		return jute.CodeMarshallingError
	}
	if w.resp.Path != w.parent { // the parent itself is not deleted
		// NB: Decode aliases the reply body, valid only during done: copy.
		w.created = append(w.created, strings.Clone(w.resp.Path))
	}
	return jute.CodeOK
}

// --- session storm -------------------------------------------------------------

// runSessionStorm: StormWorkers workers each loop connect, create an ephemeral
// znode, closeSession, for the window; "session" is one whole cycle and
// sessions_per_s the cycles completed per second. Each worker holds one session at
// a time (two while the server closes the last), on its own server of the connect
// string.
func runSessionStorm(ctx context.Context, e *env) (*Result, error) {
	cfg := e.cfg
	const (
		kConnect = iota
		kCreate
		kClose
		kCycle
	)
	k := kinds("connect", "create-ephemeral", "closeSession", "session").event("session")
	W, err := e.sessionCount("-storm-workers", cfg.StormWorkers, cfg.StormWorkers, cfg.StormWorkers)
	if err != nil {
		return nil, err
	}
	parent := e.root + "/s"
	admin, err := e.dial(ctx, nil)
	if err != nil {
		return nil, err
	}
	err = createAll(ctx, admin, []string{parent}, nil)
	admin.Close()
	if err != nil {
		return nil, err
	}
	if err := e.barrier(ctx); err != nil {
		return nil, err
	}

	res := &Result{Mode: "scenario", Clients: W}
	start := now()
	measureStart := start + int64(cfg.Warmup)
	deadline := measureStart + int64(cfg.Duration)
	var budget atomic.Int64
	budget.Store(math.MaxInt64)
	if cfg.Count > 0 {
		budget.Store(cfg.Count)
	}
	var cutAt atomic.Int64
	recs := make([]*recorder, W)
	for i := range recs {
		recs[i] = newRecorder(len(k.names), measureStart)
	}
	e.setLive(measureStart, deadline, k, recs)
	var win window
	winDone := make(chan struct{})
	go func() {
		defer close(winDone)
		sleepUntil(ctx, measureStart)
		win.begin(e.pids())
	}()

	data := payload(8)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for i := range W {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := recs[i]
			record := func(kind int, measured bool, code jute.Code, t0, t1 int64) {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				if !measured {
					rec.seenLocked()
					return
				}
				rec.issuedLocked(kind)
				rec.doneLocked(kind, code, t1-t0, t1)
			}
			for n := 0; ; n++ {
				t0 := now()
				if t0 >= deadline || ctx.Err() != nil {
					if t0 < deadline {
						cutAt.CompareAndSwap(0, t0)
					}
					return
				}
				measured := t0 >= measureStart
				if measured && budget.Add(-1) < 0 {
					cutAt.CompareAndSwap(0, t0)
					return
				}
				c, err := Dial(ctx, e.addrOf(i), DialOptions{SessionTimeout: cfg.SessionTimeout, TLS: cfg.TLS})
				t1 := now()
				if err != nil {
					record(kConnect, measured, jute.CodeConnectionLoss, t0, t1)
					firstErr.CompareAndSwap(nil, &err)
					time.Sleep(5 * time.Millisecond) // a refusing server must not spin the worker
					continue
				}
				record(kConnect, measured, jute.CodeOK, t0, t1)
				ok := true
				r, err := c.Do(ctx, jute.OpCreate, &jute.CreateRequest{Path: parent + "/w" + strconv.Itoa(i) + "-" + strconv.Itoa(n),
					Data: data, ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeral)})
				t2 := now()
				code := r.Err
				if err != nil {
					code = jute.CodeConnectionLoss
				}
				record(kCreate, measured, code, t1, t2)
				ok = ok && code == jute.CodeOK
				r, err = c.Do(ctx, jute.OpCloseSession, nil)
				t3 := now()
				c.Abandon()
				code = r.Err
				if err != nil {
					code = jute.CodeConnectionLoss
				}
				record(kClose, measured, code, t2, t3)
				ok = ok && code == jute.CodeOK
				if ok && measured {
					rec.event(kCycle, t3-t0)
				}
			}
		}()
	}
	wg.Wait()
	<-winDone
	win.end(res)
	merge(res, k, recs...)
	end := deadline
	if c := cutAt.Load(); c != 0 && c < end {
		end = max(c, measureStart)
		if ctx.Err() == nil {
			res.Notes = append(res.Notes, fmt.Sprintf("window cut to %.2fs of %v: -count %d reached", float64(end-measureStart)/1e9, cfg.Duration, cfg.Count))
		}
	}
	res.ElapsedSec = float64(end-measureStart) / 1e9
	res.WarmupSec = cfg.Warmup.Seconds()
	var cycles int64
	if o := res.Op("session"); o != nil {
		cycles = o.OK
	}
	res.Metrics = map[string]float64{"sessions_per_s": float64(cycles) / max(res.ElapsedSec, 1e-9), "workers": float64(W)}
	if p := firstErr.Load(); p != nil {
		res.Notes = append(res.Notes, "first connect error: "+(*p).Error())
	}
	checkAccounting(res)
	return res, nil
}
