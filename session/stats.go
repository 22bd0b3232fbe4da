package session

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"zkd/jute"
)

// connStats are the per-connection figures cons prints. Written by whichever
// goroutine answers a request, read by four-letter words: all atomics.
type connStats struct {
	op       atomic.Int32 // last opcode; notificationOp = none since reset
	cxid     atomic.Int64 // last client xid; -1 unset
	zxid     atomic.Int64 // zxid of the last reply; -1 unset
	resp     atomic.Int64 // monotonic ms of the last reply
	latLast  atomic.Int64
	latMin   atomic.Int64 // -1: none yet
	latMax   atomic.Int64
	latSum   atomic.Int64
	latCount atomic.Int64
}

const noOp = int32(jute.OpNotification)

func (s *connStats) reset() {
	s.op.Store(noOp)
	s.cxid.Store(-1)
	s.zxid.Store(-1)
	s.resp.Store(0)
	s.latLast.Store(0)
	s.latMin.Store(-1)
	s.latMax.Store(0)
	s.latSum.Store(0)
	s.latCount.Store(0)
}

// observe records a request answered now that arrived at start (monotonic ns).
func (c *Conn) observe(start int64) {
	now := monoNow()
	ms := (now - start) / int64(time.Millisecond)
	c.srv.stats.observe(start)
	st := &c.last
	st.latLast.Store(ms)
	st.latSum.Add(ms)
	st.latCount.Add(1)
	st.resp.Store(now / int64(time.Millisecond))
	st.zxid.Store(int64(c.srv.tree.LastZxid()))
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

// appendConsLine writes one connection as cons (full) or stat (brief) prints it.
func (c *Conn) appendConsLine(b *strings.Builder, full bool) {
	interest := 0
	if c.sess != nil {
		interest = 1
	}
	fmt.Fprintf(b, " /%s[%d](queued=%d,recved=%d,sent=%d", c.remote, interest, c.Outstanding(), c.recv.Load(), c.sentCount.Load())
	if full && c.sess != nil {
		st := &c.last
		lop, ok := lopNames[jute.OpCode(st.op.Load())]
		if !ok {
			lop = "NA"
		}
		fmt.Fprintf(b, ",sid=%s,lop=%s,est=%d,to=%d", c.sess.id, lop, c.est, c.sess.timeout.Load())
		if cx := st.cxid.Load(); cx >= 0 {
			fmt.Fprintf(b, ",lcxid=0x%x", cx)
		}
		avg := int64(0)
		if n := st.latCount.Load(); n > 0 {
			avg = st.latSum.Load() / n
		}
		fmt.Fprintf(b, ",lzxid=0x%x,lresp=%d,llat=%d,minlat=%d,avglat=%d,maxlat=%d",
			uint64(st.zxid.Load()), st.resp.Load(), st.latLast.Load(), max(st.latMin.Load(), 0), avg, st.latMax.Load())
	}
	b.WriteString(")\n")
}

// FourLetterWord answers a four-letter word sent on this connection; it counts as
// one received packet, as in ZooKeeper.
func (c *Conn) FourLetterWord(word string) string {
	c.recv.Add(1)
	c.srv.stats.received.Add(1)
	return c.srv.FourLetterWord(word)
}
