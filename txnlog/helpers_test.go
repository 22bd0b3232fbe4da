package txnlog

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"zkd/internal/vfs"
)

const testDir = "/data/log"

// quiet discards log output; tests that care about it install their own.
var quiet = slog.New(slog.DiscardHandler)

// testOptions are deterministic: segments are prepared inline, so a workload's FS
// operations come in the same order on every run.
func testOptions(segmentSize int64) Options {
	return Options{SegmentSize: segmentSize, Logger: quiet, prepareInline: true}
}

func mustOpen(t testing.TB, fsys vfs.FS, opts Options) *Log {
	t.Helper()
	l, err := Open(fsys, testDir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// payload is the Data of entry (index, term): self-describing, so any reader can
// check what it got, and of varying length.
func payload(index, term uint64, n int) []byte {
	b := fmt.Appendf(nil, "i=%d t=%d;", index, term)
	for len(b) < n {
		b = append(b, byte('a'+(index+uint64(len(b)))%26))
	}
	return b
}

// checkPayload reports whether e's Data is what payload made for it.
func checkPayload(e Entry) bool {
	return bytes.HasPrefix(e.Data, fmt.Appendf(nil, "i=%d t=%d;", e.Index, e.Term))
}

func makeEntries(lo, hi, term uint64, size int) []Entry {
	var ents []Entry
	for i := lo; i < hi; i++ {
		ents = append(ents, Entry{Index: i, Term: term, Data: payload(i, term, size)})
	}
	return ents
}

// model is what a Log must hold: the reference semantics of Save and Compact.
type model struct {
	hs      HardState
	compact uint64
	ents    []Entry // consecutive indexes
}

func (m model) clone() model {
	m.ents = slices.Clone(m.ents)
	return m
}

func (m *model) first() uint64 {
	if len(m.ents) == 0 {
		return 0
	}
	return m.ents[0].Index
}

func (m *model) last() uint64 {
	if len(m.ents) == 0 {
		return 0
	}
	return m.ents[len(m.ents)-1].Index
}

func (m *model) next() uint64 {
	if len(m.ents) == 0 {
		return m.compact + 1
	}
	return m.last() + 1
}

func (m *model) save(hs *HardState, ents []Entry) {
	if hs != nil {
		m.hs = *hs
	}
	if len(ents) == 0 {
		return
	}
	i := ents[0].Index
	if len(m.ents) > 0 && i <= m.last() {
		m.ents = m.ents[:max(0, int(i)-int(m.first()))]
	}
	m.ents = append(m.ents, ents...)
}

func (m *model) compactTo(c uint64) {
	if c <= m.compact {
		return
	}
	m.compact = c
	m.ents = slices.DeleteFunc(slices.Clone(m.ents), func(e Entry) bool { return e.Index <= c })
}

func (m model) String() string {
	return fmt.Sprintf("{hs %+v compact %d entries [%d, %d]}", m.hs, m.compact, m.first(), m.last())
}

// diff returns how l differs from m, or "".
func (m *model) diff(l *Log) string {
	if hs := l.HardState(); hs != m.hs {
		return fmt.Sprintf("HardState %+v, want %+v", hs, m.hs)
	}
	if f, li := l.FirstIndex(), l.LastIndex(); f != m.first() || li != m.last() {
		return fmt.Sprintf("entries [%d, %d], want [%d, %d]", f, li, m.first(), m.last())
	}
	if len(m.ents) == 0 {
		return ""
	}
	got, err := l.Entries(m.first(), m.last()+1)
	if err != nil {
		return fmt.Sprintf("Entries: %v", err)
	}
	for i := range got {
		w := m.ents[i]
		if got[i].Index != w.Index || got[i].Term != w.Term || !bytes.Equal(got[i].Data, w.Data) {
			return fmt.Sprintf("entry %d = {%d %d %q}, want {%d %d %q}", w.Index,
				got[i].Index, got[i].Term, got[i].Data, w.Index, w.Term, w.Data)
		}
	}
	if f := m.first(); f > 1 {
		if _, err := l.Entries(f-1, f); !errors.Is(err, ErrCompacted) {
			return fmt.Sprintf("Entries below FirstIndex: err %v, want ErrCompacted", err)
		}
	}
	return ""
}

func (m *model) check(t testing.TB, l *Log) {
	t.Helper()
	if d := m.diff(l); d != "" {
		t.Fatal(d)
	}
}

// step is one operation of a workload: a Save or a Compact.
type step struct {
	hs      *HardState
	ents    []Entry
	compact uint64 // > 0: a Compact
}

func (s step) apply(l *Log) error {
	if s.compact > 0 {
		return l.Compact(s.compact)
	}
	return l.Save(s.hs, s.ents)
}

func (s step) String() string {
	if s.compact > 0 {
		return fmt.Sprintf("Compact(%d)", s.compact)
	}
	lo, hi := uint64(0), uint64(0)
	if len(s.ents) > 0 {
		lo, hi = s.ents[0].Index, s.ents[len(s.ents)-1].Index
	}
	return fmt.Sprintf("Save(hs %v, entries [%d, %d])", s.hs, lo, hi)
}

// workload generates n random steps from seed, as a raft leader and follower
// would: batches of 0-4 small entries, term and commit changes, now and then an
// overwrite of the suffix or a compaction. states[k] is the model after k steps.
func workload(seed uint64, n int) (steps []step, states []model) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var m model
	states = append(states, m.clone())
	term := uint64(1)
	for len(steps) < n {
		var s step
		switch r := rng.IntN(100); {
		case r < 7 && m.last() > 0:
			// Compact somewhere in the log, now and then past its end.
			lo := max(m.compact+1, m.first())
			s.compact = lo + rng.Uint64N(m.last()-lo+3)
		default:
			if rng.IntN(3) == 0 {
				hs := m.hs
				if rng.IntN(4) == 0 {
					term++
					hs.Term, hs.Vote = term, uint64(rng.IntN(3)+1)
				}
				if m.last() > hs.Commit {
					hs.Commit += rng.Uint64N(m.last()-hs.Commit) + 1
				}
				s.hs = &hs
			}
			start := m.next()
			if r < 20 && m.last() > max(m.hs.Commit, m.compact) {
				// Overwrite an uncommitted suffix, with a new term.
				lo := max(m.hs.Commit, m.compact) + 1
				start = lo + rng.Uint64N(m.last()-lo+1)
				term++
			}
			k := rng.IntN(5)
			if s.hs == nil && k == 0 {
				k = 1
			}
			for i := range k {
				idx := start + uint64(i)
				s.ents = append(s.ents, Entry{Index: idx, Term: term, Data: payload(idx, term, rng.IntN(48))})
			}
		}
		if s.compact > 0 {
			m.compactTo(s.compact)
		} else {
			m.save(s.hs, s.ents)
		}
		steps = append(steps, s)
		states = append(states, m.clone())
	}
	return steps, states
}

// matchState returns the k in [lo, hi] with states[k] equal to l, or -1.
func matchState(l *Log, states []model, lo, hi int) (int, string) {
	var diffs []string
	for k := lo; k <= hi && k < len(states); k++ {
		d := states[k].diff(l)
		if d == "" {
			return k, ""
		}
		diffs = append(diffs, fmt.Sprintf("state %d %v: %s", k, states[k], d))
	}
	return -1, fmt.Sprint(diffs)
}

// segmentFiles returns the segment names in the test directory.
func segmentFiles(t testing.TB, fsys vfs.FS) []string {
	t.Helper()
	names, err := fsys.ReadDir(testDir)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(names, func(n string) bool { _, ok := parseSegmentName(n); return !ok })
}

func segPath(name string) string { return filepath.Join(testDir, name) }

// readFile returns a file's bytes.
func readFile(t testing.TB, fsys vfs.FS, path string) []byte {
	t.Helper()
	f, err := fsys.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && n > 0 {
		t.Fatal(err)
	}
	return b
}

// writeFileAt overwrites bytes of an existing file and syncs.
func writeFileAt(t testing.TB, fsys vfs.FS, path string, b []byte, off int64) {
	t.Helper()
	f, err := fsys.OpenReadWrite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
