package txnlog

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"zkd/internal/vfs"
)

// TestEntriesConcurrentWithSaveAndCompact has readers call Entries, Term and the
// bounds while the writer saves, overwrites suffixes and compacts away segments,
// with a cache too small to hold much. Every entry a reader gets must be the one
// its payload says it is; run it under -race.
func TestEntriesConcurrentWithSaveAndCompact(t *testing.T) {
	fs := vfs.NewMem()
	opts := testOptions(1024)
	opts.CacheSize = 512
	opts.prepareInline = false // the background preparer runs too
	l := mustOpen(t, fs, opts)
	defer l.Close()

	n := 3000
	if raceEnabled {
		n = 800
	}
	steps, states := workload(7, n)
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	errc := make(chan error, 1)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !done.Load() {
				first, last := l.FirstIndex(), l.LastIndex()
				if last == 0 || first > last {
					continue
				}
				lo := first + rng.Uint64N(last-first+1)
				hi := lo + rng.Uint64N(min(last-lo+1, 16)+1)
				ents, err := l.Entries(lo, hi)
				if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
					continue // the log moved between the bounds and the read
				}
				if err != nil {
					report(err)
					return
				}
				for i, e := range ents {
					if e.Index != lo+uint64(i) || !checkPayload(e) {
						report(errors.New("entry " + string(e.Data) + " read where another belongs"))
						return
					}
				}
				if _, err := l.Term(lo); err != nil && !errors.Is(err, ErrCompacted) && !errors.Is(err, ErrUnavailable) {
					report(err)
					return
				}
				_ = l.HardState()
				reads.Add(1)
			}
		})
	}
	for i, s := range steps {
		if err := s.apply(l); err != nil {
			t.Fatalf("step %d %v: %v", i, s, err)
		}
	}
	done.Store(true)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	states[len(states)-1].check(t, l)
	t.Logf("%d steps, %d reads", len(steps), reads.Load())
}
