package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"zkd/bench"
	"zkd/netloop"
	"zkd/session"
)

// benchNullServer runs `zkd bench null-server -addr host:port`: zkd's netloop with a
// handler that answers every request with a fixed reply (bench.NullReply), until
// SIGINT or SIGTERM. It is the network-and-syscalls limit `zkd bench compare`
// measures beside zkd.
func benchNullServer(args []string, stdout, stderr io.Writer) int {
	cfg := netloop.DefaultConfig()
	fs := flag.NewFlagSet("zkd bench null-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zkd bench null-server [-addr host:port]\n\n"+
			"Serves the ZooKeeper framing on zkd's netloop and answers every request with a fixed\n"+
			"reply of the right shape (no state, no disk): what the network and syscalls allow.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address host:port; port 0 picks a free port")
	fs.IntVar(&cfg.EventLoops, "event-loops", cfg.EventLoops, "event loops (0: one per CPU, as zkd)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := startNullServer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "zkd bench null-server: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "null server on %s\n", srv.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		fmt.Fprintf(stderr, "zkd bench null-server: %v\n", err)
		return 1
	}
	return 0
}

// startNullServer listens on cfg.Addr with the null handler.
func startNullServer(cfg netloop.Config) (*netloop.Server, error) {
	return netloop.ListenHandler(cfg, &nullHandler{})
}

// nullHandler opens a nullConn per connection and refuses none; its watches are
// shared by all of them.
type nullHandler struct {
	watches bench.NullWatches
}

func (h *nullHandler) Open(tr session.Transport, _, _ string) (netloop.Conn, error) {
	return &nullConn{tr: tr, watches: &h.watches}, nil
}

func (*nullHandler) NoteRejected() {}

// nullConn answers each frame at once with bench.NullReply, on its event loop.
// Watch events come from the event loop of the connection that wrote the znode,
// so the output is under mu.
type nullConn struct {
	tr      session.Transport
	watches *bench.NullWatches
	started bool // the ConnectRequest was answered; event loop only

	mu      sync.Mutex
	closing bool   // close once out is written; later frames are ignored
	out     []byte // replies and events not yet taken; nil while netloop holds the buffer
}

func (c *nullConn) Started() bool   { return c.started }
func (c *nullConn) Throttled() bool { return false } // every request is answered at once

func (c *nullConn) HandleFrame(frame []byte) bool {
	if c.started {
		c.watches.Observe(frame, c) // before the reply: an event precedes it, as in ZooKeeper
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return true // pipelined behind closeSession: dropped, as zkd does
	}
	var connect, closeAfter bool
	c.out, connect, closeAfter = bench.NullReply(c.out, frame, c.started)
	c.started = c.started || connect
	c.closing = closeAfter
	return true
}

func (c *nullConn) NullEvent(event []byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.out = append(c.out, event...)
	c.mu.Unlock()
	c.tr.Wake()
}

func (c *nullConn) FourLetterWord(word string) string {
	if word == "ruok" {
		return "imok"
	}
	return ""
}

func (c *nullConn) TakeOutput() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.out
	c.out = nil
	return b, c.closing
}

// ReturnOutput keeps the buffer for the next replies unless one burst grew it past
// 1 MB, or an event was queued while netloop held it.
func (c *nullConn) ReturnOutput(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out == nil && cap(b) <= 1<<20 {
		c.out = b[:0]
	}
}

func (c *nullConn) QueuedOutput() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out)
}

// Closed stops events: a watch of a closed connection stays registered until its
// znode is written, and then costs nothing.
func (c *nullConn) Closed() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
}

func (c *nullConn) NoteThrottled() {}
func (c *nullConn) NoteDropped()   {}
func (c *nullConn) SetUnsent(int)  {}
