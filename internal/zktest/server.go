package zktest

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"zkd/server"
	"zkd/zoocfg"
)

// TickTime is the tickTime of the servers StartServer starts: sessions may time
// out after two ticks, so expiry tests take a fraction of a second.
const TickTime = 200 * time.Millisecond

// Config returns the configuration StartServer starts from: standalone on
// 127.0.0.1:0, a data directory of the test's own, a 200 ms tick, no limit on
// connections per address, every four-letter word, and no AdminServer (tests
// never touch the default 8080).
func Config(t testing.TB) zoocfg.Config {
	t.Helper()
	cfg := zoocfg.Default()
	cfg.Admin.Enabled = false
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.TickTime = TickTime
	cfg.MaxClientCnxns = 0
	cfg.FourLetterWords = []string{"*"}
	return cfg
}

// LogBuffer is a goroutine-safe log sink a test can read.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a debug-level text logger writing to b.
func (b *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Server is an in-process zkd started by StartServer. The embedded instance is
// the current one; Stop (the instance's), Start and Restart take it down and up
// again on the same data directory and client port.
type Server struct {
	*server.Server
	// Log holds everything every incarnation logged; it is printed when the test
	// fails.
	Log *LogBuffer

	t   testing.TB
	cfg zoocfg.Config // with the client port the first start bound
}

// StartServer starts a standalone zkd from Config, after applying edit to the
// configuration. It stops in Cleanup, printing its log if the test failed.
func StartServer(t testing.TB, edit ...func(*zoocfg.Config)) *Server {
	t.Helper()
	cfg := Config(t)
	for _, f := range edit {
		f(&cfg)
	}
	s := &Server{Log: &LogBuffer{}, t: t, cfg: cfg}
	t.Cleanup(func() {
		if s.Server == nil {
			return // the start failed, and said so
		}
		if err := s.Server.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.Log.String())
		}
	})
	in, err := Start(cfg, s.Log.Logger())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	s.Server = in
	if a := in.Addr(); a != nil {
		s.cfg.ClientAddr = a.String() // a restart comes back on the same port
	}
	return s
}

// Start starts an instance from cfg as main does, with the version "test".
func Start(cfg zoocfg.Config, log *slog.Logger) (*server.Server, error) {
	return server.Start(context.Background(), cfg, server.Options{Version: "test", Logger: log})
}

// ConnectString is the client address, host:port.
func (s *Server) ConnectString() string { return s.cfg.ClientAddr }

// DataDir is the instance's data directory; it outlives restarts.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// Start starts a new instance on the same data directory and client port, after
// Stop. It returns the error instead of failing the test, for callers off the
// test's goroutine.
func (s *Server) Start() error {
	in, err := Start(s.cfg, s.Log.Logger())
	if err != nil {
		return err
	}
	s.Server = in
	return nil
}

// Restart stops the instance if it runs and starts a new one on the same data
// directory and client port.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.Server.Stop(); err != nil {
		s.t.Errorf("stop: %v", err)
	}
	if err := s.Start(); err != nil {
		s.t.Fatalf("restart: %v", err)
	}
}
