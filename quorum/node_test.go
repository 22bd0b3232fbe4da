package quorum

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"zkd/internal/vfs"
	"zkd/txnlog"
)

const waitLimit = 20 * time.Second

// recorder is an Applier that records what it is handed.
type recorder struct {
	mu       sync.Mutex
	entries  []Entry
	leads    []uint64
	appliedC chan uint64
}

func newRecorder() *recorder { return &recorder{appliedC: make(chan uint64, 1<<16)} }

func (r *recorder) Apply(ents []Entry) {
	r.mu.Lock()
	r.entries = append(r.entries, ents...)
	r.mu.Unlock()
	for _, e := range ents {
		r.appliedC <- e.Index
	}
}

func (r *recorder) InstallSnapshot(SnapshotMeta) {}

func (r *recorder) LeaderChanged(lead, _ uint64) {
	r.mu.Lock()
	r.leads = append(r.leads, lead)
	r.mu.Unlock()
}

func (r *recorder) data() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.entries {
		if len(e.Data) > 0 && e.Membership == nil {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// waitIndex waits until an entry at or above idx has been applied.
func (r *recorder) waitIndex(t *testing.T, idx uint64) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case got := <-r.appliedC:
			if got >= idx {
				return
			}
		case <-deadline:
			t.Fatalf("index %d not applied", idx)
		}
	}
}

type single struct {
	fs    vfs.FS
	log   *txnlog.Log
	node  *Node
	rec   *recorder
	saves []int
	mu    sync.Mutex
}

func startSingle(t *testing.T, fs vfs.FS) *single {
	t.Helper()
	l, err := txnlog.Open(fs, "/log", txnlog.Options{SegmentSize: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := &single{fs: fs, log: l, rec: newRecorder()}
	cfg := DefaultConfig()
	cfg.Log, cfg.Applier, cfg.Logger = l, s.rec, slog.New(slog.DiscardHandler)
	cfg.Snapshot = SnapshotMeta{Index: 1, Term: 1, Membership: Membership{Voters: []uint64{1}}}
	cfg.SaveObserver = func(n int, _ time.Duration) {
		s.mu.Lock()
		s.saves = append(s.saves, n)
		s.mu.Unlock()
	}
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.node = n
	return s
}

func (s *single) stop() {
	s.node.Stop()
	_ = s.log.Close()
}

func TestSingleVoterAppliesProposalsInOrder(t *testing.T) {
	s := startSingle(t, vfs.NewMem())
	defer s.stop()
	var want []string
	for i := range 300 {
		d := fmt.Sprintf("p%03d", i)
		want = append(want, d)
		if err := s.node.Propose([]byte(d), func(err error) { t.Errorf("rejected: %v", err) }); err != nil {
			t.Fatal(err)
		}
	}
	s.rec.waitIndex(t, 301)
	got := s.rec.data()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("applied %v", got)
	}
	if s.rec.leads[0] != 1 {
		t.Fatalf("leaders reported: %v", s.rec.leads)
	}
}

// One fdatasync per write, not two: committing an entry only moves the commit
// index, which is written with the next batch instead of synced on its own.
func TestSingleVoterSyncsOncePerWrite(t *testing.T) {
	s := startSingle(t, vfs.NewMem())
	defer s.stop()
	s.rec.waitIndex(t, 2) // the leader's own empty entry
	s.mu.Lock()
	before := len(s.saves)
	s.mu.Unlock()
	const writes = 50
	for i := range writes {
		if err := s.node.Propose([]byte(fmt.Sprint("w", i)), nil); err != nil {
			t.Fatal(err)
		}
		s.rec.waitIndex(t, uint64(3+i)) // one at a time: nothing to batch
	}
	s.mu.Lock()
	saves := len(s.saves) - before
	s.mu.Unlock()
	if saves != writes {
		t.Fatalf("%d writes took %d log saves, want one each", writes, saves)
	}
}

func TestReadIndexCoversEveryCommittedEntry(t *testing.T) {
	s := startSingle(t, vfs.NewMem())
	defer s.stop()
	for i := range 20 {
		_ = s.node.Propose([]byte(fmt.Sprint("r", i)), nil)
	}
	s.rec.waitIndex(t, 22)
	got := make(chan uint64, 1)
	if err := s.node.ReadIndex(func(idx uint64, err error) {
		if err != nil {
			t.Errorf("read index: %v", err)
		}
		got <- idx
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case idx := <-got:
		if idx < 22 {
			t.Fatalf("read index %d below the committed index 22", idx)
		}
	case <-time.After(waitLimit):
		t.Fatal("no read index")
	}
}

func TestRestartReplaysTheCommittedLog(t *testing.T) {
	fs := vfs.NewMem()
	s := startSingle(t, fs)
	for i := range 40 {
		_ = s.node.Propose([]byte(fmt.Sprint("x", i)), nil)
	}
	s.rec.waitIndex(t, 42)
	want := s.rec.data()
	s.stop()

	s2 := startSingle(t, fs)
	defer s2.stop()
	s2.rec.waitIndex(t, 42)
	if got := s2.rec.data(); fmt.Sprint(got[:len(want)]) != fmt.Sprint(want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
}

// After kill -9 the commit index on disk may lag what was applied: the entries
// are durable, and a restarted single voter commits and replays them all again.
func TestCrashAfterLazyCommitLosesNothing(t *testing.T) {
	mem := vfs.NewMem()
	s := startSingle(t, mem)
	for i := range 10 {
		_ = s.node.Propose([]byte(fmt.Sprint("c", i)), nil)
	}
	s.rec.waitIndex(t, 12)
	want := s.rec.data()
	crashed := mem.CrashClone(vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
	s.stop()

	s2 := startSingle(t, crashed)
	defer s2.stop()
	s2.rec.waitIndex(t, 12)
	if got := s2.rec.data(); fmt.Sprint(got[:len(want)]) != fmt.Sprint(want) {
		t.Fatalf("after a crash replayed %v, want %v", got, want)
	}
}

func TestProposalWithReservedKindIsRefused(t *testing.T) {
	s := startSingle(t, vfs.NewMem())
	defer s.stop()
	if err := s.node.Propose([]byte{kindConfChange, 1}, nil); err == nil {
		t.Fatal("a proposal looking like a conf change was accepted")
	}
}

func TestStopFailsPendingReads(t *testing.T) {
	s := startSingle(t, vfs.NewMem())
	s.stop()
	if err := s.node.ReadIndex(func(uint64, error) {}); err == nil {
		t.Fatal("ReadIndex after Stop succeeded")
	}
	if err := s.node.Propose([]byte("late"), nil); err == nil {
		t.Fatal("Propose after Stop succeeded")
	}
}

func TestMembershipRoundTrip(t *testing.T) {
	for _, m := range []Membership{
		{},
		{Voters: []uint64{1, 2, 3}},
		{Voters: []uint64{1, 2}, Learners: []uint64{9}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}, AutoLeave: true},
	} {
		got, err := UnmarshalMembership(m.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(m) && !(m.IsEmpty() && got.IsEmpty()) {
			t.Fatalf("round trip %v -> %v", m, got)
		}
	}
	for _, bad := range [][]byte{{2}, {1, 0, 0, 0, 0, 9}, {1, 0, 0, 0, 0}} {
		if _, err := UnmarshalMembership(bad); err == nil {
			t.Fatalf("UnmarshalMembership(%x) accepted", bad)
		}
	}
}

// A member joining a running ensemble starts at index 0 with no membership: it
// neither campaigns nor applies anything until a leader adds it; a membership
// without a snapshot index, or a joiner with a log, is refused.
func TestJoiningMemberStartsEmptyAndWaits(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	l, err := txnlog.Open(vfs.NewMem(), "/log", txnlog.Options{SegmentSize: 1 << 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := newRecorder()
	cfg := DefaultConfig()
	cfg.ID, cfg.Log, cfg.Applier, cfg.Logger, cfg.Manual = 7<<32|5, l, rec, quiet, true
	bad := cfg
	bad.Snapshot = SnapshotMeta{Membership: Membership{Voters: []uint64{1}}}
	if _, err := Start(bad); err == nil {
		t.Fatal("a membership at index 0 was accepted")
	}
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	for range 10 * cfg.ElectionTicks {
		n.Tick()
		n.Process()
	}
	if n.Leader() != 0 || n.Term() != 0 || len(rec.entries) != 0 {
		t.Fatalf("joiner led or applied: lead %d term %d entries %d", n.Leader(), n.Term(), len(rec.entries))
	}
	if st := n.Status(); !st.Membership.IsEmpty() {
		t.Fatalf("membership %+v", st.Membership)
	}
}

// Stop can find the raft goroutine's wake pending with work queued, and the
// goroutine may run Process once more before it sees stopC. That Process must
// leave the queue to shutdown, which answers every callback: a read or
// membership change dropped there was never answered (a sync waited for ever).
func TestProcessAfterStopLeavesTheQueueToShutdown(t *testing.T) {
	l, err := txnlog.Open(vfs.NewMem(), "/log", txnlog.Options{SegmentSize: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := DefaultConfig()
	cfg.Log, cfg.Applier, cfg.Logger, cfg.Manual = l, newRecorder(), slog.New(slog.DiscardHandler), true
	cfg.Snapshot = SnapshotMeta{Index: 1, Term: 1, Membership: Membership{Voters: []uint64{1}}}
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	answers := map[string]error{}
	note := func(what string) func(error) {
		return func(err error) {
			if _, twice := answers[what]; twice {
				t.Errorf("%s answered twice", what)
			}
			answers[what] = err
		}
	}
	if err := n.ReadIndex(func(_ uint64, err error) { note("read")(err) }); err != nil {
		t.Fatal(err)
	}
	if err := n.Propose([]byte("p"), note("proposal")); err != nil {
		t.Fatal(err)
	}
	if err := n.ProposeConfChange(ConfChange{Changes: []MemberChange{{Type: AddVoter, ID: 2}}}, note("conf change")); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.mu.stopped = true // Stop's first step
	n.mu.Unlock()
	n.Process()  // the pending wake
	n.shutdown() // then stopC
	for _, what := range []string{"read", "proposal", "conf change"} {
		if err, ok := answers[what]; !ok || !errors.Is(err, ErrStopped) {
			t.Errorf("%s: answered %v with %v, want ErrStopped", what, ok, err)
		}
	}
}
