package session

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"zkd/datatree"
	"zkd/jute"
	"zkd/sasl"
)

// Transport is the socket under a Conn; netloop implements it.
type Transport interface {
	// Wake asks the event loop to flush the connection soon. Safe from any goroutine.
	Wake()
	// Close closes the connection after writing what is already flushed. Safe from
	// any goroutine.
	Close()
}

type connState uint8

const (
	stateHandshake  connState = iota // waiting for ConnectRequest
	stateConnecting                  // ConnectRequest taken; its session is being created or attached
	stateReady                       // session attached
	stateClosing                     // no more requests are read
)

// pending is one request of the connection that has not been answered yet.
type pending struct {
	start int64  // monotonic ns at receipt, for latency
	frame []byte // a copied request to run when it reaches the head; nil otherwise
	done  bool   // the reply is ready in reply
	reply []byte // whole reply frame(s)
	close bool   // close the connection once this reply is out
	// pooled, when set, holds reply; it goes back to the pool once reply is emitted.
	pooled *bytebufferpool.ByteBuffer
}

// Conn is one client connection. Its request handling runs on the connection's
// event loop, except where noted.
type Conn struct {
	srv    *Server
	tr     Transport
	ip     string // remote IP: the ip identity and the maxClientCnxns key
	remote string // remote ip:port, for four-letter words
	est    int64  // connection time, ms since the epoch

	state     atomic.Uint32 // a connState; written by the event loop, and by a handshake's completion
	sess      *Session      // set once, on the event loop under Server.mu, before any request is read
	oldClient bool          // the ConnectRequest had no readOnly byte
	readOnly  bool          // accepted by a read-only server: writes get NOTREADONLY; set by the handshake
	// token names this connection in the log (datatree.Txn.Conn): unique across
	// the ensemble, never 0. connSeq numbers its writes; event loop only.
	token    uint64
	connSeq  uint64
	identity atomic.Pointer[datatree.Identity]
	// saslSrv is the connection's SASL exchange, from its first opcode-102
	// token (secure.go); event loop only.
	saslSrv sasl.Server
	// inflight counts requests read and not answered yet (limits.go).
	inflight  atomic.Int64
	recv      atomic.Int64 // requests received
	sentCount atomic.Int64 // replies and events sent
	last      connStats

	pend struct {
		sync.Mutex
		q []*pending // guarded by mu; in request order
		// drain is set when an answer arrived off the event loop while a queued
		// read waits behind it: the read runs on the event loop (TakeOutput).
		drain bool // guarded by mu
		// syncs counts syncs not yet answered; writes sent after one are held
		// back until it is (see submitLocked). guarded by mu.
		syncs int
		held  []heldWrite // guarded by mu; in request order
		// gone is set once the connection is closed: queued reads never run then,
		// so they register no watch for a connection that no longer exists.
		gone bool // guarded by mu
	}

	out struct {
		sync.Mutex
		buf        []byte // guarded by mu; frames ready to write, in order
		spare      []byte // guarded by mu; the other half of the double buffer
		woken      bool   // guarded by mu; a Wake is pending
		closeAfter bool   // guarded by mu; close once buf is written
		closed     bool   // guarded by mu; drop further output
	}

	// early holds requests that arrived while the handshake was still being
	// replicated; they run once it is done. Event loop only.
	early    [][]byte
	scratch  []byte   // event loop only: reply encoding buffer
	children []string // event loop only: getChildren scratch
}

func newConn(s *Server, tr Transport, ip, remote string) *Conn {
	c := &Conn{srv: s, tr: tr, ip: ip, remote: remote, est: time.Now().UnixMilli(), token: rand.Uint64() | 1}
	c.last.reset()
	id := datatree.Identity{{Scheme: "ip", ID: ip}}
	c.identity.Store(&id)
	return c
}

// Identity implements datatree.Watcher.
func (c *Conn) Identity() datatree.Identity { return *c.identity.Load() }

// Notify implements datatree.Watcher: it queues a notification frame. ZooKeeper 3.8
// sends zxid -1 in every notification header, so zkd does too.
func (c *Conn) Notify(ev datatree.Event) {
	c.out.Lock()
	if c.out.closed {
		c.out.Unlock()
		return
	}
	before := len(c.out.buf)
	c.out.buf = jute.AppendNotification(c.out.buf, -1, ev.Type, ev.Path)
	ops := c.opsState()
	ops.noteResponse(len(c.out.buf) - before)
	ops.watchBytes.add(int64(len(c.out.buf) - before))
	c.sentCount.Add(1)
	c.srv.stats.sent.Add(1)
	wake := !c.out.woken
	c.out.woken = true
	c.out.Unlock()
	if wake {
		c.tr.Wake()
	}
}

// emit appends whole reply frames to the output. fromLoop says whether the caller
// runs on the connection's event loop, which flushes by itself after each read.
func (c *Conn) emit(frames []byte, fromLoop bool) {
	c.out.Lock()
	if c.out.closed {
		c.out.Unlock()
		return
	}
	c.out.buf = append(c.out.buf, frames...)
	c.opsState().noteResponse(len(frames))
	c.noteReply()
	c.sentCount.Add(1)
	c.srv.stats.sent.Add(1)
	wake := !fromLoop && !c.out.woken
	if wake {
		c.out.woken = true
	}
	queued := len(c.out.buf)
	c.out.Unlock()
	if queued > c.srv.cfg.MaxOutputBytes {
		c.srv.log.Warn("closing connection of a client that does not read its replies",
			"remote", c.remote, "sessionid", c.sessionID(), "queued_bytes", queued)
		c.abort()
		return
	}
	if wake {
		c.tr.Wake()
	}
}

// TakeOutput hands the queued output to the event loop, which must write it and then
// give the slice back with ReturnOutput. closeAfter asks it to close the connection
// once the bytes are written. It first runs the reads that answers from the apply
// goroutine left waiting at the head of the queue: reads run on the event loop only.
func (c *Conn) TakeOutput() (b []byte, closeAfter bool) {
	if len(c.early) > 0 && c.getState() != stateConnecting {
		early := c.early
		c.early = nil
		for _, f := range early {
			if c.getState() == stateReady {
				c.request(f)
			}
		}
	}
	c.pend.Lock()
	if c.pend.drain {
		c.pend.drain = false
		c.drainLocked(true, true)
	}
	c.pend.Unlock()
	c.out.Lock()
	defer c.out.Unlock()
	b = c.out.buf
	c.out.buf = c.out.spare[:0]
	c.out.spare = nil
	c.out.woken = false
	return b, c.out.closeAfter
}

// QueuedOutput returns the number of output bytes waiting for TakeOutput.
func (c *Conn) QueuedOutput() int {
	c.out.Lock()
	defer c.out.Unlock()
	return len(c.out.buf)
}

// ReturnOutput gives back a slice from TakeOutput for reuse. Oversized buffers are
// dropped so one burst does not pin memory for the connection's life.
func (c *Conn) ReturnOutput(b []byte) {
	if cap(b) > 1<<20 {
		return
	}
	c.out.Lock()
	if c.out.spare == nil {
		c.out.spare = b[:0]
	}
	c.out.Unlock()
}

// closeAfterFlush stops the connection once its queued output is written. Safe from
// any goroutine.
func (c *Conn) closeAfterFlush() {
	c.out.Lock()
	c.out.closeAfter = true
	c.out.Unlock()
	c.tr.Wake()
}

// abort drops queued output and closes the connection now.
func (c *Conn) abort() {
	c.pend.Lock()
	c.pend.gone = true
	c.pend.Unlock()
	c.out.Lock()
	c.out.closed = true
	c.out.buf = nil
	c.out.Unlock()
	c.tr.Close()
}

// Outstanding returns the number of unanswered requests; netloop stops reading
// from a connection whose count reaches the limit.
func (c *Conn) Outstanding() int {
	c.pend.Lock()
	defer c.pend.Unlock()
	return len(c.pend.q)
}

// Throttled reports whether netloop must leave further frames unread: the
// connection has as many requests in flight as it may, or its session is still
// being created or attached (nothing may be proposed for it before that).
func (c *Conn) Throttled() bool {
	return c.getState() == stateConnecting || c.Outstanding() >= c.srv.cfg.MaxOutstanding || c.globalThrottled()
}

// Started reports whether the connection has sent its ConnectRequest (before that,
// its first four bytes may be a four-letter word).
func (c *Conn) Started() bool { return c.getState() != stateHandshake }

func (c *Conn) getState() connState  { return connState(c.state.Load()) }
func (c *Conn) setState(s connState) { c.state.Store(uint32(s)) }

func (c *Conn) session() *Session { return c.sess }

// Closed must be called by netloop once the connection is gone: it drops the
// connection's watches and detaches it from its session, which lives on until it
// expires or is resumed.
func (c *Conn) Closed() {
	c.pend.Lock()
	c.pend.gone = true
	c.pend.Unlock()
	c.out.Lock()
	c.out.closed = true
	c.out.buf = nil
	c.out.Unlock()
	c.releaseInflight()
	c.srv.Tree().RemoveWatcher(c)
	c.srv.dropConn(c)
}

func (c *Conn) sessionID() jute.SessionID {
	if c.sess == nil {
		return 0
	}
	return c.sess.id
}

// HandleFrame processes one complete frame payload (the 4-byte length removed). It
// aliases frame only until it returns. It returns false when the connection must
// be closed at once, without flushing.
func (c *Conn) HandleFrame(frame []byte) bool {
	c.opsState().bytesIn.add(int64(len(frame) + 4))
	switch c.getState() {
	case stateHandshake:
		return c.handshake(frame)
	case stateReady:
		return c.request(frame)
	case stateConnecting:
		// netloop reads nothing while connecting (Throttled), but a frame that was
		// already in hand waits for the session rather than being lost.
		if len(c.early) >= c.srv.cfg.MaxOutstanding {
			return false
		}
		c.early = append(c.early, bytes.Clone(frame))
		return true
	}
	// stateClosing: a close is already scheduled after the replies still owed.
	// Frames pipelined behind are ignored; closing at once would drop those replies.
	return true
}

// enqueue appends p to the pending queue and reports whether it was empty before.
func (c *Conn) enqueue(p *pending) {
	c.pend.Lock()
	c.pend.q = append(c.pend.q, p)
	c.pend.Unlock()
}

// complete marks p answered and drains the queue head. It runs on whichever
// goroutine finished p: the apply goroutine for writes and syncs.
func (c *Conn) complete(p *pending, reply []byte, close bool) {
	c.pend.Lock()
	p.reply, p.done, p.close = reply, true, close
	c.drainLocked(false, false)
	c.pend.Unlock()
}

// beforeApply runs on the apply goroutine just before one of this connection's
// writes is applied: any read the client sent before that write and that is still
// queued runs now, against the state before it. Left to the event loop, it could
// run after the write and see a change the client made after asking (ZooKeeper's
// CommitProcessor also runs a session's queued reads before its next commit). In
// the usual case the event loop has run them already and this finds nothing.
func (c *Conn) beforeApply() {
	c.pend.Lock()
	c.drainLocked(false, true)
	c.pend.Unlock()
}

// drainLocked emits every answered request at the head of the queue and runs the
// queued reads that reach the head when runReads is set. Reads run on the event
// loop (TakeOutput) as a rule; off it, with runReads unset, the drain stops at the
// first queued read and has the event loop woken to run it. The one exception is
// beforeApply. REQUIRES: c.pend held.
func (c *Conn) drainLocked(fromLoop, runReads bool) {
	q := c.pend.q
	i := 0
	for ; i < len(q); i++ {
		p := q[i]
		if p.frame != nil {
			if c.pend.gone {
				q[i] = nil
				continue
			}
			if !runReads {
				c.pend.drain = true
				c.tr.Wake()
				break
			}
			c.emit(c.local(p.frame, nil, false), fromLoop)
			c.observe(p.start)
			q[i] = nil
			continue
		}
		if !p.done {
			break
		}
		c.emit(p.reply, fromLoop)
		if p.pooled != nil {
			jute.ReleaseBuffer(p.pooled)
			p.pooled, p.reply = nil, nil
		}
		c.observe(p.start)
		if p.close {
			c.closeAfterFlush()
		}
		q[i] = nil
	}
	if i > 0 {
		n := copy(q, q[i:])
		clear(q[n:])
		c.pend.q = q[:n]
	}
}

// replyFrame builds a header-only reply frame.
func replyFrame(dst []byte, xid int32, zxid jute.Zxid, err jute.Code) []byte {
	dst, mark := jute.BeginFrame(dst)
	dst = jute.AppendReplyHeader(dst, xid, zxid, err)
	return jute.EndFrame(dst, mark)
}

// answer sends a reply that needs no more work, keeping request order: at once if
// nothing is pending, otherwise as a done item at the tail.
func (c *Conn) answer(reply []byte, start int64, close bool) {
	c.pend.Lock()
	if len(c.pend.q) == 0 {
		c.pend.Unlock()
		c.emit(reply, true)
		c.observe(start)
		if close {
			c.closeAfterFlush()
		}
		return
	}
	c.pend.q = append(c.pend.q, &pending{start: start, done: true, reply: bytes.Clone(reply), close: close})
	c.pend.Unlock()
}
