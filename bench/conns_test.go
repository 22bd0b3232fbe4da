package bench

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// startDropper accepts connections and drops them before the handshake reply:
// with reset, by RST (SO_LINGER 0), as ZooKeeper does past maxClientCnxns;
// otherwise by a plain close, as zkd does.
func startDropper(t *testing.T, reset bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if reset {
				_ = nc.(*net.TCPConn).SetLinger(0)
			} else {
				buf := make([]byte, 64)
				_ = nc.SetReadDeadline(time.Now().Add(time.Second))
				_, _ = nc.Read(buf) // take the ConnectRequest, then close
			}
			nc.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestDialNamesTheConnectionLimit(t *testing.T) {
	for _, reset := range []bool{true, false} {
		addr := startDropper(t, reset)
		_, err := Dial(context.Background(), addr, DialOptions{ConnectTimeout: 2 * time.Second})
		if !errors.Is(err, ErrHandshakeDropped) {
			t.Fatalf("reset=%v: %v, want ErrHandshakeDropped", reset, err)
		}
		for _, want := range []string{addr, "maxClientCnxns", "-max-conns", "-clients"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("reset=%v: error does not name %q: %v", reset, want, err)
			}
		}
	}
}

func TestDialRefusedSaysNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Dial(context.Background(), addr, DialOptions{ConnectTimeout: 2 * time.Second})
	if !errors.Is(err, ErrNotListening) || !strings.Contains(err.Error(), "nothing is listening") {
		t.Fatalf("%v, want ErrNotListening", err)
	}
}

// A run that cannot open its sessions says how many it had open, and why.
func TestDialNCountsTheOpenSessions(t *testing.T) {
	cfg := quickConfig(startDropper(t, true))
	e := newEnv(&cfg, "/")
	_, err := e.dialN(context.Background(), 3, nil)
	if !errors.Is(err, ErrHandshakeDropped) || !strings.Contains(err.Error(), "0 of this run's sessions had connected") {
		t.Fatalf("%v", err)
	}
}

func TestSessionCountFitsMaxConns(t *testing.T) {
	for _, tc := range []struct {
		name              string
		maxConns, servers int
		want, def, extra  int
		got               int
		fails, noted      bool
	}{
		{name: "default fits", maxConns: 60, servers: 1, def: 32, got: 32},
		{name: "default reduced", maxConns: 60, servers: 1, def: 64, got: 58, noted: true},
		{name: "default reduced with extra sessions", maxConns: 60, servers: 1, def: 500, extra: 1, got: 57, noted: true},
		{name: "three servers hold more", maxConns: 60, servers: 3, def: 64, got: 64},
		// 57 a server, and room on each for the run's two and the workload's one:
		// 3*58 would put 58 sessions and three more connections on the first.
		{name: "three servers keep room on each", maxConns: 60, servers: 3, def: 500, extra: 1, got: 171, noted: true},
		{name: "explicit over three servers' limit", maxConns: 60, servers: 3, want: 177, def: 64, fails: true},
		{name: "no limit", maxConns: 0, servers: 1, def: 500, extra: 1, got: 500},
		{name: "explicit fits", maxConns: 60, servers: 1, want: 50, def: 64, got: 50},
		{name: "explicit over the limit", maxConns: 60, servers: 1, want: 80, def: 64, fails: true},
		{name: "explicit with extra over the limit", maxConns: 60, servers: 1, want: 40, def: 40, extra: 40, fails: true},
		{name: "explicit without a limit", maxConns: 0, servers: 1, want: 1000, def: 64, got: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MaxConns = tc.maxConns
			cfg.Addr = strings.TrimSuffix(strings.Repeat("127.0.0.1:2181,", tc.servers), ",")
			e := newEnv(&cfg, "/")
			got, err := e.sessionCount("-clients", tc.want, tc.def, tc.extra)
			if tc.fails {
				if !errors.Is(err, ErrTooManySessions) || !strings.Contains(err.Error(), "maxClientCnxns") || !strings.Contains(err.Error(), "-clients") {
					t.Fatalf("got %d, %v; want ErrTooManySessions naming the flag and maxClientCnxns", got, err)
				}
				return
			}
			if err != nil || got != tc.got {
				t.Fatalf("got %d, %v; want %d", got, err, tc.got)
			}
			if noted := len(e.notes()) > 0; noted != tc.noted {
				t.Fatalf("notes %q, want noted=%v", e.notes(), tc.noted)
			}
			if tc.noted && !strings.Contains(e.notes()[0], "-max-conns 60") {
				t.Fatalf("note does not name the flag: %q", e.notes())
			}
		})
	}
}
