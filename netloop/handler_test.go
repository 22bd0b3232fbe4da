package netloop_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"zkd/internal/zktest/raw"
	"zkd/jute"
	"zkd/netloop"
	"zkd/session"
)

// echoHandler is the smallest netloop.Handler: each connection echoes every frame
// back as a frame, closes after echoing "bye", and answers four-letter words with
// "echo:" and the word.
type echoHandler struct {
	reject bool // refuse every connection

	mu       sync.Mutex
	opened   int // guarded by mu
	closed   int // guarded by mu
	rejected int // guarded by mu
}

func (h *echoHandler) Open(session.Transport, string, string) (netloop.Conn, error) {
	if h.reject {
		return nil, errors.New("refused")
	}
	h.mu.Lock()
	h.opened++
	h.mu.Unlock()
	return &echoConn{h: h}, nil
}

func (h *echoHandler) NoteRejected() {
	h.mu.Lock()
	h.rejected++
	h.mu.Unlock()
}

func (h *echoHandler) counts() (opened, closed, rejected int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opened, h.closed, h.rejected
}

type echoConn struct {
	h          *echoHandler
	started    bool
	closeAfter bool
	out        []byte
}

func (c *echoConn) Started() bool   { return c.started }
func (c *echoConn) Throttled() bool { return false }
func (c *echoConn) HandleFrame(payload []byte) bool {
	c.started = true
	b, mark := jute.BeginFrame(c.out)
	c.out = jute.EndFrame(append(b, payload...), mark) // a copy: payload is valid only during the call
	if string(payload) == "bye" {
		c.closeAfter = true
	}
	return true
}
func (c *echoConn) FourLetterWord(word string) string { return "echo:" + word }
func (c *echoConn) TakeOutput() ([]byte, bool) {
	b := c.out
	c.out = nil
	return b, c.closeAfter
}
func (c *echoConn) ReturnOutput([]byte) {}
func (c *echoConn) QueuedOutput() int   { return len(c.out) }
func (c *echoConn) Closed() {
	c.h.mu.Lock()
	c.h.closed++
	c.h.mu.Unlock()
}
func (c *echoConn) NoteThrottled() {}
func (c *echoConn) NoteDropped()   {}
func (c *echoConn) SetUnsent(int)  {}

func listenHandler(t *testing.T, h netloop.Handler) *testServer {
	t.Helper()
	cfg := netloop.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.EventLoops = 2
	cfg.Logger = quiet
	nl, err := netloop.ListenHandler(cfg, h)
	if err != nil {
		t.Fatalf("ListenHandler: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := nl.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &testServer{addr: nl.Addr().String(), nl: nl}
}

func TestListenHandlerServesAnyHandler(t *testing.T) {
	t.Parallel()
	h := &echoHandler{}
	s := listenHandler(t, h)

	// Frames pipelined in one write, and one split across writes, come back in order.
	c := s.dial(t)
	c.Write(append(raw.Frame([]byte("one")), raw.Frame([]byte("two"))...))
	for _, want := range []string{"one", "two"} {
		if got := string(c.ReadFrame()); got != want {
			t.Fatalf("echo %q, want %q", got, want)
		}
	}
	long := raw.Frame([]byte("split across two writes"))
	c.Write(long[:6])
	time.Sleep(time.Millisecond)
	c.Write(long[6:])
	if got := string(c.ReadFrame()); got != "split across two writes" {
		t.Fatalf("split echo %q", got)
	}
	// closeAfter: the echo of "bye" is written, then the connection is closed.
	c.Write(raw.Frame([]byte("bye")))
	if got := c.ReadAll(); string(got) != string(raw.Frame([]byte("bye"))) {
		t.Fatalf("before close: % x", got)
	}

	// A four-letter word before the first frame goes to the handler's Conn.
	c = s.dial(t)
	c.Write([]byte("ruok"))
	if got := string(c.ReadAll()); got != "echo:ruok" {
		t.Fatalf("ruok = %q", got)
	}

	// An oversize frame closes the connection without reaching the handler.
	c = s.dial(t)
	c.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	if got := c.ReadAll(); len(got) != 0 {
		t.Fatalf("reply to an oversize frame: % x", got)
	}

	deadline := time.Now().Add(waitLimit)
	for {
		opened, closed, rejected := h.counts()
		if opened == 3 && closed == 3 && rejected == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("opened %d closed %d rejected %d, want 3 3 0", opened, closed, rejected)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestListenHandlerCountsRefusedConnections(t *testing.T) {
	t.Parallel()
	h := &echoHandler{reject: true}
	s := listenHandler(t, h)
	c := s.dial(t)
	c.Write(raw.Frame([]byte("hello")))
	if got := c.ReadAll(); len(got) != 0 {
		t.Fatalf("a refused connection got % x", got)
	}
	if _, _, rejected := h.counts(); rejected != 1 {
		t.Fatalf("%d rejections noted, want 1", rejected)
	}
}
