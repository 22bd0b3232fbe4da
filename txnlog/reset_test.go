package txnlog

import (
	"errors"
	"testing"

	"zkd/internal/vfs"
)

// A reset drops entries on both sides of the reset point (a member installing
// its leader's snapshot drops a divergent suffix too), survives a reopen and a
// crash, and the log continues right after it.
func TestResetDropsEverythingAndContinuesAfterIt(t *testing.T) {
	for _, at := range []uint64{10, 40, 100} {
		fs := vfs.NewMem()
		opts := testOptions(512)
		l := mustOpen(t, fs, opts)
		var m model
		for i := uint64(0); i < 20; i++ {
			ents := makeEntries(i*3+1, i*3+4, 1, 30)
			if err := l.Save(&HardState{Term: 1, Commit: i * 3}, ents); err != nil {
				t.Fatal(err)
			}
			m.save(&HardState{Term: 1, Commit: i * 3}, ents)
		}
		if err := l.Reset(at); err != nil {
			t.Fatal(err)
		}
		m.compact, m.ents = at, nil
		m.check(t, l)
		if err := l.Save(nil, makeEntries(at, at+1, 2, 5)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("reset at %d: Save at the reset point: %v", at, err)
		}
		next := makeEntries(at+1, at+4, 2, 5)
		if err := l.Save(&HardState{Term: 2, Commit: at}, next); err != nil {
			t.Fatal(err)
		}
		m.save(&HardState{Term: 2, Commit: at}, next)
		m.check(t, l)
		if n := len(segmentFiles(t, fs)); n != 1 {
			t.Fatalf("reset at %d: %d segments left, want 1", at, n)
		}
		l.Close()
		for _, c := range []vfs.FS{fs, fs.CrashClone(vfs.CrashOptions{Unsynced: vfs.DropUnsynced})} {
			l = mustOpen(t, c, opts)
			m.check(t, l)
			l.Close()
		}
	}
}
