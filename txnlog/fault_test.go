package txnlog

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"zkd/internal/vfs"
)

// TestWriteAndSyncFailures fails the write or the fdatasync of one Save and checks
// the contract: that Save errors, every later Save and Compact errors the same way,
// reads keep working, and reopening yields the acknowledged entries plus, only when
// the bytes reached the file (a failed sync, no crash), the whole failed batch.
func TestWriteAndSyncFailures(t *testing.T) {
	const failAt = 12 // the 13th Save fails
	cases := []struct {
		name  string
		kind  vfs.OpKind
		err   error
		keep  int  // bytes of the failing write that land
		batch bool // the failed batch is complete in the file
	}{
		{"write ENOSPC", vfs.OpWrite, syscall.ENOSPC, 0, false},
		{"write ENOSPC after part of the batch", vfs.OpWrite, syscall.ENOSPC, 100, false},
		{"write EIO", vfs.OpWrite, syscall.EIO, 0, false},
		{"short write", vfs.OpWrite, io.ErrShortWrite, 57, false},
		{"sync EIO", vfs.OpSync, syscall.EIO, 0, true},
		{"sync ENOSPC", vfs.OpSync, syscall.ENOSPC, 0, true},
	}
	steps, states := saveSteps(20)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			opts := testOptions(1 << 20) // no roll: the failing op is the Save's own
			l := mustOpen(t, fs, opts)
			for i := range failAt {
				if err := steps[i].apply(l); err != nil {
					t.Fatal(err)
				}
			}
			// Fail the next operation of this kind: the 13th Save's.
			n := 0
			fs.SetInjector(func(op vfs.Op) vfs.Fault {
				if op.Kind == tc.kind {
					n++
					if n == 1 {
						return vfs.Fault{Err: tc.err, Keep: tc.keep}
					}
				}
				return vfs.Fault{}
			})
			err := steps[failAt].apply(l)
			if !errors.Is(err, tc.err) {
				t.Fatalf("failing Save: %v, want %v", err, tc.err)
			}
			fs.SetInjector(nil)
			// Sticky, although the disk works again.
			if err := steps[failAt+1].apply(l); !errors.Is(err, tc.err) {
				t.Fatalf("next Save: %v, want the sticky %v", err, tc.err)
			}
			if err := l.Compact(1); !errors.Is(err, tc.err) {
				t.Fatalf("Compact: %v, want the sticky %v", err, tc.err)
			}
			states[failAt].check(t, l) // readers see only what was acknowledged
			l.Close()

			acked, withBatch := states[failAt], states[failAt+1]
			for _, c := range []struct {
				name string
				fs   vfs.FS
				want model
			}{
				{"reopen", fs, map[bool]model{false: acked, true: withBatch}[tc.batch]},
				{"crash, synced data only", fs.CrashClone(vfs.CrashOptions{}), acked},
				{"crash, unsynced data kept", fs.CrashClone(vfs.CrashOptions{Unsynced: vfs.KeepUnsynced}),
					map[bool]model{false: acked, true: withBatch}[tc.batch]},
			} {
				l, err := Open(c.fs, testDir, opts)
				if err != nil {
					t.Fatalf("%s: Open: %v", c.name, err)
				}
				if d := c.want.diff(l); d != "" {
					t.Fatalf("%s: %s", c.name, d)
				}
				l.Close()
			}
		})
	}
}

// saveSteps is a workload of n Saves of a few entries each, committing as it goes.
func saveSteps(n int) ([]step, []model) {
	var steps []step
	var m model
	states := []model{m.clone()}
	for i := range uint64(n) {
		s := step{hs: &HardState{Term: 1, Vote: 1, Commit: i * 3}, ents: makeEntries(i*3+1, i*3+4, 1, 50)}
		m.save(s.hs, s.ents)
		steps = append(steps, s)
		states = append(states, m.clone())
	}
	return steps, states
}

// TestFailureAtEveryOperation fails each FS operation of a workload in turn (Open's,
// a roll's, a Compact's, a Save's) and checks that the log reports it, refuses to go
// on, and reopens, with or without a crash, to the acknowledged state or the one
// that includes the failed step, never anything else.
func TestFailureAtEveryOperation(t *testing.T) {
	opts := testOptions(512)
	steps, states := workload(3, 40)
	probe := vfs.NewMem()
	runRecorded(t, probe, opts, steps)
	total := probe.Ops()
	for op := range total {
		for _, ferr := range []error{syscall.EIO, syscall.ENOSPC} {
			name := fmt.Sprintf("op=%d/err=%v", op, ferr)
			fs := vfs.NewMem()
			fs.SetInjector(vfs.FailOp(op, ferr, 30))
			acked := 0
			l, err := Open(fs, testDir, opts)
			if err == nil {
				for _, s := range steps {
					if err = s.apply(l); err != nil {
						break
					}
					acked++
				}
				if err == nil {
					t.Fatalf("%s: no step failed", name)
				}
				if !errors.Is(err, ferr) {
					t.Fatalf("%s: step %d: %v, want %v", name, acked, err, ferr)
				}
				if err := l.Save(nil, makeEntries(states[acked].next(), states[acked].next()+1, 99, 1)); !errors.Is(err, ferr) {
					t.Fatalf("%s: Save after the failure: %v, want sticky %v", name, err, ferr)
				}
				l.Close()
			} else if !errors.Is(err, ferr) {
				t.Fatalf("%s: Open: %v", name, err)
			}
			fs.SetInjector(nil)
			for _, c := range []vfs.FS{fs, fs.CrashClone(vfs.CrashOptions{}), fs.CrashClone(vfs.CrashOptions{Unsynced: vfs.KeepUnsynced})} {
				l, err := Open(c, testDir, opts)
				if err != nil {
					t.Fatalf("%s: reopen: %v", name, err)
				}
				if k, why := matchState(l, states, acked, acked+1); k < 0 {
					t.Fatalf("%s: reopened to %s; %s", name, l.debugString(), why)
				}
				l.Close()
			}
		}
	}
}
