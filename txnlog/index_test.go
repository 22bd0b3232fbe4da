package txnlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstModel drives the in-memory index with random appends, suffix
// overwrites, compactions and cache evictions, and checks it against a plain map
// after every step: positions, terms, and that the cache is a suffix ending at the
// last entry that holds exactly the right Data within its byte limit.
func TestIndexAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	var x index
	want := map[uint64]entryPos{}
	data := map[uint64][]byte{}
	var first, last, compact uint64
	for step := range 20000 {
		switch r := rng.IntN(100); {
		case r < 5 && last > 0:
			c := compact + rng.Uint64N(last-compact+2)
			x.compactTo(c)
			if c > compact {
				compact = c
				for i := first; i <= min(c, last); i++ {
					delete(want, i)
				}
				if c >= last {
					first, last = 0, 0
				} else if c >= first {
					first = c + 1
				}
			}
		default:
			i := last + 1
			if last == 0 {
				i = compact + 1
			} else if r < 25 {
				i = max(first, compact+1) + rng.Uint64N(last-max(first, compact+1)+1)
			}
			if reason := x.check(i); reason != "" {
				t.Fatalf("step %d: check(%d): %s", step, i, reason)
			}
			for j := i; j <= last && last > 0; j++ {
				delete(want, j)
			}
			p := entryPos{seg: uint64(step), off: int64(i), term: uint64(step), size: 8}
			d := []byte(fmt.Sprint(step))
			x.put(i, p, d)
			want[i], data[i] = p, d
			if last == 0 {
				first = i
			}
			last = i
			x.evict(int64(200 + rng.IntN(200)))
		}
		if got := x.empty(); got != (last == 0) {
			t.Fatalf("step %d: empty() = %v, last %d", step, got, last)
		}
		if last == 0 {
			continue
		}
		if x.first != first || x.last() != last || x.compact != compact {
			t.Fatalf("step %d: [%d, %d] compact %d, want [%d, %d] compact %d", step, x.first, x.last(), x.compact, first, last, compact)
		}
		var cached int64
		inCache := false
		for i := first; i <= last; i++ {
			if x.pos(i) != want[i] {
				t.Fatalf("step %d: entry %d = %+v, want %+v", step, i, x.pos(i), want[i])
			}
			d := x.cachedData(i)
			if d == nil && inCache {
				t.Fatalf("step %d: entry %d uncached after a cached one", step, i)
			}
			if d != nil {
				inCache = true
				cached += int64(len(d))
				if !bytes.Equal(d, data[i]) {
					t.Fatalf("step %d: cached %d = %q, want %q", step, i, d, data[i])
				}
			}
		}
		if cached != x.cached || (x.cache.len() > 0 && x.cacheFirst+uint64(x.cache.len())-1 != last) {
			t.Fatalf("step %d: cache accounting %d vs %d, covers %d+%d, last %d", step, cached, x.cached, x.cacheFirst, x.cache.len(), last)
		}
	}
}

func TestRingWrapsAndGrows(t *testing.T) {
	var r ring
	next, head := 0, 0 // values pushed so far; value at the front
	for step := range 5000 {
		if step%3 == 0 && r.len() > 0 {
			k := min(r.len(), step%7)
			r.drop(k)
			head += k
		} else {
			r.push([]byte{byte(next)})
			next++
		}
		for k := range r.len() {
			if got := r.at(k)[0]; got != byte(head+k) {
				t.Fatalf("step %d: at(%d) = %d, want %d", step, k, got, byte(head+k))
			}
		}
	}
	if len(r.buf) < 16 || len(r.buf)&(len(r.buf)-1) != 0 {
		t.Fatalf("buffer of %d", len(r.buf))
	}
}
