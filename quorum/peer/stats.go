package peer

import (
	"sync/atomic"
	"time"
)

// PeerStats is what operators see of one peer (four-letter words, mntr,
// metrics). Counters run from the peer's addition to the transport.
type PeerStats struct {
	ID   uint64
	Addr string
	// Connected: this member's stream to the peer is up. Inbound: the peer's
	// stream to this member is.
	Connected, Inbound bool
	// MsgsSent and BytesSent count frames written to the stream (and snapshot
	// bytes); Writes counts the writes that carried them.
	MsgsSent, BytesSent, Writes uint64
	MsgsReceived, BytesReceived uint64
	// QueueLen and QueueBytes are what waits to be written (with the batch being
	// written); never above MaxQueueMsgs and MaxQueueBytes.
	QueueLen, QueueBytes int
	// Dropped counts messages not delivered: refused by a full queue or a down
	// stream, or lost with a broken one.
	Dropped uint64
	// Dials counts connection attempts of the stream.
	Dials                                         uint64
	SnapshotsSent, SnapshotsFailed, SnapshotsRecv uint64
	// LastError is the newest failure with the peer, and when it happened.
	LastError   string
	LastErrorAt time.Time
}

// counters are a peer's statistics, updated without its lock.
type counters struct {
	msgsSent, bytesSent, writes       atomic.Uint64
	msgsRecv, bytesRecv               atomic.Uint64
	dropped, dials                    atomic.Uint64
	snapsSent, snapsFailed, snapsRecv atomic.Uint64
}

func (p *peer) snapshotStats() PeerStats {
	p.mu.Lock()
	st := PeerStats{ID: p.id, Addr: p.mu.addr, Connected: p.mu.connected, Inbound: p.mu.in != nil,
		QueueLen: p.mu.n, QueueBytes: p.mu.bytes, LastError: p.mu.lastErr, LastErrorAt: p.mu.lastErrAt}
	p.mu.Unlock()
	c := &p.stats
	st.MsgsSent, st.BytesSent, st.Writes = c.msgsSent.Load(), c.bytesSent.Load(), c.writes.Load()
	st.MsgsReceived, st.BytesReceived = c.msgsRecv.Load(), c.bytesRecv.Load()
	st.Dropped, st.Dials = c.dropped.Load(), c.dials.Load()
	st.SnapshotsSent, st.SnapshotsFailed, st.SnapshotsRecv = c.snapsSent.Load(), c.snapsFailed.Load(), c.snapsRecv.Load()
	return st
}
