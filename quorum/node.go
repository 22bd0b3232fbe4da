package quorum

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"zkd/txnlog"
)

var (
	// ErrStopped is returned by Propose and ReadIndex after Stop, and passed to
	// the callbacks of requests still pending when the node stops.
	ErrStopped = errors.New("quorum: node stopped")
	// ErrLogFailed is returned by Failed, and passed to every pending request, once
	// a write or fdatasync of the log has failed: nothing more is accepted.
	ErrLogFailed = errors.New("quorum: write-ahead log failed; no further writes are accepted")
	// ErrDropped is passed to a proposal's rejected callback when raft refused it:
	// this node is not the leader, a leadership transfer is under way, or too much
	// is uncommitted.
	ErrDropped = errors.New("quorum: proposal dropped")
)

// Entry is one committed log entry handed to the Applier. Data aliases the log's
// copy and must not be modified. Empty Data is raft's own no-op (a new leader's
// first entry); a conf change has Membership set to the membership that took
// effect with it, and Data set to the change's context.
type Entry struct {
	Index, Term uint64
	Data        []byte
	Membership  *Membership
}

// Applier is the layer above: it receives what the raft loop produces. Both
// methods run on the raft goroutine and must return quickly (hand work to another
// goroutine); they are called in log order.
type Applier interface {
	// Apply receives committed entries in index order, each exactly once per
	// process lifetime, starting after Config.Snapshot.Index (or Config.Applied).
	Apply(ents []Entry)
	// LeaderChanged reports the leader this node now follows (0: none known) and
	// the term, before any entry committed under it is passed to Apply.
	LeaderChanged(lead, term uint64)
	// InstallSnapshot replaces the state machine with the snapshot of meta.Index,
	// which the transport stored before it delivered the leader's MsgSnap. Entries
	// passed to Apply afterwards follow meta.Index.
	InstallSnapshot(meta SnapshotMeta)
}

// EntryObserver is an Applier that also watches entries on their way to the
// log, for ZooKeeper's latencies between members. Its methods are called on
// the raft goroutine with the data of each normal entry, and must not keep
// data or block.
type EntryObserver interface {
	// Received: a member that does not lead took data from the leader, before
	// writing it to its log.
	Received(data []byte)
	// Persisted: the member made data durable in its log, which is when it
	// acknowledges it (the leader's own acknowledgement included).
	Persisted(data []byte)
	// Acknowledged: the leader learned, before data committed, that member
	// (the leader itself included) holds it: an entry it sampled (one index
	// in Config.AckSampleEvery, as ZooKeeper's leader times the acks of one
	// zxid in ackLoggingFrequency).
	Acknowledged(member uint64, data []byte)
}

// Message is a raft message. The layers above carry it without looking inside
// (only quorum and its transports import raft).
type Message = pb.Message

// To returns the member a message is for.
func To(m *Message) uint64 { return m.GetTo() }

// SnapshotIndex reports whether m sends a snapshot (raft's MsgSnap, which carries
// only the metadata: the transport streams the file), and the index it is of.
func SnapshotIndex(m *Message) (uint64, bool) {
	if m.GetType() != pb.MessageType_MsgSnap {
		return 0, false
	}
	return m.GetSnapshot().GetMetadata().GetIndex(), true
}

// Transport carries raft messages to the other members. Send must not block: a
// message that cannot be queued is dropped (raft retransmits) and the peer should
// be reported with Node.ReportUnreachable.
type Transport interface {
	Send(msgs []*Message)
}

// Config configures a Node.
type Config struct {
	// ID is this member's raft id: never 0, never reused for another member.
	ID             uint64
	ElectionTicks  int
	HeartbeatTicks int
	// Log is the durable raft log. Required.
	Log *txnlog.Log
	// Snapshot is the newest snapshot the state machine was restored from; it must
	// name an index (a fresh data directory starts from a bootstrap snapshot at
	// index 1 holding the initial membership), except for a member joining a
	// running ensemble: it starts at index 0 with no membership, and the leader,
	// whose log begins after index 1, sends it its snapshot once it is added.
	Snapshot SnapshotMeta
	// Applied is the last entry the state machine already holds beyond Snapshot
	// (what Replay returned; 0: none): Applier.Apply starts after it.
	Applied uint64
	// Transport reaches the other members; nil for a single voter.
	Transport Transport
	Applier   Applier
	Logger    *slog.Logger
	// Limits (0: the defaults of DefaultConfig).
	MaxSizePerMsg            uint64
	MaxInflightMsgs          int
	MaxUncommittedBytes      uint64
	MaxCommittedSizePerReady uint64
	// ReadIndexRetryTicks is how many ticks a ReadIndex may go unanswered before it
	// is asked again under a fresh context.
	ReadIndexRetryTicks int
	// SaveObserver, when set, is called on the raft goroutine after each write of
	// the log with the number of entries and how long the write and fdatasync took.
	SaveObserver func(entries int, took time.Duration)
	// Manual leaves the node without a goroutine of its own: the owner calls
	// Process after queuing work (deterministic tests drive a whole cluster so).
	Manual bool
	// AckSampleEvery is how often the leader follows an entry's
	// acknowledgements for EntryObserver.Acknowledged: every entry whose index
	// is a multiple of it (ZooKeeper's zookeeper.leader.ackLoggingFrequency).
	AckSampleEvery uint64
}

// DefaultConfig returns the settings of design/consensus.md §5.2.
func DefaultConfig() Config {
	return Config{ID: 1, ElectionTicks: 10, HeartbeatTicks: 1, Logger: slog.Default(),
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, MaxUncommittedBytes: 128 << 20,
		MaxCommittedSizePerReady: 64 << 20, ReadIndexRetryTicks: 10, AckSampleEvery: 1000}
}

// Validate reports a configuration error and fills zero limits with defaults.
func (c *Config) Validate() error {
	d := DefaultConfig()
	switch {
	case c.ID == 0:
		return errors.New("quorum: node id must be positive")
	case c.ElectionTicks <= c.HeartbeatTicks || c.HeartbeatTicks <= 0:
		return errors.New("quorum: election ticks must exceed heartbeat ticks, which must be positive")
	case c.Log == nil:
		return errors.New("quorum: a log is required")
	case c.Applier == nil:
		return errors.New("quorum: an applier is required")
	case c.Snapshot.Index == 0 && !c.Snapshot.Membership.IsEmpty():
		return errors.New("quorum: the restored snapshot must name an index (bootstrap writes one at index 1)")
	case c.Snapshot.Index == 0 && c.Log.LastIndex() != 0:
		return errors.New("quorum: a joining member (no snapshot, no membership) must start with an empty log")
	case c.Applied > max(c.Log.HardState().Commit, c.Snapshot.Index):
		return fmt.Errorf("quorum: applied index %d is past the log's commit index %d", c.Applied, c.Log.HardState().Commit)
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = d.MaxSizePerMsg
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = d.MaxInflightMsgs
	}
	if c.MaxUncommittedBytes == 0 {
		c.MaxUncommittedBytes = d.MaxUncommittedBytes
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = d.MaxCommittedSizePerReady
	}
	if c.ReadIndexRetryTicks == 0 {
		c.ReadIndexRetryTicks = d.ReadIndexRetryTicks
	}
	if c.AckSampleEvery == 0 {
		c.AckSampleEvery = d.AckSampleEvery
	}
	return nil
}

// KeepAfterSnapshot is how many entries below its newest snapshot a member
// keeps serving from its log, so that a follower a little behind catches up
// from entries rather than a whole snapshot (etcd keeps 5000).
const KeepAfterSnapshot = 10_000

// proposal is data to append, and who to tell if raft refuses it.
type proposal struct {
	data     []byte
	rejected func(error)
}

// Node is one member of the raft group: the RawNode, its loop, and the log it
// persists to. All raft work happens on one goroutine (or, Manual, in Process);
// every exported method is safe from any goroutine.
type Node struct {
	cfg Config
	rn  *raft.RawNode // owned by the raft goroutine
	st  *logStorage   // owned by the raft goroutine
	log *slog.Logger

	// mu guards the inboxes filled by other goroutines and drained by process.
	mu struct {
		sync.Mutex
		props    []proposal
		reads    []func(index uint64, err error)
		msgs     []*pb.Message
		ticks    int
		snaps    []SnapshotMeta
		compact  uint64
		unreach  []uint64
		snapRep  []snapReport
		confs    []confRequest
		transfer uint64
		forget   bool
		campaign bool
		stopped  bool
	}
	wakeC chan struct{} // buffer 1: a pending wake-up for run
	stopC chan struct{}
	doneC chan struct{}

	// Owned by the raft goroutine.
	lead      uint64
	term      uint64
	pendingHS *pb.HardState // a commit-only change not yet written (see persist)
	reads     readIndexState
	logBuf    []txnlog.Entry
	propBuf   []*pb.Entry
	// propBacking holds the entries of the proposals being stepped, reused from
	// one drain to the next (up to maxKeptBacking): raft copies what it appends
	// and keeps none of them.
	propBacking []pb.Entry
	// propSpare is the proposal inbox drained last time, emptied, handed back
	// to mu.props on the next drain: the inbox's array is reused, not regrown
	// from nil on every wake under write load.
	propSpare []proposal
	failed    error
	ticks     uint64
	// leaderHeard is the tick at which a message of the current leader was
	// last stepped, or the leader changed (see forgetSilentLeader).
	leaderHeard uint64
	// membership is raft's configuration as of the last conf change applied.
	membership Membership
	// rejoining holds the members removed for losing their log, to be added back
	// (the value: whether as a learner); see rejoin.go.
	rejoining map[uint64]*bool
	// entries is the Applier as an EntryObserver, nil when it is not one.
	entries EntryObserver
	// ackSamples are the leader's sampled entries whose acknowledgements it
	// still follows, oldest first (acks.go).
	ackSamples []ackSample

	published struct {
		lead   atomic.Uint64
		term   atomic.Uint64
		status atomic.Pointer[Status]
	}
	failC    chan error // buffer 1: the log failure, for Failed
	counters counters
}

type snapReport struct {
	id     uint64
	failed bool
}

// Start restores raft's state from the log and cfg.Snapshot and starts the loop
// (unless Manual). The state machine must already reflect cfg.Snapshot; entries
// after it reach the Applier as they commit (on restart, the log's committed
// suffix first).
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st := &logStorage{log: cfg.Log, snap: cfg.Snapshot}
	if err := checkLogFollows(cfg.Log, cfg.Snapshot.Index); err != nil {
		return nil, err
	}
	st.hs = st.restoreHardState()
	n := &Node{cfg: cfg, st: st, log: cfg.Logger, wakeC: make(chan struct{}, 1), rejoining: make(map[uint64]*bool),
		stopC: make(chan struct{}), doneC: make(chan struct{}), failC: make(chan error, 1)}
	n.reads.init()
	n.entries, _ = cfg.Applier.(EntryObserver)
	rn, err := raft.NewRawNode(&raft.Config{
		ID: cfg.ID, ElectionTick: cfg.ElectionTicks, HeartbeatTick: cfg.HeartbeatTicks,
		Storage: st, Applied: max(cfg.Snapshot.Index, cfg.Applied),
		MaxSizePerMsg: cfg.MaxSizePerMsg, MaxInflightMsgs: cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: cfg.MaxUncommittedBytes, MaxCommittedSizePerReady: cfg.MaxCommittedSizePerReady,
		CheckQuorum: true, PreVote: true, ReadOnlyOption: raft.ReadOnlySafe,
		DisableProposalForwarding: true, StepDownOnRemoval: true,
		Logger: newRaftLogger(cfg.Logger),
	})
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	n.rn = rn
	n.membership = cfg.Snapshot.Membership
	n.term = st.hs.GetTerm()
	n.published.term.Store(n.term)
	if applied, last := max(cfg.Snapshot.Index, cfg.Applied), cfg.Log.LastIndex(); last > applied {
		n.log.Info("entries after those applied", "from", applied+1, "to", last, "committed", st.hs.GetCommit())
	}
	// A lone voter need not wait out an election timeout: it is the quorum.
	if m := cfg.Snapshot.Membership; len(m.Voters) == 1 && m.Voters[0] == cfg.ID && len(m.VotersOutgoing) == 0 {
		if err := rn.Campaign(); err != nil {
			return nil, fmt.Errorf("quorum: campaign: %w", err)
		}
		// Become leader before returning, so that the first proposal is not dropped.
		n.handleReady()
		if n.failed != nil {
			return nil, n.failed
		}
	}
	if !cfg.Manual {
		// Wake the loop once at start: entries the log already knows to be
		// committed are applied now, without waiting for a tick or a message that
		// the owner may only start sending once they are (a restarted member of
		// an ensemble would wait for ever).
		n.wake()
		go n.run()
		// The first Ready hands up what the log already knows to be committed:
		// nothing else may wake the loop before its owner waits for that.
		n.wake()
	}
	return n, nil
}

// Failed delivers the log failure that stopped the node, if one happens; the
// server should then exit, as ZooKeeper and etcd do.
func (n *Node) Failed() <-chan error { return n.failC }

// ID returns this member's raft id.
func (n *Node) ID() uint64 { return n.cfg.ID }

// Leader returns the leader this node follows (0: none known).
func (n *Node) Leader() uint64 { return n.published.lead.Load() }

// IsLeader reports whether this node currently leads.
func (n *Node) IsLeader() bool { return n.published.lead.Load() == n.cfg.ID }

// Term returns the current raft term.
func (n *Node) Term() uint64 { return n.published.term.Load() }

// Propose queues data to be appended to the log. It returns an error only if the
// node is stopped; if raft later refuses the proposal (not the leader, too much
// uncommitted), rejected runs on the raft goroutine. A proposal that raft accepts
// may still be lost if leadership changes before it commits: the caller learns of
// its fate only by seeing it applied, or not, and must treat a leader change as
// "unknown" for what it had in flight. Propose takes ownership of data.
func (n *Node) Propose(data []byte, rejected func(error)) error {
	if len(data) > 0 && (data[0] == kindConfChange || data[0] == kindConfChangeV2) {
		return ErrReservedKind
	}
	n.mu.Lock()
	if n.mu.stopped {
		n.mu.Unlock()
		return ErrStopped
	}
	n.mu.props = append(n.mu.props, proposal{data: data, rejected: rejected})
	n.mu.Unlock()
	n.wake()
	return nil
}

// ReadIndex asks for the index up to which the log was committed when leadership
// was last confirmed by a quorum (raft's ReadIndex, design/consensus.md §5.6).
// Requests queued together share one ReadIndex round; an unanswered round is
// asked again under a fresh context after a leader change or ReadIndexRetryTicks.
// done runs on the raft goroutine, once, with the index or ErrStopped.
func (n *Node) ReadIndex(done func(index uint64, err error)) error {
	n.mu.Lock()
	if n.mu.stopped {
		n.mu.Unlock()
		return ErrStopped
	}
	n.mu.reads = append(n.mu.reads, done)
	n.mu.Unlock()
	n.wake()
	return nil
}

// Tick advances raft's logical clock by one tick. The owner calls it every tick
// interval (a manual clock in tests).
func (n *Node) Tick() {
	n.mu.Lock()
	n.mu.ticks++
	n.mu.Unlock()
	n.wake()
}

// Step delivers a message from another member.
func (n *Node) Step(m *Message) {
	n.mu.Lock()
	if !n.mu.stopped {
		n.mu.msgs = append(n.mu.msgs, m)
	}
	n.mu.Unlock()
	n.wake()
}

// ReportUnreachable tells raft that a message to id could not be delivered.
func (n *Node) ReportUnreachable(id uint64) {
	n.mu.Lock()
	n.mu.unreach = append(n.mu.unreach, id)
	n.mu.Unlock()
	n.wake()
}

// ReportSnapshot tells raft how sending a snapshot to id ended.
func (n *Node) ReportSnapshot(id uint64, failed bool) {
	n.mu.Lock()
	n.mu.snapRep = append(n.mu.snapRep, snapReport{id: id, failed: failed})
	n.mu.Unlock()
	n.wake()
}

// SnapshotSaved records that a snapshot of the state machine at meta.Index is
// durable: raft may then send it to followers that are too far behind.
func (n *Node) SnapshotSaved(meta SnapshotMeta) {
	n.mu.Lock()
	n.mu.snaps = append(n.mu.snaps, meta)
	n.mu.Unlock()
	n.wake()
}

// Compact releases the log's entries up to index (autopurge, after the snapshots
// below it are gone); it runs on the raft goroutine, the log's only writer.
func (n *Node) Compact(index uint64) {
	n.mu.Lock()
	n.mu.compact = max(n.mu.compact, index)
	n.mu.Unlock()
	n.wake()
}

// TransferLeadership asks the leader to hand leadership to id (0: cancel).
func (n *Node) TransferLeadership(id uint64) {
	n.mu.Lock()
	n.mu.transfer = id
	n.mu.Unlock()
	n.wake()
}

// ForgetLeader makes a follower forget its leader, so that it grants votes at
// once: the peer transport saw the leader's process die (its stream was reset),
// and waiting out an election timeout would only delay the next leader.
func (n *Node) ForgetLeader() {
	n.mu.Lock()
	n.mu.forget = true
	n.mu.Unlock()
	n.wake()
}

// Campaign asks this member to start an election now (a pre-vote first, so it
// disrupts nothing if a leader is still there).
func (n *Node) Campaign() {
	n.mu.Lock()
	n.mu.campaign = true
	n.mu.Unlock()
	n.wake()
}

// Stop ends the raft loop; pending requests get ErrStopped. A commit index not
// yet written is written first, so a clean restart replays nothing it need not.
func (n *Node) Stop() {
	n.mu.Lock()
	if n.mu.stopped {
		n.mu.Unlock()
		if !n.cfg.Manual {
			<-n.doneC
		}
		return
	}
	n.mu.stopped = true
	n.mu.Unlock()
	if n.cfg.Manual {
		n.shutdown()
		return
	}
	close(n.stopC)
	<-n.doneC
}

func (n *Node) wake() {
	select {
	case n.wakeC <- struct{}{}:
	default:
	}
}

func (n *Node) run() {
	defer close(n.doneC)
	for {
		select {
		case <-n.stopC:
			n.shutdown()
			return
		case <-n.wakeC:
		}
		n.Process()
	}
}

// shutdown fails what is pending and writes the last commit index.
func (n *Node) shutdown() {
	n.mu.Lock()
	props, reads, confs := n.mu.props, n.mu.reads, n.mu.confs
	n.mu.props, n.mu.reads, n.mu.confs = nil, nil, nil
	n.mu.Unlock()
	for _, p := range props {
		if p.rejected != nil {
			p.rejected(ErrStopped)
		}
	}
	for _, c := range confs {
		if c.rejected != nil {
			c.rejected(ErrStopped)
		}
	}
	for _, r := range reads {
		r(0, ErrStopped)
	}
	n.reads.failAll(ErrStopped)
	if n.failed == nil && n.pendingHS != nil {
		if err := n.cfg.Log.Save(hardState(n.pendingHS), nil); err != nil {
			n.log.Warn("quorum: writing the commit index at shutdown", "err", err)
		}
		n.pendingHS = nil
	}
}

// Process does all queued work: ticks, inbound messages, proposals, read
// requests, then every Ready raft has. The raft goroutine calls it on each wake;
// a Manual owner calls it directly.
func (n *Node) Process() {
	n.mu.Lock()
	if n.mu.stopped {
		// What is queued stays for shutdown, which answers every callback.
		n.mu.Unlock()
		return
	}
	props, reads, msgs := n.mu.props, n.mu.reads, n.mu.msgs
	ticks, snaps, compact := n.mu.ticks, n.mu.snaps, n.mu.compact
	unreach, snapRep, confs, transfer := n.mu.unreach, n.mu.snapRep, n.mu.confs, n.mu.transfer
	forget, campaign := n.mu.forget, n.mu.campaign
	n.mu.props, n.mu.reads, n.mu.msgs, n.mu.ticks, n.mu.snaps = n.propSpare, nil, nil, 0, nil
	n.propSpare = nil
	n.mu.compact, n.mu.unreach, n.mu.snapRep, n.mu.confs, n.mu.transfer = 0, nil, nil, nil, 0
	n.mu.forget, n.mu.campaign = false, false
	n.mu.Unlock()

	for range ticks {
		n.rn.Tick()
		n.ticks++
	}
	for _, m := range msgs {
		if m.GetFrom() == n.lead {
			n.leaderHeard = n.ticks
		}
		n.noticeLostLog(m)
		n.noticeAck(m)
		m = n.clampCommit(m)
		// Errors here are messages for another term or from a removed member:
		// raft has already logged them, and dropping them is what it expects.
		_ = n.rn.Step(m)
	}
	for _, id := range unreach {
		n.rn.ReportUnreachable(id)
	}
	for _, r := range snapRep {
		status := raft.SnapshotFinish
		if r.failed {
			status = raft.SnapshotFailure
		}
		n.rn.ReportSnapshot(r.id, status)
	}
	for _, s := range snaps {
		if s.Index > n.st.snap.Index {
			n.st.snap = s
		}
	}
	if len(snaps) > 0 && n.failed == nil && n.st.snap.Index > KeepAfterSnapshot {
		// The entries a snapshot covers leave memory now, whether or not
		// autopurge ever compacts their files; a member further behind than
		// KeepAfterSnapshot gets the snapshot.
		if err := n.cfg.Log.Forget(n.st.snap.Index - KeepAfterSnapshot); err != nil {
			n.fail(err)
		}
	}
	if compact > 0 && n.failed == nil {
		if err := n.cfg.Log.Compact(min(compact, n.st.snap.Index)); err != nil {
			n.fail(err)
		}
	}
	if transfer != 0 {
		n.rn.TransferLeader(transfer)
	}
	if forget && n.lead != n.cfg.ID {
		_ = n.rn.ForgetLeader()
	}
	if ticks > 0 {
		n.forgetSilentLeader()
	}
	if campaign && n.lead != n.cfg.ID && n.membership.IsVoter(n.cfg.ID) {
		_ = n.rn.Campaign()
	}
	n.propose(props)
	clear(props) // their data is raft's now; their callbacks are not needed
	n.propSpare = props[:0]
	n.proposeConfChanges(confs)
	n.reads.issue(n, reads)
	if ticks > 0 {
		n.reads.retryStale(n)
		n.maybeReadd()
		n.publishStatus()
	}
	n.handleReady()
}

// forgetSilentLeader has a member without a vote (an observer, or a server the
// membership no longer has) forget a leader it has not heard from for an
// election timeout. A voter does so by itself: it campaigns, and its pre-vote
// clears the leader. A learner never campaigns, so raft would keep the leader
// for ever: an observer cut off from it would go on serving ever staler data
// as if all were well, and one removed by a reconfig (the leader stops
// writing to it once the change is applied, often before it has learned that
// the change committed) would never learn of its removal. ZooKeeper's observer
// likewise drops a leader silent for syncLimit ticks and looks for one. The
// leader's next message (heartbeats go to learners too) sets it again.
func (n *Node) forgetSilentLeader() {
	if n.lead == 0 || n.lead == n.cfg.ID || n.membership.IsVoter(n.cfg.ID) ||
		n.ticks-n.leaderHeard <= uint64(n.cfg.ElectionTicks) {
		return
	}
	n.log.Warn("not heard from the leader for an election timeout: forgetting it", "leader", n.lead,
		"ticks", n.ticks-n.leaderHeard)
	n.leaderHeard = n.ticks
	_ = n.rn.ForgetLeader()
}

// maxKeptBacking is the most proposal entries whose array propose keeps for
// the next drain.
const maxKeptBacking = 4096

// propose steps the proposals into raft in arrival order, in messages of at most
// MaxSizePerMsg, so one fsync covers all of them.
func (n *Node) propose(props []proposal) {
	if n.failed != nil {
		for _, p := range props {
			if p.rejected != nil {
				p.rejected(n.failed)
			}
		}
		return
	}
	// raft copies what it appends; one array holds every message's entries
	// rather than one allocation each, and it is kept for the next drain.
	if cap(n.propBacking) < len(props) {
		n.propBacking = make([]pb.Entry, len(props))
	}
	backing := n.propBacking[:len(props)]
	defer func() {
		clear(backing) // nothing of the proposals is kept past their step
		if cap(n.propBacking) > maxKeptBacking {
			n.propBacking = nil // one burst does not pin its array
		}
	}()
	for start := 0; start < len(props); {
		ents := n.propBuf[:0]
		size := uint64(0)
		end := start
		for ; end < len(props) && (end == start || size+uint64(len(props[end].data)) <= n.cfg.MaxSizePerMsg); end++ {
			e := &backing[end]
			e.Data = props[end].data
			ents = append(ents, e)
			size += uint64(len(props[end].data))
		}
		err := n.rn.Step(&pb.Message{Type: pb.MessageType_MsgProp.Enum(), From: new(n.cfg.ID), Entries: ents})
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrDropped, err)
			for _, p := range props[start:end] {
				if p.rejected != nil {
					p.rejected(err)
				}
			}
		}
		clear(ents)
		n.propBuf = ents[:0]
		start = end
	}
}

// handleReady handles every pending Ready in the order raft requires: persist,
// send (a leader sends first, in parallel with its own write: Raft thesis
// §10.2.1), hand committed entries up, Advance.
func (n *Node) handleReady() {
	for n.failed == nil && n.rn.HasReady() {
		rd := n.rn.Ready()
		if rd.HardState != nil && rd.HardState.GetTerm() != n.term {
			n.term = rd.HardState.GetTerm()
			n.published.term.Store(n.term)
		}
		if rd.SoftState != nil && rd.SoftState.Lead != n.lead {
			n.lead, n.leaderHeard = rd.SoftState.Lead, n.ticks
			n.published.lead.Store(n.lead)
			n.reads.leaderChanged(n)
			n.cfg.Applier.LeaderChanged(n.lead, n.term)
		}
		leader := n.lead == n.cfg.ID
		if leader {
			n.send(rd.Messages)
		}
		if !raft.IsEmptySnap(rd.Snapshot) {
			if err := n.installSnapshot(rd.Snapshot); err != nil {
				n.fail(err)
				return
			}
		}
		if !leader {
			n.observeEntries(rd.Entries, EntryObserver.Received)
		} else {
			n.sampleAcks(rd.Entries)
		}
		// Entries already on this member's disk go up before this Ready's
		// entries are written: under load every Ready carries the next batch,
		// and holding the applier (and the clients' replies) for that batch's
		// fdatasync added a whole sync to the latency of every write.
		durable := n.durablePrefix(rd)
		n.commit(rd.CommittedEntries[:durable])
		// Persist before a follower acknowledges anything: a vote or entry
		// acknowledged and then lost in a crash would let the group decide twice.
		if err := n.persist(rd); err != nil {
			n.fail(err)
			return
		}
		n.observeEntries(rd.Entries, EntryObserver.Persisted)
		if leader && len(rd.Entries) > 0 && len(n.ackSamples) > 0 {
			n.acked(n.cfg.ID, rd.Entries[len(rd.Entries)-1].GetIndex()) // its own acknowledgement
		}
		if !leader {
			n.counters.entriesReceived.Add(uint64(len(rd.Entries)))
			n.send(rd.Messages)
		}
		for _, rs := range rd.ReadStates {
			n.reads.ready(rs)
		}
		n.commit(rd.CommittedEntries[durable:])
		n.rn.Advance(rd)
	}
}

// durablePrefix returns how many of rd's committed entries are durable here
// already: written by an earlier Ready (or in the snapshot just installed) and
// not about to be overwritten by rd's own entries. Those may be applied before
// rd is persisted; the rest only after. A single voter commits only what it has
// persisted, so there all of them are; a leader of several may commit on its
// followers' acknowledgements an entry it is still writing itself.
func (n *Node) durablePrefix(rd raft.Ready) int {
	last, _ := n.st.LastIndex()
	if len(rd.Entries) > 0 {
		last = min(last, rd.Entries[0].GetIndex()-1)
	}
	k := 0
	for k < len(rd.CommittedEntries) && rd.CommittedEntries[k].GetIndex() <= last {
		k++
	}
	return k
}

// observeEntries calls f of the entry observer, if any, for each normal
// entry of ents that carries data.
func (n *Node) observeEntries(ents []*pb.Entry, f func(EntryObserver, []byte)) {
	if n.entries == nil {
		return
	}
	for _, e := range ents {
		if e.GetType() == pb.EntryNormal && len(e.GetData()) > 0 {
			f(n.entries, e.GetData())
		}
	}
}

// clampCommit keeps a heartbeat from committing past this member's log. A leader
// only sends commit indexes a member has acknowledged, so this matters only for a
// member that lost its log, which raft would otherwise crash on; the leader then
// removes it and adds it back (rejoin.go).
func (n *Node) clampCommit(m *pb.Message) *pb.Message {
	if m.GetType() != pb.MessageType_MsgHeartbeat {
		return m
	}
	if last, _ := n.st.LastIndex(); m.GetCommit() > last {
		m = proto.Clone(m).(*pb.Message)
		m.Commit = new(last)
	}
	return m
}

// installSnapshot takes on the leader's snapshot: the log restarts after it (its
// own entries either are in it or diverge from the leader's), and the state
// machine is replaced before any later entry is handed up.
func (n *Node) installSnapshot(snap *pb.Snapshot) error {
	md := snap.GetMetadata()
	meta := SnapshotMeta{Index: md.GetIndex(), Term: md.GetTerm(), Membership: membershipOf(md.GetConfState())}
	if err := n.cfg.Log.Reset(meta.Index); err != nil {
		return err
	}
	n.st.snap = meta
	n.membership = meta.Membership
	n.log.Info("installed the leader's snapshot", "index", meta.Index, "term", meta.Term,
		"voters", meta.Membership.Voters, "learners", meta.Membership.Learners)
	n.cfg.Applier.InstallSnapshot(meta)
	return nil
}

func (n *Node) send(msgs []*pb.Message) {
	if len(msgs) == 0 || n.cfg.Transport == nil {
		return
	}
	n.counters.countSent(msgs)
	n.cfg.Transport.Send(msgs)
}

// persist makes a Ready's entries and term/vote durable with one write and one
// fdatasync. A Ready that only moves the commit index is not written on its own:
// the new commit index goes out with the next write. Losing it in a crash is
// harmless (the entries are durable; raft learns the commit index again from the
// quorum, and restart takes at least the snapshot's index), and it saves a
// standalone server the second fdatasync per write that committing would cost.
func (n *Node) persist(rd raft.Ready) error {
	if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
		n.pendingHS = rd.HardState
	}
	if !rd.MustSync && len(rd.Entries) == 0 {
		return nil
	}
	var hs *txnlog.HardState
	if n.pendingHS != nil {
		hs = hardState(n.pendingHS)
		n.pendingHS = nil
	}
	n.logBuf = toLog(n.logBuf[:0], rd.Entries)
	start := time.Now()
	err := n.cfg.Log.Save(hs, n.logBuf)
	clear(n.logBuf)
	if err != nil {
		return err
	}
	if obs := n.cfg.SaveObserver; obs != nil {
		obs(len(rd.Entries), time.Since(start))
	}
	return nil
}

func hardState(hs *pb.HardState) *txnlog.HardState {
	return &txnlog.HardState{Term: hs.GetTerm(), Vote: hs.GetVote(), Commit: hs.GetCommit()}
}

// commit applies conf changes to raft and hands the committed entries up.
func (n *Node) commit(ents []*pb.Entry) {
	if len(ents) == 0 {
		return
	}
	out := make([]Entry, len(ents))
	for i, e := range ents {
		out[i] = Entry{Index: e.GetIndex(), Term: e.GetTerm()}
		switch e.GetType() {
		case pb.EntryNormal:
			out[i].Data = e.GetData()
		case pb.EntryConfChange, pb.EntryConfChangeV2:
			m, ctx := n.applyConfChange(e)
			out[i].Membership, out[i].Data = &m, ctx
		}
	}
	n.cfg.Applier.Apply(out)
}

func (n *Node) applyConfChange(e *pb.Entry) (Membership, []byte) {
	ctx, cc, err := confChangeContext(e)
	if err != nil {
		panic(fmt.Sprintf("FATAL: quorum: conf change at index %d: %v", e.GetIndex(), err))
	}
	m := membershipOf(n.rn.ApplyConfChange(cc))
	n.membership = m
	n.appliedRejoin(ctx, m)
	n.log.Info("membership changed", "index", e.GetIndex(), "voters", m.Voters, "learners", m.Learners,
		"outgoing", m.VotersOutgoing)
	return m, ctx
}

// fail stops the node after a log failure: nothing pending is acknowledged, later
// requests are refused, and Failed reports why.
func (n *Node) fail(err error) {
	if n.failed != nil {
		return
	}
	err = fmt.Errorf("%w: %w", ErrLogFailed, err)
	n.failed = err
	n.counters.failures.Add(1)
	n.log.Error("stopping writes: the write-ahead log failed", "err", err)
	n.reads.failAll(err)
	select {
	case n.failC <- err:
	default:
	}
}
