package netloop

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"zkd/jute"
	"zkd/session"
)

// Config configures the client listener.
type Config struct {
	// Addr is host:port of the plain client port; port 0 picks a free port (see
	// Server.Addr). Empty: no plain port (then TLSAddr must be set).
	Addr string
	// TLSAddr is host:port of the TLS client port (ZooKeeper's secureClientPort);
	// empty: none. Its connections are served by TLS (see tls.go).
	TLSAddr string
	// TLS is the TLS port's server configuration; each handshake may take its
	// certificates from GetConfigForClient, so that they can be reloaded.
	TLS *tls.Config
	// Unified has the plain port take TLS clients too, with TLS (ZooKeeper's
	// client.portUnification): see unified.go.
	Unified bool
	// MaxConns is zookeeper.maxCnxns: the most connections each port holds at
	// once, as ZooKeeper counts them per connection factory (0: no limit). A
	// connection over it is closed at once and counted as rejected.
	MaxConns int
	// MaxFrame is jute.maxbuffer: the largest frame payload accepted.
	MaxFrame int
	// ListenBacklog is clientPortListenBacklog: the most connections the
	// kernel queues for accepting on each port (it caps this at
	// net.core.somaxconn). 0 or less: Go's default, somaxconn itself.
	ListenBacklog int
	// EventLoops is the number of event loops (0: one per CPU).
	EventLoops int
	// MaxOutboundBytes disconnects a client whose unsent output exceeds it.
	MaxOutboundBytes int
	// ThrottleBytes stops reading a connection's requests while more than this
	// much of its output is unsent; reading resumes once the client catches up.
	ThrottleBytes int
	// MaxInboundBytes bounds the input a connection may hold read but unhandled.
	// gnet keeps reading a paused connection's socket (see doc.go), so a client
	// that goes on sending while paused is disconnected once it has this much
	// waiting. At least two whole frames fit. Default 8 MiB: about what the
	// kernel would hold for ZooKeeper, which stops reading instead (Linux's
	// largest autotuned receive buffer, tcp_rmem, is 6 MiB).
	MaxInboundBytes int
	// HandshakeTimeout closes a connection that has not completed its
	// ConnectRequest (or sent a four-letter word) this long after it was
	// accepted, however many bytes of it have come; on the TLS port the TLS
	// handshake counts against the same deadline. Default 10 s, ZooKeeper's
	// zookeeper.nio.sessionlessCnxnTimeout; see handshake.go.
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxOutboundBytes = 64 << 20
	DefaultThrottleBytes    = 1 << 20
	DefaultMaxInboundBytes  = 8 << 20
	DefaultHandshakeTimeout = 10 * time.Second
)

// DefaultConfig returns ZooKeeper's client-port defaults on loopback.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:2181", MaxFrame: jute.DefaultMaxBuffer, MaxOutboundBytes: DefaultMaxOutboundBytes,
		ThrottleBytes: DefaultThrottleBytes, MaxInboundBytes: DefaultMaxInboundBytes, HandshakeTimeout: DefaultHandshakeTimeout}
}

// Validate reports a configuration error.
func (c *Config) Validate() error {
	if c.Addr == "" && c.TLSAddr == "" {
		return errors.New("netloop: empty listen address")
	}
	if c.TLSAddr != "" && c.TLS == nil {
		return errors.New("netloop: a TLS port needs a TLS configuration")
	}
	if c.Unified && (c.Addr == "" || c.TLS == nil) {
		return errors.New("netloop: port unification needs a plain port and a TLS configuration")
	}
	if c.MaxFrame <= 0 {
		return errors.New("netloop: jute.maxbuffer must be positive")
	}
	if c.MaxOutboundBytes <= 0 {
		c.MaxOutboundBytes = DefaultMaxOutboundBytes
	}
	if c.ThrottleBytes <= 0 || c.ThrottleBytes > c.MaxOutboundBytes {
		c.ThrottleBytes = min(DefaultThrottleBytes, c.MaxOutboundBytes)
	}
	if c.MaxInboundBytes <= 0 {
		c.MaxInboundBytes = DefaultMaxInboundBytes
	}
	// A frame is only handled once whole, and gnet hands over up to readChunk
	// bytes per read: a client mid-way through a big frame must not trip the bound.
	c.MaxInboundBytes = max(c.MaxInboundBytes, 2*(4+c.MaxFrame)+readChunk)
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Handler opens the per-connection state of each accepted client. *session.Server
// is the real one (Listen adapts it); `zkd bench null-server` has a fixed-reply one.
// Open and NoteRejected run on an event loop.
type Handler interface {
	// Open attaches a new connection; an error (e.g. over maxClientCnxns) refuses it.
	// tr reaches the socket from any goroutine.
	Open(tr session.Transport, ip, remote string) (Conn, error)
	// NoteRejected counts a connection Open refused.
	NoteRejected()
}

// Conn is what netloop drives per connection: exactly the methods it calls on a
// *session.Conn. netloop calls them all on the connection's event loop; the Conn
// may reach the socket from other goroutines only through its Transport.
type Conn interface {
	// Started reports whether the ConnectRequest has been handled (before that, the
	// first four bytes may be a four-letter word).
	Started() bool
	// Throttled reports whether further frames must stay unread for now.
	Throttled() bool
	// HandleFrame handles one frame payload (length prefix removed). frame aliases
	// gnet's read buffer and is valid only during the call. False closes the
	// connection at once, without flushing.
	HandleFrame(frame []byte) bool
	// FourLetterWord answers a four-letter word (the connection is then closed).
	FourLetterWord(word string) string
	// TakeOutput hands over the queued output; netloop writes it and then gives the
	// slice back with ReturnOutput. closeAfter closes the connection once written.
	TakeOutput() (b []byte, closeAfter bool)
	// ReturnOutput gives back a slice from TakeOutput once written, for reuse.
	ReturnOutput(b []byte)
	// QueuedOutput is the number of bytes TakeOutput would hand over.
	QueuedOutput() int
	// Closed is called once, when the connection is gone.
	Closed()
	// NoteThrottled, NoteDropped and SetUnsent feed the connection's counters:
	// a pause in reading, a disconnect for unread replies, the unsent output bytes.
	NoteThrottled()
	NoteDropped()
	SetUnsent(n int)
}

var _ Conn = (*session.Conn)(nil)

// SessionHandler adapts *session.Server to Handler.
func SessionHandler(s *session.Server) Handler { return sessionHandler{s} }

// sessionHandler adapts *session.Server to Handler.
type sessionHandler struct{ s *session.Server }

func (h sessionHandler) Open(tr session.Transport, ip, remote string) (Conn, error) {
	c, err := h.s.NewConn(tr, ip, remote)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return c, nil
}

func (h sessionHandler) NoteRejected() { h.s.NoteRejected() }

// SocketNoter is implemented by a Handler that counts what happens below the
// protocol; Listen's adapter for *session.Server does, for mntr and Prometheus.
// netloop calls it from its accept goroutine, its handshake sweeper and its event
// loops, so it must be safe for concurrent use.
type SocketNoter interface {
	// NoteAcceptError counts one failed accept of the client port.
	NoteAcceptError()
	// NoteHandshakeTimeout counts a connection closed before its handshake.
	NoteHandshakeTimeout()
	// NoteInputLimit counts a connection closed for holding too much unread input.
	NoteInputLimit()
	// AddUnread moves the gauge of input read but not handled by delta bytes.
	AddUnread(delta int64)
	// NoteTLSFailure counts a TLS connection refused at its handshake: the
	// handshake failed, or the client's certificate did not authenticate.
	NoteTLSFailure()
	// AddTLSHandshaking moves the gauge of TLS handshakes under way by delta.
	AddTLSHandshaking(delta int64)
}

var _ SocketNoter = sessionHandler{}

func (h sessionHandler) NoteAcceptError()      { h.s.NoteAcceptError() }
func (h sessionHandler) NoteHandshakeTimeout() { h.s.NoteHandshakeTimeout() }
func (h sessionHandler) NoteInputLimit()       { h.s.NoteInputLimit() }
func (h sessionHandler) AddUnread(delta int64) { h.s.AddUnread(delta) }
func (h sessionHandler) NoteTLSFailure()       { h.s.NoteTLSFailure() }
func (h sessionHandler) AddTLSHandshaking(delta int64) {
	h.s.AddTLSHandshaking(delta)
}

// nopNoter stands in for a Handler that does not count.
type nopNoter struct{}

func (nopNoter) NoteAcceptError()        {}
func (nopNoter) NoteHandshakeTimeout()   {}
func (nopNoter) NoteInputLimit()         {}
func (nopNoter) AddUnread(int64)         {}
func (nopNoter) NoteTLSFailure()         {}
func (nopNoter) AddTLSHandshaking(int64) {}

// Stats are a Server's own figures, for tests and benchmarks; a session.Server
// gets the same counts through SocketNoter.
type Stats struct {
	AcceptErrors      int64 // failed accept calls
	HandshakeTimeouts int64 // connections closed before their handshake (TLS's or ZooKeeper's)
	TLSFailures       int64 // TLS handshakes that failed (bad certificate, protocol, ...), not timed out
	InputLimitCloses  int64 // connections closed over MaxInboundBytes
	UnreadBytes       int64 // input read and not handled yet, all connections
	PeakUnread        int64 // the most input one connection has held unhandled
}

// Server is a running client listener.
//
// Accepting is not gnet's: gnet v2.10.0 shuts its whole engine down when accept
// fails (acceptor_unix.go returns ErrAcceptSocket, which ends the reactor's
// Polling, and reactor_default.go then calls engine.shutdown), so one burst of
// EMFILE would close every connection and the port for good. netloop accepts on a
// net.TCPListener in its own goroutines, backing off after a failure as ZooKeeper's
// AcceptThread does (accept.go), and hands each connection to the event loops of a
// listener-less gnet engine with Client.EnrollContext.
type Server struct {
	gnet.BuiltinEventEngine
	cfg   Config
	h     Handler
	noter SocketNoter // h's, or nopNoter; never nil
	log   *slog.Logger

	ln  *net.TCPListener // immutable; nil without a plain port; closed by Stop
	tln *net.TCPListener // immutable; nil without a TLS port; closed by Stop
	cli *gnet.Client     // immutable: the event loops; nil without a plain port

	handshakes handshakeQueue
	tlsConns   tlsConns // the TLS port's connections (tls.go)
	// plainConns and tlsPortConns count each port's open connections, against
	// MaxConns; a TLS connection of the unified plain port is the plain port's.
	plainConns, tlsPortConns atomic.Int64

	stopC     chan struct{}  // closed by Stop: the accept loops and the sweeper end
	acceptW   sync.WaitGroup // the accept loops
	sweepDone chan struct{}  // closed when the handshake sweeper has returned
	stopOnce  sync.Once
	stopErr   error // set by stopOnce
	loopsDone chan struct{}

	release memoryRelease

	stats struct {
		acceptErrors      atomic.Int64
		handshakeTimeouts atomic.Int64
		inputLimit        atomic.Int64
		tlsFailures       atomic.Int64
		unread            atomic.Int64
		peakUnread        atomic.Int64
	}
}

// Listen binds the client port and starts serving sess's sessions in the
// background. It returns once the port accepts connections.
func Listen(cfg Config, sess *session.Server) (*Server, error) {
	return ListenHandler(cfg, sessionHandler{sess})
}

// ListenHandler is Listen for any connection handler: it binds the client port and
// serves the connections h opens, with the same framing, flushing and limits.
func ListenHandler(cfg Config, h Handler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, h: h, noter: nopNoter{}, log: cfg.Logger,
		stopC: make(chan struct{}), sweepDone: make(chan struct{}), loopsDone: make(chan struct{})}
	if n, ok := h.(SocketNoter); ok {
		s.noter = n
	}
	s.tlsConns.init()
	// KeepAlive -1: no TCP keep-alive, as before (and as ZooKeeper's default).
	lc := net.ListenConfig{KeepAlive: -1}
	listen := func(addr string) (*net.TCPListener, error) {
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("netloop: listen %s: %w", addr, err)
		}
		tln := ln.(*net.TCPListener)
		if cfg.ListenBacklog > 0 {
			if err := setBacklog(tln, cfg.ListenBacklog); err != nil {
				_ = tln.Close()
				return nil, fmt.Errorf("netloop: listen backlog %d on %s: %w", cfg.ListenBacklog, addr, err)
			}
		}
		return tln, nil
	}
	var err error
	if cfg.TLSAddr != "" {
		if s.tln, err = listen(cfg.TLSAddr); err != nil {
			return nil, err
		}
	}
	if cfg.Addr == "" {
		go s.sweepLoop()
		s.acceptW.Add(1)
		go s.acceptLoop(s.tln, s.serveTLS, new(sharedBurst))
		return s, nil
	}
	if s.ln, err = listen(cfg.Addr); err != nil {
		_ = s.closeListeners()
		return nil, err
	}
	opts := []gnet.Option{
		gnet.WithMulticore(cfg.EventLoops == 0),
		// Connections are enrolled from several goroutines (plainAcceptors), and
		// round robin's counter is not safe for that.
		gnet.WithLoadBalancing(gnet.LeastConnections),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReadBufferCap(readChunk),
		gnet.WithLogger(gnetLogger{cfg.Logger.With("component", "gnet")}),
	}
	if cfg.EventLoops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(cfg.EventLoops))
	}
	cli, err := gnet.NewClient(s, opts...)
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		_ = s.closeListeners()
		return nil, fmt.Errorf("netloop: start event loops: %w", err)
	}
	s.cli = cli
	loops := cfg.EventLoops
	if loops == 0 {
		loops = runtime.NumCPU() // gnet's count under WithMulticore
	}
	plain, handle := new(sharedBurst), s.enroll
	if cfg.Unified {
		handle = s.serveUnified
	}
	for range plainAcceptors(loops) {
		s.acceptW.Add(1)
		go s.acceptLoop(s.ln, handle, plain)
	}
	if s.tln != nil {
		s.acceptW.Add(1)
		go s.acceptLoop(s.tln, s.serveTLS, new(sharedBurst))
	}
	go s.sweepLoop()
	return s, nil
}

// closeListeners closes the bound ports; it returns the first error.
func (s *Server) closeListeners() error {
	var err error
	for _, ln := range []*net.TCPListener{s.ln, s.tln} {
		if ln != nil {
			if cerr := ln.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
	}
	return err
}

// readChunk is the most gnet reads from a socket per read: its default.
const readChunk = 64 << 10

// Addr returns the bound plain address (with the real port when Addr asked for
// 0); nil without a plain port.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// TLSAddr returns the bound TLS address; nil without a TLS port.
func (s *Server) TLSAddr() net.Addr {
	if s.tln == nil {
		return nil
	}
	return s.tln.Addr()
}

// Stats returns the server's figures.
func (s *Server) Stats() Stats {
	return Stats{
		AcceptErrors:      s.stats.acceptErrors.Load(),
		HandshakeTimeouts: s.stats.handshakeTimeouts.Load(),
		InputLimitCloses:  s.stats.inputLimit.Load(),
		TLSFailures:       s.stats.tlsFailures.Load(),
		UnreadBytes:       s.stats.unread.Load(),
		PeakUnread:        s.stats.peakUnread.Load(),
	}
}

// Stop closes the listener and every connection.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		close(s.stopC)
		if err := s.closeListeners(); err != nil {
			s.stopErr = fmt.Errorf("netloop: stop: %w", err)
		}
		// NB: the event loops stop only after the accept loops have returned: one
		// may be waiting in EnrollContext for a loop to take a connection, and a
		// stopped loop never would.
		go func() {
			s.acceptW.Wait()
			<-s.sweepDone
			s.tlsConns.closeAll()
			if s.cli != nil {
				if err := s.cli.Stop(); err != nil && s.stopErr == nil {
					s.stopErr = fmt.Errorf("netloop: stop: %w", err)
				}
			}
			close(s.loopsDone)
		}()
	})
	select {
	case <-s.loopsDone:
		return s.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transport lets session reach the socket from any goroutine.
type transport struct{ c gnet.Conn }

func (t transport) Wake()  { _ = t.c.Wake(nil) }
func (t transport) Close() { _ = t.c.Close() }

// OnOpen attaches the handler's Conn, or refuses a client (over maxCnxns or
// maxClientCnxns).
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	cc, ok := s.open(transport{c}, c.RemoteAddr(), func() { _ = c.Wake(nil) }, &s.plainConns)
	if !ok {
		return nil, gnet.Close
	}
	c.SetContext(cc)
	return nil, gnet.None
}

// open attaches a new connection of either port to the handler and starts its
// handshake deadline; false means it was refused: its port holds MaxConns
// (port counts them), or the handler refused it (over maxClientCnxns). wake has
// the connection's loop look at it again; it must be safe from any goroutine.
func (s *Server) open(tr session.Transport, remote net.Addr, wake func(), port *atomic.Int64) (*conn, bool) {
	if n := port.Add(1); s.cfg.MaxConns > 0 && n > int64(s.cfg.MaxConns) {
		port.Add(-1)
		// Reference: ServerCnxnFactory.limitTotalNumberOfCnxns.
		s.log.Error(fmt.Sprintf("Too many connections %d - max is %d", n-1, s.cfg.MaxConns), "remote", remote.String())
		s.h.NoteRejected()
		return nil, false
	}
	ip := ""
	if a, ok := remote.(*net.TCPAddr); ok {
		ip = a.IP.String()
	}
	sc, err := s.h.Open(tr, ip, remote.String())
	if err != nil {
		port.Add(-1)
		s.h.NoteRejected()
		return nil, false
	}
	cc := &conn{sc: sc, wake: wake, port: port}
	s.handshakes.add(cc, time.Now().Add(s.cfg.HandshakeTimeout))
	return cc, true
}

// OnClose detaches the connection from its session.
func (s *Server) OnClose(c gnet.Conn, _ error) gnet.Action {
	if cc, ok := c.Context().(*conn); ok {
		s.closed(cc)
	}
	return gnet.None
}

// closed detaches a connection of either port from its session, once.
func (s *Server) closed(cc *conn) {
	cc.closed.Store(true)
	cc.port.Add(-1)
	s.setUnread(cc, 0)
	cc.sc.Closed()
	if cc.burst {
		s.release.soon()
	}
}

// OnTraffic reads every complete frame, then flushes the connection's output.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	cc, ok := c.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	return s.serve(c, cc)
}

// link is the socket side of one connection as the framing code sees it: a
// gnet.Conn on the event loops, a *tlsLink on the TLS port. Its methods are
// called on the connection's loop only. Peek aliases the link's input buffer
// until the next Discard.
type link interface {
	InboundBuffered() int
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	OutboundBuffered() int
	Write(b []byte) (int, error)
	RemoteAddr() net.Addr
}

var _ link = gnet.Conn(nil)

// serve is one wake of a connection, on either port: the handshake deadline,
// every complete frame, the flush, and the limits on output and unread input.
// gnet.Close asks the caller to close the connection.
func (s *Server) serve(c link, cc *conn) gnet.Action {
	if cc.expired.Load() && !cc.sc.Started() {
		s.stats.handshakeTimeouts.Add(1)
		s.noter.NoteHandshakeTimeout()
		s.log.Debug("closing connection: no ConnectRequest within the handshake timeout",
			"remote", c.RemoteAddr().String(), "timeout", s.cfg.HandshakeTimeout, "unread_bytes", c.InboundBuffered())
		return gnet.Close
	}
	for {
		action, paused := s.readFrames(c, cc)
		if action != gnet.None {
			return action
		}
		if action := flush(c, cc.sc); action != gnet.None {
			return action
		}
		// A reply queued after readFrames found the connection paused, and
		// before flush took the output, did not wake the loop again (the wake
		// that runs this serve was still pending); nothing else would until the
		// client sent more, so its frames are read now if that reply unpaused it.
		if !paused || cc.sc.Throttled() {
			break
		}
	}
	if c.OutboundBuffered() > s.cfg.MaxOutboundBytes {
		s.log.Warn("closing connection: client is not reading its replies",
			"remote", c.RemoteAddr().String(), "unsent_bytes", c.OutboundBuffered())
		cc.sc.NoteDropped()
		cc.burst = true
		return gnet.Close
	}
	cc.sc.SetUnsent(c.OutboundBuffered())
	unread := c.InboundBuffered()
	s.setUnread(cc, unread)
	if unread > s.cfg.MaxInboundBytes {
		// Paused, and still sending: gnet cannot stop reading the socket (doc.go),
		// so this is where a client that sends without reading is cut off.
		s.log.Warn("closing connection: client sends requests faster than it reads replies",
			"remote", c.RemoteAddr().String(), "unread_bytes", unread, "unsent_bytes", c.OutboundBuffered())
		s.stats.inputLimit.Add(1)
		s.noter.NoteInputLimit()
		cc.burst = true
		return gnet.Close
	}
	return gnet.None
}

// setUnread records that cc holds n bytes of input read but not handled.
// Event loop only.
func (s *Server) setUnread(cc *conn, n int) {
	if d := int64(n - cc.unread); d != 0 {
		cc.unread = n
		s.stats.unread.Add(d)
		s.noter.AddUnread(d)
	}
	if n >= burstBytes {
		cc.burst = true
	}
	for {
		peak := s.stats.peakUnread.Load()
		if int64(n) <= peak || s.stats.peakUnread.CompareAndSwap(peak, int64(n)) {
			return
		}
	}
}

// conn is the per-connection state netloop keeps beside the handler's Conn.
type conn struct {
	sc   Conn
	port *atomic.Int64 // its port's count of open connections (MaxConns)
	// wake has the connection's loop run serve again; immutable, safe from any
	// goroutine.
	wake     func()
	resuming atomic.Bool // a timer will wake the connection to resume reading
	// started is set on the event loop once sc has handled its ConnectRequest, for
	// the sweeper, which may not call sc.
	started atomic.Bool
	// expired is set by the sweeper once the handshake deadline has passed; the
	// event loop then closes the connection unless it has started meanwhile.
	expired atomic.Bool
	closed  atomic.Bool // set by OnClose
	unread  int         // event loop only: bytes counted in Stats.UnreadBytes
	// burst is set on the event loop once the connection has held burstBytes of
	// unread input or was closed by a limit: its close frees enough memory that it
	// is worth handing back to the OS (memoryRelease).
	burst bool
}

// flushBytes is how much output a burst of pipelined reads may queue before it is
// handed to the socket mid-read rather than at the end of the wake.
const flushBytes = 256 << 10

// throttleRetry is how often a connection paused on unsent output looks again.
const throttleRetry = 2 * time.Millisecond

// flush writes everything the session has queued in one Write.
func flush(c link, sc Conn) gnet.Action {
	out, closeAfter := sc.TakeOutput()
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	sc.ReturnOutput(out)
	if closeAfter {
		return gnet.Close
	}
	return gnet.None
}

// readFrames handles every complete frame the connection may read now. paused
// says it stopped because the session is throttled (Conn.Throttled).
func (s *Server) readFrames(c link, cc *conn) (action gnet.Action, paused bool) {
	sc := cc.sc
	for {
		if sc.Started() && sc.Throttled() {
			sc.NoteThrottled()
			return gnet.None, true // leave the rest unread until replies drain
		}
		if c.OutboundBuffered() > s.cfg.ThrottleBytes {
			// The client is not keeping up with its replies: stop reading its
			// requests, and look again shortly (gnet has no writable callback).
			if cc.resuming.CompareAndSwap(false, true) {
				sc.NoteThrottled()
				time.AfterFunc(throttleRetry, func() {
					cc.resuming.Store(false)
					cc.wake()
				})
			}
			return gnet.None, false
		}
		if c.InboundBuffered() < 4 {
			return gnet.None, false
		}
		hdr, err := c.Peek(4)
		if err != nil {
			return gnet.None, false
		}
		if !sc.Started() && session.IsFourLetterWord(hdr) {
			// stmk carries 8 more bytes: wait until they are buffered.
			n := session.FourLetterWordSize(hdr)
			if c.InboundBuffered() < n {
				return gnet.None, false
			}
			word, err := c.Peek(n)
			if err != nil {
				return gnet.None, false
			}
			reply := sc.FourLetterWord(string(word))
			_, _ = c.Discard(n)
			_, _ = c.Write([]byte(reply))
			return gnet.Close, false
		}
		n := int(int32(binary.BigEndian.Uint32(hdr)))
		if n < 0 || n > s.cfg.MaxFrame {
			s.log.Warn(fmt.Sprintf("Len error. A message from %s with advertised length of %d is either a malformed message or too large to process (length is greater than jute.maxbuffer=%d)",
				c.RemoteAddr(), n, s.cfg.MaxFrame))
			return gnet.Close, false
		}
		if c.InboundBuffered() < 4+n {
			return gnet.None, false
		}
		frame, err := c.Peek(4 + n)
		if err != nil {
			return gnet.None, false
		}
		keep := sc.HandleFrame(frame[4:])
		_, _ = c.Discard(4 + n)
		if !keep {
			return gnet.Close, false
		}
		if !cc.started.Load() && sc.Started() {
			cc.started.Store(true)
		}
		if sc.QueuedOutput() > flushBytes {
			if action := flush(c, sc); action != gnet.None {
				return action, false
			}
		}
	}
}
