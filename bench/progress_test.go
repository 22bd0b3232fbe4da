package bench

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zkd/jute"
)

func TestProgressLineShowsElapsedRateP99Errors(t *testing.T) {
	src := &liveSource{measureStart: 2e9, deadline: 12e9}
	st := liveStats{seen: 1000, errs: 3, p99: 1_230_000, n: 900}
	for _, tc := range []struct {
		t    int64
		want string
	}{
		{0, "s1 w: warm-up, 2.0s left  12.3k req/s  p99 1.23ms  errors 3"},
		{5e9, "s1 w: 3.0s/10.0s  12.3k req/s  p99 1.23ms  errors 3"},
		{13e9, "s1 w: 10.0s/10.0s (draining)  12.3k req/s  p99 1.23ms  errors 3"},
	} {
		if got := progressLine("s1 w", src, st, tc.t, 12_300); got != tc.want {
			t.Errorf("at %d:\n got %q\nwant %q", tc.t, got, tc.want)
		}
	}
	if got := progressLine("s1 w", nil, liveStats{}, 0, 0); got != "s1 w: setting up" {
		t.Errorf("before set-up: %q", got)
	}
	if got := progressLine("x", &liveSource{measureStart: 0}, liveStats{}, 1e9, 0); got != "x: 1.0s  0 req/s  p99 -  errors 0" {
		t.Errorf("no deadline, no samples: %q", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A run writes progress lines while it is under way: plain lines off a terminal,
// one line rewritten in place (and cleared at the end) on one.
func TestProgressLinesDuringARun(t *testing.T) {
	f := startMultiFake(t, func(xid int32, _ jute.OpCode, _ int64) []byte { return replyFrame(xid, jute.CodeOK) })
	for _, tty := range []bool{false, true} {
		cfg := quickConfig(f.addr())
		cfg.Warmup, cfg.Duration = 100*time.Millisecond, 300*time.Millisecond
		var out syncBuffer
		e := newEnv(&cfg, "/")
		stop := startProgress(&out, tty, 20*time.Millisecond, "srv getdata", e)
		var seen atomic.Int64
		_, err := runMix(context.Background(), e, countingSpec(2, 2, &seen))
		stop()
		if err != nil {
			t.Fatal(err)
		}
		s := out.String()
		// (The warm-up form of the line is TestProgressLineShowsElapsedRateP99Errors's:
		// whether a tick falls into this run's short warm-up depends on the machine.)
		for _, want := range []string{"srv getdata: 0.", "/0.3s", "req/s", "p99 ", "errors 0"} {
			if !strings.Contains(s, want) {
				t.Fatalf("tty=%v: progress lacks %q:\n%q", tty, want, s)
			}
		}
		if tty {
			if strings.Contains(s, "\n") || !strings.HasSuffix(s, "\r\033[K") {
				t.Fatalf("terminal progress is not one line cleared at the end: %q", s)
			}
		} else if strings.Contains(s, "\r") || strings.Count(s, "\n") < 3 {
			t.Fatalf("plain progress is not lines: %q", s)
		}
	}
	if stop := startProgress(nil, true, time.Millisecond, "x", newEnv(&Config{Addr: "a:1"}, "/")); stop == nil {
		t.Fatal("nil writer gave no stop func")
	} else {
		stop()
	}
}
