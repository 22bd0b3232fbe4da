package session

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"zkd/jute"
	"zkd/replica"
)

// OpsConfig is what the operator commands (four-letter words, AdminServer,
// metrics) report beyond Config. main sets it with SetOps once the client port is
// bound; until then the commands use zero values.
type OpsConfig struct {
	// DataDir and DataLogDir are the absolute directories holding zkd's snapshots
	// and log (conf's dataDir/dataLogDir, dirs' sizes).
	DataDir    string
	DataLogDir string
	// ClientPort is the bound client port (conf, configuration); 0: from Config.ClientAddr.
	ClientPort int
	// ClientPortListenBacklog is clientPortListenBacklog (-1: the OS default).
	ClientPortListenBacklog int
	// ReadOnlyMode is readonlymode.enabled: ZooKeeper then adds isro to the whitelist.
	ReadOnlyMode bool
	// Disk, when set, supplies the fsync figures (mntr fsynctime, server_stats
	// fsync_threshold_exceed_count, Prometheus).
	Disk *DiskStats
	// Quorum, when set, reports the replication layer's figures: the server's
	// role (srvr's Mode, mntr's server_state and peer_state), and the quorum and
	// leader keys of mntr. It is called on every mntr, srvr and scrape, from any
	// goroutine, and must not block. Nil: a standalone server with nothing to add.
	Quorum func() QuorumStats
	// QuorumConf, when set, returns what conf prints after serverId for an
	// ensemble member: its quorum settings and the current membership.
	QuorumConf func() string
}

// QuorumStats are the figures of mntr that come from the replication layer
// (replica and quorum), which the session layer does not see by itself. A
// Figure that is not Known leaves its key out of mntr and Prometheus rather than
// print a number nobody measured.
type QuorumStats struct {
	// Mode is the role: "standalone", "leader", "follower", "observer" or
	// "read-only" (srvr's Mode, mntr's server_state). Empty means standalone.
	Mode string
	// PeerState is mntr's peer_state, as ZooKeeper words it: "leading -
	// broadcast", "following - broadcast", "observing - broadcast". Empty on a
	// standalone or read-only server, which do not print the key.
	PeerState string
	// QuorumSize is the number of voting members (mntr quorum_size); printed
	// with PeerState only.
	QuorumSize int

	// The counters below are since the process started (mntr shows them since
	// the last srst). A standalone server knows them all to be 0: it never looks
	// for a leader, proposes to followers, or follows.
	LookingCount        Figure // times this member had no leader (ZooKeeper's LOOKING state)
	ProposalCount       Figure // entries this member proposed to followers while leading
	CommitCount         Figure // entries committed while this member led
	SnapCount           Figure // learners brought up to date with a snapshot while leading
	DiffCount           Figure // learners brought up to date with log entries while leading
	LearnerProposals    Figure // entries received from the leader while following
	LearnerCommits      Figure // commits learned from the leader while following
	UnrecoverableErrors Figure // failures after which the server cannot go on (the log cannot be written)
	// StaleSessionsExpired counts the sessions this member expired for silence
	// (as leader, or standalone: the only ones that expire sessions).
	StaleSessionsExpired Figure

	// Leader is set only while this server leads an ensemble; mntr then prints
	// the leader's keys, and srvr its proposal sizes, as ZooKeeper's leader does.
	Leader *LeaderStats
}

// LeaderStats are the figures only an ensemble's leader reports.
type LeaderStats struct {
	Learners                 int // followers and observers connected to the leader (mntr learners)
	SyncedFollowers          int // voting followers up to date and receiving entries
	SyncedNonVotingFollowers int // non-voting followers up to date (ZooKeeper's reconfig transition)
	SyncedObservers          int // observers up to date and receiving entries
	PendingSyncs             Figure
	Uptime                   Figure // ms since this server became leader (leader_uptime)
	// Proposal sizes in bytes: the last, smallest and largest since srst; -1
	// before the first, as ZooKeeper prints them.
	LastProposalSize, MinProposalSize, MaxProposalSize Figure
}

// Figure is a number the replication layer may not report yet.
type Figure struct {
	Value int64
	Known bool
}

// Known returns a Figure holding v.
func Known(v int64) Figure { return Figure{Value: v, Known: true} }

// standaloneStats are the figures of a server with no Quorum hook.
var standaloneStats = QuorumStats{Mode: "standalone", LookingCount: Known(0), ProposalCount: Known(0),
	CommitCount: Known(0), SnapCount: Known(0), DiffCount: Known(0), LearnerProposals: Known(0),
	LearnerCommits: Known(0), UnrecoverableErrors: Known(0)}

// quorumStats calls the Quorum hook, or returns a standalone server's figures.
func (s *Server) quorumStats() QuorumStats {
	f := s.opsConfig().Quorum
	if f == nil {
		return standaloneStats
	}
	qs := f()
	if qs.Mode == "" {
		qs.Mode = "standalone"
	}
	return qs
}

// opsState is the operator-facing state of one Server.
type opsState struct {
	cfg       atomic.Pointer[OpsConfig]
	traceMask atomic.Int64 // ZooTrace mask, gtmk/stmk; default 306

	// requests holds one latency histogram per opcode, indexed by opSlot, in
	// shards per core: every reply of every event loop lands here.
	requests perCPU[opHistograms]

	rejected counter // connections refused over maxClientCnxns
	// bytesIn and bytesOut count request bytes read and reply and event bytes
	// queued (mntr's bytes_received_count and response_bytes).
	bytesIn, bytesOut counter
	// respSize is the size of the last, smallest and largest reply or event
	// (mntr's *_client_response_size; min -1 until the first).
	respSize struct{ last, min, max atomic.Int64 }
	// watchBytes counts the bytes of watch events queued (mntr's watch_bytes);
	// fired holds, per event type, how many watches each event triggered
	// (node_created/deleted/changed/children_watch_count), indexed by firedSlot.
	watchBytes counter
	fired      [4]*Histogram
	// readNS and writeNS are the bytes of each read and write per top-level
	// namespace (read_per_namespace, write_per_namespace); quotaExceeded counts
	// the writes refused for a hard quota per namespace
	// (quota_exceeded_error_per_namespace).
	readNS        perCPU[labelSet[Histogram]] // every event loop reads
	writeNS       labelSet[Histogram]         // the applier only writes
	quotaExceeded labelSet[counter]
	// ackLatency is the leader's ack_latency per member (server id).
	ackLatency labelSet[Histogram]
	// timings holds the replica's and the start's summaries by name
	// (timingNames); built once, then read-only.
	timings  map[string]*Histogram
	throttle atomic.Int64 // times reading a connection was paused
	dropped  atomic.Int64 // connections closed for not reading their replies
	net      netNotes     // the socket layer's counts (netnotes.go)

	// base holds the counters of QuorumStats at the last srst: mntr shows
	// counters since then, Prometheus since start. guarded by baseMu.
	baseMu sync.Mutex
	base   map[string]int64

	whitelistOnce sync.Once
}

// counter is a ZooKeeper counter: mntr shows it since the last srst, Prometheus
// since start (a Prometheus counter never goes down).
type counter struct {
	total atomic.Int64
	base  atomic.Int64 // total at the last srst
}

func (c *counter) add(n int64) { c.total.Add(n) }

// sinceReset is the value mntr prints.
func (c *counter) sinceReset() int64 { return c.total.Load() - c.base.Load() }

func (c *counter) reset() { c.base.Store(c.total.Load()) }

// noteResponse records one reply or event of n bytes.
func (o *opsState) noteResponse(n int) {
	v := int64(n)
	o.bytesOut.add(v)
	o.respSize.last.Store(v)
	for {
		cur := o.respSize.min.Load()
		if cur != -1 && cur <= v || o.respSize.min.CompareAndSwap(cur, v) {
			break
		}
	}
	for {
		cur := o.respSize.max.Load()
		if cur >= v || o.respSize.max.CompareAndSwap(cur, v) {
			break
		}
	}
}

func (o *opsState) resetResponseSizes() {
	o.respSize.last.Store(0)
	o.respSize.min.Store(-1)
	o.respSize.max.Store(0)
}

// opSlots covers every opcode from OpCloseSession (-11) to OpWhoAmI (107).
const (
	opSlotBase = 16
	opSlots    = opSlotBase + 128
)

func opSlot(op jute.OpCode) int {
	i := int(op) + opSlotBase
	if i < 0 || i >= opSlots {
		return -1
	}
	return i
}

// opHistograms holds a latency histogram per tracked opcode, indexed by
// opSlot (nil for the others).
type opHistograms [opSlots]*Histogram

func newOpHistograms() *opHistograms {
	var h opHistograms
	for _, op := range trackedOps {
		h[opSlot(op)] = NewHistogram(latencyBounds)
	}
	return &h
}

// opWindow is the latency window of the opcode in slot, over every shard.
func (o *opsState) opWindow(slot int) window {
	var w window
	for _, h := range o.requests.all() {
		w.merge(h[slot].window())
	}
	return w
}

// opSnapshot is the latency histogram of the opcode in slot, over every shard.
func (o *opsState) opSnapshot(slot int) HistogramSnapshot {
	var s HistogramSnapshot
	for _, h := range o.requests.all() {
		s = mergeSnapshots(s, h[slot].Snapshot())
	}
	return s
}

// trackedOps are the opcodes with a latency histogram: every request a client can
// send, the handshake included.
var trackedOps = []jute.OpCode{
	jute.OpCreateSession, jute.OpCloseSession, jute.OpCreate, jute.OpDelete, jute.OpExists,
	jute.OpGetData, jute.OpSetData, jute.OpGetACL, jute.OpSetACL, jute.OpGetChildren,
	jute.OpSync, jute.OpPing, jute.OpGetChildren2, jute.OpCheck, jute.OpMulti, jute.OpCreate2,
	jute.OpReconfig, jute.OpCheckWatches, jute.OpRemoveWatches, jute.OpCreateContainer,
	jute.OpCreateTTL, jute.OpMultiRead, jute.OpAuth, jute.OpSetWatches, jute.OpSASL,
	jute.OpGetEphemerals, jute.OpGetAllChildrenNumber, jute.OpSetWatches2, jute.OpAddWatch,
	jute.OpWhoAmI,
}

// isUpdate reports whether ZooKeeper counts op in updatelatency (requests that
// carry a txn) rather than readlatency (everything else, pings included).
func isUpdate(op jute.OpCode) bool {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL, jute.OpDelete,
		jute.OpSetData, jute.OpSetACL, jute.OpMulti, jute.OpCreateSession, jute.OpCloseSession,
		jute.OpReconfig:
		return true
	}
	return false
}

func newOpsState() *opsState {
	o := &opsState{}
	o.traceMask.Store(defaultTraceMask)
	o.resetResponseSizes()
	o.cfg.Store(&OpsConfig{ClientPortListenBacklog: -1})
	o.requests.make = newOpHistograms
	o.requests.put(o.requests.take()) // one shard at least: every figure has a histogram
	for i := range o.fired {
		o.fired[i] = NewHistogram(entryBounds)
	}
	o.readNS.make = func() *labelSet[Histogram] { return &labelSet[Histogram]{make: newNamespaceHistogram} }
	o.writeNS.make = newNamespaceHistogram
	o.quotaExceeded.make = func() *counter { return new(counter) }
	o.ackLatency.make = func() *Histogram { return NewHistogram(latencyMsBounds) }
	o.timings = make(map[string]*Histogram, len(timingNames)+len(latencyNames))
	for _, name := range timingNames {
		o.timings[name] = NewHistogram(timingBounds)
	}
	for _, name := range latencyNames {
		o.timings[name] = NewHistogram(latencyMsBounds)
	}
	return o
}

// timingNames are the summaries of whole-server work that mntr reports from
// the replica (replica.TimingNoter, replica.StartupTimings): milliseconds, and
// for startup_txns_loaded a count of log entries; and the connection
// throttle's token deficit at each ConnectRequest it lets through.
var timingNames = []string{"startup_txns_load_time", "snapshottime", "startup_txns_loaded", "dbinittime",
	"election_time", "startup_snap_load_time", "unavailable_time", "leader_unavailable_time",
	"follower_sync_time", "observer_sync_time", tokenDeficitName}

// tokenDeficitName is ZooKeeper's summary of the connection throttle's deficit.
const tokenDeficitName = "connection_token_deficit"

// latencyNames are ZooKeeper's advanced summaries (with percentiles) of
// milliseconds: the replica's latencies between members, and the pause
// monitor's overshoots (jvm_pause_time_ms, noted by the server).
var latencyNames = []string{"quorum_ack_latency", "commit_propagation_latency", "proposal_ack_creation_latency",
	"proposal_latency", "propagation_latency", "jvm_pause_time_ms"}

// timingBounds bucket milliseconds or counts, from 0 to over a minute (or a
// million entries).
var timingBounds = []int64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 1_000_000}

// latencyMsBounds bucket latencies in whole milliseconds finely enough for
// their percentiles: every millisecond to 10, then about 25% apart.
var latencyMsBounds = []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100,
	125, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 10_000, 30_000}

// NoteTiming implements replica.TimingNoter: one observation of a summary of
// timingNames; other names are not ZooKeeper's and are dropped.
func (s *Server) NoteTiming(name string, v int64) {
	if h := s.ops().timings[name]; h != nil {
		h.Observe(v)
	}
}

// NoteTimingOf implements replica.TimingNoter: one observation of a summary
// set; only ack_latency is one.
func (s *Server) NoteTimingOf(name, label string, v int64) {
	if name != "ack_latency" {
		return
	}
	if h := s.ops().ackLatency.get(label); h != nil {
		h.Observe(v)
	}
}

var _ replica.TimingNoter = (*Server)(nil)

// firedSlot is the index in opsState.fired of an event type whose watches
// ZooKeeper counts; false for the others.
func firedSlot(typ jute.EventType) (int, bool) {
	switch typ {
	case jute.EventNodeCreated:
		return 0, true
	case jute.EventNodeDeleted:
		return 1, true
	case jute.EventNodeDataChanged:
		return 2, true
	case jute.EventNodeChildrenChanged:
		return 3, true
	}
	return 0, false
}

// WatchesFired implements datatree.Observer: an event of type typ triggered
// n watches.
func (s *Server) WatchesFired(typ jute.EventType, n int) {
	if i, ok := firedSlot(typ); ok {
		s.ops().fired[i].Observe(int64(n))
	}
}

// defaultTraceMask is ZooTrace's default: client requests, server packets,
// sessions and warnings (2|16|32|256).
const defaultTraceMask = 306

// ops returns the operator state of s.
func (s *Server) ops() *opsState { return s.opsState }

// SetOps sets what the operator commands report beyond Config. Safe to call at
// any time; main calls it once the client port is bound.
func (s *Server) SetOps(cfg OpsConfig) {
	if cfg.ClientPortListenBacklog == 0 {
		cfg.ClientPortListenBacklog = -1
	}
	s.ops().cfg.Store(&cfg)
}

func (s *Server) opsConfig() *OpsConfig { return s.ops().cfg.Load() }

// clientPort is the bound client port, or the configured one before SetOps.
func (s *Server) clientPort() int {
	if p := s.opsConfig().ClientPort; p > 0 {
		return p
	}
	_, port, err := net.SplitHostPort(s.cfg.ClientAddr)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return -1
	}
	return n
}

// NoteRejected counts a connection refused over maxClientCnxns (mntr
// connection_rejected); netloop calls it when NewConn fails.
func (s *Server) NoteRejected() { s.ops().rejected.add(1) }

// NoteThrottled counts one pause of reading from c: too many requests in flight,
// or too much unsent output. netloop calls it.
func (c *Conn) NoteThrottled() { c.opsState().throttle.Add(1) }

// NoteDropped counts c being closed because its client does not read its replies.
func (c *Conn) NoteDropped() { c.opsState().dropped.Add(1) }

// SetUnsent records how many bytes of c's output the socket layer still holds
// (netloop's outbound buffer), for the output-queue gauge.
func (c *Conn) SetUnsent(n int) { c.last.unsent.Store(int64(n)) }

// opsState returns c's server's operator state, cached in the connection.
func (c *Conn) opsState() *opsState {
	if o := c.last.ops.Load(); o != nil {
		return o
	}
	o := c.srv.ops()
	c.last.ops.Store(o)
	return o
}

// TraceMask returns the ZooTrace mask (gtmk).
func (s *Server) TraceMask() int64 { return s.ops().traceMask.Load() }

// SetTraceMask sets the ZooTrace mask (stmk) and returns it. zkd keeps the value
// for gtmk but its log level is set with -log-level.
func (s *Server) SetTraceMask(v int64) int64 {
	s.ops().traceMask.Store(v)
	return v
}
