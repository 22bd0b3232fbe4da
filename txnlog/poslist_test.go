package txnlog

import (
	"math/rand/v2"
	"testing"
)

// A posList agrees with a plain slice under random pushes, truncations and
// drops from the front that cross chunk boundaries.
func TestPosListMatchesASlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var l posList
	var model []entryPos
	next := int64(0)
	for step := range 4000 {
		switch r := rng.IntN(100); {
		case r < 80:
			for range rng.IntN(3 * posChunkLen / 2) {
				next++
				p := entryPos{seg: uint64(next / 1000), off: next, term: uint64(step), size: uint32(next)}
				l.push(p)
				model = append(model, p)
			}
		case r < 90 && len(model) > 0:
			n := rng.IntN(len(model) + 1)
			l.truncate(n)
			model = model[:n]
		case len(model) > 0:
			k := rng.IntN(len(model) + 1)
			l.dropFront(k)
			model = model[k:]
		}
		if l.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, l.len(), len(model))
		}
		if l.head >= posChunkLen || (len(model) == 0 && len(l.chunks) != 0) {
			t.Fatalf("step %d: head %d with %d chunks for %d elements", step, l.head, len(l.chunks), len(model))
		}
		if want := (l.head + l.n + posChunkLen - 1) / posChunkLen; len(model) > 0 && len(l.chunks) != want {
			t.Fatalf("step %d: %d chunks for %d elements from %d, want %d", step, len(l.chunks), l.n, l.head, want)
		}
		for _, k := range []int{0, len(model) / 2, len(model) - 1, rng.IntN(len(model) + 1)} {
			if k >= 0 && k < len(model) && l.at(k) != model[k] {
				t.Fatalf("step %d: at(%d) = %+v, want %+v", step, k, l.at(k), model[k])
			}
		}
		if len(model) > 1<<20 {
			l.dropFront(len(model) / 2)
			model = model[len(model)/2:]
		}
	}
}

// Appending to a posList never allocates more than one chunk at a time.
func TestPosListGrowsByChunks(t *testing.T) {
	var l posList
	for i := range 10 * posChunkLen {
		l.push(entryPos{off: int64(i)})
	}
	allocs := testing.AllocsPerRun(100, func() {
		for range posChunkLen {
			l.push(entryPos{})
		}
		l.dropFront(posChunkLen)
	})
	if allocs > 1 {
		t.Fatalf("%.1f allocations per chunk of pushes with a chunk dropped in between, want at most 1", allocs)
	}
}
