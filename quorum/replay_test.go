package quorum

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"zkd/internal/vfs"
	"zkd/txnlog"
)

// A restart applies the committed log itself (Replay) up to the first
// membership change, and the node it then starts hands over the change and
// everything after it: every entry exactly once, in order, with the change
// applied to raft's configuration.
func TestReplayStopsBeforeAMembershipChange(t *testing.T) {
	fs := vfs.NewMem()
	s := startSingle(t, fs)
	for i := range 10 {
		if err := s.node.Propose(fmt.Appendf(nil, "a%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	s.rec.waitIndex(t, 12)
	if err := s.node.ProposeConfChange(ConfChange{Changes: []MemberChange{{Type: AddLearner, ID: 2}}}, nil); err != nil {
		t.Fatal(err)
	}
	s.rec.waitIndex(t, 13)
	for i := range 10 {
		if err := s.node.Propose(fmt.Appendf(nil, "b%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	s.rec.waitIndex(t, 23)
	want := s.rec.data()
	s.stop()

	l, err := txnlog.Open(fs, "/log", txnlog.Options{SegmentSize: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	snap := SnapshotMeta{Index: 1, Term: 1, Membership: Membership{Voters: []uint64{1}}}
	rec := newRecorder()
	applied, err := Replay(l, snap, rec.Apply)
	if err != nil {
		t.Fatal(err)
	}
	if applied != 12 {
		t.Fatalf("replay applied through %d, want 12 (the entry before the membership change)", applied)
	}
	if got := rec.data(); !slices.Equal(got, want[:10]) {
		t.Fatalf("replayed %q, want %q", got, want[:10])
	}

	cfg := DefaultConfig()
	cfg.Log, cfg.Applier, cfg.Logger = l, rec, slog.New(slog.DiscardHandler)
	cfg.Snapshot, cfg.Applied = snap, applied
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	rec.waitIndex(t, 23)
	if got := rec.data(); !slices.Equal(got[:len(want)], want) {
		t.Fatalf("applied %q, want %q", got, want)
	}
	rec.mu.Lock()
	var indexes []uint64
	var change *Membership
	for _, e := range rec.entries {
		indexes = append(indexes, e.Index)
		if e.Index == 13 {
			change = e.Membership
		}
	}
	rec.mu.Unlock()
	for i := 1; i < len(indexes); i++ {
		if indexes[i] != indexes[i-1]+1 {
			t.Fatalf("applied indexes %v: not each once in order", indexes)
		}
	}
	if indexes[0] != 2 {
		t.Fatalf("first applied index %d, want 2", indexes[0])
	}
	if change == nil || !slices.Equal(change.Learners, []uint64{2}) {
		t.Fatalf("entry 13 applied as membership %+v, want learner 2 added", change)
	}
}

// Replay reads nothing past the commit index the log holds, and nothing at all
// when the snapshot covers it.
func TestReplayStopsAtTheCommitIndex(t *testing.T) {
	fs := vfs.NewMem()
	l, err := txnlog.Open(fs, "/log", txnlog.Options{SegmentSize: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var ents []txnlog.Entry
	for i := uint64(2); i <= 9; i++ {
		ents = append(ents, txnlog.Entry{Index: i, Term: 1, Data: fmt.Appendf(nil, "e%d", i)})
	}
	if err := l.Save(&txnlog.HardState{Term: 1, Vote: 1, Commit: 6}, ents); err != nil {
		t.Fatal(err)
	}
	snap := SnapshotMeta{Index: 1, Term: 1, Membership: Membership{Voters: []uint64{1}}}
	rec := newRecorder()
	applied, err := Replay(l, snap, rec.Apply)
	if err != nil || applied != 6 {
		t.Fatalf("Replay = %d, %v; want 6", applied, err)
	}
	if got := rec.data(); !slices.Equal(got, []string{"e2", "e3", "e4", "e5", "e6"}) {
		t.Fatalf("replayed %q", got)
	}
	snap.Index = 7
	if applied, err := Replay(l, snap, func([]Entry) { t.Fatal("applied entries below the snapshot") }); err != nil || applied != 7 {
		t.Fatalf("Replay from a snapshot past the commit index = %d, %v; want 7", applied, err)
	}
}
