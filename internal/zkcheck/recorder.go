package zkcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// RecorderConfig describes a recording. The zero value of a field means its default.
type RecorderConfig struct {
	// Servers are the client addresses of the ensemble (Cluster.ConnectString,
	// split); every client gets all of them and picks one as go-zookeeper does.
	Servers []string
	Clients int // concurrent clients, each with its own session; default 5
	Keys    int // key nodes, at most MaxKeys; default 4
	// Seed draws every client's operations: client c uses a generator seeded with
	// (Seed, c).
	Seed int64
	// Root is the znode the history lives under; it must not exist, unless
	// RootMade. Default /zkcheck-<seed>-<time>.
	Root string
	// RootMade says Root and Root/seq exist already, empty, and NewRecorder must
	// not create them.
	RootMade bool
	// MaxOps and Duration bound the recording (Run): it stops when either is
	// reached or its context ends. Defaults 20000 and 30 s.
	MaxOps   int
	Duration time.Duration
	// SessionTimeout is every client's session timeout; default 4 s.
	SessionTimeout time.Duration
	// Pace spaces a client's operations: after each it waits a random time below
	// Pace, so that the operations spread over the recording; default 10 ms.
	Pace time.Duration
	// Logf receives go-zookeeper's log lines; nil drops them.
	Logf func(format string, args ...any)
	// OpTimeout bounds one operation: a server that keeps the connection (it
	// answers pings) but never answers a request would otherwise hold the
	// recording forever, since go-zookeeper's calls have no deadline. The
	// operation is then abandoned (Recorder.Abandoned): its connection closed, a
	// write's outcome unknown, and its client takes no more part. Default 60 s,
	// past any session timeout and recovery from a fault.
	OpTimeout time.Duration
}

func (c *RecorderConfig) setDefaults() {
	if c.Clients == 0 {
		c.Clients = 5
	}
	if c.Keys == 0 {
		c.Keys = 4
	}
	if c.Root == "" {
		c.Root = fmt.Sprintf("/zkcheck-%d-%d", c.Seed, time.Now().UnixNano())
	}
	if c.MaxOps == 0 {
		c.MaxOps = 20000
	}
	if c.Duration == 0 {
		c.Duration = 30 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 4 * time.Second
	}
	if c.Pace == 0 {
		c.Pace = 10 * time.Millisecond
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = time.Minute
	}
}

// ErrRecorder is returned by NewRecorder when the clients cannot connect or the
// root cannot be created.
var ErrRecorder = errors.New("zkcheck: recorder")

// Recorder drives concurrent go-zookeeper clients against an ensemble and records
// every operation with its call and return time on the monotonic clock. Each client
// is one goroutine and one connection, issuing one operation at a time, as a
// session's requests are ordered. NewRecorder connects; Run records a seeded random
// mix until its bounds; ReadBack reads every key after sync on every client; History
// returns what was recorded; Close closes the sessions. Run and ReadBack may not
// overlap.
type Recorder struct {
	cfg     RecorderConfig
	start   time.Time // the zero of every recorded time
	clients []*client
	ops     atomic.Int64 // operations recorded, for MaxOps

	mu struct {
		sync.Mutex
		nextSession int // the next model session number
	}
}

// client is one recording client. Only its goroutine touches it while Run or
// ReadBack runs.
type client struct {
	r       *Recorder
	id      int
	conn    *zk.Conn
	rng     *rand.Rand
	zkSess  int64 // the ZooKeeper session id the model session belongs to
	session int   // its model session number
	writes  int   // writes issued, for unique data
	version [MaxKeys]int32
	ops     []Op
	// abandoned describes the operation that got no answer within OpTimeout;
	// the client does nothing after it.
	abandoned string
}

// zkLogger adapts RecorderConfig.Logf to go-zookeeper's Logger.
type zkLogger struct{ logf func(string, ...any) }

func (l zkLogger) Printf(format string, args ...any) {
	if l.logf != nil {
		l.logf(format, args...)
	}
}

// NewRecorder connects the clients (each waits up to 30 s for its session) and
// creates the root, its key-less seq child and nothing else: every key starts
// absent.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	cfg.setDefaults()
	if cfg.Keys > MaxKeys || len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("%w: %d keys (max %d), %d servers", ErrRecorder, cfg.Keys, MaxKeys, len(cfg.Servers))
	}
	r := &Recorder{cfg: cfg}
	for c := range cfg.Clients {
		conn, events, err := zk.Connect(cfg.Servers, cfg.SessionTimeout, zk.WithLogger(zkLogger{cfg.Logf}), zk.WithLogInfo(false))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("%w: connect: %v", ErrRecorder, err)
		}
		cl := &client{r: r, id: c, conn: conn, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(c)))}
		for i := range cl.version {
			cl.version[i] = -1
		}
		r.clients = append(r.clients, cl)
		if err := waitSession(events, 30*time.Second); err != nil {
			r.Close()
			return nil, fmt.Errorf("%w: client %d: %v", ErrRecorder, c, err)
		}
		cl.zkSess = conn.SessionID()
		cl.session = r.newSession()
		go drain(events)
	}
	if !cfg.RootMade {
		if err := MakeRoot(r.clients[0].conn, cfg.Root); err != nil {
			r.Close()
			return nil, err
		}
	}
	r.start = time.Now()
	return r, nil
}

// MakeRoot creates root and root/seq through conn: the nodes a recording needs.
func MakeRoot(conn *zk.Conn, root string) error {
	for _, p := range []string{root, path.Join(root, "seq")} {
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			return fmt.Errorf("%w: create %s: %v", ErrRecorder, p, err)
		}
	}
	return nil
}

func waitSession(events <-chan zk.Event, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("connection closed")
			}
			if ev.State == zk.StateHasSession {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no session after %v", timeout)
		}
	}
}

// drain consumes a connection's events until it closes; go-zookeeper drops events
// nobody reads, but reading them keeps its buffer from holding stale ones.
func drain(events <-chan zk.Event) {
	for range events {
	}
}

func (r *Recorder) newSession() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.mu.nextSession
	r.mu.nextSession++
	return s
}

func (r *Recorder) now() int64 { return time.Since(r.start).Nanoseconds() }

// Start returns the zero of the recorded times: when NewRecorder returned.
func (r *Recorder) Start() time.Time { return r.start }

// Root returns the znode the history lives under.
func (r *Recorder) Root() string { return r.cfg.Root }

// Run records until MaxOps operations, Duration, or ctx ends. Operations running
// then finish first: go-zookeeper ends each within its session's receive timeout.
func (r *Recorder) Run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range r.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && r.ops.Load() < int64(r.cfg.MaxOps) && c.abandoned == "" {
				c.step()
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(c.rng.Int64N(int64(r.cfg.Pace)))):
				}
			}
		}()
	}
	wg.Wait()
}

// ReadBack has every client read every key with sync+get, the end of a history in
// which every acknowledged write must show. Call it once the faults are over.
func (r *Recorder) ReadBack() {
	var wg sync.WaitGroup
	for _, c := range r.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < r.cfg.Keys && c.abandoned == ""; k++ {
				c.do(Input{Kind: KindSyncGet, Key: k})
			}
		}()
	}
	wg.Wait()
}

// History returns the operations recorded so far, ordered by call time.
func (r *Recorder) History() *History {
	h := &History{Seed: r.cfg.Seed, Root: r.cfg.Root, Servers: r.cfg.Servers, Keys: r.cfg.Keys}
	for _, c := range r.clients {
		h.Ops = append(h.Ops, c.ops...)
	}
	sort.SliceStable(h.Ops, func(i, j int) bool { return h.Ops[i].Call < h.Ops[j].Call })
	return h
}

// Abandoned describes the operations that got no answer within OpTimeout, one
// per client at most.
func (r *Recorder) Abandoned() []string {
	var out []string
	for _, c := range r.clients {
		if c.abandoned != "" {
			out = append(out, c.abandoned)
		}
	}
	return out
}

// Close closes every client's session.
func (r *Recorder) Close() {
	for _, c := range r.clients {
		c.conn.Close()
	}
}

// step draws one operation and runs it.
func (c *client) step() {
	keys := c.r.cfg.Keys
	in := Input{Key: c.rng.IntN(keys), Version: -1}
	switch w := c.rng.IntN(100); {
	case w < 30:
		in.Kind = KindGet
	case w < 40:
		in.Kind = KindSyncGet
	case w < 62:
		in.Kind, in.Data, in.Version = KindSet, c.data(), c.expectedVersion(in.Key)
	case w < 72:
		in.Kind, in.Data = KindCreate, c.data()
	case w < 80:
		in.Kind, in.Version = KindDelete, c.expectedVersion(in.Key)
	case w < 92:
		in.Kind, in.Data, in.Key2 = KindMulti, c.data(), PairOf(in.Key, keys)
		if in.Version = c.version[in.Key]; in.Version < 0 || c.rng.IntN(5) == 0 {
			in.Version = int32(c.rng.IntN(3))
		}
	default:
		in.Kind, in.Data = KindCreateSeq, c.data()
	}
	c.do(in)
}

// data returns data no other write of the history uses.
func (c *client) data() string {
	c.writes++
	return "c" + strconv.Itoa(c.id) + "-" + strconv.Itoa(c.writes)
}

// expectedVersion picks a version for a conditional write: mostly the last one the
// client saw (so that many succeed), sometimes any (-1), sometimes a wrong guess.
func (c *client) expectedVersion(k int) int32 {
	switch r := c.rng.IntN(10); {
	case r < 6 && c.version[k] >= 0:
		return c.version[k]
	case r < 8:
		return -1
	default:
		return int32(c.rng.IntN(4))
	}
}

// do runs in on the client's connection and records it.
func (c *client) do(in Input) {
	root := c.r.cfg.Root
	key := func(k int) string { return root + "/k" + strconv.Itoa(k) }
	acl := zk.WorldACL(zk.PermAll)

	before := c.conn.SessionID()
	call := c.r.now()
	var timedOut atomic.Bool
	watchdog := time.AfterFunc(c.r.cfg.OpTimeout, func() {
		timedOut.Store(true)
		c.conn.Close() // fails the call, sent or not, with ErrClosing
	})
	var out Output
	var err error
	switch in.Kind {
	case KindGet:
		var data []byte
		var st *zk.Stat
		data, st, err = c.conn.Get(key(in.Key))
		out = readResult(data, st)
	case KindSyncGet:
		if _, err = c.conn.Sync(key(in.Key)); err == nil {
			var data []byte
			var st *zk.Stat
			data, st, err = c.conn.Get(key(in.Key))
			out = readResult(data, st)
		}
	case KindCreate:
		_, err = c.conn.Create(key(in.Key), []byte(in.Data), 0, acl)
	case KindCreateSeq:
		var p string
		p, err = c.conn.Create(path.Join(root, "seq", "n-"), []byte(in.Data), zk.FlagSequence, acl)
		if err == nil {
			n, perr := strconv.ParseInt(strings.TrimPrefix(path.Base(p), "n-"), 10, 32)
			if perr != nil {
				err = fmt.Errorf("zkcheck: sequential create returned %q: %w", p, perr)
			}
			out.Seq = int32(n)
		}
	case KindSet:
		var st *zk.Stat
		st, err = c.conn.Set(key(in.Key), []byte(in.Data), in.Version)
		if err == nil {
			out.Version = st.Version
		}
	case KindDelete:
		err = c.conn.Delete(key(in.Key), in.Version)
	case KindMulti:
		var res []zk.MultiResponse
		res, err = c.conn.Multi(
			&zk.CheckVersionRequest{Path: key(in.Key), Version: in.Version},
			&zk.SetDataRequest{Path: key(in.Key2), Data: []byte(in.Data), Version: -1})
		if err == nil && len(res) == 2 && res[1].Stat != nil {
			out.Version = res[1].Stat.Version
		}
	}
	ret := c.r.now()
	if !watchdog.Stop() && timedOut.Load() {
		c.abandoned = fmt.Sprintf("client %d: %v unanswered after %v (from %.3fs)", c.id, in, c.r.cfg.OpTimeout, float64(call)/1e9)
		if in.Kind.IsWrite() {
			c.record(in, Output{Unknown: true}, before, call, ret)
		}
		return
	}
	if errors.Is(err, zk.ErrNoServer) || errors.Is(err, zk.ErrClosing) {
		// go-zookeeper gives these only to requests it never wrote to a socket
		// (flushUnsentRequests): the operation did not happen.
		c.trackSession(before)
		c.awaitSession()
		return
	}
	code, known := codeOf(err)
	if !known {
		if !in.Kind.IsWrite() {
			c.trackSession(before)
			c.awaitSession()
			return // a read that got no answer tells nothing
		}
		out = Output{Unknown: true}
	} else {
		out.Code = code
	}
	c.record(in, out, before, call, ret)
	c.learn(in, out)
	if out.Unknown {
		c.awaitSession()
	}
}

// record adds an operation that started on ZooKeeper session before to the
// client's history.
func (c *client) record(in Input, out Output, before int64, call, ret int64) {
	in.Session = c.trackSession(before)
	c.ops = append(c.ops, Op{Client: c.id, In: in, Out: out, Call: call, Return: ret})
	c.r.ops.Add(1)
}

// awaitSession waits, up to the session timeout, until the client is connected
// with a session again. A client that lost its server would otherwise fill the
// history with writes of unknown outcome (each widens the checker's search) while
// no server takes them.
func (c *client) awaitSession() {
	deadline := time.Now().Add(c.r.cfg.SessionTimeout)
	for c.conn.State() != zk.StateHasSession && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// trackSession returns the model session of an operation that started on
// ZooKeeper session before and moves the client to a new model session when its
// ZooKeeper session changed (expiry). An operation during which the session
// changed might have run on either: it gets a model session of its own, which
// binds it to nothing but real time.
func (c *client) trackSession(before int64) int {
	after := c.conn.SessionID()
	if after != 0 && after != c.zkSess {
		c.zkSess, c.session = after, c.r.newSession()
	}
	if before != after {
		return c.r.newSession()
	}
	return c.session
}

// learn keeps the versions the client saw, to aim its conditional writes.
func (c *client) learn(in Input, out Output) {
	if out.Unknown {
		return
	}
	switch {
	case (in.Kind == KindGet || in.Kind == KindSyncGet) && out.Code == CodeOK:
		c.version[in.Key] = out.Version
	case in.Kind == KindGet || in.Kind == KindSyncGet:
		c.version[in.Key] = -1
	case in.Kind == KindSet && out.Code == CodeOK:
		c.version[in.Key] = out.Version
	case in.Kind == KindMulti && out.Code == CodeOK:
		c.version[in.Key2] = out.Version
	case in.Kind == KindCreate && out.Code == CodeOK:
		c.version[in.Key] = 0
	case in.Kind == KindDelete && out.Code == CodeOK:
		c.version[in.Key] = -1
	}
}

func readResult(data []byte, st *zk.Stat) Output {
	if st == nil {
		return Output{}
	}
	return Output{Data: string(data), Version: st.Version}
}

// codeOf maps a go-zookeeper error to a definite result code, or reports that the
// outcome is unknown: connection loss, session expiry, no server, anything else.
func codeOf(err error) (Code, bool) {
	switch {
	case err == nil:
		return CodeOK, true
	case errors.Is(err, zk.ErrNoNode):
		return CodeNoNode, true
	case errors.Is(err, zk.ErrBadVersion):
		return CodeBadVersion, true
	case errors.Is(err, zk.ErrNodeExists):
		return CodeNodeExists, true
	}
	return 0, false
}
