package bench

import (
	"bufio"
	"context"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"zkd/jute"
)

// fakeServer accepts one connection, answers the handshake, then hands every request
// (xid, op) to serve, which writes whatever frames it likes with reply.
type fakeServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startFake(t *testing.T, serve func(xid int32, op jute.OpCode, reply func(frame []byte)) bool) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		if _, err := readFrame(br, nil); err != nil {
			return
		}
		resp := jute.ConnectResponse{TimeOut: 3000, SessionID: 42, Passwd: make([]byte, 16)}
		b, mark := jute.BeginFrame(nil)
		_, _ = nc.Write(jute.EndFrame(resp.Append(b), mark))
		var mu sync.Mutex
		reply := func(frame []byte) { mu.Lock(); _, _ = nc.Write(frame); mu.Unlock() }
		for {
			req, err := readFrame(br, nil)
			if err != nil {
				return
			}
			d := jute.NewDecoder(req)
			var h jute.RequestHeader
			h.Decode(&d)
			if !serve(h.Xid, h.Type, reply) {
				return
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func replyFrame(xid int32, code jute.Code) []byte {
	b, mark := jute.BeginFrame(nil)
	b = jute.AppendReplyHeader(b, xid, 7, code)
	return jute.EndFrame(b, mark)
}

func TestConnPipelinesAndRoutesNotifications(t *testing.T) {
	var events []string
	var evMu sync.Mutex
	f := startFake(t, func(xid int32, op jute.OpCode, reply func([]byte)) bool {
		if op == jute.OpPing {
			reply(replyFrame(jute.XidPing, jute.CodeOK))
			return true
		}
		if xid == 3 { // a notification before the reply, as the server orders them
			reply(jute.AppendNotification(nil, -1, jute.EventNodeDataChanged, "/a"))
		}
		code := jute.CodeOK
		if op == jute.OpExists {
			code = jute.CodeNoNode
		}
		reply(replyFrame(xid, code))
		return true
	})
	c, err := Dial(context.Background(), f.ln.Addr().String(), DialOptions{OnEvent: func(ev *jute.WatcherEvent, at int64) {
		evMu.Lock()
		events = append(events, jute.Clone(ev.Path))
		evMu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abandon()
	if c.SessionID() != 42 || c.Timeout() != 3*time.Second {
		t.Fatalf("session %v timeout %v", c.SessionID(), c.Timeout())
	}
	var mu sync.Mutex
	var got []jute.Code
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		op := jute.OpGetData
		if i%2 == 1 {
			op = jute.OpExists
		}
		wg.Add(1)
		if err := c.Submit(op, &jute.PathWatchRequest{Path: "/a"}, int64(i), func(r *Reply) {
			mu.Lock()
			if int(r.Tag) != len(got) {
				t.Errorf("reply for tag %d arrived as #%d", r.Tag, len(got))
			}
			got = append(got, r.Err)
			mu.Unlock()
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, code := range got {
		if want := map[bool]jute.Code{false: jute.CodeOK, true: jute.CodeNoNode}[i%2 == 1]; code != want {
			t.Fatalf("reply %d: %v, want %v", i, code, want)
		}
	}
	evMu.Lock()
	defer evMu.Unlock()
	if len(events) != 1 || events[0] != "/a" {
		t.Fatalf("events %q, want [/a]", events)
	}
}

func TestConnOutOfOrderReplyFailsEveryPendingCall(t *testing.T) {
	held := make(chan int32, 8)
	f := startFake(t, func(xid int32, op jute.OpCode, reply func([]byte)) bool {
		if op == jute.OpPing {
			return true
		}
		held <- xid
		if len(held) == 3 { // answer the third first: out of order
			reply(replyFrame(xid, jute.CodeOK))
		}
		return true
	})
	c, err := Dial(context.Background(), f.ln.Addr().String(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[jute.Code]int{}
	for i := 0; i < 3; i++ {
		wg.Add(1)
		if err := c.Submit(jute.OpGetData, &jute.PathWatchRequest{Path: "/x"}, 0, func(r *Reply) {
			mu.Lock()
			codes[r.Err]++
			mu.Unlock()
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !waitTimeout(&wg, 5*time.Second) {
		t.Fatal("pending calls were not failed")
	}
	if codes[jute.CodeConnectionLoss] != 3 {
		t.Fatalf("codes %v, want 3 x ConnectionLoss", codes)
	}
	if err := c.Submit(jute.OpPing, nil, 0, func(*Reply) {}); err == nil {
		t.Fatal("Submit on a broken connection succeeded")
	}
	c.Abandon()
}

// stallWorker is a one-session getData loop for the driver tests.
type stallWorker struct{ req jute.PathWatchRequest }

func (w *stallWorker) next() (int, jute.OpCode, jute.Record) {
	w.req = jute.PathWatchRequest{Path: "/x"}
	return 0, jute.OpGetData, &w.req
}
func (w *stallWorker) done(_ int, r *Reply) jute.Code { return r.Err }

// TestOpenLoopMeasuresFromIntendedTime stalls the server for 300 ms once. Closed
// loop sees that as one slow request; open loop must charge the stall to every
// request scheduled during it (no coordinated omission).
func TestOpenLoopMeasuresFromIntendedTime(t *testing.T) {
	slowAbove := func(res *Result, ns int64) int {
		h := res.Ops[0].Latency
		below := 0.0
		for _, p := range h.CDF() {
			if p.Value <= ns {
				below = p.Fraction
			}
		}
		return int(math.Round((1 - below) * float64(h.Count())))
	}
	run := func(rate float64) *Result {
		t.Helper()
		f := startFake(t, func(xid int32, op jute.OpCode, reply func([]byte)) bool {
			if op == jute.OpPing {
				return true
			}
			if xid == 50 {
				time.Sleep(300 * time.Millisecond)
			}
			reply(replyFrame(xid, jute.CodeOK))
			return true
		})
		cfg := DefaultConfig()
		cfg.Addr, cfg.Duration, cfg.Count, cfg.Rate, cfg.Warmup = f.ln.Addr().String(), 600*time.Millisecond, 100_000, rate, 0
		spec := mixSpec{kinds: kinds("getData"), clients: 1, inFlight: 1,
			worker: func(*env, int, *rand.Rand) mixWorker { return &stallWorker{} }}
		res, err := runMix(context.Background(), newEnv(&cfg, "/"), spec)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Problems) > 0 || res.Ops[0].Issued != res.Ops[0].OK {
			t.Fatalf("problems %q, ops %+v", res.Problems, res.Ops[0])
		}
		return res
	}
	closed := run(0)
	// The stalled request is slow; on a loaded machine a few others may be too, but
	// closed loop never charges the stall to the requests it kept from being sent.
	if n := slowAbove(closed, 50e6); n < 1 || n > 20 {
		t.Fatalf("closed loop: %d requests slower than 50ms, want the 1 stalled one (and at most a few hiccups)", n)
	}
	open := run(1000)
	if open.Mode != "open" {
		t.Fatalf("mode %s", open.Mode)
	}
	// Requests intended in the first 250 ms of the stall waited at least 50 ms.
	if n := slowAbove(open, 50e6); n < 200 {
		t.Fatalf("open loop: only %d requests slower than 50ms; the stall was hidden", n)
	}
	if max := open.Ops[0].Latency.Max(); max < 250e6 {
		t.Fatalf("open loop: max latency %v, want about the 300ms stall", time.Duration(max))
	}
}
