package netloop

import (
	"sync"
	"time"
)

// Handshake deadline.
//
// ZooKeeper 3.8's NIO server (the default serverCnxnFactory) keeps every
// connection in an ExpiryQueue bucketed by zookeeper.nio.sessionlessCnxnTimeout
// (default 10000 ms); until a session is attached a connection's timeout is that
// value, and its ConnectionExpirerThread closes it once it expires, counting
// sessionless_connections_expired. The deadline is refreshed by every read or
// write on the connection and rounded up to the next 10 s bucket, so a silent
// connection goes 10 to 20 s after its last byte. It does not depend on tickTime
// or on the session timeout bounds: those apply once a session is attached.
//
// zkd closes a connection that has not completed its ConnectRequest
// Config.HandshakeTimeout (the same 10 s) after it was accepted. Unlike ZooKeeper
// it does not refresh the deadline on traffic: a handshake trickled one byte at a
// time would otherwise hold its slot of maxClientCnxns for ever.
//
// Every connection gets the same timeout, so the order in which connections are
// accepted is also the order of their deadlines: a FIFO is a timing wheel with a
// single slot. One sweeper goroutine per Server pops the expired head every
// sweepEvery and wakes those connections; their event loops close them unless
// the handshake completed meanwhile. No timer per connection.

// sweepEvery is how often the sweeper looks: an eighth of the timeout, within
// [5 ms, 1 s]. A connection is closed at most that long after its deadline.
func sweepEvery(timeout time.Duration) time.Duration {
	return min(max(timeout/8, 5*time.Millisecond), time.Second)
}

// handshakeQueue holds the connections that had not completed a handshake when
// last looked at, oldest first. Event loops add; the sweeper takes.
type handshakeQueue struct {
	mu struct {
		sync.Mutex
		q    []pendingHandshake // guarded by mu; q[head:] are live, deadlines ascending
		head int                // guarded by mu
	}
}

type pendingHandshake struct {
	deadline time.Time
	c        *conn
}

// add queues c with deadline. Deadlines must not decrease from one call to the
// next; with one timeout and now read in order that holds up to clock jitter
// between event loops, which only delays a close by that jitter.
func (q *handshakeQueue) add(c *conn, deadline time.Time) {
	q.mu.Lock()
	q.mu.q = append(q.mu.q, pendingHandshake{deadline: deadline, c: c})
	q.mu.Unlock()
}

// due removes and appends to dst every queued connection whose deadline is at or
// before now.
func (q *handshakeQueue) due(now time.Time, dst []*conn) []*conn {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.mu.head < len(q.mu.q) && !q.mu.q[q.mu.head].deadline.After(now) {
		dst = append(dst, q.mu.q[q.mu.head].c)
		q.mu.q[q.mu.head] = pendingHandshake{}
		q.mu.head++
	}
	// Reclaim the consumed front once it is most of the slice, so a burst of
	// connections does not pin its peak.
	if q.mu.head > 0 && q.mu.head >= len(q.mu.q)/2 {
		n := copy(q.mu.q, q.mu.q[q.mu.head:])
		if cap(q.mu.q) > 64 && n < cap(q.mu.q)/4 {
			q.mu.q = append([]pendingHandshake(nil), q.mu.q[:n]...)
		} else {
			clear(q.mu.q[n:])
			q.mu.q = q.mu.q[:n]
		}
		q.mu.head = 0
	}
	return dst
}

// len returns the number of queued connections.
func (q *handshakeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.mu.q) - q.mu.head
}

// sweepLoop closes connections past their handshake deadline until Stop.
func (s *Server) sweepLoop() {
	defer close(s.sweepDone)
	t := time.NewTicker(sweepEvery(s.cfg.HandshakeTimeout))
	defer t.Stop()
	var due []*conn
	for {
		select {
		case <-s.stopC:
			return
		case now := <-t.C:
			due = s.sweep(now, due[:0])
			clear(due)
		}
	}
}

// sweep marks the connections whose deadline has passed by now and wakes them, so
// that their event loops close those still without a handshake. It returns due
// for reuse.
func (s *Server) sweep(now time.Time, due []*conn) []*conn {
	due = s.handshakes.due(now, due)
	for _, cc := range due {
		if cc.started.Load() || cc.closed.Load() {
			continue
		}
		cc.expired.Store(true)
		cc.wake()
	}
	return due
}
