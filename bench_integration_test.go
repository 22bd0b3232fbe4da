package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/bench"
	"zkd/jute"
	"zkd/zoocfg"
)

// startBenchZkd starts an in-process standalone zkd on 127.0.0.1:0 for the load
// generator: no per-IP connection limit (create-c256 opens 256 sessions) and a
// 100 ms tick, so the storm's sessions expire within about a second.
func startBenchZkd(t *testing.T) string {
	t.Helper()
	cfg := zoocfg.Default()
	cfg.Admin.Enabled = false
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.MaxClientCnxns = 0
	cfg.TickTime = 100 * time.Millisecond
	inst, err := startInstance(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return inst.Addr().String()
}

// smallBenchConfig bounds every run to well under a second of load.
func smallBenchConfig(addr string) bench.Config {
	cfg := bench.DefaultConfig()
	cfg.Addr = addr
	cfg.Label = "zkd"
	cfg.ServerPID = os.Getpid() // in-process: /proc/self stands in for the server
	cfg.Duration = 700 * time.Millisecond
	cfg.Count = 3000
	cfg.SessionTimeout = time.Second
	cfg.Keys = 300
	cfg.Children = 100
	cfg.Topics = 10
	cfg.Partitions = 4
	cfg.KafkaClients = 8
	cfg.FanoutSessions = 12
	cfg.FanoutZnodes = 8
	cfg.FanoutRounds = 10
	cfg.StormSessions = 30
	cfg.LockContenders = 4
	cfg.LatencyOps = 60
	return cfg
}

// checkBenchResult asserts the accounting every run must satisfy.
func checkBenchResult(t *testing.T, cfg bench.Config, w bench.Workload, res *bench.Result) {
	t.Helper()
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %q", res.Problems)
	}
	if res.Workload != w.Name || res.Server != cfg.Label {
		t.Fatalf("result labelled %s on %s", res.Workload, res.Server)
	}
	if res.Requests() == 0 {
		t.Fatal("no requests measured")
	}
	if w.Loop && res.Requests() > cfg.Count {
		t.Fatalf("%d requests measured, over -count %d", res.Requests(), cfg.Count)
	}
	for _, o := range res.Ops {
		if o.Event {
			continue
		}
		if o.Issued != o.OK+o.ErrorCount() {
			t.Fatalf("%s: issued %d != ok %d + errors %v", o.Name, o.Issued, o.OK, o.Errors)
		}
		if int64(o.Latency.Count()) != o.OK {
			t.Fatalf("%s: %d latencies for %d ok replies", o.Name, o.Latency.Count(), o.OK)
		}
		for code, n := range o.Errors {
			// Conditional setData loses races under zipfian keys: BadVersion is a result.
			if !(w.Name == "kafka" && code == jute.CodeBadVersion.Error()) {
				t.Fatalf("%s: %d x %s", o.Name, n, code)
			}
		}
	}
	if res.ServerCPUSec < 0 || res.ServerRSSBytes <= 0 {
		t.Fatalf("server figures missing: cpu %v rss %v", res.ServerCPUSec, res.ServerRSSBytes)
	}
}

func TestBenchWorkloadsAgainstZkd(t *testing.T) {
	addr := startBenchZkd(t)
	cfg := smallBenchConfig(addr)
	ctx := context.Background()
	for _, w := range bench.Workloads() {
		t.Run(w.Name, func(t *testing.T) {
			res, err := bench.RunWorkload(ctx, cfg, w.Name)
			if err != nil {
				t.Fatal(err)
			}
			checkBenchResult(t, cfg, w, res)
			switch w.Name {
			case "fanout":
				want := float64(cfg.FanoutSessions) * res.Metrics["rounds"]
				if res.Metrics["rounds"] == 0 || res.Metrics["events_delivered"] != want || res.Metrics["events_expected"] != want {
					t.Fatalf("fan-out delivered %v of %v events (%v rounds)", res.Metrics["events_delivered"], want, res.Metrics["rounds"])
				}
				if ev := res.Op("event"); ev == nil || float64(ev.OK) != want || ev.ErrorCount() != 0 {
					t.Fatalf("event op %+v, want %v delivered", ev, want)
				}
			case "storm":
				if res.Metrics["sessions"] != float64(cfg.StormSessions) || res.Metrics["ephemerals_left"] != 0 {
					t.Fatalf("storm: %v sessions, %v ephemerals left", res.Metrics["sessions"], res.Metrics["ephemerals_left"])
				}
				if gone := res.Op("all-gone"); gone == nil || gone.OK != 1 || res.Metrics["storm_cleanup_s"] < 0 {
					t.Fatalf("storm: not every ephemeral seen gone: %+v", res.Metrics)
				}
				if c := res.Op("create-ephemeral"); c == nil || c.OK != int64(cfg.StormSessions) {
					t.Fatalf("storm: ephemerals created %+v", c)
				}
			case "lock":
				if res.Metrics["acquisitions"] == 0 {
					t.Fatal("lock never acquired")
				}
				if a, d := res.Op("acquire"), res.Op("delete"); a == nil || d == nil || a.OK > d.OK {
					t.Fatalf("lock: acquisitions %+v not all released %+v", a, d)
				}
			case "latency":
				for _, op := range []string{"create", "getData", "setData", "exists", "delete"} {
					if o := res.Op(op); o == nil || o.OK == 0 {
						t.Fatalf("latency: no %s measured", op)
					}
				}
			}
		})
	}
	// Every run deleted its own tree.
	c, err := bench.Dial(ctx, addr, bench.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(ctx, jute.OpGetChildren, &jute.PathWatchRequest{Path: "/"})
	if err != nil || r.Err != jute.CodeOK {
		t.Fatalf("getChildren /: %v %v", err, r.Err)
	}
	var ch jute.ChildrenResponse
	d := jute.NewDecoder(r.Body)
	ch.Decode(&d)
	for _, name := range ch.Children {
		if strings.HasPrefix(name, "zkbench-") {
			t.Fatalf("run root /%s left behind", name)
		}
	}
}

func TestBenchOpenLoopKeepsCountsAndRate(t *testing.T) {
	addr := startBenchZkd(t)
	cfg := smallBenchConfig(addr)
	cfg.Rate = 2000
	cfg.Duration = 500 * time.Millisecond
	w, _ := bench.LookupWorkload("getdata-sync")
	res, err := bench.RunWorkload(context.Background(), cfg, w.Name)
	if err != nil {
		t.Fatal(err)
	}
	checkBenchResult(t, cfg, w, res)
	if res.Mode != "open" || res.Rate != 2000 {
		t.Fatalf("mode %s rate %v", res.Mode, res.Rate)
	}
	// 2000/s for 0.5 s schedules 1000 requests; a few may fall past the deadline.
	if n := res.Requests(); n < 900 || n > 1000 {
		t.Fatalf("%d requests issued, want about 1000", n)
	}
}

func TestBenchCommandWritesReports(t *testing.T) {
	addr := startBenchZkd(t)
	dir := t.TempDir()
	jsonPath, htmlPath, svgPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html"), filepath.Join(dir, "r.svg")
	args := []string{"-addr", addr, "-duration", "300ms", "-count", "500", "-keys", "100", "-latency-ops", "20",
		"-server-pid", "0", "-json", jsonPath, "-report", htmlPath, "latency,exists-pipe"}
	var out strings.Builder
	if code := benchRun(args, &out, io.Discard); code != 0 {
		t.Fatalf("zkd bench exited %d:\n%s", code, out.String())
	}
	for _, want := range []string{"fdatasync every group commit", "== latency on server", "== exists-pipe on server", "p99.9"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	rep, err := bench.ReadJSONFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.Runs[1].Workload != "exists-pipe" {
		t.Fatalf("JSON holds %d runs", len(rep.Runs))
	}
	if b, err := os.ReadFile(htmlPath); err != nil || !strings.Contains(string(b), "<svg") {
		t.Fatalf("HTML report: %v", err)
	}
	if code := benchRun(append(args[:len(args)-5:len(args)-5], "-report", svgPath, "nosuchworkload"), io.Discard, io.Discard); code == 0 {
		t.Fatal("an unknown workload did not fail")
	}
	if code := benchRun([]string{"-count", "0", "latency"}, io.Discard, io.Discard); code == 0 {
		t.Fatal("-count 0 did not fail")
	}
}
