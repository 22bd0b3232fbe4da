package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"zkd/bench"
	"zkd/internal/testutil"
	"zkd/jute"
	"zkd/server"
	"zkd/zoocfg"
)

// benchZkdConfig is an in-process standalone zkd for the load generator: no
// per-IP connection limit (create-c256 opens 256 sessions) and a 100 ms tick, so
// the storm's sessions expire within about a second.
func benchZkdConfig(t *testing.T) zoocfg.Config {
	t.Helper()
	cfg := zoocfg.Default()
	cfg.Admin.Enabled = false
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.MaxClientCnxns = 0
	cfg.TickTime = 100 * time.Millisecond
	cfg.MaxSessionTimeout = 30 * time.Second // 20 ticks would cap sessions at 2 s
	cfg.PreAllocSize = 4 << 20
	return cfg
}

// startBenchZkd starts benchZkdConfig (edited) on 127.0.0.1:0 and returns its address.
func startBenchZkd(t *testing.T, edit ...func(*zoocfg.Config)) string {
	t.Helper()
	cfg := benchZkdConfig(t)
	for _, f := range edit {
		f(&cfg)
	}
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

// smallBenchConfig bounds every run to well under a second of load, by time: no
// request cap, so every loop run measures its whole window.
func smallBenchConfig(addr string) bench.Config {
	cfg := bench.DefaultConfig()
	cfg.Addr = addr
	cfg.Label = "zkd"
	cfg.ServerPID = os.Getpid() // in-process: /proc/self stands in for the server
	cfg.Duration = 400 * time.Millisecond
	// Long enough that a loaded machine (or -race) never expires a busy session;
	// the storm, which waits for expiry, asks for less.
	cfg.SessionTimeout = 10 * time.Second
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
	cfg.Warmup = 100 * time.Millisecond
	cfg.MaxConns = 0 // the in-process server has no per-IP limit
	cfg.TreeZnodes = 500
	cfg.Znodes = 1500
	cfg.PreloadClients = 3
	cfg.Watchers = 20
	cfg.StormWorkers = 4
	cfg.OpenRate = 2000
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
	if w.Loop && cfg.Count > 0 && res.Requests() > cfg.Count {
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
	if w.Loop && res.ElapsedSec != cfg.Duration.Seconds() {
		t.Fatalf("window %vs, want the full -duration %v", res.ElapsedSec, cfg.Duration)
	}
}

// controlled reports whether a workload needs a server it can stop and start.
func controlled(name string) bool {
	return name == "mem-1m" || name == "restart-1m" || name == "failover"
}

func TestBenchWorkloadsAgainstZkd(t *testing.T) {
	addr := startBenchZkd(t)
	cfg := smallBenchConfig(addr)
	ctx := context.Background()
	for _, w := range bench.Workloads() {
		if controlled(w.Name) {
			continue // TestBenchMillionGroupRestartsTheServer; failover: bench's ensemble test
		}
		t.Run(w.Name, func(t *testing.T) {
			cfg := cfg
			if w.Name == "storm" {
				cfg.SessionTimeout = time.Second // it waits for its sessions to expire
			}
			res, err := bench.RunWorkload(ctx, cfg, w.Name)
			if err != nil {
				t.Fatal(err)
			}
			checkBenchResult(t, cfg, w, res)
			switch w.Name {
			case "watch-500":
				want := float64(cfg.Watchers) * res.Metrics["rounds"]
				if res.Metrics["rounds"] == 0 || res.Metrics["events_delivered"] != want || res.Metrics["events_expected"] != want {
					t.Fatalf("watch-500 delivered %v of %v events (%v rounds)", res.Metrics["events_delivered"], want, res.Metrics["rounds"])
				}
				if all := res.Op("all-delivered"); all == nil || float64(all.OK) != res.Metrics["rounds"] || all.ErrorCount() != 0 {
					t.Fatalf("all-delivered %+v", all)
				}
			case "sessions-16":
				c, cr, cl, cyc := res.Op("connect"), res.Op("create-ephemeral"), res.Op("closeSession"), res.Op("session")
				if c == nil || cr == nil || cl == nil || cyc == nil || c.OK == 0 || cr.OK != c.OK || cl.OK != c.OK || cyc.OK != c.OK {
					t.Fatalf("session cycles do not add up: %+v %+v %+v %+v", c, cr, cl, cyc)
				}
				if res.Metrics["sessions_per_s"] != float64(cyc.OK)/res.ElapsedSec {
					t.Fatalf("sessions_per_s %v for %d cycles in %vs", res.Metrics["sessions_per_s"], cyc.OK, res.ElapsedSec)
				}
			case "createseq-32x8":
				// Every znode created is deleted (the window may hold deletes of
				// warm-up creates, or creates whose deletes come after it), and a
				// delete of a znode not created would have failed with NoNode.
				cr, del := res.Op("create-sequential"), res.Op("delete")
				if cr == nil || del == nil || cr.OK == 0 || del.OK == 0 || max(cr.OK-del.OK, del.OK-cr.OK) > int64(res.Clients*res.InFlight) {
					t.Fatalf("creates %+v deletes %+v", cr, del)
				}
			case "getdata-open":
				if res.Mode != "open" || res.Rate != cfg.OpenRate {
					t.Fatalf("mode %s at %v/s, want open at %v", res.Mode, res.Rate, cfg.OpenRate)
				}
			case "preload-1m":
				cr := res.Op("create")
				if cr == nil || cr.OK != int64(cfg.Znodes) || res.Metrics["znodes"] != float64(cfg.Znodes) || !(res.Metrics["preload_s"] > 0) {
					t.Fatalf("preload: %+v %v", cr, res.Metrics)
				}
				if len(res.Notes) == 0 || !strings.Contains(strings.Join(res.Notes, " "), "-data-dirs") {
					t.Fatalf("notes %q do not say bytes on disk were not measured", res.Notes)
				}
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
		if strings.HasPrefix(name, "zkbench-") && name != "zkbench-tree" {
			t.Fatalf("run root /%s left behind", name)
		}
	}
}

// inProcessControl restarts an in-process zkd on the same port and data
// directory, as Compare's Controller restarts a server process. In-process, a
// clean stop stands in for SIGKILL.
type inProcessControl struct {
	t    *testing.T
	cfg  zoocfg.Config
	inst *server.Server // guarded by the test's sequencing: one workload at a time
}

func (c *inProcessControl) Kill(string) error {
	if c.inst == nil {
		return errors.New("not running")
	}
	err := c.inst.Stop()
	c.inst = nil
	return err
}

func (c *inProcessControl) Start(context.Context, string) error {
	inst, err := startInstance(c.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	c.inst = inst
	return nil
}

func (c *inProcessControl) PID(string) int {
	if c.inst == nil {
		return 0
	}
	return os.Getpid()
}

func (c *inProcessControl) DataDirs(string) []string { return []string{c.cfg.DataDir} }

// The 1M group, scaled down, against a zkd it can restart: one preload, bytes on
// disk, RSS loaded and after the restart, and the restart until reads answer.
func TestBenchMillionGroupRestartsTheServer(t *testing.T) {
	zcfg := benchZkdConfig(t)
	zcfg.ClientAddr = "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	ctl := &inProcessControl{t: t, cfg: zcfg}
	if err := ctl.Start(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ctl.inst != nil {
			_ = ctl.Kill("")
		}
	})
	cfg := smallBenchConfig(zcfg.ClientAddr)
	cfg.Control = ctl
	names := []string{"preload-1m", "mem-1m", "restart-1m"}
	rs, err := bench.RunMillion(context.Background(), cfg, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("%d results", len(rs))
	}
	for i, r := range rs {
		if r.Workload != names[i] || r.Server != cfg.Label || len(r.Problems) > 0 {
			t.Fatalf("result %d: %s on %s, problems %q", i, r.Workload, r.Server, r.Problems)
		}
	}
	pre, mem, rst := rs[0], rs[1], rs[2]
	if c := pre.Op("create"); c == nil || c.OK != int64(cfg.Znodes) || c.Issued != c.OK {
		t.Fatalf("preload creates %+v", c)
	}
	if !(pre.Metrics["disk_mb"] > 0) || !(pre.Metrics["preload_znodes_per_s"] > 0) {
		t.Fatalf("preload metrics %v", pre.Metrics)
	}
	if !(mem.Metrics["rss_loaded_mb"] > 0) || !(mem.Metrics["rss_restarted_mb"] > 0) {
		t.Fatalf("memory metrics %v", mem.Metrics)
	}
	if !(rst.Metrics["restart_s"] > 0) {
		t.Fatalf("restart metrics %v", rst.Metrics)
	}
	// The tree was removed afterwards, after the restart brought it back.
	c, err := bench.Dial(context.Background(), zcfg.ClientAddr, bench.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(context.Background(), jute.OpExists, &jute.PathWatchRequest{Path: "/zkbench-1m"})
	if err != nil || r.Err != jute.CodeNoNode {
		t.Fatalf("exists /zkbench-1m after the run: %v %v", err, r.Err)
	}
}

// Against a server with the default maxClientCnxns of 60, a default workload of 64
// sessions fits itself in (and says so); an explicit request beyond the limit fails
// before connecting, naming the flags; and without -max-conns the server's refusal
// comes back as an error that names maxClientCnxns.
func TestBenchDefaultsFitMaxClientCnxns(t *testing.T) {
	addr := startBenchZkd(t, func(c *zoocfg.Config) { c.MaxClientCnxns = 60 })
	cfg := smallBenchConfig(addr)
	cfg.MaxConns = bench.DefaultMaxConns
	ctx := context.Background()
	for _, name := range []string{"getdata-pipe", "getdata-64x16", "watch-500"} {
		res, err := bench.RunWorkload(ctx, cfg, name)
		if err != nil {
			t.Fatalf("%s with default shapes: %v", name, err)
		}
		if name != "watch-500" && (res.Clients != 58 || len(res.Notes) == 0 || !strings.Contains(res.Notes[0], "-max-conns 60")) {
			t.Fatalf("%s: %d sessions, notes %q", name, res.Clients, res.Notes)
		}
		if len(res.Problems) > 0 {
			t.Fatalf("%s: %q", name, res.Problems)
		}
	}
	over := cfg
	over.Clients = 80
	if _, err := bench.RunWorkload(ctx, over, "getdata-pipe"); !errors.Is(err, bench.ErrTooManySessions) || !strings.Contains(err.Error(), "-clients 80") {
		t.Fatalf("-clients 80 under -max-conns 60: %v", err)
	}
	over.MaxConns = 0
	_, err := bench.RunWorkload(ctx, over, "getdata-pipe")
	if !errors.Is(err, bench.ErrHandshakeDropped) || !strings.Contains(err.Error(), "maxClientCnxns") {
		t.Fatalf("-clients 80 against maxClientCnxns 60: %v", err)
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
	if b, err := os.ReadFile(htmlPath); err != nil || !strings.Contains(string(b), "<svg") ||
		!strings.Contains(string(b), `<section id="summary">`) || strings.Contains(string(b), "<pre>") {
		t.Fatalf("HTML report: %v", err)
	}
	if code := benchRun(append(args[:len(args)-5:len(args)-5], "-report", svgPath, "nosuchworkload"), io.Discard, io.Discard); code == 0 {
		t.Fatal("an unknown workload did not fail")
	}
	if code := benchRun([]string{"-count", "0", "latency"}, io.Discard, io.Discard); code == 0 {
		t.Fatal("-count 0 did not fail")
	}
}
