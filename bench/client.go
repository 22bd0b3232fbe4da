package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"zkd/jute"
)

// ErrClosed is returned by Conn.Submit and Conn.Do once the connection is closed or
// broken; requests already in flight then complete with CodeConnectionLoss.
var ErrClosed = errors.New("bench: connection closed")

// ErrSessionExpired is returned by Dial when the server answers the handshake with a
// zero timeout (wire.md §3: the session is invalid).
var ErrSessionExpired = errors.New("bench: session expired or refused in handshake")

// epoch anchors now(): monotonic nanoseconds since the process started.
var epoch = time.Now()

// now returns monotonic nanoseconds since epoch; every timestamp of the package uses it.
func now() int64 { return int64(time.Since(epoch)) }

// Reply is one answer to a request, handed to its Callback on the connection's
// reader goroutine.
type Reply struct {
	Op   jute.OpCode
	Xid  int32
	Zxid jute.Zxid
	Err  jute.Code // CodeConnectionLoss when the connection broke first
	// Body is the reply record after the ReplyHeader. It aliases the connection's
	// read buffer: it is valid only until the Callback returns; copy to keep it.
	Body []byte
	Tag  int64 // as given to Submit
	Sent int64 // now() at Submit
	Done int64 // now() when the reply was read (or the connection was lost)
}

// Callback receives a Reply on the connection's reader goroutine. It may call Submit
// (the request is written after the current batch of replies is handled) but must
// not block on another reply of the same connection.
type Callback func(r *Reply)

// EventFunc receives a watch notification on the reader goroutine. ev.Path aliases
// the read buffer (valid only during the call).
type EventFunc func(ev *jute.WatcherEvent, at int64)

// DialOptions configure one session.
type DialOptions struct {
	SessionTimeout time.Duration // requested; the server negotiates (default 10s)
	ConnectTimeout time.Duration // TCP connect plus handshake (default 10s)
	OnEvent        EventFunc     // watch notifications; nil drops them
	// TLS, when set, wraps the connection in TLS (a server's secureClientPort);
	// an empty ServerName is filled with the dialed host.
	TLS *tls.Config
}

// call is one request waiting for its reply.
type call struct {
	xid  int32
	op   jute.OpCode
	tag  int64
	sent int64
	cb   Callback
}

// Conn is one ZooKeeper session on one TCP connection, pipelined: Submit appends a
// request and returns; replies come back in request order (DESIGN.md invariant 2) and
// are matched against a FIFO of calls by xid. A connection whose replies arrive out
// of order is closed as broken, as the Java client does.
//
// Writes are combined: Submit writes at once unless another goroutine is writing or
// the reader is handling a batch of replies, in which case the bytes go out with that
// write or at the end of the batch. A pipelined loop thus makes one write per batch
// of replies read.
//
// Goroutines: one reader (replies, notifications, failure of pending calls) and one
// pinger (a ping every third of the negotiated timeout, so an idle session stays
// alive). Submit, Do, Close and Abandon are safe for concurrent use.
type Conn struct {
	nc        net.Conn
	sessionID jute.SessionID
	timeout   time.Duration // negotiated
	onEvent   EventFunc     // immutable

	mu struct {
		sync.Mutex
		out        []byte // guarded by mu; encoded frames not yet written
		spare      []byte // guarded by mu; the other half of the double buffer
		xid        int32  // guarded by mu; last xid used
		calls      []call // guarded by mu; ring of calls awaiting replies
		head, n    int    // guarded by mu; ring position and length
		writing    bool   // guarded by mu; some goroutine is in nc.Write
		inDispatch bool   // guarded by mu; the reader is handling a batch of replies
		closed     bool   // guarded by mu; no more Submit; set once
		err        error  // guarded by mu; why it closed
	}
	donec chan struct{} // closed when the reader has failed every pending call and exited
}

// Dial connects, performs the handshake for a new session and starts the reader and
// pinger.
func Dial(ctx context.Context, addr string, opt DialOptions) (*Conn, error) {
	if opt.SessionTimeout <= 0 {
		opt.SessionTimeout = 10 * time.Second
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opt.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, classifyDialError(addr, err, false)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if opt.TLS != nil {
		cfg := opt.TLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("bench: TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	req := jute.ConnectRequest{TimeOut: int32(opt.SessionTimeout.Milliseconds()), Passwd: make([]byte, 16), HasReadOnly: true}
	b, mark := jute.BeginFrame(nil)
	b = jute.EndFrame(req.Append(b), mark)
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, classifyDialError(addr, err, true)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	frame, err := readFrame(br, nil)
	if err != nil {
		nc.Close()
		return nil, classifyDialError(addr, err, true)
	}
	var resp jute.ConnectResponse
	dec := jute.NewDecoder(frame)
	resp.Decode(&dec)
	if dec.Err() != nil {
		nc.Close()
		return nil, fmt.Errorf("bench: handshake with %s: %w", addr, dec.Err())
	}
	if resp.TimeOut <= 0 {
		nc.Close()
		return nil, ErrSessionExpired
	}
	_ = nc.SetDeadline(time.Time{})
	c := &Conn{
		nc:        nc,
		sessionID: jute.SessionID(resp.SessionID),
		timeout:   time.Duration(resp.TimeOut) * time.Millisecond,
		onEvent:   opt.OnEvent,
		donec:     make(chan struct{}),
	}
	c.mu.calls = make([]call, 16)
	go c.readLoop(br)
	go c.pingLoop()
	return c, nil
}

// SessionID is the id the server gave the session.
func (c *Conn) SessionID() jute.SessionID { return c.sessionID }

// Timeout is the negotiated session timeout.
func (c *Conn) Timeout() time.Duration { return c.timeout }

// Submit sends one request. body is encoded before Submit returns, so the caller may
// reuse it; nil means an empty body. cb is called exactly once, on the reader
// goroutine, unless Submit returns an error (then never).
func (c *Conn) Submit(op jute.OpCode, body jute.Record, tag int64, cb Callback) error {
	c.mu.Lock()
	if c.mu.closed {
		err := c.mu.err
		c.mu.Unlock()
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	c.mu.xid++
	if c.mu.xid <= 0 { // never reuse the special negative xids
		c.mu.xid = 1
	}
	xid := c.mu.xid
	out, mark := jute.BeginFrame(c.mu.out)
	out = jute.AppendInt(out, xid)
	out = jute.AppendInt(out, int32(op))
	if body != nil {
		out = body.Append(out)
	}
	c.mu.out = jute.EndFrame(out, mark)
	c.pushLocked(call{xid: xid, op: op, tag: tag, sent: now(), cb: cb})
	c.flushLocked()
	return nil
}

// Do sends one request and waits for its reply. The returned Reply's Body is a copy.
func (c *Conn) Do(ctx context.Context, op jute.OpCode, body jute.Record) (Reply, error) {
	ch := make(chan Reply, 1)
	err := c.Submit(op, body, 0, func(r *Reply) {
		cp := *r
		cp.Body = append([]byte(nil), r.Body...)
		ch <- cp
	})
	if err != nil {
		return Reply{}, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}

// Close ends the session with closeSession (waiting up to two seconds for the reply)
// and closes the socket.
func (c *Conn) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _ = c.Do(ctx, jute.OpCloseSession, nil)
	cancel()
	c.Abandon()
}

// Abandon closes the socket without closeSession: the server keeps the session (and
// its ephemerals) until it expires. It returns once pending calls have failed.
func (c *Conn) Abandon() {
	c.fail(ErrClosed)
	<-c.donec
}

// Pending reports how many requests await replies.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.n
}

func (c *Conn) pushLocked(k call) {
	if c.mu.n == len(c.mu.calls) {
		grown := make([]call, 2*len(c.mu.calls))
		for i := 0; i < c.mu.n; i++ {
			grown[i] = c.mu.calls[(c.mu.head+i)%len(c.mu.calls)]
		}
		c.mu.calls, c.mu.head = grown, 0
	}
	c.mu.calls[(c.mu.head+c.mu.n)%len(c.mu.calls)] = k
	c.mu.n++
}

func (c *Conn) popLocked() (call, bool) {
	if c.mu.n == 0 {
		return call{}, false
	}
	k := c.mu.calls[c.mu.head]
	c.mu.calls[c.mu.head] = call{}
	c.mu.head = (c.mu.head + 1) % len(c.mu.calls)
	c.mu.n--
	return k, true
}

// flushLocked writes c.mu.out unless someone else will. REQUIRES c.mu held; it is
// released on return.
//
// NB: the lock is dropped around nc.Write so that the reader and other submitters
// are never stuck behind a socket write; the writing flag keeps one writer at a
// time, and that writer loops until out is empty, so no appended byte is stranded.
func (c *Conn) flushLocked() {
	if c.mu.writing || c.mu.inDispatch || c.mu.closed || len(c.mu.out) == 0 {
		c.mu.Unlock()
		return
	}
	c.mu.writing = true
	for len(c.mu.out) > 0 && !c.mu.closed {
		buf := c.mu.out
		c.mu.out = c.mu.spare[:0]
		c.mu.Unlock()
		_, err := c.nc.Write(buf)
		c.mu.Lock()
		if cap(buf) <= 4<<20 { // keep the buffer unless one burst made it huge
			c.mu.spare = buf[:0]
		} else {
			c.mu.spare = nil
		}
		if err != nil {
			c.mu.writing = false
			c.mu.Unlock()
			c.fail(err)
			return
		}
	}
	c.mu.writing = false
	c.mu.Unlock()
}

// fail marks the connection closed and closes the socket; the reader then fails
// every pending call. Safe to call more than once.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if !c.mu.closed {
		c.mu.closed = true
		c.mu.err = err
	}
	c.mu.Unlock()
	c.nc.Close()
}

// readFrame returns the next frame's payload. It aliases br's buffer (valid until
// the next read) unless the frame is larger than the buffer, in which case it is read
// into *scratch (grown as needed; nil scratch allocates).
func readFrame(br *bufio.Reader, scratch *[]byte) ([]byte, error) {
	hdr, err := br.Peek(4)
	if err != nil {
		return nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(hdr)))
	if n < 0 || n > 64<<20 {
		return nil, fmt.Errorf("bench: bad frame length %d", n)
	}
	if 4+n <= br.Size() {
		b, err := br.Peek(4 + n)
		if err != nil {
			return nil, err
		}
		_, _ = br.Discard(4 + n)
		return b[4:], nil
	}
	_, _ = br.Discard(4)
	var buf []byte
	if scratch != nil && cap(*scratch) >= n {
		buf = (*scratch)[:n]
	} else {
		buf = make([]byte, n)
		if scratch != nil {
			*scratch = buf
		}
	}
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// frameBuffered reports whether br holds a whole frame already.
func frameBuffered(br *bufio.Reader) bool {
	if br.Buffered() < 4 {
		return false
	}
	hdr, _ := br.Peek(4)
	n := int(int32(binary.BigEndian.Uint32(hdr)))
	return n >= 0 && 4+n <= br.Buffered()
}

func (c *Conn) readLoop(br *bufio.Reader) {
	var scratch []byte
	var err error
	for {
		var frame []byte
		frame, err = readFrame(br, &scratch)
		if err != nil {
			break
		}
		c.mu.Lock()
		c.mu.inDispatch = true
		c.mu.Unlock()
		if err = c.handle(frame); err != nil {
			break
		}
		if !frameBuffered(br) {
			// End of a batch: write what the callbacks submitted, in one write.
			c.mu.Lock()
			c.mu.inDispatch = false
			c.flushLocked()
		}
	}
	c.fail(err)
	c.mu.Lock()
	c.mu.inDispatch = false
	var lost []call
	for {
		k, ok := c.popLocked()
		if !ok {
			break
		}
		lost = append(lost, k)
	}
	c.mu.Unlock()
	at := now()
	for _, k := range lost {
		k.cb(&Reply{Op: k.op, Xid: k.xid, Err: jute.CodeConnectionLoss, Tag: k.tag, Sent: k.sent, Done: at})
	}
	close(c.donec)
}

// handle dispatches one reply frame.
func (c *Conn) handle(frame []byte) error {
	at := now()
	d := jute.NewDecoder(frame)
	var h jute.ReplyHeader
	h.Decode(&d)
	if d.Err() != nil {
		return fmt.Errorf("bench: session %v: bad reply header: %w", c.sessionID, d.Err())
	}
	switch h.Xid {
	case jute.XidNotification:
		var ev jute.WatcherEvent
		ev.Decode(&d)
		if d.Err() != nil {
			return fmt.Errorf("bench: session %v: bad notification: %w", c.sessionID, d.Err())
		}
		if c.onEvent != nil {
			c.onEvent(&ev, at)
		}
		return nil
	case jute.XidPing, jute.XidAuth, jute.XidSetWatches:
		return nil
	}
	c.mu.Lock()
	k, ok := c.popLocked()
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("bench: session %v: reply xid %d with nothing pending", c.sessionID, h.Xid)
	}
	if k.xid != h.Xid {
		err := fmt.Errorf("bench: session %v: reply xid %d, want %d (out of order)", c.sessionID, h.Xid, k.xid)
		c.fail(err) // first, so that the callback cannot submit on a broken connection
		k.cb(&Reply{Op: k.op, Xid: k.xid, Err: jute.CodeConnectionLoss, Tag: k.tag, Sent: k.sent, Done: at})
		return err
	}
	r := Reply{Op: k.op, Xid: h.Xid, Zxid: h.Zxid, Err: h.Err, Body: d.Rest(), Tag: k.tag, Sent: k.sent, Done: at}
	k.cb(&r)
	return nil
}

func (c *Conn) pingLoop() {
	t := time.NewTicker(max(c.timeout/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.donec:
			return
		case <-t.C:
		}
		c.mu.Lock()
		if c.mu.closed {
			c.mu.Unlock()
			return
		}
		out, mark := jute.BeginFrame(c.mu.out)
		out = jute.AppendInt(out, jute.XidPing)
		out = jute.AppendInt(out, int32(jute.OpPing))
		c.mu.out = jute.EndFrame(out, mark)
		c.flushLocked()
	}
}
