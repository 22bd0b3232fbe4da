package session

import (
	"sync"
	"sync/atomic"
	"time"

	"zkd/jute"
)

// connStats are the per-connection figures cons prints. Written by whichever
// goroutine answers a request, read by four-letter words: atomics, and lastOp's
// own mutex for its queue.
type connStats struct {
	op       lastOp
	cxid     atomic.Int64 // last client xid; -1 unset
	zxid     atomic.Int64 // zxid of the last reply; -1 unset
	resp     atomic.Int64 // monotonic ms of the last reply
	latLast  atomic.Int64
	latMin   atomic.Int64 // -1: none yet
	latMax   atomic.Int64
	latSum   atomic.Int64
	latCount atomic.Int64

	ops    atomic.Pointer[opsState] // the server's, cached on first use
	unsent atomic.Int64             // bytes netloop still holds for the socket (SetUnsent)
}

const noOp = int32(jute.OpNotification)

// reset initialises the figures of a new connection. Its first reply is the
// handshake's, so that is the first operation whose latency is owed.
func (s *connStats) reset() {
	s.clear()
	s.op.mu.Lock()
	if s.op.q == nil {
		s.op.q = append(make([]jute.OpCode, 0, 4), jute.OpCreateSession)
	}
	s.op.mu.Unlock()
}

// clear zeroes what cons prints (crst); the latency queue is left alone.
func (s *connStats) clear() {
	s.op.v.Store(noOp)
	s.cxid.Store(-1)
	s.zxid.Store(-1)
	s.resp.Store(0)
	s.latLast.Store(0)
	s.latMin.Store(-1)
	s.latMax.Store(0)
	s.latSum.Store(0)
	s.latCount.Store(0)
}

// lastOp is cons's last operation, and the queue of the operations read but not
// yet answered, so that each reply's latency is counted against its own opcode.
// dispatch calls Store for every request it reads (event loop); observe pops one
// per reply. Replies leave in request order (DESIGN.md invariant 2), so the head
// of the queue is always the request being answered.
type lastOp struct {
	v    atomic.Int32
	mu   sync.Mutex
	q    []jute.OpCode // guarded by mu; q[head:] are owed, oldest first
	head int           // guarded by mu
}

// Store records op as the last operation and queues it for its latency.
func (o *lastOp) Store(op int32) {
	o.v.Store(op)
	o.mu.Lock()
	o.q = append(o.q, jute.OpCode(op))
	o.mu.Unlock()
}

// Load returns the last operation.
func (o *lastOp) Load() int32 { return o.v.Load() }

// pop returns the operation the next reply answers (OpNotification if none is owed).
func (o *lastOp) pop() jute.OpCode {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.head >= len(o.q) {
		return jute.OpNotification
	}
	op := o.q[o.head]
	o.head++
	switch {
	case o.head == len(o.q):
		o.q, o.head = o.q[:0], 0
	case o.head >= 64 && 2*o.head >= len(o.q):
		n := copy(o.q, o.q[o.head:])
		o.q, o.head = o.q[:n], 0
	}
	return op
}

// observe records a request answered now that arrived at start (monotonic ns).
func (c *Conn) observe(start int64) {
	now := monoNow()
	ms := (now - start) / int64(time.Millisecond)
	c.srv.stats.observe(start)
	if i := opSlot(c.last.op.pop()); i >= 0 {
		shards := &c.opsState().requests
		hs := shards.get()
		if h := hs[i]; h != nil {
			h.Observe(now - start)
		}
		shards.put(hs)
	}
	st := &c.last
	st.latLast.Store(ms)
	st.latSum.Add(ms)
	st.latCount.Add(1)
	st.resp.Store(now / int64(time.Millisecond))
	st.zxid.Store(int64(c.srv.Tree().LastZxid()))
	storeMin(&st.latMin, ms)
	storeMax(&st.latMax, ms)
}

func storeMin(v *atomic.Int64, x int64) {
	for {
		cur := v.Load()
		if cur != -1 && cur <= x || v.CompareAndSwap(cur, x) {
			return
		}
	}
}

func storeMax(v *atomic.Int64, x int64) {
	for {
		cur := v.Load()
		if cur >= x || v.CompareAndSwap(cur, x) {
			return
		}
	}
}

// lopNames are cons's abbreviations of the last operation.
var lopNames = map[jute.OpCode]string{
	jute.OpNotification: "NA", jute.OpPing: "PING", jute.OpCreateSession: "SESS", jute.OpMulti: "MULT",
	jute.OpMultiRead: "MLTR", jute.OpCreate: "CREA", jute.OpCreate2: "CREA", jute.OpCreateContainer: "CREA",
	jute.OpCreateTTL: "CREA", jute.OpDelete: "DELE", jute.OpSetData: "SETD", jute.OpReconfig: "RECO",
	jute.OpSetACL: "SETA", jute.OpCloseSession: "CLOS", jute.OpSync: "SYNC", jute.OpCheck: "CHEC",
	jute.OpExists: "EXIS", jute.OpGetData: "GETD", jute.OpSetWatches: "SETW", jute.OpSetWatches2: "STW2",
	jute.OpAddWatch: "ADDW", jute.OpGetACL: "GETA", jute.OpGetChildren: "GETC", jute.OpGetChildren2: "GETC",
	jute.OpGetAllChildrenNumber: "GETACN", jute.OpCheckWatches: "CHKW", jute.OpRemoveWatches: "REMW",
	jute.OpWhoAmI: "HOMI", jute.OpGetEphemerals: "GETE", jute.OpAuth: "AUTH",
}

// FourLetterWord answers a four-letter word sent on this connection. As in
// ZooKeeper, the word counts as one packet received before it runs, and its reply
// as the packets sent after it (so stat's Sent does not include stat's own reply).
func (c *Conn) FourLetterWord(word string) string {
	c.recv.Add(1)
	c.srv.stats.received.Add(1)
	reply := c.srv.FourLetterWord(word)
	if n := fourLetterPackets(len(reply)); n > 0 {
		c.sentCount.Add(n)
		c.srv.stats.sent.Add(n)
	}
	return reply
}

// fourLetterPackets is how many packets ZooKeeper counts as sent for a
// four-letter word's reply of n bytes. Its NIO connection writes the reply through
// a BufferedWriter (8192 chars) into a writer that sends, and counts, one packet
// per flush: one per full buffer and one for the rest; none for an empty reply.
//
// Reference: ZooKeeper NIOServerCnxn.checkFourLetterWord, SendBufferWriter and
// sendBufferSync (packetSent), 3.8.
func fourLetterPackets(n int) int64 {
	const chunk = 8192
	return int64((n + chunk - 1) / chunk)
}
