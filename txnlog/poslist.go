package txnlog

// posChunkLen is the number of entry positions in one chunk of a posList: 128
// KiB, large enough that chunk bookkeeping costs nothing per entry, small
// enough that growing the list never allocates more than that at once.
const posChunkLen = 4096

type posChunk [posChunkLen]entryPos

// posList is the index's sequence of entry positions, in fixed-size chunks. A
// slice that doubled instead reallocated and copied the whole index on growth
// (tens of MiB at once for a log of a million entries when snapshots are
// rare, a stall of hundreds of milliseconds on a loaded server) and copied its
// tail again on every compaction.
type posList struct {
	chunks []*posChunk
	head   int       // position of element 0 in chunks[0]
	n      int       // number of elements
	spare  *posChunk // a chunk dropped from the front, reused by the next push
}

func (l *posList) len() int { return l.n }

// at returns element k. REQUIRES: 0 <= k < len().
func (l *posList) at(k int) entryPos {
	k += l.head
	return l.chunks[k/posChunkLen][k%posChunkLen]
}

func (l *posList) push(p entryPos) {
	end := l.head + l.n
	if end == len(l.chunks)*posChunkLen {
		c := l.spare
		if c == nil {
			c = new(posChunk)
		}
		l.spare = nil
		l.chunks = append(l.chunks, c)
	}
	l.chunks[end/posChunkLen][end%posChunkLen] = p
	l.n++
}

// truncate keeps the first n elements. REQUIRES: 0 <= n <= len().
func (l *posList) truncate(n int) {
	if n == 0 {
		l.reset()
		return
	}
	l.n = n
	need := (l.head + n + posChunkLen - 1) / posChunkLen
	clear(l.chunks[need:])
	l.chunks = l.chunks[:need]
}

// dropFront forgets the first k elements. REQUIRES: 0 <= k <= len().
func (l *posList) dropFront(k int) {
	if k == l.n {
		l.reset()
		return
	}
	l.head += k
	l.n -= k
	if gone := l.head / posChunkLen; gone > 0 {
		l.spare = l.chunks[gone-1]
		// Copy the chunk pointers down so the dropped chunks can be collected and
		// the array does not creep forward forever.
		n := copy(l.chunks, l.chunks[gone:])
		clear(l.chunks[n:])
		l.chunks = l.chunks[:n]
		l.head -= gone * posChunkLen
	}
}

// reset empties the list, releasing its chunks.
func (l *posList) reset() { *l = posList{} }
