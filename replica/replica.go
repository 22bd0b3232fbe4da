package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/quorum"
	"zkd/snapshot"
	"zkd/zoocfg"
)

var (
	// ErrNoLeader is passed to (or returned for) a write or sync while no leader
	// is known: the client's connection is closed and it tries another server.
	ErrNoLeader = errors.New("replica: no leader")
	// ErrLeaderChanged is passed to every waiter still pending when the leader
	// changes: whether its entry commits is unknown.
	ErrLeaderChanged = errors.New("replica: leader changed")
	// ErrStopped is returned after Stop.
	ErrStopped = errors.New("replica: stopped")
	// ErrTimeout is passed to WaitApplied's callback when the index was not
	// applied in time.
	ErrTimeout = errors.New("replica: timed out waiting for the log to be applied")
	// ErrDropped is passed to a waiter whose entry the leader's raft refused.
	ErrDropped = errors.New("replica: the leader dropped the proposal")
)

// DoneFunc receives the outcome of a proposal on the apply goroutine: err is a
// failure of the write path (the entry may or may not commit); otherwise res is
// the tree's result for the entry applied at zxid. It must not block.
type DoneFunc func(zxid jute.Zxid, res datatree.Result, err error)

// Listener is the session layer as the replica calls it. Methods may run on the
// apply goroutine or the ticking goroutine and must not block.
type Listener interface {
	// SessionClosed reports that a closeSession for id was applied: its client
	// connection, if here, must close.
	SessionClosed(id jute.SessionID)
	// SessionAttached reports that session id was attached to client connection
	// conn (datatree.Txn.Conn): a connection here holding it for another must close.
	SessionAttached(id jute.SessionID, conn uint64)
	// CollectTouched appends to dst the sessions whose clients were heard from
	// since the last call, and returns it.
	CollectTouched(dst []jute.SessionID) []jute.SessionID
	// LocalSessionExpired reports that local session id (TrackLocalSession) was
	// not heard from within its timeout: it ends here, with nothing replicated.
	LocalSessionExpired(id jute.SessionID)
	// DisconnectClients asks for every client connection to be closed: no leader
	// has been known for too long (clients should move to another server), or
	// the state was replaced by the leader's snapshot (clients reconnect and
	// re-register their watches).
	DisconnectClients(reason string)
}

// Peers reaches the other members with the replica's own messages (forwarded
// writes, touches), in order per peer. Send must not block; false means the
// message was not queued.
type Peers interface {
	SendApp(to uint64, msg []byte) bool
}

// Clock is the time source of the tracker, the reaper and the leader's stamps.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config configures a Replica.
type Config struct {
	// ID is this member's raft id; MyID is its ZooKeeper server id, the top byte
	// of the session ids it issues (0 for a standalone server).
	ID   uint64
	MyID int64
	// Standalone says the server runs without an ensemble (ZooKeeper's standalone
	// mode, which its four-letter words report as such).
	Standalone bool
	// ReadOnlyMode is readonlymode.enabled: a member that has had no leader for
	// ReadOnlyAfterTicks keeps serving clients that asked for read-only (see
	// ReadOnly) instead of none.
	ReadOnlyMode       bool
	ReadOnlyAfterTicks int
	// LeaderRefusesClients is leaderServes=no: while this member leads it serves
	// no client (Serving is false) and drops the connections it had, as
	// ZooKeeper's leader then never hands its connection factory a server; the
	// leader's whole time goes to the ensemble.
	LeaderRefusesClients bool
	// Quorum is the raft configuration; Open fills in ID, Snapshot and Applier.
	// Its Log must be open.
	Quorum quorum.Config
	// Bootstrap is the membership of a new data directory, and of an imported one
	// whose snapshot names none. Empty for a server joining a running ensemble:
	// it starts with nothing and is sent the leader's snapshot once added.
	Bootstrap quorum.Membership
	// BootstrapConfig is the /zookeeper/config text a new data directory starts
	// with (ZooKeeper's membership text, with its version line); nil for a
	// standalone server, whose config node is empty as ZooKeeper's is.
	BootstrapConfig []byte
	// ReconfigEnabled is reconfigEnabled: without it the leader refuses every
	// reconfig with RECONFIGDISABLED.
	ReconfigEnabled bool
	// CatchUpTicks bounds how long a reconfig waits for the servers it adds to
	// catch up with the log (ZooKeeper's initLimit; 0: 100 ticks).
	CatchUpTicks int
	// CatchUpEntries is how far behind the commit index a member may be and still
	// count as synced with the leader (0: 1000 entries).
	CatchUpEntries uint64
	// ConfigListener, when set, hears of every change of the membership.
	ConfigListener ConfigListener
	Tree           datatree.Config
	// FS and SnapshotDir hold the snapshots.
	FS          vfs.FS
	SnapshotDir string
	// SnapCount, SnapSizeBytes, SnapRetain and PurgeInterval are ZooKeeper's
	// snapCount, snapSizeLimitInKb, autopurge.snapRetainCount and
	// autopurge.purgeInterval (0: never purge).
	SnapCount     int
	SnapSizeBytes int64
	SnapRetain    int
	PurgeInterval time.Duration
	// ContainerCheckInterval and ContainerMaxPerMinute pace the leader's reaper of
	// empty containers and expired TTL nodes.
	ContainerCheckInterval time.Duration
	ContainerMaxPerMinute  int
	// ContainerMaxNeverUsed is znode.container.maxNeverUsedIntervalMs: a
	// container that never had a child is reaped once unchanged this long (0:
	// never).
	ContainerMaxNeverUsed time.Duration
	// LeaderlessTicks is how many Ticks without a leader make the replica tell
	// the Listener to drop its clients (0: never).
	LeaderlessTicks int
	Peers           Peers
	Clock           Clock
	Logger          *slog.Logger
	// Label, when set, names a member in logs (by default its raft id).
	Label func(id uint64) string
	// Manual runs the replica without goroutines of its own, for deterministic
	// tests: entries are applied, and snapshots written, on the goroutine that
	// calls the raft node's Process (which Manual also puts in manual mode).
	Manual bool
	// Restored, when set, is the newest snapshot already loaded by the caller
	// (LoadSnapshot), who opened the log knowing its index; nil: Open loads it.
	Restored *Restored
	// OnApplied, when set, is called on the apply goroutine after each entry is
	// applied (tests check every replica's digest there).
	OnApplied func(index uint64, tree *datatree.Tree)
	// ForwardTimeoutTicks bounds how long a write forwarded to the leader may go
	// unanswered before its client is disconnected: a message lost with a broken
	// peer connection is otherwise never answered (0: 100 ticks).
	ForwardTimeoutTicks int
}

// DefaultConfig returns the settings of a standalone server.
func DefaultConfig() Config {
	return Config{ID: 1, Quorum: quorum.DefaultConfig(), SnapCount: 100000, SnapSizeBytes: 4 << 30, SnapRetain: 3,
		ContainerCheckInterval: time.Minute, ContainerMaxPerMinute: 10000, LeaderlessTicks: 20}
}

// Validate reports a configuration error and fills defaults.
func (c *Config) Validate() error {
	switch {
	case c.ID == 0:
		return errors.New("replica: id must be positive")
	case c.Quorum.Log == nil:
		return errors.New("replica: an open log is required")
	case c.SnapshotDir != "" && (c.FS == nil || c.SnapCount < 2):
		return errors.New("replica: snapshots need a filesystem and a snapCount of at least 2")
	case c.MyID < 0 || c.MyID > 255:
		return fmt.Errorf("replica: server id %d outside [0, 255]", c.MyID)
	}
	if c.SnapRetain < 3 {
		c.SnapRetain = 3 // ZooKeeper's minimum for autopurge.snapRetainCount
	}
	if c.ContainerCheckInterval <= 0 {
		c.ContainerCheckInterval = time.Minute
	}
	if c.ForwardTimeoutTicks <= 0 {
		c.ForwardTimeoutTicks = 100
	}
	if c.ReadOnlyAfterTicks <= 0 {
		c.ReadOnlyAfterTicks = 10
	}
	if c.CatchUpTicks <= 0 {
		c.CatchUpTicks = 100
	}
	if c.CatchUpEntries == 0 {
		c.CatchUpEntries = 1000
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Replica is one member's ZooKeeper state machine over its raft node.
type Replica struct {
	cfg  Config
	log  *slog.Logger
	node *quorum.Node // set once in Open; read off Open's goroutine only after nodeSet
	// nodeSet is stored once node is: entries Open leaves to the node (from the
	// first membership change on, or a lone voter's uncommitted tail) may reach
	// the apply goroutine while quorum.Start runs, before node is known.
	nodeSet atomic.Bool
	// tree is the state machine. Only the apply goroutine writes to it, and only
	// it replaces it (installing a leader's snapshot); readers load it per use.
	tree atomic.Pointer[datatree.Tree]

	listener atomic.Pointer[Listener]
	// figures is the listener as a datatree.Observer, nil when it is not one:
	// asserted once in SetListener, not on every read.
	figures     atomic.Pointer[datatree.Observer]
	timingNoter atomic.Pointer[TimingNoter] // the same for TimingNoter

	nextSeq       atomic.Uint64
	nextSessionID atomic.Int64

	waiters      waiters
	applyWaiters applyWaiters
	tracker      tracker
	received     received
	digests      digestLog
	coord        coordinator

	// ens is the membership as last applied (apply goroutine writes it); memb is
	// raft's part of it, member whether this server is in /zookeeper/config, and
	// removed is set when it stops being so, until Tick disconnects the clients.
	ens     atomic.Pointer[Ensemble]
	memb    atomic.Pointer[quorum.Membership]
	member  atomic.Bool
	removed atomic.Bool
	// evicted is set when another member's newer configuration shows this
	// server removed (NoteView): it is no member, whatever it applied.
	evicted atomic.Bool

	// queue hands raft's output to the apply goroutine in order.
	queue struct {
		sync.Mutex
		items []applyItem
	}
	queueC chan struct{} // buffer 1: the queue has items

	applied  atomic.Uint64
	ticks    atomic.Uint64 // Ticks so far: the clock of forwarded writes' timeouts
	lead     atomic.Uint64 // as last reported by quorum
	solo     atomic.Bool   // the membership is this member alone
	observer atomic.Bool   // this member is a learner
	readOnly atomic.Bool   // serving read-only clients, without a quorum (Tick sets it)
	stats    stats

	// locals expires the local sessions of this member's clients
	// (localSessionsEnabled, and every session of a read-only member): they are
	// never replicated, so every member, not only the leader, keeps this one
	// armed.
	locals tracker

	// poisoned holds, on the leader, the client connections (Txn.Conn) one of
	// whose proposals raft dropped: their later writes are refused too, so that
	// none commits after one that was lost (design/consensus.md §5.4). A session
	// in the tree has apply's sequence check besides; a local session has only
	// this. Cleared when leadership changes (every waiter fails then anyway).
	poisoned struct {
		sync.Mutex
		conns map[uint64]struct{} // guarded by mutex
	}

	// Owned by the apply goroutine.
	membership  quorum.Membership
	stagedAddrs map[uint64]string // learners being added: their quorum addresses
	startup     []Timing          // StartupTimings; set by Open
	appliedTerm uint64
	promoteTerm uint64 // leading in this term, not yet promoted (0: not leading)
	snap        snapState
	avail       availability
	// liveFrom is the log's committed end at Open: entries up to it are replayed,
	// not new, and measure no latency. Set before the raft node starts.
	liveFrom uint64

	// Owned by Tick (one caller at a time).
	ticker struct {
		sync.Mutex
		leaderless int
		lostSent   bool
		// leadingSent: the clients were dropped on becoming a leader that
		// refuses them (LeaderRefusesClients).
		leadingSent bool
		lastReap    time.Time
		lastPurge   time.Time
		touched     []jute.SessionID
		behind      map[uint64]string // on the leader: followers it reported trailing or silent
	}

	// leaderless is when the last leader was lost (zero while one is known);
	// raft goroutine only.
	leaderless time.Time
	// leaderTick is the tick at which this member last became leader.
	leaderTick atomic.Uint64

	stopped atomic.Bool
	stopC   chan struct{}
	doneC   chan struct{}
	bg      sync.WaitGroup // background snapshot writers
}

type applyItem struct {
	ents       []quorum.Entry
	lead, term uint64
	leader     bool                 // a leader change, not entries
	at         time.Time            // when the leader change was learned
	install    *quorum.SnapshotMeta // a leader's snapshot to take on, not entries
	call       func()               // run on the apply goroutine between entries (SnapshotNow)
}

// Open restores the state machine from the newest snapshot (or bootstraps a new
// data directory), starts the raft node over the log, and returns once every
// entry the log knows to be committed has been applied again.
func Open(cfg Config) (*Replica, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Replica{cfg: cfg, log: cfg.Logger, queueC: make(chan struct{}, 1),
		stopC: make(chan struct{}), doneC: make(chan struct{})}
	r.waiters.init()
	r.tracker.init()
	r.locals.init()
	r.stats.init()
	r.locals.armed = true
	r.coord.init()
	r.stagedAddrs = make(map[uint64]string)
	// Seq numbers start from the clock so that an entry proposed before a restart
	// never matches a waiter registered after it.
	r.nextSeq.Store(uint64(time.Now().UnixNano()))
	r.initSessionIDs()

	loadStart := time.Now()
	meta, err := r.restore()
	if err != nil {
		return nil, err
	}
	snapLoaded := time.Now()
	r.setMembership(meta.Membership)
	r.applied.Store(meta.Index)
	r.updateEnsemble()
	r.snap = snapState{lastIndex: meta.Index, doneC: make(chan snapDone, 1),
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), cfg.ID))}
	r.snap.nextAfter = r.nextSnapDistance()
	now := cfg.Clock.Now()
	r.ticker.lastReap, r.ticker.lastPurge = now, now

	qcfg := cfg.Quorum
	qcfg.ID, qcfg.Snapshot, qcfg.Applier, qcfg.Manual = cfg.ID, meta, r, cfg.Manual
	if qcfg.Logger == nil {
		qcfg.Logger = cfg.Logger
	}
	// What the log already knows to be committed is applied before Open returns:
	// a lone voter commits its whole log as soon as it leads.
	target := max(qcfg.Log.HardState().Commit, meta.Index)
	if m := meta.Membership; len(m.Voters) == 1 && m.Voters[0] == cfg.ID && len(m.VotersOutgoing) == 0 {
		target = max(target, qcfg.Log.LastIndex())
	}
	r.liveFrom = target
	if !cfg.Standalone {
		// Start-up is a wait for a leader like any other (ZooKeeper counts its
		// first election and sync).
		r.leaderless, r.avail.since = now, now
	}
	// The committed log is applied here, on this goroutine before the apply
	// goroutine starts, rather than handed up by the node once it runs: raft
	// would read all of it into memory in one Ready and, for a lone voter, scan
	// it once more before its campaign (quorum.Replay).
	if qcfg.Applied, err = quorum.Replay(qcfg.Log, meta, r.applyEntries); err != nil {
		return nil, err
	}
	if !cfg.Manual {
		go r.applyLoop()
	}
	node, err := quorum.Start(qcfg)
	if err != nil {
		close(r.stopC)
		if !cfg.Manual {
			<-r.doneC
		}
		return nil, err
	}
	r.node = node
	r.nodeSet.Store(true)
	// A leader learned before the node was set is asked about now.
	r.enqueue(applyItem{call: r.askCaughtUp})
	if cfg.Manual {
		// Entries the log knows to be committed need no other member: processing
		// alone applies them.
		for range 1 << 20 {
			if r.applied.Load() >= target {
				break
			}
			node.Process()
		}
	} else if err := r.awaitApplied(target); err != nil {
		r.Stop()
		return nil, err
	}
	r.log.Info("data loaded", "zxid", r.Tree().LastZxid(), "znodes", r.Tree().NodeCount(),
		"sessions", len(r.Tree().Sessions()))
	done := time.Now()
	r.startup = []Timing{
		{"startup_snap_load_time", snapLoaded.Sub(loadStart).Milliseconds()},
		{"startup_txns_loaded", int64(r.applied.Load() - min(meta.Index, r.applied.Load()))},
		{"startup_txns_load_time", done.Sub(snapLoaded).Milliseconds()},
		{"dbinittime", done.Sub(loadStart).Milliseconds()},
	}
	return r, nil
}

// Timing is one observation of a figure ZooKeeper reports as a summary:
// durations in milliseconds, counts as they are.
type Timing struct {
	Name  string
	Value int64
}

// TimingNoter is implemented by a Listener that keeps ZooKeeper's summaries of
// the replica's work: snapshottime (writing a snapshot), election_time (from
// losing a leader to knowing the next), the latencies between members
// (latency.go), in milliseconds. NoteTimingOf notes one figure of a summary
// set (ack_latency, labelled with a member's server id). It is called from the
// replica's goroutines and must not block.
type TimingNoter interface {
	NoteTiming(name string, v int64)
	NoteTimingOf(name, label string, v int64)
}

// StartupTimings are the figures of loading the data at Open, as ZooKeeper
// reports them: the snapshot's load, the log entries replayed after it and
// their time, and the whole load.
func (r *Replica) StartupTimings() []Timing { return slices.Clone(r.startup) }

func (r *Replica) noteTiming(name string, v int64) {
	if n := r.timings(); n != nil {
		n.NoteTiming(name, v)
	}
}

// timings returns the listener as a TimingNoter, or nil.
func (r *Replica) timings() TimingNoter {
	if p := r.timingNoter.Load(); p != nil {
		return *p
	}
	return nil
}

// awaitApplied waits until index is applied or the node fails.
func (r *Replica) awaitApplied(index uint64) error {
	if r.applied.Load() >= index {
		return nil
	}
	done := make(chan struct{})
	r.whenApplied(index, time.Time{}, func(error) { close(done) })
	select {
	case <-done:
		return nil
	case err := <-r.node.Failed():
		return err
	}
}

// restore loads the newest snapshot into a tree and returns its metadata with
// the membership decoded. A new data directory gets a bootstrap snapshot at
// index 1 holding cfg.Bootstrap, written before anything else, so that the
// initial membership is durable and identical on every member.
func (r *Replica) restore() (quorum.SnapshotMeta, error) {
	cfg := r.cfg
	var meta snapshot.Meta
	var tree *datatree.Tree
	var err error
	switch {
	case cfg.Restored != nil:
		tree, meta = cfg.Restored.Tree, cfg.Restored.Meta
	case cfg.SnapshotDir != "":
		tree, meta, err = snapshot.Load(cfg.FS, cfg.SnapshotDir, cfg.Tree, r.log)
		if err != nil {
			return quorum.SnapshotMeta{}, err
		}
	}
	if tree == nil && cfg.Bootstrap.IsEmpty() {
		// Joining a running ensemble: nothing until the leader's snapshot.
		r.setTree(datatree.New(cfg.Tree))
		return quorum.SnapshotMeta{}, nil
	}
	if tree == nil {
		tree = datatree.New(cfg.Tree)
		if len(cfg.BootstrapConfig) > 0 {
			m, err := zoocfg.ParseMembership(string(cfg.BootstrapConfig))
			if err != nil {
				return quorum.SnapshotMeta{}, fmt.Errorf("replica: bootstrap configuration: %w", err)
			}
			tree.SetConfig(cfg.BootstrapConfig, m.Version, 0)
		}
		tree.Apply(1, nil)
		qm := quorum.SnapshotMeta{Index: 1, Term: 1, Membership: cfg.Bootstrap}
		r.setTree(tree)
		if cfg.Quorum.Log.LastIndex() == 0 && cfg.SnapshotDir != "" {
			im, err := tree.Freeze()
			if err != nil {
				return qm, err
			}
			_, err = snapshot.Write(cfg.FS, cfg.SnapshotDir,
				snapshot.Meta{Index: 1, Term: 1, Membership: cfg.Bootstrap.Marshal()}, im)
			im.Release()
			if err != nil {
				return qm, fmt.Errorf("replica: write the bootstrap snapshot: %w", err)
			}
		}
		return qm, nil
	}
	r.setTree(tree)
	qm := quorum.SnapshotMeta{Index: meta.Index, Term: meta.Term}
	switch {
	case len(meta.Membership) > 0:
		if qm.Membership, err = quorum.UnmarshalMembership(meta.Membership); err != nil {
			return qm, fmt.Errorf("replica: snapshot at %d: %w", meta.Index, err)
		}
	case len(meta.Voters) > 0:
		qm.Membership = quorum.Membership{Voters: meta.Voters}
	}
	if qm.Membership.IsEmpty() {
		// An imported snapshot: the configuration names the members.
		qm.Membership = cfg.Bootstrap
	}
	if qm.Term == 0 {
		qm.Term = 1
	}
	return qm, nil
}

func (r *Replica) setMembership(m quorum.Membership) {
	for _, id := range m.Members() {
		if id != r.cfg.ID && !r.membership.Contains(id) && !r.membership.IsEmpty() {
			// A server was added: raft can only send it a snapshot whose
			// membership has it, so take one now.
			r.snap.force = true
		}
	}
	r.membership = m
	r.memb.Store(&m)
	for id := range r.stagedAddrs {
		if !m.Contains(id) {
			delete(r.stagedAddrs, id)
		}
	}
	r.solo.Store(len(m.Voters) == 1 && m.Voters[0] == r.cfg.ID && len(m.Learners) == 0 && len(m.VotersOutgoing) == 0)
	r.observer.Store(m.Contains(r.cfg.ID) && !m.IsVoter(r.cfg.ID))
}

// Mode is the member's role as ZooKeeper reports it (srvr's Mode, mntr's
// zk_server_state): standalone, read-only, leader, follower or observer; ""
// while no leader is known.
func (r *Replica) Mode() string {
	switch {
	case r.cfg.Standalone:
		return "standalone"
	case !r.member.Load():
		return "" // not (or no longer) in the configuration: serves no one
	case r.readOnly.Load():
		return "read-only"
	case r.IsLeader():
		return "leader"
	case r.lead.Load() == 0:
		return ""
	case r.observer.Load():
		return "observer"
	}
	return "follower"
}

// TrackLocalSession starts expiring local session id after timeoutMs without
// its client (touches come through Listener.CollectTouched, as for any session).
func (r *Replica) TrackLocalSession(id jute.SessionID, timeoutMs int32) {
	r.locals.touchOne(id, timeoutMs, r.cfg.Clock.Now())
}

// ForgetLocalSession stops expiring local session id: it was closed, or it
// became a global session.
func (r *Replica) ForgetLocalSession(id jute.SessionID) { r.locals.remove(id) }

// ReadOnly reports whether this member serves read-only clients because it has
// lost its quorum (readonlymode.enabled; ZooKeeper's ReadOnlyZooKeeperServer).
func (r *Replica) ReadOnly() bool { return r.readOnly.Load() }

// Solo reports whether this member is the whole group (a standalone server): no
// other member's log can be ahead of its own.
func (r *Replica) Solo() bool { return r.solo.Load() }

// Restored is a snapshot loaded before the replica opens: its tree (nil when the
// directory has none) and its metadata.
type Restored struct {
	Tree *datatree.Tree
	Meta snapshot.Meta
}

// LoadSnapshot loads the newest readable snapshot of dir (falling back to older
// ones as snapshot.Load does), so that the log can be opened knowing its index.
func LoadSnapshot(fs vfs.FS, dir string, cfg datatree.Config, log *slog.Logger) (*Restored, error) {
	tree, meta, err := snapshot.Load(fs, dir, cfg, log)
	if err != nil {
		return nil, err
	}
	return &Restored{Tree: tree, Meta: meta}, nil
}

// SetListener sets who hears of closed sessions, lost leaders and is asked for
// touches. Call it before serving clients.
func (r *Replica) SetListener(l Listener) {
	r.listener.Store(&l)
	if o, ok := l.(datatree.Observer); ok {
		r.figures.Store(&o)
	} else {
		r.figures.Store(nil)
	}
	if n, ok := l.(TimingNoter); ok {
		r.timingNoter.Store(&n)
	} else {
		r.timingNoter.Store(nil)
	}
}

// setTree makes tree the replica's state, its figures (datatree.Observer)
// told to the listener when it implements datatree.Observer.
func (r *Replica) setTree(tree *datatree.Tree) {
	tree.Observe(treeFigures{r})
	r.tree.Store(tree)
}

// treeFigures forwards a tree's figures to the replica's listener, which may
// be set after the tree.
type treeFigures struct{ r *Replica }

func (f treeFigures) observer() datatree.Observer {
	if o := f.r.figures.Load(); o != nil {
		return *o
	}
	return nil
}

func (f treeFigures) WatchesFired(typ jute.EventType, n int) {
	if o := f.observer(); o != nil {
		o.WatchesFired(typ, n)
	}
}

func (f treeFigures) NamespaceRead(ns string, bytes int64) {
	if o := f.observer(); o != nil {
		o.NamespaceRead(ns, bytes)
	}
}

func (f treeFigures) NamespaceWritten(ns string, bytes int64) {
	if o := f.observer(); o != nil {
		o.NamespaceWritten(ns, bytes)
	}
}

// QuotaExceeded is told on the leader only: ZooKeeper's leader checks quotas
// when it prepares a write, and its followers never see a refused one.
func (f treeFigures) QuotaExceeded(ns string) {
	if o := f.observer(); o != nil && (f.r.cfg.Standalone || f.r.IsLeader()) {
		o.QuotaExceeded(ns)
	}
}

func (r *Replica) listen() Listener {
	if p := r.listener.Load(); p != nil {
		return *p
	}
	return nil
}

// Tree returns the state machine's tree (reads may run on any goroutine).
func (r *Replica) Tree() *datatree.Tree { return r.tree.Load() }

// Node returns the raft node.
func (r *Replica) Node() *quorum.Node { return r.node }

// Applied returns the zxid of the last applied entry.
func (r *Replica) Applied() jute.Zxid { return jute.Zxid(r.applied.Load()) }

// Leader returns the raft id of the leader (0: none known).
func (r *Replica) Leader() uint64 { return r.lead.Load() }

// IsLeader reports whether this member leads.
func (r *Replica) IsLeader() bool { return r.lead.Load() == r.cfg.ID }

// Serving reports whether clients may be served: a leader is known, and this
// server is in the ensemble's configuration (not one being added, nor one a
// reconfig removed).
func (r *Replica) Serving() bool {
	return r.lead.Load() != 0 && r.member.Load() && !r.RefusesClients()
}

// RefusesClients reports whether this member leads with leaderServes=no.
func (r *Replica) RefusesClients() bool { return r.cfg.LeaderRefusesClients && r.IsLeader() }

// Member reports whether this server is in /zookeeper/config (without one, as
// on a standalone server: whether raft has it).
func (r *Replica) Member() bool { return r.member.Load() }

// Failed delivers a failure of the write path after which the server must stop.
func (r *Replica) Failed() <-chan error { return r.node.Failed() }

// Propose replicates txn, a write or session operation of a client of this
// server, and calls done once its entry is applied here, or fails. applying, when
// set, runs on the apply goroutine right before the entry is applied here. Entries
// of one caller go into the log in the order Propose is called.
func (r *Replica) Propose(txn datatree.Txn, applying func(), done DoneFunc) error {
	if r.stopped.Load() {
		return ErrStopped
	}
	seq := r.nextSeq.Add(1)
	entry := encodeEntry(r.cfg.ID, seq, &txn)
	lead := r.lead.Load()
	if lead == 0 {
		return ErrNoLeader
	}
	if lead == r.cfg.ID {
		if r.isPoisoned(txn.Conn) {
			return ErrDropped
		}
		r.waiters.add(seq, applying, done, 0)
		stampTime(entry, r.cfg.Clock.Now().UnixMilli())
		conn := txn.Conn
		rejected := func(err error) {
			r.poison(conn)
			r.waiters.fail(seq, err)
		}
		if r.intercept(entry, rejected) {
			return nil
		}
		r.stats.proposed(len(entry))
		if err := r.node.Propose(entry, rejected); err != nil {
			r.waiters.remove(seq)
			return err
		}
		return nil
	}
	timeout := uint64(r.cfg.ForwardTimeoutTicks)
	if txn.Kind == datatree.KindRequest && txn.Op == jute.OpReconfig {
		timeout += uint64(2 * r.cfg.CatchUpTicks) // waiting for new servers to catch up
	}
	r.waiters.add(seq, applying, done, r.ticks.Load()+timeout)
	if r.stopped.Load() {
		// Stop may have failed the waiters before this one was added, and no
		// tick expires it any more.
		r.waiters.remove(seq)
		return ErrStopped
	}
	if !r.forward(lead, entry) {
		r.waiters.remove(seq)
		return ErrNoLeader
	}
	return nil
}

// PeerLost is told by the peer transport that its stream to member id broke:
// what was forwarded on it may be lost, so if id leads, the writes waiting on it
// fail now rather than at their timeout.
func (r *Replica) PeerLost(id uint64) {
	if id != 0 && id == r.lead.Load() && id != r.cfg.ID {
		r.waiters.failForwarded(ErrLeaderChanged)
	}
}

// ProposeServer replicates an entry the server makes itself (expiry, reaping);
// rejected learns if raft drops it.
func (r *Replica) proposeServer(txn *datatree.Txn, rejected func(error)) {
	entry := encodeEntry(r.cfg.ID, r.nextSeq.Add(1), txn)
	r.stats.proposed(len(entry))
	if err := r.node.Propose(entry, rejected); err != nil && rejected != nil {
		rejected(err)
	}
}

// Sync calls done once this member has applied every entry committed when the
// sync was taken up (a ReadIndex confirmed by the quorum, then a wait for apply).
// done runs on the raft or apply goroutine and must not block.
func (r *Replica) Sync(done func(error)) error {
	if r.lead.Load() == 0 {
		return ErrNoLeader
	}
	r.stats.pendingSyncs.Add(1)
	answered := func(err error) {
		r.stats.pendingSyncs.Add(-1)
		done(err)
	}
	err := r.node.ReadIndex(func(index uint64, err error) {
		if err != nil {
			answered(err)
			return
		}
		r.whenApplied(index, time.Time{}, answered)
	})
	if err != nil {
		r.stats.pendingSyncs.Add(-1)
	}
	return err
}

// WaitApplied calls done once zxid is applied here, or with ErrTimeout after
// timeout (a reconnecting client's lastZxidSeen; ZooKeeper refuses the client
// when the server is behind).
func (r *Replica) WaitApplied(zxid jute.Zxid, timeout time.Duration, done func(error)) {
	if uint64(zxid) <= r.applied.Load() {
		done(nil)
		return
	}
	r.whenApplied(uint64(zxid), r.cfg.Clock.Now().Add(timeout), done)
}

// whenApplied calls done once index is applied, or with an error at the
// deadline (zero: none) or on Stop. The apply goroutine may store and fire the
// index between a caller's check and the registration, so the registration is
// followed by a fire at what is applied now: applied is stored before each fire,
// and fire completes a waiter only once. Likewise a registration after Stop
// failed the waiters is failed here.
func (r *Replica) whenApplied(index uint64, deadline time.Time, done func(error)) {
	r.applyWaiters.add(index, deadline, done)
	r.applyWaiters.fire(r.applied.Load())
	if r.stopped.Load() {
		r.applyWaiters.failAll(ErrStopped)
	}
}

// NewSessionID returns a session id unique across the ensemble: ZooKeeper's
// layout, the server id in the top byte and a counter seeded from the clock.
func (r *Replica) NewSessionID() jute.SessionID {
	id := r.nextSessionID.Add(1) - 1
	if id == -0x8000000000000000 {
		id = r.nextSessionID.Add(1) - 1
	}
	return jute.SessionID(id)
}

// initSessionIDs seeds the session id counter.
// Reference: ZooKeeper SessionTrackerImpl.initializeNextSessionId.
func (r *Replica) initSessionIDs() {
	ms := time.Now().UnixMilli()
	base := int64(uint64(ms<<24)>>8) | r.cfg.MyID<<56
	if base == -0x8000000000000000 {
		base++
	}
	r.nextSessionID.Store(base)
}

// Stop stops the raft node and the apply goroutine; pending waiters fail.
func (r *Replica) Stop() {
	if r.stopped.Swap(true) {
		<-r.doneC
		return
	}
	if r.node != nil {
		r.node.Stop()
	}
	close(r.stopC)
	if r.cfg.Manual {
		close(r.doneC)
	} else {
		<-r.doneC
	}
	r.bg.Wait()
	r.waiters.failAll(ErrStopped)
	r.applyWaiters.failAll(ErrStopped)
}

// Apply implements quorum.Applier: it queues the entries for the apply goroutine.
func (r *Replica) Apply(ents []quorum.Entry) {
	r.noteCommitted(ents)
	r.enqueue(applyItem{ents: ents})
}

// LeaderChanged implements quorum.Applier. Every pending waiter fails at once:
// what it waits for may or may not commit under the new leader.
func (r *Replica) LeaderChanged(lead, term uint64) {
	prev := r.lead.Swap(lead)
	if prev != lead {
		now := r.cfg.Clock.Now()
		if lead == r.cfg.ID {
			r.stats.leaderSince.Store(now.UnixNano())
			r.leaderTick.Store(r.ticks.Load())
		} else {
			r.stats.leaderSince.Store(0)
		}
		switch {
		case lead == 0:
			r.stats.lookings.Add(1)
			r.leaderless = now
			r.log.Warn("no leader: election under way", "term", term, "previous", r.label(prev))
		case r.cfg.Standalone:
			// It leads itself from the start: nothing was elected, and
			// ZooKeeper's standalone server says nothing of leaders either.
		case r.leaderless.IsZero():
			// Leadership moved to another member without a spell of no leader
			// in between (a member becomes leader only through one).
			r.log.Info("following a new leader", "leader", r.label(lead), "term", term, "self", r.label(r.cfg.ID))
		default:
			took := now.Sub(r.leaderless).Milliseconds()
			r.log.Info(electedMessage(lead == r.cfg.ID, r.observer.Load(), took), "leader", r.label(lead),
				"term", term, "self", r.label(r.cfg.ID), "election_ms", took)
			r.noteTiming("election_time", took)
			r.leaderless = time.Time{}
		}
		r.waiters.failAll(ErrLeaderChanged)
		r.poisoned.Lock()
		r.poisoned.conns = nil
		r.poisoned.Unlock()
		r.abortReconfig(ErrLeaderChanged)
	}
	r.enqueue(applyItem{leader: true, lead: lead, term: term, at: r.cfg.Clock.Now()})
}

// electedMessage words the end of an election as ZooKeeper's leader and
// followers log it, which operators look for in an incident ("LEADING - LEADER
// ELECTION TOOK - 23 MS"); ZooKeeper's observers log no such line.
func electedMessage(leading, observer bool, tookMs int64) string {
	switch {
	case leading:
		// Reference: ZooKeeper Leader.lead.
		return fmt.Sprintf("LEADING - LEADER ELECTION TOOK - %d MS", tookMs)
	case observer:
		return "leader elected"
	default:
		// Reference: ZooKeeper Follower.followLeader.
		return fmt.Sprintf("FOLLOWING - LEADER ELECTION TOOK - %d MS", tookMs)
	}
}

// poison refuses every later write of client connection conn (0: none).
func (r *Replica) poison(conn uint64) {
	if conn == 0 {
		return
	}
	r.poisoned.Lock()
	if r.poisoned.conns == nil || len(r.poisoned.conns) > 1<<16 {
		r.poisoned.conns = make(map[uint64]struct{})
	}
	r.poisoned.conns[conn] = struct{}{}
	r.poisoned.Unlock()
}

func (r *Replica) isPoisoned(conn uint64) bool {
	if conn == 0 {
		return false
	}
	r.poisoned.Lock()
	_, ok := r.poisoned.conns[conn]
	r.poisoned.Unlock()
	return ok
}

// label names member id in logs.
func (r *Replica) label(id uint64) string {
	if r.cfg.Label != nil {
		return r.cfg.Label(id)
	}
	return strconv.FormatUint(id, 10)
}

func (r *Replica) enqueue(it applyItem) {
	if r.cfg.Manual {
		r.process(it)
		return
	}
	r.queue.Lock()
	r.queue.items = append(r.queue.items, it)
	r.queue.Unlock()
	select {
	case r.queueC <- struct{}{}:
	default:
	}
}

// applyLoop is the apply goroutine.
func (r *Replica) applyLoop() {
	defer close(r.doneC)
	var items []applyItem
	for {
		select {
		case <-r.stopC:
			if r.snap.inFlight {
				r.snapshotDone(<-r.snap.doneC)
			}
			return
		case <-r.queueC:
		case d := <-r.snap.doneC:
			r.snapshotDone(d)
			continue
		}
		r.queue.Lock()
		items, r.queue.items = r.queue.items, items[:0]
		r.queue.Unlock()
		for i := range items {
			r.process(items[i])
		}
		clear(items)
	}
}

func (r *Replica) process(it applyItem) {
	switch {
	case it.leader:
		r.leaderKnown(it.lead, it.term, it.at)
		r.leaderChangedLocked(it.lead, it.term)
	case it.install != nil:
		r.install(*it.install)
	case it.call != nil:
		it.call()
	default:
		r.applyEntries(it.ents)
	}
}

// leaderChangedLocked runs on the apply goroutine, in log order with the entries.
func (r *Replica) leaderChangedLocked(lead, term uint64) {
	if lead == r.cfg.ID {
		r.promoteTerm = term
		return
	}
	r.promoteTerm = 0
	r.tracker.demote()
}

func (r *Replica) applyEntries(ents []quorum.Entry) {
	for i := range ents {
		r.applyEntry(&ents[i])
	}
}

func (r *Replica) applyEntry(e *quorum.Entry) {
	if e.Index <= r.applied.Load() {
		return
	}
	zxid := jute.Zxid(e.Index)
	switch {
	case e.Membership != nil:
		r.applyMembership(zxid, e)
	case len(e.Data) == 0:
		r.Tree().Apply(zxid, nil)
	default:
		r.applyData(zxid, e.Data)
	}
	r.appliedTerm = e.Term
	r.applied.Store(e.Index)
	if e.Index > r.liveFrom && e.Membership == nil {
		r.noteSince("propagation_latency", e.Data, r.cfg.Clock.Now().UnixMilli())
	}
	r.checkCaughtUp()
	if r.IsLeader() {
		r.stats.commits.Add(1)
	} else {
		r.stats.learnerCommits.Add(1)
	}
	// A new leader arms its tracker once it applies an entry of its own term:
	// every session's deadline then restarts from now.
	if r.promoteTerm != 0 && e.Term >= r.promoteTerm {
		r.promoteTerm = 0
		r.tracker.promote(r.Tree().Sessions(), r.cfg.Clock.Now())
		r.log.Info("leading: session expiry armed", "sessions", r.tracker.count(), "zxid", zxid)
	}
	r.digests.note(zxid, r.Tree().Digest())
	r.applyWaiters.fire(e.Index)
	r.entryApplied()
	if f := r.cfg.OnApplied; f != nil {
		f(e.Index, r.Tree())
	}
	r.snap.bytes += int64(len(e.Data))
	r.maybeSnapshot(e.Index, e.Term)
}

func (r *Replica) applyData(zxid jute.Zxid, data []byte) {
	env, err := decodeEnvelope(data)
	if err != nil {
		r.log.Error("skipping an entry that is not a zkd entry", "zxid", zxid, "err", err)
		r.Tree().Apply(zxid, nil)
		return
	}
	var txn datatree.Txn
	if env.legacy {
		txn, err = datatree.DecodeLegacyTxn(env.txn)
	} else {
		txn, err = datatree.DecodeTxn(env.txn)
	}
	mine := !env.legacy && env.origin == r.cfg.ID
	if mine {
		r.waiters.applying(env.seq)
	}
	var res datatree.Result
	if err != nil {
		r.log.Error("malformed entry", "zxid", zxid, "err", err)
		r.Tree().Apply(zxid, nil)
		res = datatree.Result{Err: jute.CodeMarshallingError}
	} else if txn.Kind == datatree.KindRequest && txn.Op == jute.OpReconfig {
		// Only the leader's refusals reach the log as entries; a reconfig that
		// is carried out is a membership change (applyMembership).
		res = r.Tree().ApplyRefused(zxid, &txn, decodeRefusal(txn.Body))
	} else {
		res = r.Tree().ApplyTxn(zxid, &txn)
		r.afterApply(&txn, res)
	}
	if mine {
		r.waiters.complete(env.seq, zxid, res)
	}
}

// afterApply keeps the tracker and the session layer in step with the session
// table.
func (r *Replica) afterApply(txn *datatree.Txn, res datatree.Result) {
	if res.Err != jute.CodeOK {
		return
	}
	switch txn.Kind {
	case datatree.KindCreateSession:
		r.tracker.touchOne(txn.Session, txn.Timeout, r.cfg.Clock.Now())
	case datatree.KindAttach:
		r.tracker.touchOne(txn.Session, txn.Timeout, r.cfg.Clock.Now())
		if l := r.listen(); l != nil {
			l.SessionAttached(txn.Session, txn.Conn)
		}
	case datatree.KindCloseSession:
		r.tracker.remove(txn.Session)
		if l := r.listen(); l != nil {
			l.SessionClosed(txn.Session)
		}
	}
}
