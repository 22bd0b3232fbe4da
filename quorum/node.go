package quorum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"zkd/datatree"
	"zkd/jute"
)

// ErrStopped is returned by Propose and Sync after Stop.
var ErrStopped = errors.New("quorum: node stopped")

// ErrNotLeader is passed to a proposal's callback when raft dropped it because this
// node is not (or no longer) the leader.
var ErrNotLeader = errors.New("quorum: not leader")

// StateMachine applies committed entries; *datatree.Tree implements it.
type StateMachine interface {
	Apply(zxid jute.Zxid, entry []byte) datatree.Result
}

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
}

// DefaultConfig returns the settings of a standalone server.
func DefaultConfig() Config {
	return Config{ID: 1, TickInterval: 100 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		CompactEvery: 10000, Logger: slog.Default()}
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
	}
	return nil
}

type proposal struct {
	data []byte
	done DoneFunc
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
		proposals []proposal // guarded by mu; drained by run in order
		syncs     []func()   // guarded by mu; batched into one ReadIndex
		stopped   bool
	}
	wakeC chan struct{} // buffer 1: a pending wake-up for run
	stopC chan struct{}
	doneC chan struct{}

	// Owned by run.
	nextTag      uint64
	waiting      map[uint64]DoneFunc
	readBatches  map[uint64][]func() // ReadIndex context -> callbacks
	readWaiters  []readWaiter        // ordered by index
	sinceCompact uint64

	applied atomic.Uint64
	leader  atomic.Bool
}

// Start creates a single-voter group, elects itself and starts the raft loop. It
// returns once the node leads, so the first proposal is never dropped.
func Start(cfg Config, sm StateMachine) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, sm: sm, storage: raft.NewMemoryStorage(),
		wakeC: make(chan struct{}, 1), stopC: make(chan struct{}), doneC: make(chan struct{}),
		waiting: make(map[uint64]DoneFunc), readBatches: make(map[uint64][]func())}
	// Bootstrap by snapshot rather than RawNode.Bootstrap: the membership is then
	// part of the initial state and no conf-change entries need applying.
	boot := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index: new(uint64(1)), Term: new(uint64(1)),
		ConfState: &pb.ConfState{Voters: []uint64{cfg.ID}},
	}}
	if err := n.storage.ApplySnapshot(boot); err != nil {
		return nil, fmt.Errorf("quorum: bootstrap: %w", err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: cfg.ID, ElectionTick: cfg.ElectionTicks, HeartbeatTick: cfg.HeartbeatTicks,
		Storage: n.storage, Applied: 1, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		MaxUncommittedEntriesSize: 1 << 30, Logger: newRaftLogger(cfg.Logger),
	})
	if err != nil {
		return nil, fmt.Errorf("quorum: %w", err)
	}
	n.rn = rn
	n.applied.Store(1)
	if err := rn.Campaign(); err != nil {
		return nil, fmt.Errorf("quorum: campaign: %w", err)
	}
	n.processReady()
	if !n.leader.Load() {
		return nil, errors.New("quorum: single voter did not become leader")
	}
	go n.run()
	return n, nil
}

// Propose queues entry (a datatree.Txn encoding, not retained after the call
// returns... it is copied into the log) and calls done once it is applied.
func (n *Node) Propose(entry []byte, done DoneFunc) error {
	data := make([]byte, 8, 8+len(entry))
	data = append(data, entry...)
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
	n.mu.syncs = append(n.mu.syncs, done)
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
	var syncs []func()
	for {
		select {
		case <-n.stopC:
			n.failPending(props)
			return
		case <-ticker.C:
			n.rn.Tick()
		case <-n.wakeC:
		}
		n.mu.Lock()
		props, n.mu.proposals = n.mu.proposals, props[:0]
		syncs, n.mu.syncs = n.mu.syncs, syncs[:0]
		n.mu.Unlock()
		for i := range props {
			p := &props[i]
			n.nextTag++
			binary.BigEndian.PutUint64(p.data, n.nextTag)
			if err := n.rn.Propose(p.data); err != nil {
				p.done(0, datatree.Result{}, fmt.Errorf("%w: %w", ErrNotLeader, err))
				continue
			}
			n.waiting[n.nextTag] = p.done
		}
		clear(props)
		if len(syncs) > 0 {
			n.nextTag++
			ctx := binary.BigEndian.AppendUint64(nil, n.nextTag)
			n.readBatches[n.nextTag] = append([]func(){}, syncs...)
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
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		if rd.SoftState != nil {
			n.leader.Store(rd.SoftState.RaftState == raft.StateLeader)
		}
		// Persist before sending: a vote or entry acknowledged and then lost in a
		// crash would let the group decide twice.
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			if err := n.storage.SetHardState(rd.HardState); err != nil {
				panic(fmt.Sprintf("FATAL: quorum: save hard state: %v", err))
			}
		}
		if len(rd.Entries) > 0 {
			if err := n.storage.Append(rd.Entries); err != nil {
				panic(fmt.Sprintf("FATAL: quorum: append entries: %v", err))
			}
		}
		// rd.Messages would go to peers here; a single voter has none (its own
		// acknowledgements are stepped by raft itself on Advance).
		for _, rs := range rd.ReadStates {
			tag := binary.BigEndian.Uint64(rs.RequestCtx)
			for _, done := range n.readBatches[tag] {
				n.readWaiters = append(n.readWaiters, readWaiter{index: rs.Index, done: done})
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
		if e.GetType() == pb.EntryNormal && len(e.Data) >= 8 {
			tag = binary.BigEndian.Uint64(e.Data)
			payload = e.Data[8:]
		}
		res := n.sm.Apply(jute.Zxid(idx), payload)
		n.applied.Store(idx)
		if done, ok := n.waiting[tag]; ok && tag != 0 {
			delete(n.waiting, tag)
			done(jute.Zxid(idx), res, nil)
		}
		n.fireReads()
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
