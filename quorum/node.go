package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/snapshot"
	"zkd/txnlog"
)

// ErrStopped is returned by Propose and Sync after Stop.
var ErrStopped = errors.New("quorum: node stopped")

// ErrNotLeader is passed to a proposal's callback when raft dropped it because this
// node is not (or no longer) the leader.
var ErrNotLeader = errors.New("quorum: not leader")

// StateMachine applies committed entries and hands out consistent images of its
// state for snapshots; *datatree.Tree implements it.
type StateMachine interface {
	Apply(zxid jute.Zxid, entry []byte) datatree.Result
	Freeze() (*datatree.Image, error)
}

// ErrLogFailed is passed to every waiting proposal, and returned by Failed, once a
// write or fdatasync of the log has failed: nothing more is acknowledged.
var ErrLogFailed = errors.New("quorum: write-ahead log failed; no further writes are accepted")

// DoneFunc receives the outcome of a proposal on the apply goroutine. err is a
// quorum failure (the entry was not committed); otherwise res is the state
// machine's result for the entry at zxid. It must not block.
type DoneFunc func(zxid jute.Zxid, res datatree.Result, err error)

// Config configures a Node.
type Config struct {
	ID             uint64
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// CompactEvery bounds the in-memory log: after this many applied entries the
	// storage is compacted up to the applied index.
	CompactEvery uint64
	Logger       *slog.Logger

	// Log, when set, is the durable raft log: each Ready's entries and HardState
	// are saved with one fdatasync before anything is applied or acknowledged.
	Log *txnlog.Log
	// Restored is the snapshot the state machine was rebuilt from (zero: none).
	Restored snapshot.Meta
	// FS and SnapshotDir say where snapshots go; an empty SnapshotDir disables them.
	FS          vfs.FS
	SnapshotDir string
	// SnapCount is ZooKeeper's snapCount: a snapshot is taken after a random number
	// of entries between SnapCount/2 and SnapCount, so that servers of an ensemble
	// do not all snapshot at once.
	SnapCount int
	// SnapSizeBytes is ZooKeeper's snapSizeLimitInKb in bytes: a snapshot is also
	// taken once the entries since the last one pass a random size between half of
	// it and all of it (0: no size trigger).
	SnapSizeBytes int64
	// SnapRetain and PurgeInterval are autopurge.snapRetainCount and
	// autopurge.purgeInterval: every PurgeInterval (0: never, ZooKeeper's default)
	// all but the newest SnapRetain snapshots are deleted, and the log below the
	// oldest one kept is released.
	SnapRetain    int
	PurgeInterval time.Duration
	// SaveObserver, when set, is called on the raft goroutine after each successful
	// Save of the log with the number of entries written and how long the write and
	// fdatasync took (metrics and the slow-fsync warning). It must not block.
	SaveObserver func(entries int, took time.Duration)
}

// DefaultConfig returns the settings of a standalone server.
func DefaultConfig() Config {
	return Config{ID: 1, TickInterval: 100 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		CompactEvery: 10000, Logger: slog.Default(), SnapCount: 100000, SnapRetain: 3,
		SnapSizeBytes: 4 << 30}
}

// Validate reports a configuration error.
func (c *Config) Validate() error {
	switch {
	case c.ID == 0:
		return errors.New("quorum: node id must be positive")
	case c.TickInterval <= 0:
		return errors.New("quorum: tick interval must be positive")
	case c.ElectionTicks <= c.HeartbeatTicks:
		return errors.New("quorum: election ticks must exceed heartbeat ticks")
	case c.SnapshotDir != "" && (c.FS == nil || c.SnapCount < 2):
		return errors.New("quorum: snapshots need a filesystem and a snapCount of at least 2")
	}
	if c.SnapRetain < 3 {
		c.SnapRetain = 3 // ZooKeeper's minimum for autopurge.snapRetainCount
	}
	return nil
}

// proposal is a write (data, done) or a sync (sync).
type proposal struct {
	data []byte
	done DoneFunc
	sync func()
}

type readWaiter struct {
	index uint64
	done  func()
}

// Node is one member of the raft group.
type Node struct {
	cfg     Config
	sm      StateMachine
	storage *raft.MemoryStorage
	rn      *raft.RawNode // owned by run

	mu struct {
		sync.Mutex
		// proposals holds writes and syncs in arrival order, so that a sync's
		// floor is exactly the writes proposed before it. Guarded by mu.
		proposals []proposal
		stopped   bool
	}
	wakeC chan struct{} // buffer 1: a pending wake-up for run
	stopC chan struct{}
	doneC chan struct{}

	// Owned by run.
	nextTag      uint64
	waiting      map[uint64]DoneFunc
	readBatches  map[uint64][]readWaiter // ReadIndex context -> syncs with their floors
	lastIndex    uint64                  // last index in this leader's log, proposals included
	readWaiters  []readWaiter            // ordered by index
	sinceCompact uint64
	snap         snapState
	failed       error // set once the log fails; run stops doing work

	applied atomic.Uint64
	leader  atomic.Bool
	failC   chan error // buffer 1: the log failure, for Failed
}

// snapState is the snapshot schedule; owned by run, except that the writer
// goroutine reports through doneC.
type snapState struct {
	lastIndex uint64 // index of the newest snapshot taken (or restored)
	nextAfter uint64 // entries after lastIndex that trigger the next one
	bytes     int64  // entry bytes applied since lastIndex
	nextBytes int64  // entry bytes that trigger the next one (0: never)
	inFlight  bool
	doneC     chan snapDone
	lastPurge time.Time
	rng       *rand.Rand
}

type snapDone struct {
	info snapshot.Info
	err  error
}

// Start creates a single-voter group, elects itself and starts the raft loop. It
// returns once the node leads, so the first proposal is never dropped.
func Start(cfg Config, sm StateMachine) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, sm: sm, storage: raft.NewMemoryStorage(),
		wakeC: make(chan struct{}, 1), stopC: make(chan struct{}), doneC: make(chan struct{}),
		waiting: make(map[uint64]DoneFunc), readBatches: make(map[uint64][]readWaiter),
		failC: make(chan error, 1)}
	applied, err := n.restore()
	if err != nil {
		return nil, err
	}
	n.snap = snapState{lastIndex: applied, doneC: make(chan snapDone, 1), lastPurge: time.Now(),
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), cfg.ID))}
	n.snap.nextAfter = n.nextSnapDistance()
	rn, err := raft.NewRawNode(&raft.Config{
		ID: cfg.ID, ElectionTick: cfg.ElectionTicks, HeartbeatTick: cfg.HeartbeatTicks,
		Storage: n.storage, Applied: applied, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		MaxUncommittedEntriesSize: 1 << 30, Logger: newRaftLogger(cfg.Logger),
	})
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	n.rn = rn
	n.applied.Store(applied)
	n.lastIndex, _ = n.storage.LastIndex()
	if err := rn.Campaign(); err != nil {
		return nil, fmt.Errorf("quorum: campaign: %w", err)
	}
	n.processReady()
	if n.failed != nil {
		return nil, n.failed
	}
	if !n.leader.Load() {
		return nil, errors.New("quorum: single voter did not become leader")
	}
	go n.run()
	return n, nil
}

// Failed delivers the log failure that stopped the node, if one happens; the
// server should then exit, as ZooKeeper and etcd do.
func (n *Node) Failed() <-chan error { return n.failC }

// ErrNoHeaderRoom is returned by Propose for an entry not built on EntryBuffer.
var ErrNoHeaderRoom = errors.New("quorum: proposal lacks the header room EntryBuffer reserves")

// EntryBuffer returns an empty buffer to encode one proposal into (append to it):
// it starts with the header room Propose fills in, so a proposal is encoded once
// and never copied on its way into the log.
func EntryBuffer(capacity int) []byte {
	return make([]byte, proposalHeader, proposalHeader+capacity)
}

// Propose queues entry, a buffer from EntryBuffer with a datatree.Txn appended, and
// calls done once it is applied. Propose takes ownership of entry: the log keeps it,
// so the caller must not touch it again.
func (n *Node) Propose(entry []byte, done DoneFunc) error {
	if len(entry) < proposalHeader {
		return ErrNoHeaderRoom
	}
	data := entry
	n.mu.Lock()
	if n.mu.stopped {
		n.mu.Unlock()
		return ErrStopped
	}
	n.mu.proposals = append(n.mu.proposals, proposal{data: data, done: done})
	n.mu.Unlock()
	n.wake()
	return nil
}

// Sync calls done once this node has applied every entry committed when the sync
// was taken up (a raft ReadIndex). done runs on the apply goroutine.
func (n *Node) Sync(done func()) error {
	n.mu.Lock()
	if n.mu.stopped {
		n.mu.Unlock()
		return ErrStopped
	}
	n.mu.proposals = append(n.mu.proposals, proposal{sync: done})
	n.mu.Unlock()
	n.wake()
	return nil
}

// Applied returns the index of the last applied entry.
func (n *Node) Applied() jute.Zxid { return jute.Zxid(n.applied.Load()) }

// IsLeader reports whether this node currently leads the group.
func (n *Node) IsLeader() bool { return n.leader.Load() }

// Stop ends the raft loop; pending proposals get ErrStopped.
func (n *Node) Stop() {
	n.mu.Lock()
	if n.mu.stopped {
		n.mu.Unlock()
		<-n.doneC
		return
	}
	n.mu.stopped = true
	n.mu.Unlock()
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
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	var props []proposal
	var syncs []readWaiter
	for {
		select {
		case <-n.stopC:
			n.failPending(props)
			if n.snap.inFlight {
				n.snapshotDone(<-n.snap.doneC) // let the writer finish its file
			}
			return
		case <-ticker.C:
			n.rn.Tick()
			n.maybePurge()
		case <-n.wakeC:
		case d := <-n.snap.doneC:
			n.snapshotDone(d)
		}
		n.mu.Lock()
		props, n.mu.proposals = n.mu.proposals, props[:0]
		n.mu.Unlock()
		syncs = syncs[:0]
		for i := range props {
			p := &props[i]
			if p.sync != nil {
				// ZooKeeper answers a sync only after everything the leader had
				// committed or proposed when it took the sync up.
				syncs = append(syncs, readWaiter{index: n.lastIndex, done: p.sync})
				continue
			}
			n.nextTag++
			p.data[0] = kindProposal
			binary.BigEndian.PutUint64(p.data[1:], n.nextTag)
			if n.failed != nil {
				p.done(0, datatree.Result{}, n.failed)
				continue
			}
			if err := n.rn.Propose(p.data); err != nil {
				p.done(0, datatree.Result{}, fmt.Errorf("%w: %w", ErrNotLeader, err))
				continue
			}
			n.lastIndex++ // a leader appends each accepted proposal at the end of its log
			n.waiting[n.nextTag] = p.done
		}
		clear(props)
		if len(syncs) > 0 {
			n.nextTag++
			ctx := binary.BigEndian.AppendUint64(nil, n.nextTag)
			n.readBatches[n.nextTag] = append([]readWaiter(nil), syncs...)
			n.rn.ReadIndex(ctx)
			clear(syncs)
		}
		n.processReady()
	}
}

func (n *Node) failPending(props []proposal) {
	n.mu.Lock()
	rest := n.mu.proposals
	n.mu.proposals = nil
	n.mu.Unlock()
	for _, p := range append(props, rest...) {
		if p.done != nil {
			p.done(0, datatree.Result{}, ErrStopped)
		}
	}
	for tag, done := range n.waiting {
		done(0, datatree.Result{}, ErrStopped)
		delete(n.waiting, tag)
	}
}

// processReady handles every pending Ready in the raft README's order.
func (n *Node) processReady() {
	for n.failed == nil && n.rn.HasReady() {
		rd := n.rn.Ready()
		if rd.SoftState != nil {
			n.leader.Store(rd.SoftState.RaftState == raft.StateLeader)
		}
		// Persist before sending: a vote or entry acknowledged and then lost in a
		// crash would let the group decide twice.
		if err := n.persist(rd); err != nil {
			n.fail(err)
			return
		}
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			if err := n.storage.SetHardState(rd.HardState); err != nil {
				panic(fmt.Sprintf("FATAL: quorum: save hard state: %v", err))
			}
		}
		if len(rd.Entries) > 0 {
			if err := n.storage.Append(rd.Entries); err != nil {
				panic(fmt.Sprintf("FATAL: quorum: append entries: %v", err))
			}
			n.lastIndex = max(n.lastIndex, rd.Entries[len(rd.Entries)-1].GetIndex())
		}
		// rd.Messages would go to peers here; a single voter has none (its own
		// acknowledgements are stepped by raft itself on Advance).
		for _, rs := range rd.ReadStates {
			tag := binary.BigEndian.Uint64(rs.RequestCtx)
			for _, w := range n.readBatches[tag] {
				w.index = max(w.index, rs.Index)
				n.readWaiters = append(n.readWaiters, w)
			}
			delete(n.readBatches, tag)
		}
		n.apply(rd.CommittedEntries)
		n.fireReads()
		n.rn.Advance(rd)
	}
}

func (n *Node) apply(ents []*pb.Entry) {
	for _, e := range ents {
		idx := e.GetIndex()
		if idx <= n.applied.Load() {
			continue
		}
		var payload []byte
		var tag uint64
		if e.GetType() == pb.EntryNormal && len(e.Data) >= proposalHeader && e.Data[0] == kindProposal {
			tag = binary.BigEndian.Uint64(e.Data[1:])
			payload = e.Data[proposalHeader:]
		}
		res := n.sm.Apply(jute.Zxid(idx), payload)
		n.applied.Store(idx)
		if done, ok := n.waiting[tag]; ok && tag != 0 {
			delete(n.waiting, tag)
			done(jute.Zxid(idx), res, nil)
		}
		n.fireReads()
		n.snap.bytes += int64(len(e.Data))
		n.maybeSnapshot(idx, e.GetTerm())
	}
	n.sinceCompact += uint64(len(ents))
	if n.sinceCompact >= n.cfg.CompactEvery {
		n.sinceCompact = 0
		if err := n.storage.Compact(n.applied.Load()); err != nil && !errors.Is(err, raft.ErrCompacted) {
			n.cfg.Logger.Warn("quorum: compact in-memory log", "err", err)
		}
	}
}

func (n *Node) fireReads() {
	applied := n.applied.Load()
	i := 0
	for ; i < len(n.readWaiters) && n.readWaiters[i].index <= applied; i++ {
		n.readWaiters[i].done()
	}
	if i > 0 {
		n.readWaiters = append(n.readWaiters[:0], n.readWaiters[i:]...)
	}
}
