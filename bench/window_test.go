package bench

import (
	"bufio"
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zkd/jute"
)

// multiFake is a fake server that accepts any number of connections, answers the
// handshake and then every request with reply(xid, op, n) where n counts the
// requests it has seen (all connections).
type multiFake struct {
	ln    net.Listener
	conns atomic.Int64 // connections accepted
	reqs  atomic.Int64 // requests seen (pings excluded)
	wg    sync.WaitGroup
}

func startMultiFake(t *testing.T, reply func(xid int32, op jute.OpCode, n int64) []byte) *multiFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &multiFake{ln: ln}
	var mu sync.Mutex
	var open []net.Conn
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			mu.Lock()
			open = append(open, nc)
			mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				if _, err := readFrame(br, nil); err != nil {
					return
				}
				resp := jute.ConnectResponse{TimeOut: 4000, SessionID: 42, Passwd: make([]byte, 16)}
				b, mark := jute.BeginFrame(nil)
				if _, err := nc.Write(jute.EndFrame(resp.Append(b), mark)); err != nil {
					return
				}
				for {
					req, err := readFrame(br, nil)
					if err != nil {
						return
					}
					d := jute.NewDecoder(req)
					var h jute.RequestHeader
					h.Decode(&d)
					var out []byte
					switch h.Type {
					case jute.OpPing:
						out = replyFrame(jute.XidPing, jute.CodeOK)
					case jute.OpCloseSession:
						out = replyFrame(h.Xid, jute.CodeOK)
					default:
						out = reply(h.Xid, h.Type, f.reqs.Add(1))
					}
					if _, err := nc.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *multiFake) addr() string { return f.ln.Addr().String() }

// countingWorker sends getData and counts every reply it sees, measured or not.
type countingWorker struct {
	seen *atomic.Int64
	req  jute.PathWatchRequest
}

func (w *countingWorker) next() (int, jute.OpCode, jute.Record) {
	w.req = jute.PathWatchRequest{Path: "/x"}
	return 0, jute.OpGetData, &w.req
}

func (w *countingWorker) done(_ int, r *Reply) jute.Code { w.seen.Add(1); return r.Err }

func countingSpec(clients, inFlight int, seen *atomic.Int64) mixSpec {
	return mixSpec{kinds: kinds("getData"), clients: clients, inFlight: inFlight,
		worker: func(*env, int, *rand.Rand) mixWorker { return &countingWorker{seen: seen} }}
}

func quickConfig(addr string) Config {
	cfg := DefaultConfig()
	cfg.Addr, cfg.Warmup, cfg.Duration, cfg.MaxConns = addr, 150*time.Millisecond, 150*time.Millisecond, 0
	return cfg
}

// The first request of a run goes out during the warm-up and fails; nothing of the
// warm-up may reach the figures, so the run shows no error, and the replies the
// worker saw outnumber the measured requests.
func TestWarmupIsExcludedFromFigures(t *testing.T) {
	f := startMultiFake(t, func(xid int32, op jute.OpCode, n int64) []byte {
		if n == 1 {
			return replyFrame(xid, jute.CodeSystemError)
		}
		return replyFrame(xid, jute.CodeOK)
	})
	cfg := quickConfig(f.addr())
	cfg.Warmup = time.Second // ample: the first request must go out inside it, however loaded the machine
	var seen atomic.Int64
	res, err := runMix(context.Background(), newEnv(&cfg, "/"), countingSpec(2, 2, &seen))
	if err != nil {
		t.Fatal(err)
	}
	o := res.Op("getData")
	if o == nil || o.ErrorCount() != 0 || len(res.Problems) != 0 {
		t.Fatalf("warm-up leaked into the figures: %+v, problems %q", o, res.Problems)
	}
	if o.Issued == 0 || seen.Load() <= o.Issued || f.reqs.Load() < seen.Load() {
		t.Fatalf("measured %d, worker saw %d replies, server %d requests: no unmeasured warm-up", o.Issued, seen.Load(), f.reqs.Load())
	}
	if res.WarmupSec != cfg.Warmup.Seconds() {
		t.Fatalf("WarmupSec %v, want %v", res.WarmupSec, cfg.Warmup.Seconds())
	}
	if int64(o.Latency.Count()) != o.OK {
		t.Fatalf("%d latencies for %d measured replies", o.Latency.Count(), o.OK)
	}
}

// A fast and a slow server are measured over the same window: Duration exactly,
// whatever they manage in it.
func TestWindowsAreEqualWhateverTheServerSpeed(t *testing.T) {
	fast := startMultiFake(t, func(xid int32, _ jute.OpCode, _ int64) []byte { return replyFrame(xid, jute.CodeOK) })
	slow := startMultiFake(t, func(xid int32, _ jute.OpCode, _ int64) []byte {
		time.Sleep(3 * time.Millisecond)
		return replyFrame(xid, jute.CodeOK)
	})
	var windows []float64
	var counts []int64
	for _, f := range []*multiFake{fast, slow} {
		cfg := quickConfig(f.addr())
		var seen atomic.Int64
		res, err := runMix(context.Background(), newEnv(&cfg, "/"), countingSpec(2, 4, &seen))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Notes) != 0 || len(res.Problems) != 0 {
			t.Fatalf("notes %q problems %q", res.Notes, res.Problems)
		}
		windows = append(windows, res.ElapsedSec)
		counts = append(counts, res.Requests())
	}
	want := quickConfig("").Duration.Seconds()
	if windows[0] != want || windows[1] != want {
		t.Fatalf("windows %v, want both %v", windows, want)
	}
	if counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("requests %v", counts)
	}
}

// A -count cap is the one thing that may end a window early, and the result says so.
func TestCountCapCutsTheWindowAndSaysSo(t *testing.T) {
	f := startMultiFake(t, func(xid int32, _ jute.OpCode, _ int64) []byte { return replyFrame(xid, jute.CodeOK) })
	cfg := quickConfig(f.addr())
	cfg.Duration, cfg.Count = 5*time.Second, 50
	var seen atomic.Int64
	res, err := runMix(context.Background(), newEnv(&cfg, "/"), countingSpec(1, 1, &seen))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests() != 50 {
		t.Fatalf("%d requests measured, want the cap 50", res.Requests())
	}
	if res.ElapsedSec >= cfg.Duration.Seconds() || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "-count 50") {
		t.Fatalf("window %vs, notes %q: the cut is not said", res.ElapsedSec, res.Notes)
	}
}

func TestCompareRefusesARequestCap(t *testing.T) {
	cc := DefaultCompareConfig()
	if err := cc.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cc.Bench.Count != 0 || cc.Bench.MaxConns != 0 || cc.Bench.Warmup < time.Second || cc.ZKHeap != "2g" {
		t.Fatalf("compare defaults: count %d max-conns %d warm-up %v heap %s", cc.Bench.Count, cc.Bench.MaxConns, cc.Bench.Warmup, cc.ZKHeap)
	}
	cc.Bench.Count = 1000
	if err := cc.Validate(); err == nil || !strings.Contains(err.Error(), "same time window") {
		t.Fatalf("a count cap was accepted: %v", err)
	}
	cc.Bench.Count = 0
	for _, n := range []int{-1, 1, 2} {
		cc.Ensemble = n
		if err := cc.Validate(); err == nil {
			t.Fatalf("-ensemble %d accepted", n)
		}
	}
	cc.Ensemble, cc.Servers = 3, []string{"zookeeper", "etcd"}
	if err := cc.Validate(); err == nil {
		t.Fatal("-servers etcd accepted")
	}
}

// Sessions go to the servers of a connect string round robin, and the per-server
// figures add up to the run's.
func TestSessionsSpreadOverAConnectString(t *testing.T) {
	ok := func(xid int32, _ jute.OpCode, _ int64) []byte { return replyFrame(xid, jute.CodeOK) }
	fakes := []*multiFake{startMultiFake(t, ok), startMultiFake(t, ok), startMultiFake(t, ok)}
	cfg := quickConfig(fakes[0].addr() + "," + fakes[1].addr() + " , " + fakes[2].addr())
	var seen atomic.Int64
	res, err := runMix(context.Background(), newEnv(&cfg, "/"), countingSpec(5, 2, &seen))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.PerServer) != 3 {
		t.Fatalf("%d per-server parts", len(res.PerServer))
	}
	var reqs int64
	for i, p := range res.PerServer {
		if p.Addr != fakes[i].addr() {
			t.Fatalf("part %d is %s, want %s", i, p.Addr, fakes[i].addr())
		}
		if want := []int{2, 2, 1}[i]; p.Sessions != want || fakes[i].conns.Load() != int64(want) {
			t.Fatalf("server %d: %d sessions (%d connections), want %d", i, p.Sessions, fakes[i].conns.Load(), want)
		}
		if p.Requests == 0 || int64(p.Latency.Count()) != p.Requests {
			t.Fatalf("server %d: %d requests, %d latencies", i, p.Requests, p.Latency.Count())
		}
		reqs += p.Requests
	}
	if reqs != res.Requests() {
		t.Fatalf("per-server requests sum to %d, the run has %d", reqs, res.Requests())
	}
	var b strings.Builder
	WriteResultText(&b, res)
	if !strings.Contains(b.String(), fakes[2].addr()+": 1 sessions") {
		t.Fatalf("text lacks the per-server line:\n%s", b.String())
	}
}

func TestParseConnectString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"127.0.0.1:2181", []string{"127.0.0.1:2181"}, true},
		{"a:1,b:2, c:3", []string{"a:1", "b:2", "c:3"}, true},
		{"[::1]:2181,127.0.0.1:2182", []string{"[::1]:2181", "127.0.0.1:2182"}, true},
		{"a:1,", nil, false},
		{"a", nil, false},
		{"a:1/chroot", nil, false},
	} {
		got, err := ParseConnectString(tc.in)
		if (err == nil) != tc.ok || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
