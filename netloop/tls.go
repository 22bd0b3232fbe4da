package netloop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// The TLS port.
//
// gnet does no TLS, so the TLS port (ZooKeeper's secureClientPort) is served by
// goroutines over crypto/tls, with the same framing, four-letter words, limits
// and handshake deadline as the plain port: each wake of a connection runs
// Server.serve, exactly as OnTraffic does, on a link that keeps the connection's
// unread input and queued output. Three goroutines per connection:
//
//	accept loop --serveTLS--> loop: Open, TLS handshake, x509 ids, then serve on
//	                            |     each chunk of input and each wake
//	              reader: tls.Conn.Read --chunk--> loop      (only while the loop
//	              writer: loop's queued output --> tls.Conn.Write   takes input)
//
// The loop owns the connection as an event loop owns a gnet connection: every
// call into the handler's Conn happens there. Unlike gnet, it can stop reading:
// while the connection is throttled (requests in flight, output unsent) the loop
// takes no input, the reader blocks with at most one chunk, and TCP pushes back
// on the client, as ZooKeeper's disableRecv does.
//
// The connection is opened with the handler before the TLS handshake, so that
// maxClientCnxns counts handshakes in progress too, and its handshake deadline
// starts at accept: the TLS handshake and the ConnectRequest together must finish
// within HandshakeTimeout. A client whose certificate presents ids gets them
// (TLSAuthenticator) before its first frame is read.

// TLSAuthenticator is implemented by a Conn that takes identities from the TLS
// handshake; *session.Conn does (the x509 provider). An error closes the
// connection before any frame is read.
type TLSAuthenticator interface {
	TLSHandshakeDone(cs tls.ConnectionState) error
}

// tlsReadChunk is the most the reader takes from the TLS connection per read: a
// TLS record's plaintext is at most 16 KiB.
const tlsReadChunk = 16 << 10

// closeLinger bounds how long a connection closed by the server may take to
// write out what it was last given (a reply before a close, a four-letter word's
// answer) to a client that does not read.
const closeLinger = 2 * time.Second

// tlsConns tracks the TLS port's connections, so that Stop can close them and
// wait for their goroutines.
type tlsConns struct {
	w  sync.WaitGroup
	mu struct {
		sync.Mutex
		m       map[*tlsLink]struct{} // guarded by mu
		stopped bool                  // guarded by mu: no more connections
	}
}

func (t *tlsConns) init() { t.mu.m = make(map[*tlsLink]struct{}) }

// add registers l and its goroutines (n of them); false once Stop has begun.
func (t *tlsConns) add(l *tlsLink, n int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return false
	}
	t.mu.m[l] = struct{}{}
	t.w.Add(n)
	return true
}

// spawn runs f as one more goroutine of a registered connection.
func (t *tlsConns) spawn(f func()) {
	t.w.Add(1)
	go func() {
		defer t.w.Done()
		f()
	}()
}

func (t *tlsConns) remove(l *tlsLink) {
	t.mu.Lock()
	delete(t.mu.m, l)
	t.mu.Unlock()
}

// closeAll closes every connection and waits until their goroutines are done.
func (t *tlsConns) closeAll() {
	t.mu.Lock()
	t.mu.stopped = true
	all := make([]*tlsLink, 0, len(t.mu.m))
	for l := range t.mu.m {
		all = append(all, l)
	}
	t.mu.Unlock()
	for _, l := range all {
		l.abort()
	}
	t.w.Wait()
}

// serveTLS is the TLS port's accept handler: it starts the connection's loop.
func (s *Server) serveTLS(tc *net.TCPConn, _ *reserveFD) error {
	return s.startLink(tc, &s.tlsPortConns, (*tlsLink).run)
}

// startLink registers a TLS link for tc, one of port's connections, and runs
// start on its own goroutine.
func (s *Server) startLink(tc *net.TCPConn, port *atomic.Int64, start func(*tlsLink, time.Time)) error {
	l := newTLSLink(s, tc, tls.Server(tc, s.cfg.TLS), port)
	if !s.tlsConns.add(l, 1) {
		_ = tc.Close()
		return net.ErrClosed
	}
	go start(l, time.Now())
	return nil
}

// tlsLink is one connection of the TLS port: the link serve reads and writes,
// and the session.Transport the handler's Conn wakes and closes.
type tlsLink struct {
	s   *Server
	raw net.Conn  // the TCP connection: closing it interrupts everything at once
	tc  *tls.Conn // over raw
	cc  *conn     // set by run before any other goroutine starts
	// port counts the open connections of the port it came in on (MaxConns).
	port *atomic.Int64

	// Loop goroutine only.
	in  []byte // unread input is in[off:]
	off int

	wakeC  chan struct{} // cap 1: a pending wake (Wake, the sweeper, the writer)
	readC  chan []byte   // reader -> loop: a chunk of input; closed when the reader ends
	freeC  chan []byte   // loop -> reader: chunks to reuse
	writeC chan struct{} // cap 1: output was queued, or the writer must finish
	doneC  chan struct{} // closed by abort: every goroutine of the connection ends

	readErr   error         // set by the reader before it closes readC
	writeDone chan struct{} // closed when the writer has returned
	abortOnce sync.Once

	out struct {
		sync.Mutex
		buf     []byte // guarded by mu; queued by the loop, not yet taken by the writer
		spare   []byte // guarded by mu; the writer's last batch, for reuse
		pending int    // guarded by mu; bytes the writer has taken and not yet written
		closing bool   // guarded by mu; once buf is written, the writer ends
		err     error  // guarded by mu; the writer's failure
	}
}

func newTLSLink(s *Server, raw net.Conn, tc *tls.Conn, port *atomic.Int64) *tlsLink {
	return &tlsLink{s: s, raw: raw, tc: tc, port: port,
		wakeC: make(chan struct{}, 1), readC: make(chan []byte), freeC: make(chan []byte, 2),
		writeC: make(chan struct{}, 1), doneC: make(chan struct{}), writeDone: make(chan struct{})}
}

// Wake implements session.Transport: the loop runs serve soon. Safe from any
// goroutine; never blocks.
func (l *tlsLink) Wake() {
	select {
	case l.wakeC <- struct{}{}:
	default:
	}
}

// Close implements session.Transport: the connection is closed at once.
func (l *tlsLink) Close() { l.abort() }

// abort closes the connection now; every goroutine of it ends. Safe from any
// goroutine, any number of times.
func (l *tlsLink) abort() {
	l.abortOnce.Do(func() {
		close(l.doneC)
		_ = l.raw.Close()
	})
}

func (l *tlsLink) InboundBuffered() int { return len(l.in) - l.off }

func (l *tlsLink) Peek(n int) ([]byte, error) {
	if n > len(l.in)-l.off {
		return nil, io.ErrShortBuffer
	}
	return l.in[l.off : l.off+n], nil
}

func (l *tlsLink) Discard(n int) (int, error) {
	n = min(n, len(l.in)-l.off)
	l.off += n
	if l.off == len(l.in) {
		l.in, l.off = l.in[:0], 0
	}
	return n, nil
}

func (l *tlsLink) OutboundBuffered() int {
	l.out.Lock()
	defer l.out.Unlock()
	return len(l.out.buf) + l.out.pending
}

// Write queues b for the writer; b is copied.
func (l *tlsLink) Write(b []byte) (int, error) {
	l.out.Lock()
	if l.out.err != nil {
		err := l.out.err
		l.out.Unlock()
		return 0, err
	}
	l.out.buf = append(l.out.buf, b...)
	l.out.Unlock()
	select {
	case l.writeC <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (l *tlsLink) RemoteAddr() net.Addr { return l.raw.RemoteAddr() }

// run is the connection's loop.
func (l *tlsLink) run(accepted time.Time) {
	s := l.s
	defer s.tlsConns.w.Done()
	defer s.tlsConns.remove(l)
	cc, ok := s.open(l, l.raw.RemoteAddr(), l.Wake, l.port)
	if !ok {
		l.abort() // over maxClientCnxns: closed before the TLS handshake, as ZooKeeper does
		return
	}
	l.cc = cc
	defer s.closed(cc)
	if !l.handshake(accepted) {
		l.abort()
		return
	}
	s.tlsConns.spawn(l.readLoop)
	s.tlsConns.spawn(l.writeLoop)
	defer l.abort()
	for {
		var readC chan []byte
		if !l.paused() {
			readC = l.readC
		}
		select {
		case chunk, ok := <-readC:
			if !ok {
				l.readerEnded()
				return
			}
			l.in = append(l.in, chunk...)
			select {
			case l.freeC <- chunk[:cap(chunk)]:
			default:
			}
		case <-l.wakeC:
		case <-l.doneC:
			return
		}
		if s.serve(l, cc) == gnet.Close {
			l.closeAfterWrites()
			return
		}
	}
}

// handshake runs the TLS handshake within the connection's handshake deadline
// and gives the Conn the handshake's ids. False means the connection must go.
func (l *tlsLink) handshake(accepted time.Time) bool {
	s := l.s
	remote := l.raw.RemoteAddr().String()
	_ = l.raw.SetDeadline(accepted.Add(s.cfg.HandshakeTimeout))
	s.noter.AddTLSHandshaking(1)
	err := l.tc.Handshake()
	s.noter.AddTLSHandshaking(-1)
	if err != nil {
		select {
		case <-l.doneC:
			return false // closed by Stop or the handler
		default:
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.stats.handshakeTimeouts.Add(1)
			s.noter.NoteHandshakeTimeout()
			s.log.Debug("closing connection: TLS handshake not completed within the handshake timeout",
				"remote", remote, "timeout", s.cfg.HandshakeTimeout)
			return false
		}
		s.stats.tlsFailures.Add(1)
		s.noter.NoteTLSFailure()
		// Reference: NettyServerCnxnFactory.CertificateVerifier logs "Unsuccessful handshake".
		s.log.Warn("Unsuccessful TLS handshake", "remote", remote, "err", err)
		return false
	}
	_ = l.raw.SetDeadline(time.Time{})
	if ta, ok := l.cc.sc.(TLSAuthenticator); ok {
		if err := ta.TLSHandshakeDone(l.tc.ConnectionState()); err != nil {
			s.stats.tlsFailures.Add(1)
			s.noter.NoteTLSFailure()
			s.log.Error("closing TLS connection: authentication failed", "remote", remote, "err", err)
			return false
		}
	}
	return true
}

// paused reports whether the loop must take no more input for now: the Conn is
// throttled, or the client is not reading its replies. Wakes (a reply going out,
// the writer draining) have it look again.
func (l *tlsLink) paused() bool {
	sc := l.cc.sc
	return (sc.Started() && sc.Throttled()) || l.OutboundBuffered() > l.s.cfg.ThrottleBytes
}

// readerEnded handles the end of the client's input: what is buffered is still
// served (a four-letter word followed by the client's close), then the
// connection is closed once the answers are written.
func (l *tlsLink) readerEnded() {
	if !errors.Is(l.readErr, io.EOF) && !errors.Is(l.readErr, net.ErrClosed) {
		l.s.log.Debug("TLS connection read failed", "remote", l.raw.RemoteAddr().String(), "err", l.readErr)
	}
	if l.InboundBuffered() > 0 && !l.paused() {
		l.s.serve(l, l.cc)
	}
	l.closeAfterWrites()
}

// closeAfterWrites has the writer write what is queued (for at most closeLinger)
// and then closes the connection, sending TLS's close_notify when it can.
func (l *tlsLink) closeAfterWrites() {
	_ = l.raw.SetWriteDeadline(time.Now().Add(closeLinger))
	l.out.Lock()
	l.out.closing = true
	l.out.Unlock()
	select {
	case l.writeC <- struct{}{}:
	default:
	}
	select {
	case <-l.writeDone:
	case <-l.doneC:
	}
	l.out.Lock()
	clean := l.out.err == nil
	l.out.Unlock()
	if clean {
		_ = l.tc.Close() // close_notify, then the TCP connection
	}
	l.abort()
}

// readLoop reads the client's input in chunks and hands them to the loop. It
// blocks while the loop takes no input, which stops reading the socket.
func (l *tlsLink) readLoop() {
	defer close(l.readC)
	for {
		var b []byte
		select {
		case b = <-l.freeC:
		default:
			b = make([]byte, tlsReadChunk)
		}
		n, err := l.tc.Read(b)
		if n > 0 {
			select {
			case l.readC <- b[:n]:
			case <-l.doneC:
				return
			}
		}
		if err != nil {
			l.readErr = err
			return
		}
	}
}

// writeLoop writes the loop's queued output, one batch at a time, until the
// connection is closed or, once closing, nothing is left.
func (l *tlsLink) writeLoop() {
	defer close(l.writeDone)
	for {
		l.out.Lock()
		batch, closing := l.out.buf, l.out.closing
		l.out.buf, l.out.spare = l.out.spare[:0], nil
		l.out.pending = len(batch)
		l.out.Unlock()
		if len(batch) == 0 {
			if closing {
				return
			}
			select {
			case <-l.writeC:
				continue
			case <-l.doneC:
				return
			}
		}
		_, err := l.tc.Write(batch)
		l.out.Lock()
		l.out.pending = 0
		if cap(batch) <= 1<<20 { // a burst's buffer is not kept for the connection's life
			l.out.spare = batch[:0]
		}
		if err != nil {
			l.out.err = fmt.Errorf("netloop: write to TLS client: %w", err)
		}
		l.out.Unlock()
		if err != nil {
			l.abort()
			return
		}
		l.Wake() // a loop paused on unsent output looks again
	}
}
