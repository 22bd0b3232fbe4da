package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"zkd/jute"
)

// Workload is one named benchmark.
type Workload struct {
	Name string
	Help string
	// Loop reports whether the workload runs closed or open loop (-clients,
	// -inflight, -rate apply); the others are scenarios with their own shape.
	Loop bool
	// Group is "" for the general workloads, GroupTable for the performance table,
	// GroupMillion for the 1M-znode figures, GroupEnsemble for ensemble-only ones.
	Group string
	// Headline names the figures the summary puts first ("requests/s", "<op> p99",
	// a metric); empty: requests/s for a loop workload, its metrics otherwise.
	Headline []string
	run      func(ctx context.Context, e *env) (*Result, error)
	// null: the workload means something against the null server (NullWorkload).
	null bool
	// writeData, writeClients and writeInFlight describe a write workload for
	// DiskLimit: the data bytes of each write and the default sessions and
	// requests in flight per session (writeClients 0: not a write workload).
	writeData, writeClients, writeInFlight int
	// control: the workload stops and starts servers (Config.Control).
	control bool
	// tree: the workload reads or writes the base tree (Run creates it first).
	tree bool
}

// Workload groups; each name is also accepted where workload names are.
const (
	GroupTable    = "table"    // the README's performance table on the base tree, plus the open-loop run
	GroupMillion  = "1m"       // preload-1m, mem-1m, restart-1m: slow, selected on their own
	GroupEnsemble = "ensemble" // what `zkd bench compare -ensemble N` runs by default
)

// Workloads lists every workload in the order `zkd bench all` runs them ("all" is
// every workload outside GroupMillion and GroupEnsemble).
func Workloads() []Workload {
	return []Workload{
		{Name: "latency", null: true, Help: "1 session, sync: create, getData, setData, exists, delete of 100 B znodes (-latency-ops each)", run: runLatency},
		{Name: "create-c32", Loop: true, null: true, writeData: 32, writeClients: 32, writeInFlight: 1, Help: "create 32 B znodes, 32 sessions x 1 in flight", run: mixRunner(createSpec(32))},
		{Name: "create-c256", Loop: true, null: true, writeData: 32, writeClients: 256, writeInFlight: 1, Help: "create 32 B znodes, 256 sessions x 1 in flight", run: mixRunner(createSpec(256))},
		{Name: "setdata-c32", Loop: true, null: true, writeData: 1024, writeClients: 32, writeInFlight: 1, Help: "setData 1 KB on min(-keys, 10000) znodes, 32 sessions x 1", run: mixRunner(setDataSpec(32))},
		{Name: "setdata-c256", Loop: true, null: true, writeData: 1024, writeClients: 256, writeInFlight: 1, Help: "setData 1 KB on min(-keys, 10000) znodes, 256 sessions x 1", run: mixRunner(setDataSpec(256))},
		{Name: "getdata-sync", Loop: true, null: true, Help: "getData of random 100 B znodes (-keys), 64 sessions x 1", run: mixRunner(readSpec(jute.OpGetData, 1))},
		{Name: "getdata-pipe", Loop: true, null: true, Help: "getData of random 100 B znodes (-keys), 64 sessions x 16 in flight", run: mixRunner(readSpec(jute.OpGetData, 16))},
		{Name: "exists-sync", Loop: true, null: true, Help: "exists of random znodes (-keys), 64 sessions x 1", run: mixRunner(readSpec(jute.OpExists, 1))},
		{Name: "exists-pipe", Loop: true, null: true, Help: "exists of random znodes (-keys), 64 sessions x 16 in flight", run: mixRunner(readSpec(jute.OpExists, 16))},
		{Name: "children-sync", Loop: true, null: true, Help: "getChildren2 of a parent with -children children, 64 sessions x 1", run: mixRunner(readSpec(jute.OpGetChildren2, 1))},
		{Name: "children-pipe", Loop: true, null: true, Help: "getChildren2 of a parent with -children children, 64 sessions x 16", run: mixRunner(readSpec(jute.OpGetChildren2, 16))},
		{Name: "kafka", Loop: true, Help: "/brokers/topics/t*/partitions/*/state: 90% getData+watch, 10% setData with version, zipfian keys; watch latency", run: mixRunner(kafkaSpec())},
		{Name: "multi100", Loop: true, Help: "multi of 100 creates, then of their 100 deletes, 4 sessions x 1", run: mixRunner(multiSpec(100))},
		{Name: "multi1000", Loop: true, Help: "multi of 1000 creates, then of their 1000 deletes, 4 sessions x 1", run: mixRunner(multiSpec(1000))},
		{Name: "fanout", Help: "-fanout-sessions (100) each watch -fanout-znodes; set one at a time: time until every event is delivered", run: runFanout},
		{Name: "storm", Help: "-storm-sessions (200) each create an ephemeral, then drop their sockets: time until every ephemeral is gone", run: runStorm},
		{Name: "lock", Help: "-lock-contenders run the sequential-ephemeral lock recipe: handoffs per second", run: runLock},

		{Name: "getdata-64x16", Group: GroupTable, tree: true, Loop: true, null: true, Help: "getData of random base-tree znodes (-tree x 100 B), 64 sessions x 16 in flight", run: mixRunner(treeGetSpec(64, 16))},
		{Name: "getdata-16x1", Group: GroupTable, tree: true, Loop: true, null: true, Headline: []string{"requests/s", "getData p99"},
			Help: "getData of random base-tree znodes, 16 sessions x 1", run: mixRunner(treeGetSpec(16, 1))},
		{Name: "setdata-32x8", Group: GroupTable, tree: true, Loop: true, null: true, writeData: treeDataSize, writeClients: 32, writeInFlight: 8,
			Headline: []string{"requests/s", "setData p50", "setData p99", "setData p99.9"},
			Help:     "setData 100 B on random base-tree znodes, 32 sessions x 8 in flight", run: mixRunner(treeSetSpec(32, 8))},
		{Name: "setdata-256x1", Group: GroupTable, tree: true, Loop: true, null: true, writeData: treeDataSize, writeClients: 256, writeInFlight: 1,
			Headline: []string{"requests/s", "setData p50", "setData p99", "setData p99.9"},
			Help:     "setData 100 B on random base-tree znodes, 256 sessions x 1", run: mixRunner(treeSetSpec(256, 1))},
		{Name: "createseq-32x8", Group: GroupTable, Loop: true, null: true, writeData: treeDataSize / 2, writeClients: 32, writeInFlight: 8,
			Help: "create PERSISTENT_SEQUENTIAL 100 B + delete it, 32 sessions x 8 in flight", run: mixRunner(createSeqDeleteSpec(32, 8))},
		{Name: "mix-64x8", Group: GroupTable, tree: true, Loop: true, null: true, Help: "90% getData, 10% setData 100 B on random base-tree znodes, 64 sessions x 8 in flight",
			run: mixRunner(treeMixSpec(64, 8))},
		{Name: "watch-500", Group: GroupTable, null: true, Headline: []string{"all-delivered p50", "all-delivered p99"},
			Help: "-watchers (500) sessions watch one znode, set every 10 ms: time until all have the event", run: runWatch500},
		{Name: "sessions-16", Group: GroupTable, null: true, Headline: []string{"sessions_per_s"},
			Help: "-storm-workers (16) loop connect + create ephemeral + closeSession: sessions per second", run: runSessionStorm},
		{Name: "getdata-open", Group: GroupTable, tree: true, Loop: true, Headline: []string{"getData p50", "getData p99", "getData p99.9"},
			Help: "getData of random base-tree znodes, open loop at -open-rate over 16 sessions: latency from the intended send time", run: mixRunner(treeOpenSpec(16))},

		{Name: "preload-1m", Group: GroupMillion, Headline: []string{"preload_s", "disk_mb"},
			Help: "pipelined create of -znodes (1M) x 100 B into a fresh tree: time, and bytes on disk after (du of the data dirs)", run: millionRunner(millionPreload)},
		{Name: "mem-1m", Group: GroupMillion, control: true, Headline: []string{"rss_loaded_mb", "rss_restarted_mb"},
			Help: "server RSS with -znodes (1M) x 100 B loaded, and after a kill -9 and restart", run: millionRunner(millionMem)},
		{Name: "restart-1m", Group: GroupMillion, control: true, Headline: []string{"restart_s"},
			Help: "with -znodes (1M) x 100 B: kill -9, start, time until getData answers", run: millionRunner(millionRestart)},

		{Name: "failover", Group: GroupEnsemble, control: true, Headline: []string{"failover_s"},
			Help: "ensemble: kill -9 the leader under a write load; time until a write is acknowledged again", run: runFailover},
	}
}

// LookupWorkload returns the named workload; a route suffix (@leader,
// @followers, @all) is ignored.
func LookupWorkload(name string) (Workload, bool) {
	base, _ := splitRoute(name)
	for _, w := range Workloads() {
		if w.Name == base {
			return w, true
		}
	}
	return Workload{}, false
}

func mixRunner(spec mixSpec) func(ctx context.Context, e *env) (*Result, error) {
	return func(ctx context.Context, e *env) (*Result, error) { return runMix(ctx, e, spec) }
}

// --- create -----------------------------------------------------------------

// createSpec: every session creates 32 B znodes under its own parent (a flat parent
// of a million children would not list within jute.maxbuffer at cleanup).
func createSpec(clients int) mixSpec {
	return mixSpec{
		kinds:    kinds("create"),
		clients:  clients,
		inFlight: 1,
		setup:    nil, // parents are created by the workers' first requests
		worker: func(e *env, i int, _ *rand.Rand) mixWorker {
			return &createWorker{parent: e.root + "/w" + strconv.Itoa(i), data: payload(32)}
		},
	}
}

type createWorker struct {
	parent string
	data   []byte
	seq    int
	req    jute.CreateRequest
}

func (w *createWorker) next() (int, jute.OpCode, jute.Record) {
	path := w.parent // the first request creates the parent itself
	if w.seq > 0 {
		path = w.parent + "/n" + strconv.Itoa(w.seq)
	}
	w.seq++
	w.req = jute.CreateRequest{Path: path, Data: w.data, ACL: jute.OpenACLUnsafe}
	return 0, jute.OpCreate, &w.req
}

func (w *createWorker) done(_ int, r *Reply) jute.Code { return r.Err }

// --- setData ----------------------------------------------------------------

func setDataKeys(e *env) []string {
	n := min(e.cfg.Keys, 10_000)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = e.root + "/k" + strconv.Itoa(i)
	}
	return keys
}

func setDataSpec(clients int) mixSpec {
	return mixSpec{
		kinds:    kinds("setData"),
		clients:  clients,
		inFlight: 1,
		setup: func(ctx context.Context, e *env, c *Conn) error {
			return createAll(ctx, c, setDataKeys(e), payload(1024))
		},
		worker: func(e *env, _ int, rng *rand.Rand) mixWorker {
			return &setDataWorker{keys: setDataKeys(e), data: payload(1024), rng: rng}
		},
	}
}

type setDataWorker struct {
	keys []string
	data []byte
	rng  *rand.Rand
	req  jute.SetDataRequest
}

func (w *setDataWorker) next() (int, jute.OpCode, jute.Record) {
	w.req = jute.SetDataRequest{Path: w.keys[w.rng.IntN(len(w.keys))], Data: w.data, Version: -1}
	return 0, jute.OpSetData, &w.req
}

func (w *setDataWorker) done(_ int, r *Reply) jute.Code { return r.Err }

// --- reads ------------------------------------------------------------------

func readKeys(e *env) []string {
	keys := make([]string, e.cfg.Keys)
	for i := range keys {
		keys[i] = e.root + "/k" + strconv.Itoa(i)
	}
	return keys
}

func childPaths(e *env) []string {
	paths := make([]string, 0, e.cfg.Children+1)
	paths = append(paths, e.root+"/p")
	for i := 0; i < e.cfg.Children; i++ {
		paths = append(paths, e.root+"/p/c"+strconv.Itoa(i))
	}
	return paths
}

// readSpec: 64 sessions reading random znodes (getData, exists) or one parent's
// children (getChildren2), inFlight requests each.
func readSpec(op jute.OpCode, inFlight int) mixSpec {
	return mixSpec{
		kinds:    kinds(op.String()),
		clients:  64,
		inFlight: inFlight,
		setup: func(ctx context.Context, e *env, c *Conn) error {
			if op == jute.OpGetChildren2 {
				return createAll(ctx, c, childPaths(e), payload(16))
			}
			return createAll(ctx, c, readKeys(e), payload(100))
		},
		worker: func(e *env, _ int, rng *rand.Rand) mixWorker {
			w := &readWorker{op: op, rng: rng}
			if op == jute.OpGetChildren2 {
				w.keys = []string{e.root + "/p"}
			} else {
				w.keys = readKeys(e)
			}
			return w
		},
	}
}

type readWorker struct {
	op   jute.OpCode
	keys []string
	rng  *rand.Rand
	req  jute.PathWatchRequest
}

func (w *readWorker) next() (int, jute.OpCode, jute.Record) {
	w.req = jute.PathWatchRequest{Path: w.keys[w.rng.IntN(len(w.keys))]}
	return 0, w.op, &w.req
}

func (w *readWorker) done(_ int, r *Reply) jute.Code { return r.Err }

// --- kafka-like metadata mix -------------------------------------------------

// kafkaState is shared by the sessions of one kafka run.
type kafkaState struct {
	paths []string         // immutable: partition state znodes
	index map[string]int32 // immutable: path -> index
	logs  []setLog         // per znode: recent writes, to attribute watch events
}

// setLogSize is how many recent writes per znode are remembered.
const setLogSize = 16

// setLog attributes NodeDataChanged events of one znode to the write that caused
// them, by version: a watch set by a getData that saw version v fires on the write
// that makes version v+1. The event may arrive before the writer's reply, so an
// event whose write is not known yet waits in pending until the reply comes.
type setLog struct {
	mu      sync.Mutex
	n       int               // guarded by mu; writes logged so far
	version [setLogSize]int32 // guarded by mu; version a write produced
	sent    [setLogSize]int64 // guarded by mu; that write's send time
	pending []pendingEvent    // guarded by mu; events waiting for their write
}

type pendingEvent struct {
	version int32 // of the write that fired it
	at      int64 // arrival
}

// written logs a successful write sent at sent that produced version, and returns
// the latencies of the events that were waiting for it.
func (l *setLog) written(version int32, sent int64) (latencies []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.n % setLogSize
	l.version[i], l.sent[i] = version, sent
	l.n++
	kept := l.pending[:0]
	for _, p := range l.pending {
		if p.version == version {
			latencies = append(latencies, p.at-sent)
		} else if p.version > version {
			kept = append(kept, p)
		} // else: its write fell out of the log; drop it
	}
	l.pending = kept
	return latencies
}

// fired returns the latency of an event that arrived at at for the write producing
// version, or queues the event until that write's reply is seen.
func (l *setLog) fired(version int32, at int64) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range min(l.n, setLogSize) {
		if l.version[i] == version {
			return at - l.sent[i], true
		}
	}
	if len(l.pending) < 4*setLogSize {
		l.pending = append(l.pending, pendingEvent{version: version, at: at})
	}
	return 0, false
}

func kafkaPaths(e *env) (nodes, states []string) {
	cfg := e.cfg
	base := e.root + "/brokers/topics"
	nodes = append(nodes, e.root+"/brokers", base)
	for t := 0; t < cfg.Topics; t++ {
		topic := base + "/t" + strconv.Itoa(t)
		nodes = append(nodes, topic, topic+"/partitions")
		for p := 0; p < cfg.Partitions; p++ {
			part := topic + "/partitions/" + strconv.Itoa(p)
			nodes = append(nodes, part, part+"/state")
			states = append(states, part+"/state")
		}
	}
	return nodes, states
}

// kafkaStateJSON is ~150 B like a real partition state znode.
var kafkaStateJSON = []byte(`{"controller_epoch":3,"leader":1,"version":1,"leader_epoch":7,"isr":[1,2,3],"leader_recovery_state":0,"partition_epoch":12,"pad":"xxxxxxxxxxxxxxx"}`)

const (
	kafkaGet = iota
	kafkaSet
	kafkaWatch
)

// kafkaSpec is a Kafka-like metadata load: sessions read partition state with a
// watch (90%) and update it conditionally on the version they last saw (10%), on
// zipfian keys. A watch event's latency runs from the send time of the setData that
// fired it (matched by version) to the event's arrival.
func kafkaSpec() mixSpec {
	var st *kafkaState
	return mixSpec{
		kinds:       kinds("getData+watch", "setData", "watch").event("watch"),
		clientsOf:   func(c *Config) int { return c.KafkaClients },
		clientsFlag: "-kafka-clients",
		inFlight:    1,
		setup: func(ctx context.Context, e *env, c *Conn) error {
			nodes, states := kafkaPaths(e)
			st = &kafkaState{paths: states, index: make(map[string]int32, len(states)), logs: make([]setLog, len(states))}
			for i, p := range states {
				st.index[p] = int32(i)
			}
			return createAll(ctx, c, nodes, kafkaStateJSON)
		},
		worker: func(e *env, _ int, rng *rand.Rand) mixWorker {
			n := len(st.paths)
			w := &kafkaWorker{st: st, rng: rng, zipf: rand.NewZipf(rng, 1.1, 1, uint64(n-1)),
				versions: make([]int32, n), armed: make([]int32, n), data: kafkaStateJSON}
			for i := range w.versions {
				w.versions[i], w.armed[i] = -1, -1
			}
			return w
		},
	}
}

type kafkaWorker struct {
	st       *kafkaState
	rng      *rand.Rand
	zipf     *rand.Zipf
	versions []int32 // version last seen per znode; -1 unknown
	armed    []int32 // per znode: version our watch was set at; -1 no watch
	inflight []int32 // keys of requests in flight, in order
	data     []byte
	get      jute.PathWatchRequest
	set      jute.SetDataRequest
	rec      *recorder // the worker's recorder, for watch latencies resolved in done
}

func (w *kafkaWorker) bind(rec *recorder) { w.rec = rec }

func (w *kafkaWorker) next() (int, jute.OpCode, jute.Record) {
	k := int32(w.zipf.Uint64())
	w.inflight = append(w.inflight, k)
	path := w.st.paths[k]
	if w.rng.IntN(10) == 0 {
		w.set = jute.SetDataRequest{Path: path, Data: w.data, Version: w.versions[k]}
		return kafkaSet, jute.OpSetData, &w.set
	}
	w.get = jute.PathWatchRequest{Path: path, Watch: true}
	return kafkaGet, jute.OpGetData, &w.get
}

func (w *kafkaWorker) done(kind int, r *Reply) jute.Code {
	k := w.inflight[0]
	w.inflight = w.inflight[1:]
	if r.Err != jute.CodeOK {
		if r.Err == jute.CodeBadVersion {
			w.versions[k] = -1 // unknown until the next getData of that znode
		}
		return r.Err
	}
	var st jute.Stat
	d := jute.NewDecoder(r.Body)
	if kind == kafkaGet {
		_ = d.Buffer()
	}
	st.Decode(&d)
	if d.Err() != nil {
		return jute.CodeMarshallingError
	}
	w.versions[k] = st.Version
	switch kind {
	case kafkaGet:
		if w.armed[k] < 0 { // a later getData keeps the watch already set
			w.armed[k] = st.Version
		}
	case kafkaSet:
		for _, lat := range w.st.logs[k].written(st.Version, r.Sent) {
			w.recordWatch(lat)
		}
	}
	return jute.CodeOK
}

// recordWatch records a watch latency into the worker's recorder, whose lock the
// driver holds around done and event.
func (w *kafkaWorker) recordWatch(lat int64) { w.rec.eventLocked(kafkaWatch, lat) }

func (w *kafkaWorker) event(ev *jute.WatcherEvent, at int64, rec *recorder, measured bool) {
	if ev.Type != jute.EventNodeDataChanged {
		return
	}
	k, ok := w.st.index[ev.Path]
	if !ok {
		return
	}
	v := w.armed[k]
	w.armed[k] = -1 // the watch is spent
	if !measured || v < 0 {
		return
	}
	if lat, ok := w.st.logs[k].fired(v+1, at); ok {
		rec.eventLocked(kafkaWatch, lat)
	}
}

// --- multi ------------------------------------------------------------------

// multiSpec: each session alternates a multi creating n znodes and a multi deleting
// them, under its own parent.
func multiSpec(n int) mixSpec {
	return mixSpec{
		kinds:    kinds("multi"),
		clients:  4,
		inFlight: 1,
		setup: func(ctx context.Context, e *env, c *Conn) error {
			paths := make([]string, 0, 64)
			for i := 0; i < max(e.cfg.Clients, 4); i++ {
				paths = append(paths, e.root+"/w"+strconv.Itoa(i))
			}
			return createAll(ctx, c, paths, nil)
		},
		worker: func(e *env, i int, _ *rand.Rand) mixWorker {
			w := &multiWorker{parent: e.root + "/w" + strconv.Itoa(i), data: payload(32)}
			w.req.Ops = make([]jute.MultiOp, n)
			return w
		},
	}
}

type multiWorker struct {
	parent string
	data   []byte
	seq    int
	req    jute.MultiRequest
	resp   jute.MultiResponse
}

func (w *multiWorker) next() (int, jute.OpCode, jute.Record) {
	batch, del := w.seq/2, w.seq%2 == 1
	w.seq++
	prefix := w.parent + "/b" + strconv.Itoa(batch) + "-"
	for j := range w.req.Ops {
		path := prefix + strconv.Itoa(j)
		if del {
			w.req.Ops[j] = jute.MultiOp{Type: jute.OpDelete, Path: path, Version: -1}
		} else {
			w.req.Ops[j] = jute.MultiOp{Type: jute.OpCreate, Path: path, Data: w.data, ACL: jute.OpenACLUnsafe}
		}
	}
	return 0, jute.OpMulti, &w.req
}

// done counts a multi under the first failing op's code (the reply header of a
// failed multi may still say ok).
func (w *multiWorker) done(_ int, r *Reply) jute.Code {
	if r.Err != jute.CodeOK {
		return r.Err
	}
	d := jute.NewDecoder(r.Body)
	w.resp.Decode(&d)
	if d.Err() != nil {
		return jute.CodeMarshallingError
	}
	for _, res := range w.resp.Results {
		if res.Type == jute.OpError && res.Err != jute.CodeOK && res.Err != jute.CodeRuntimeInconsistency {
			return res.Err
		}
	}
	return jute.CodeOK
}

// errf wraps a workload error with the workload name.
func errf(name string, err error) error { return fmt.Errorf("bench %s: %w", name, err) }
