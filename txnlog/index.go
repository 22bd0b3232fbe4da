package txnlog

import "fmt"

// entryPos says where one retained entry is. It holds no pointers, so a long log
// costs the garbage collector nothing to scan.
type entryPos struct {
	seg  uint64 // seq of the segment holding the entry's frame
	off  int64  // offset of the frame in that segment
	term uint64
	size uint32 // bytes of the frame on disk
}

// index maps the retained entries to their frames, and caches the Data of the
// newest. Replay builds one from the segments and Save keeps it current, applying
// the same rules, so the log after a reopen is the log before it.
type index struct {
	// compact is the compaction point: every entry <= compact is released.
	compact uint64
	// first is the index of ents.at(0); meaningful only when ents is not empty.
	// Invariant: compact < first.
	first uint64
	// ents.at(i) is entry first+i. Invariant: their (segment, offset) increase.
	ents posList
	// cache holds the Data of entry cacheFirst+k at cache.at(k). It always
	// reaches the last entry: when not empty, cacheFirst >= first and
	// cacheFirst+cache.len()-1 == last(). The slices are the Data Save was given,
	// which nobody modifies.
	cacheFirst uint64
	cache      ring
	cached     int64 // sum of the lengths of the cached slices
}

func (x *index) empty() bool { return x.ents.len() == 0 }

// last returns the index of the last retained entry. REQUIRES: !x.empty().
func (x *index) last() uint64 { return x.first + uint64(x.ents.len()) - 1 }

// pos returns where entry i is. REQUIRES: first <= i <= last().
func (x *index) pos(i uint64) entryPos { return x.ents.at(int(i - x.first)) }

// check says why entry i cannot be appended now, or "" if it can: it must be above
// the compaction point and must not leave a gap after the last entry. An index at
// or below the last one is fine: it replaces the suffix from there on.
func (x *index) check(i uint64) string {
	if i <= x.compact {
		return fmt.Sprintf("entry %d is at or below the compaction point %d", i, x.compact)
	}
	if !x.empty() && i > x.last()+1 {
		return fmt.Sprintf("entry %d leaves a gap after the last entry %d", i, x.last())
	}
	return ""
}

// put appends entry i, first dropping every retained entry >= i. data, if not nil,
// is cached. REQUIRES: x.check(i) == "".
func (x *index) put(i uint64, p entryPos, data []byte) {
	switch {
	case x.empty():
		x.first = i
	case i <= x.first:
		x.truncate(x.first)
		x.first = i
	case i <= x.last():
		x.truncate(i)
	}
	x.ents.push(p)
	switch {
	case data == nil:
		x.dropCache(x.cache.len()) // the cache must reach the last entry
	case x.cache.len() == 0:
		x.cacheFirst = i
		fallthrough
	default:
		x.cache.push(data)
		x.cached += int64(len(data))
	}
}

// truncate forgets the entries >= i. REQUIRES: first <= i <= last.
func (x *index) truncate(i uint64) {
	x.ents.truncate(int(i - x.first))
	if x.cache.len() == 0 {
		return
	}
	keep := 0
	if i > x.cacheFirst {
		keep = int(i - x.cacheFirst)
	}
	x.cached -= int64(x.cache.truncate(keep))
}

// dropCache forgets the oldest n cached entries.
func (x *index) dropCache(n int) {
	x.cached -= int64(x.cache.drop(n))
	x.cacheFirst += uint64(n)
}

// cachedData returns the cached Data of entry i, or nil.
func (x *index) cachedData(i uint64) []byte {
	if x.cache.len() == 0 || i < x.cacheFirst {
		return nil
	}
	return x.cache.at(int(i - x.cacheFirst))
}

// compactTo moves the compaction point up to c, forgetting the entries <= c.
func (x *index) compactTo(c uint64) {
	if c <= x.compact {
		return
	}
	x.compact = c
	switch {
	case x.empty() || c < x.first:
	case c >= x.last():
		x.ents.reset()
		x.dropCache(x.cache.len())
	default:
		x.dropThrough(c)
	}
}

// dropThrough forgets the entries first..c. REQUIRES: first <= c < last().
func (x *index) dropThrough(c uint64) {
	x.ents.dropFront(int(c - x.first + 1))
	x.first = c + 1
	if x.cache.len() > 0 && x.cacheFirst <= c {
		x.dropCache(int(c - x.cacheFirst + 1))
	}
}

// forgetTo drops the entries <= c from memory but keeps the compaction point:
// they stay in their segments, unread, until a compaction covers them. The
// last entry always stays, so the next index is never in doubt.
func (x *index) forgetTo(c uint64) {
	if x.empty() {
		return
	}
	if c = min(c, x.last()-1); c >= x.first {
		x.dropThrough(c)
	}
}

// resetTo empties the index: no entry is retained, and the next one is c+1.
func (x *index) resetTo(c uint64) {
	x.compact = c
	x.ents.reset()
	x.dropCache(x.cache.len())
}

// evict drops cached data, oldest first, until at most limit bytes remain.
func (x *index) evict(limit int64) {
	n, left := 0, x.cached
	for left > limit && n < x.cache.len() {
		left -= int64(len(x.cache.at(n)))
		n++
	}
	x.dropCache(n)
}

// ring is a growable circular queue of byte slices: the cache drops from the front
// and pushes at the back without moving what stays.
type ring struct {
	buf  [][]byte // len is zero or a power of two
	head int      // position in buf of element 0
	n    int      // number of elements
}

func (r *ring) len() int { return r.n }

func (r *ring) at(k int) []byte { return r.buf[(r.head+k)&(len(r.buf)-1)] }

func (r *ring) push(b []byte) {
	if r.n == len(r.buf) {
		grown := make([][]byte, max(16, 2*len(r.buf)))
		for k := range r.n {
			grown[k] = r.at(k)
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = b
	r.n++
}

// drop removes the first k elements and returns their total length.
func (r *ring) drop(k int) int {
	total := 0
	for j := range k {
		p := (r.head + j) & (len(r.buf) - 1)
		total += len(r.buf[p])
		r.buf[p] = nil
	}
	if k > 0 {
		r.head = (r.head + k) & (len(r.buf) - 1)
		r.n -= k
	}
	return total
}

// truncate keeps the first k elements and returns the total length of the others.
func (r *ring) truncate(k int) int {
	total := 0
	for j := k; j < r.n; j++ {
		p := (r.head + j) & (len(r.buf) - 1)
		total += len(r.buf[p])
		r.buf[p] = nil
	}
	r.n = k
	return total
}
