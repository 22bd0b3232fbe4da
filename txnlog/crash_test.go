package txnlog

import (
	"fmt"
	"strings"
	"testing"

	"zkd/internal/vfs"
)

// runRecorded runs steps on a fresh log on fs and returns, for each step, the
// number of FS operations before it started and after it returned.
func runRecorded(t *testing.T, fs *vfs.MemFS, opts Options, steps []step) (starts, ends []int64) {
	t.Helper()
	l := mustOpen(t, fs, opts)
	for i, s := range steps {
		starts = append(starts, fs.Ops())
		if err := s.apply(l); err != nil {
			t.Fatalf("step %d %v: %v", i, s, err)
		}
		ends = append(ends, fs.Ops())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return starts, ends
}

// TestCrashAtEveryByte runs a workload once on a MemFS, then crashes it at every
// instant of its history (before every operation and after every byte of every
// write) and checks that recovery yields exactly the state after some step: at
// least every acknowledged step, at most the one in flight. Each crash point is
// tried three ways: only synced data survives; everything written survives (a torn
// write, since the crash cut the write in flight); and random 16-byte pieces of the
// unsynced writes survive (out-of-order writeback). Then the recovered log must take
// a new Save that survives another crash.
func TestCrashAtEveryByte(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			testCrashAtEveryByte(t, seed)
		})
	}
}

func testCrashAtEveryByte(t *testing.T, seed uint64) {
	opts := testOptions(512) // a roll every few Saves
	steps, states := workload(seed, 50)
	fs := vfs.NewMem()
	starts, ends := runRecorded(t, fs, opts, steps)

	points := fs.CrashPoints()
	zeroFills := zeroFillOps(fs)
	stride := 1
	if raceEnabled {
		stride = 7 // the race detector makes every point ten times dearer
	}
	torn, kept, tried := 0, 0, 0
	defer func() {
		t.Logf("seed %d: %d steps, %d FS operations, %d bytes written, %d crash points, %d tried; "+
			"recoveries that lost the step in flight: %d, that kept it: %d",
			seed, len(steps), fs.Ops(), fs.Written(), len(points), tried, torn, kept)
	}()
	for i, p := range points {
		if i%stride != 0 && i != len(points)-1 {
			continue
		}
		// Inside a zero-fill every byte leaves the same log: sample those.
		if p.Bytes%17 != 0 && zeroFills[p.Op] {
			continue
		}
		tried++
		// acked: steps that returned before the crash; started: those that began.
		acked, started := 0, 0
		for k := range steps {
			if ends[k] <= p.Op {
				acked = k + 1
			}
			if starts[k] < p.Op || (starts[k] == p.Op && p.Bytes > 0) {
				started = k + 1
			}
		}
		modes := []vfs.CrashOptions{
			{Unsynced: vfs.DropUnsynced},
			{Unsynced: vfs.KeepUnsynced},
			{Unsynced: vfs.ScrambleUnsynced, Seed: uint64(i), Sector: 16},
		}
		for _, mode := range modes {
			c := fs.CrashCloneAt(p, mode)
			l, err := Open(c, testDir, opts)
			if err != nil {
				t.Fatalf("crash at %+v (%v), steps acked %d started %d: Open: %v", p, mode.Unsynced, acked, started, err)
			}
			k, why := matchState(l, states, acked, started)
			if k < 0 {
				t.Fatalf("crash at %+v (%v), steps acked %d started %d: recovered %v, no state matches: %s",
					p, mode.Unsynced, acked, started, l.debugString(), why)
			}
			switch {
			case k < started:
				torn++
			case k > acked:
				kept++
			}
			// The recovered log takes a new batch, durably.
			m := states[k].clone()
			hs := m.hs
			hs.Term += 100
			ents := makeEntries(m.next(), m.next()+2, hs.Term, 20)
			if err := l.Save(&hs, ents); err != nil {
				t.Fatalf("crash at %+v (%v): Save after recovery: %v", p, mode.Unsynced, err)
			}
			m.save(&hs, ents)
			l.Close()
			l2, err := Open(c.CrashClone(vfs.CrashOptions{}), testDir, opts)
			if err != nil {
				t.Fatalf("crash at %+v (%v), then a Save, then a crash: Open: %v", p, mode.Unsynced, err)
			}
			if d := m.diff(l2); d != "" {
				t.Fatalf("crash at %+v (%v), then a Save, then a crash: %s", p, mode.Unsynced, d)
			}
			l2.Close()
		}
	}
	if torn == 0 || kept == 0 {
		t.Fatal("no crash point lost, or none kept, a step in flight: the test does not test")
	}
}

// debugString describes l for failure messages.
func (l *Log) debugString() string {
	return fmt.Sprintf("{hs %+v compact %d entries [%d, %d] segments %d}",
		l.HardState(), l.mu.x.compact, l.FirstIndex(), l.LastIndex(), len(l.mu.segs))
}

// TestCrashWhileCreatingTheLog crashes inside the very first Open.
func TestCrashWhileCreatingTheLog(t *testing.T) {
	fs := vfs.NewMem()
	mustOpen(t, fs, testOptions(512)).Close()
	for _, p := range fs.CrashPoints() {
		for _, u := range []vfs.Unsynced{vfs.DropUnsynced, vfs.KeepUnsynced} {
			l, err := Open(fs.CrashCloneAt(p, vfs.CrashOptions{Unsynced: u}), testDir, testOptions(512))
			if err != nil {
				t.Fatalf("crash at %+v: %v", p, err)
			}
			if l.LastIndex() != 0 || l.HardState() != (HardState{}) {
				t.Fatalf("crash at %+v: %s", p, l.debugString())
			}
			l.Close()
		}
	}
}

// zeroFillOps returns the operations of fs's history that write the zeros of a
// segment being prepared: those between its creation under a .tmp name and its
// first sync.
func zeroFillOps(fs *vfs.MemFS) map[int64]bool {
	ops := map[int64]bool{}
	preparing := map[string]bool{}
	for n := range fs.Ops() {
		op, ok := fs.OpAt(n)
		switch {
		case !ok:
		case op.Kind == vfs.OpCreate && strings.HasSuffix(op.Path, tmpSuffix):
			preparing[op.Path] = true
		case op.Kind == vfs.OpSync:
			delete(preparing, op.Path)
		case op.Kind == vfs.OpWrite && preparing[op.Path]:
			ops[n] = true
		}
	}
	return ops
}
