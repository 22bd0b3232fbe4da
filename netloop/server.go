package netloop

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"zkd/jute"
	"zkd/session"
)

// Config configures the client listener.
type Config struct {
	// Addr is host:port to listen on; port 0 picks a free port (see Server.Addr).
	Addr string
	// MaxFrame is jute.maxbuffer: the largest frame payload accepted.
	MaxFrame int
	// EventLoops is the number of event loops (0: one per CPU).
	EventLoops int
	// MaxOutboundBytes disconnects a client whose unsent output exceeds it.
	MaxOutboundBytes int
	// ThrottleBytes stops reading a connection's requests while more than this
	// much of its output is unsent; reading resumes once the client catches up.
	ThrottleBytes int
	Logger        *slog.Logger
}

// DefaultConfig returns ZooKeeper's client-port defaults on loopback.
func DefaultConfig() Config {
	return Config{Addr: "127.0.0.1:2181", MaxFrame: jute.DefaultMaxBuffer, MaxOutboundBytes: 64 << 20, ThrottleBytes: 1 << 20}
}

// Validate reports a configuration error.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return errors.New("netloop: empty listen address")
	}
	if c.MaxFrame <= 0 {
		return errors.New("netloop: jute.maxbuffer must be positive")
	}
	if c.MaxOutboundBytes <= 0 {
		c.MaxOutboundBytes = 64 << 20
	}
	if c.ThrottleBytes <= 0 || c.ThrottleBytes > c.MaxOutboundBytes {
		c.ThrottleBytes = min(1<<20, c.MaxOutboundBytes)
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

// Server is a running client listener.
type Server struct {
	gnet.BuiltinEventEngine
	cfg Config
	h   Handler
	log *slog.Logger

	eng   gnet.Engine
	addr  net.Addr
	bootC chan error
	doneC chan error
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
	s := &Server{cfg: cfg, h: h, log: cfg.Logger, bootC: make(chan error, 1), doneC: make(chan error, 1)}
	opts := []gnet.Option{
		gnet.WithMulticore(cfg.EventLoops == 0),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithLogger(gnetLogger{cfg.Logger.With("component", "gnet")}),
	}
	if cfg.EventLoops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(cfg.EventLoops))
	}
	go func() {
		err := gnet.Run(s, "tcp://"+cfg.Addr, opts...)
		select {
		case s.bootC <- err: // failed before OnBoot
		default:
		}
		s.doneC <- err
	}()
	if err := <-s.bootC; err != nil {
		return nil, fmt.Errorf("netloop: listen %s: %w", cfg.Addr, err)
	}
	return s, nil
}

// Addr returns the bound address (with the real port when Addr asked for 0).
func (s *Server) Addr() net.Addr { return s.addr }

// Stop closes the listener and every connection.
func (s *Server) Stop(ctx context.Context) error {
	if err := s.eng.Stop(ctx); err != nil {
		return fmt.Errorf("netloop: stop: %w", err)
	}
	select {
	case <-s.doneC:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// OnBoot records the engine and the bound port.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	addr, err := boundAddr(eng)
	if err != nil {
		s.bootC <- err
		return gnet.Shutdown
	}
	s.addr = addr
	s.bootC <- nil
	return gnet.None
}

func boundAddr(eng gnet.Engine) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	}
	return nil, fmt.Errorf("unexpected socket address %T", sa)
}

// transport lets session reach the socket from any goroutine.
type transport struct{ c gnet.Conn }

func (t transport) Wake()  { _ = t.c.Wake(nil) }
func (t transport) Close() { _ = t.c.Close() }

// OnOpen attaches the handler's Conn, or refuses a client (over maxClientCnxns).
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	ip, remote := "", c.RemoteAddr().String()
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip = a.IP.String()
	}
	sc, err := s.h.Open(transport{c}, ip, remote)
	if err != nil {
		s.h.NoteRejected()
		return nil, gnet.Close
	}
	c.SetContext(&conn{sc: sc})
	return nil, gnet.None
}

// OnClose detaches the connection from its session.
func (s *Server) OnClose(c gnet.Conn, _ error) gnet.Action {
	if cc, ok := c.Context().(*conn); ok {
		cc.sc.Closed()
	}
	return gnet.None
}

// OnTraffic reads every complete frame, then flushes the connection's output.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	cc, ok := c.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	if action := s.readFrames(c, cc); action != gnet.None {
		return action
	}
	if action := flush(c, cc.sc); action != gnet.None {
		return action
	}
	if c.OutboundBuffered() > s.cfg.MaxOutboundBytes {
		s.log.Warn("closing connection: client is not reading its replies",
			"remote", c.RemoteAddr().String(), "unsent_bytes", c.OutboundBuffered())
		cc.sc.NoteDropped()
		return gnet.Close
	}
	cc.sc.SetUnsent(c.OutboundBuffered())
	return gnet.None
}

// conn is the per-connection state netloop keeps beside the handler's Conn.
type conn struct {
	sc       Conn
	resuming atomic.Bool // a timer will wake the connection to resume reading
}

// flushBytes is how much output a burst of pipelined reads may queue before it is
// handed to the socket mid-read rather than at the end of the wake.
const flushBytes = 256 << 10

// throttleRetry is how often a connection paused on unsent output looks again.
const throttleRetry = 2 * time.Millisecond

// flush writes everything the session has queued in one Write.
func flush(c gnet.Conn, sc Conn) gnet.Action {
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

func (s *Server) readFrames(c gnet.Conn, cc *conn) gnet.Action {
	sc := cc.sc
	for {
		if sc.Started() && sc.Throttled() {
			sc.NoteThrottled()
			return gnet.None // leave the rest unread until replies drain
		}
		if c.OutboundBuffered() > s.cfg.ThrottleBytes {
			// The client is not keeping up with its replies: stop reading its
			// requests, and look again shortly (gnet has no writable callback).
			if cc.resuming.CompareAndSwap(false, true) {
				sc.NoteThrottled()
				time.AfterFunc(throttleRetry, func() {
					cc.resuming.Store(false)
					_ = c.Wake(nil)
				})
			}
			return gnet.None
		}
		if c.InboundBuffered() < 4 {
			return gnet.None
		}
		hdr, err := c.Peek(4)
		if err != nil {
			return gnet.None
		}
		if !sc.Started() && session.IsFourLetterWord(hdr) {
			// stmk carries 8 more bytes: wait until they are buffered.
			n := session.FourLetterWordSize(hdr)
			if c.InboundBuffered() < n {
				return gnet.None
			}
			word, err := c.Peek(n)
			if err != nil {
				return gnet.None
			}
			reply := sc.FourLetterWord(string(word))
			_, _ = c.Discard(n)
			_, _ = c.Write([]byte(reply))
			return gnet.Close
		}
		n := int(int32(binary.BigEndian.Uint32(hdr)))
		if n < 0 || n > s.cfg.MaxFrame {
			s.log.Warn(fmt.Sprintf("Len error. A message from %s with advertised length of %d is either a malformed message or too large to process (length is greater than jute.maxbuffer=%d)",
				c.RemoteAddr(), n, s.cfg.MaxFrame))
			return gnet.Close
		}
		if c.InboundBuffered() < 4+n {
			return gnet.None
		}
		frame, err := c.Peek(4 + n)
		if err != nil {
			return gnet.None
		}
		keep := sc.HandleFrame(frame[4:])
		_, _ = c.Discard(4 + n)
		if !keep {
			return gnet.Close
		}
		if sc.QueuedOutput() > flushBytes {
			if action := flush(c, sc); action != gnet.None {
				return action
			}
		}
	}
}
