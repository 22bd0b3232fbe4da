package peer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// peer is one other member: the queue and writer goroutine of the stream this
// member dials to it, the stream it dials to us, and its snapshot transfers.
type peer struct {
	t  *Transport
	id uint64
	// ctx is canceled when the peer is removed or the transport stops.
	ctx    context.Context
	cancel context.CancelFunc
	wakeC  chan struct{} // buffer 1: frames were queued
	// batch is the writer's spare queue slice, swapped with mu.q. Writer only.
	batch [][]byte

	mu struct {
		sync.Mutex
		addr string
		// reached indexes the alternative of addr that answered the last dial
		// (Alternatives): the next dial tries it first.
		reached int
		// connected: the outbound stream is up (handshake done). Frames are queued
		// only while it is; conn is its TCP connection, closed to make the writer
		// redial.
		connected bool
		conn      net.Conn
		// q holds frames for the writer. Invariant: n and bytes count q plus the
		// batch the writer is writing, and never exceed the configured limits.
		q        [][]byte
		n, bytes int
		dropping bool // a drop was logged; cleared by the next successful queueing
		removed  bool // removed or stopped: nothing is queued or attached any more
		// in is the stream the peer dialed to us (nil when none).
		in *inbound
		// sendingSnap and receivingSnap allow one transfer each way at a time.
		sendingSnap, receivingSnap bool
		failing                    bool // the last dial failed (logged once until a success)
		lastErr                    string
		lastErrAt                  time.Time
	}
	// lostArmed is set when a stream with the peer comes up and cleared when
	// PeerLost is reported, so that one loss is reported once.
	lostArmed atomic.Bool
	stats     counters
}

type inbound struct {
	conn net.Conn      // the TCP connection (under TLS, if any)
	done chan struct{} // closed when its reader has returned
}

func newPeer(t *Transport, id uint64, addr string) *peer {
	p := &peer{t: t, id: id, wakeC: make(chan struct{}, 1)}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	p.mu.addr = addr
	return p
}

// setAddr changes the peer's address; a stream to the old one is closed, so the
// writer dials the new one.
func (p *peer) setAddr(addr string) {
	p.mu.Lock()
	if p.mu.addr == addr {
		p.mu.Unlock()
		return
	}
	p.mu.addr, p.mu.reached = addr, 0
	conn := p.mu.conn
	// Queue nothing more for the old address: what the stream to it still has
	// queued is dropped with it.
	p.mu.connected = false
	p.mu.Unlock()
	p.t.log.Info("peer address changed", "peer", p.t.label(p.id), "addr", addr)
	if conn != nil {
		_ = conn.Close()
	}
}

// close disconnects the peer for good (removal or Stop). Its goroutines exit on
// their own; Stop waits for them.
func (p *peer) close() {
	p.mu.Lock()
	p.mu.removed, p.mu.connected = true, false
	conn := p.mu.conn
	var in net.Conn
	if p.mu.in != nil {
		in = p.mu.in.conn
	}
	p.mu.Unlock()
	p.cancel()
	if conn != nil {
		_ = conn.Close()
	}
	if in != nil {
		_ = in.Close()
	}
}

func (p *peer) noteError(err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	p.mu.lastErr, p.mu.lastErrAt = err.Error(), time.Now()
	p.mu.Unlock()
}

// enqueue appends to the queue, in order, each frame that fits, and wakes the
// writer. It returns how many it dropped: all of them when the stream is down (messages would otherwise pile up for a peer that may be gone for
// hours, and raft retransmits what matters once it is back).
func (p *peer) enqueue(frames [][]byte) (dropped int) {
	lim := &p.t.cfg
	p.mu.Lock()
	if !p.mu.connected || p.mu.removed {
		p.mu.Unlock()
		return len(frames)
	}
	queued := 0
	for _, f := range frames {
		if p.mu.n+1 > lim.MaxQueueMsgs || p.mu.bytes+len(f) > lim.MaxQueueBytes {
			dropped++
			continue
		}
		p.mu.q = append(p.mu.q, f)
		p.mu.n++
		p.mu.bytes += len(f)
		queued++
	}
	logDrop := dropped > 0 && !p.mu.dropping
	if dropped > 0 {
		p.mu.dropping = true
	} else if queued > 0 {
		p.mu.dropping = false
	}
	n, bytes := p.mu.n, p.mu.bytes
	p.mu.Unlock()
	if logDrop {
		p.t.log.Warn("peer queue full: dropping messages", "peer", p.t.label(p.id), "queued", n, "queued_bytes", bytes)
	}
	if queued > 0 {
		select {
		case p.wakeC <- struct{}{}:
		default:
		}
	}
	return dropped
}

// dial connects to the peer at one of its addresses: the one that answered
// last first, then the others in turn (a member with an address per network
// stays reachable while one network is down, as ZooKeeper's multiAddress
// servers are). It returns the address reached, or every address's error.
func (p *peer) dial(kind byte) (conn, raw net.Conn, addr string, err error) {
	p.mu.Lock()
	all, first := p.mu.addr, p.mu.reached
	p.mu.Unlock()
	alts := Alternatives(all)
	var errs []error
	for i := range alts {
		k := (first + i) % len(alts)
		conn, raw, err = p.t.dial(p.ctx, alts[k], kind, p.id)
		if err == nil {
			p.mu.Lock()
			if p.mu.addr == all {
				p.mu.reached = k
			}
			p.mu.Unlock()
			return conn, raw, alts[k], nil
		}
		if p.ctx.Err() != nil {
			return nil, nil, alts[k], err
		}
		errs = append(errs, err)
	}
	return nil, nil, all, errors.Join(errs...)
}

// run is the peer's writer goroutine: dial, serve the stream until it breaks,
// back off, dial again, until the peer is removed or the transport stops.
func (p *peer) run() {
	defer p.t.wg.Done()
	bo := newBackoff(p.t.cfg.BackoffMin, p.t.cfg.BackoffMax, p.t.seed, p.id)
	for {
		p.stats.dials.Add(1)
		conn, raw, addr, err := p.dial(kindStream)
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			p.noteError(err)
			p.mu.Lock()
			first := !p.mu.failing
			p.mu.failing = true
			p.mu.Unlock()
			if first {
				p.t.log.Warn("cannot reach peer; retrying with backoff", "peer", p.t.label(p.id), "addr", addr, "err", err)
			} else {
				p.t.log.Debug("cannot reach peer", "peer", p.t.label(p.id), "addr", addr, "err", err)
			}
		} else {
			bo.reset()
			p.serve(conn, raw, addr)
			if p.ctx.Err() != nil {
				return
			}
		}
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(bo.next()):
		}
	}
}

// serve writes the queue to an established stream until the stream breaks or
// the peer goes away, then drops what is left queued. raw is the TCP connection
// under conn, closed to interrupt it.
func (p *peer) serve(conn, raw net.Conn, addr string) {
	p.mu.Lock()
	if p.mu.removed {
		p.mu.Unlock()
		_ = raw.Close()
		return
	}
	p.mu.conn, p.mu.connected, p.mu.failing = raw, true, false
	p.mu.Unlock()
	p.lostArmed.Store(true)
	p.t.log.Info("peer stream connected", "peer", p.t.label(p.id), "addr", addr)

	// The peer never writes on this connection: a read returns only when it
	// closes or resets it, which tells of a dead peer long before a write
	// would (the writer may be idle).
	readErrC := make(chan error, 1)
	go func() {
		var b [1]byte
		n, err := conn.Read(b[:])
		if n > 0 {
			err = fmt.Errorf("%w: data on the dialing side of a stream", ErrProtocol)
		}
		readErrC <- err
		_ = raw.Close()
	}()

	bw := bufio.NewWriterSize(countingWriter{w: conn, n: &p.stats.writes}, p.t.cfg.WriteBufferSize)
	var werr, rerr error
	gotRead := false
	for werr == nil {
		select {
		case <-p.wakeC:
			werr = p.flush(conn, bw)
			continue
		case rerr = <-readErrC:
			gotRead = true
		case <-p.ctx.Done():
		}
		break
	}
	_ = raw.Close()
	if !gotRead {
		rerr = <-readErrC
	}

	p.mu.Lock()
	p.mu.connected, p.mu.conn = false, nil
	lost := 0
	raftLost := false
	for _, f := range p.mu.q {
		lost++
		raftLost = raftLost || f[0] == frameRaft
	}
	clear(p.mu.q)
	p.mu.q = p.mu.q[:0]
	p.mu.n, p.mu.bytes = 0, 0
	p.mu.Unlock()
	p.stats.dropped.Add(uint64(lost))

	cause := rerr
	if !isGone(cause) && werr != nil {
		cause = werr
	}
	if p.ctx.Err() != nil {
		return // removed or stopping: nothing to report
	}
	p.noteError(cause)
	p.t.log.Info("peer stream disconnected", "peer", p.t.label(p.id), "addr", addr, "err", cause, "dropped", lost)
	if raftLost || werr != nil {
		p.t.cfg.Handler.ReportUnreachable(p.id)
	}
	if isGone(cause) && p.lostArmed.CompareAndSwap(true, false) {
		p.t.cfg.Handler.PeerLost(p.id)
	}
}

// deadlineEvery is how many bytes may be written between refreshes of the
// write deadline: a big batch to a slow but live peer is not cut short.
const deadlineEvery = 1 << 20

// flush writes everything queued, batch after batch, into bw, then flushes it
// once the queue is empty: many messages, one write.
func (p *peer) flush(conn net.Conn, bw *bufio.Writer) error {
	timeout := p.t.cfg.WriteTimeout
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	sinceDeadline := 0
	for {
		p.mu.Lock()
		batch := p.mu.q
		p.mu.q = p.batch[:0]
		p.mu.Unlock()
		if len(batch) == 0 {
			p.batch = batch
			break
		}
		var err error
		written, size, wbytes := 0, 0, 0
		for _, f := range batch {
			size += len(f)
			if err != nil {
				continue
			}
			if sinceDeadline += len(f); sinceDeadline > deadlineEvery {
				_ = conn.SetWriteDeadline(time.Now().Add(timeout))
				sinceDeadline = 0
			}
			if _, err = bw.Write(f); err == nil {
				written++
				wbytes += len(f)
			}
		}
		p.mu.Lock()
		p.mu.n -= len(batch)
		p.mu.bytes -= size
		p.mu.Unlock()
		p.stats.msgsSent.Add(uint64(written))
		p.stats.bytesSent.Add(uint64(wbytes))
		p.stats.dropped.Add(uint64(len(batch) - written))
		clear(batch)
		p.batch = batch[:0]
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

// serveInbound reads the stream the peer dialed to us and hands its messages to
// the handler, in order. A newer stream from the same peer replaces an older one;
// the older one's reader is finished before the newer one's starts, so messages
// from the two are never interleaved.
func (p *peer) serveInbound(c net.Conn, br *bufio.Reader) {
	in := &inbound{conn: c, done: make(chan struct{})}
	defer close(in.done)
	p.mu.Lock()
	if p.mu.removed {
		p.mu.Unlock()
		return
	}
	old := p.mu.in
	p.mu.in = in
	p.mu.Unlock()
	if old != nil {
		_ = old.conn.Close()
		<-old.done
	}
	p.lostArmed.Store(true)
	remote := c.RemoteAddr().String()
	p.t.log.Info("peer stream accepted", "peer", p.t.label(p.id), "remote", remote)

	err := p.readStream(br)
	_ = c.Close()
	p.mu.Lock()
	if p.mu.in == in {
		p.mu.in = nil
	}
	p.mu.Unlock()
	if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return // closed here: removed, stopped, or replaced by a newer stream
	}
	p.noteError(err)
	if errors.Is(err, ErrProtocol) || errors.Is(err, ErrFrameTooLarge) {
		p.t.log.Warn("closing a peer stream that broke the protocol", "peer", p.t.label(p.id), "remote", remote, "err", err)
	} else {
		p.t.log.Info("peer stream from the peer ended", "peer", p.t.label(p.id), "remote", remote, "err", err)
	}
	if isGone(err) && p.lostArmed.CompareAndSwap(true, false) {
		p.t.cfg.Handler.PeerLost(p.id)
	}
}

// keepBuffer is the largest read buffer kept between frames; a larger one,
// grown for one big message, is left to the garbage collector.
const keepBuffer = 1 << 20

func (p *peer) readStream(br *bufio.Reader) error {
	h := p.t.cfg.Handler
	fr := &frameReader{r: br, max: p.t.cfg.MaxFrameSize}
	for {
		if cap(fr.buf) > keepBuffer {
			fr.buf = nil
		}
		typ, payload, err := fr.next()
		if err != nil {
			return err
		}
		p.stats.msgsRecv.Add(1)
		p.stats.bytesRecv.Add(uint64(headLen + len(payload)))
		switch typ {
		case frameRaft:
			m := &pb.Message{}
			if err := proto.Unmarshal(payload, m); err != nil {
				return fmt.Errorf("%w: undecodable raft message of %d bytes: %w: % x", ErrProtocol, len(payload), err,
					payload[:min(len(payload), 32)])
			}
			if err := p.checkInbound(m); err != nil {
				return err
			}
			h.Step(m)
		case frameApp:
			h.HandleApp(p.id, payload)
		default:
			return fmt.Errorf("%w: frame type %d on a stream (%d bytes)", ErrProtocol, typ, len(payload))
		}
	}
}

// checkInbound refuses a raft message that does not come from the stream's peer
// or is not addressed to this member, and a MsgSnap, which must come with its
// snapshot on a connection of its own.
func (p *peer) checkInbound(m *pb.Message) error {
	switch {
	case m.GetFrom() != p.id || m.GetTo() != p.t.cfg.ID:
		return fmt.Errorf("%w: %s from %d to %d on the stream from %d to %d", ErrProtocol, m.GetType(),
			m.GetFrom(), m.GetTo(), p.id, p.t.cfg.ID)
	case m.GetType() == pb.MessageType_MsgSnap:
		return fmt.Errorf("%w: MsgSnap on the stream from %d", ErrProtocol, p.id)
	}
	return nil
}

// isGone reports whether err means the other end closed or reset the
// connection (rather than a local close or a timeout).
func isGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// countingWriter counts the writes that reach the connection (one per syscall
// for a plain TCP connection): the stream's batching is messages per write.
type countingWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c countingWriter) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.w.Write(b)
}
