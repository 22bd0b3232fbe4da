package tests

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"zkd/bench"
	"zkd/internal/zktest"
	"zkd/jute"
	"zkd/zoocfg"
)

// startBenchZkd starts an in-process zkd for the load generator: no per-IP
// connection limit (create-c256 opens 256 sessions) and a 100 ms tick, so the
// storm's sessions expire within about a second; edit adjusts it further.
func startBenchZkd(t *testing.T, edit ...func(*zoocfg.Config)) *zktest.Server {
	t.Helper()
	edits := append([]func(*zoocfg.Config){func(c *zoocfg.Config) {
		c.TickTime = 100 * time.Millisecond
		c.MaxSessionTimeout = 30 * time.Second // 20 ticks would cap sessions at 2 s
		c.PreAllocSize = 4 << 20
	}}, edit...)
	return zktest.StartServer(t, edits...)
}

// controlled reports whether a workload needs a server it can stop and start.
func controlled(name string) bool {
	return name == "mem-1m" || name == "restart-1m" || name == "failover"
}

func TestBenchWorkloadsAgainstZkd(t *testing.T) {
	addr := startBenchZkd(t).ConnectString()
	cfg := zktest.BenchConfig(addr)
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
			zktest.CheckBenchResult(t, cfg, w, res)
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
	srv     *zktest.Server
	running bool // guarded by the test's sequencing: one workload at a time
}

func (c *inProcessControl) Kill(string) error {
	if !c.running {
		return errors.New("not running")
	}
	c.running = false
	return c.srv.Stop()
}

func (c *inProcessControl) Start(context.Context, string) error {
	if err := c.srv.Start(); err != nil {
		return err
	}
	c.running = true
	return nil
}

func (c *inProcessControl) PID(string) int {
	if !c.running {
		return 0
	}
	return os.Getpid()
}

func (c *inProcessControl) DataDirs(string) []string { return []string{c.srv.DataDir()} }

// The 1M group, scaled down, against a zkd it can restart: one preload, bytes on
// disk, RSS loaded and after the restart, and the restart until reads answer.
func TestBenchMillionGroupRestartsTheServer(t *testing.T) {
	srv := startBenchZkd(t)
	ctl := &inProcessControl{srv: srv, running: true}
	cfg := zktest.BenchConfig(srv.ConnectString())
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
	c, err := bench.Dial(context.Background(), srv.ConnectString(), bench.DialOptions{})
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
	addr := startBenchZkd(t, func(c *zoocfg.Config) { c.MaxClientCnxns = 60 }).ConnectString()
	cfg := zktest.BenchConfig(addr)
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

// Over a 3-server connect string the sessions go round robin, and the run's own
// connections land on one of the servers: a default shape fitted to the limit
// must leave room for them on each, or the server that gets them refuses one.
func TestBenchDefaultsFitMaxClientCnxnsOfAnEnsemble(t *testing.T) {
	c := zktest.StartCluster(t, 3, zktest.ClusterOptions{Extra: "maxClientCnxns=60"})
	c.Leader()
	cfg := zktest.BenchConfig(c.ConnectString())
	cfg.MaxConns = bench.DefaultMaxConns
	cfg.Watchers = 0 // the default 500, fitted
	res, err := bench.RunWorkload(context.Background(), cfg, "watch-500")
	if err != nil {
		t.Fatalf("watch-500 with default shapes over three servers: %v", err)
	}
	// 57 watchers a server and the setter: each server keeps room for the run's two
	// connections and the setter.
	if res.Clients != 3*(60-3)+1 || len(res.Notes) == 0 || !strings.Contains(res.Notes[0], "-max-conns 60") {
		t.Fatalf("%d sessions, notes %q; want %d and a note naming -max-conns", res.Clients, res.Notes, 3*(60-3)+1)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("%q", res.Problems)
	}
}

func TestBenchOpenLoopKeepsCountsAndRate(t *testing.T) {
	addr := startBenchZkd(t).ConnectString()
	cfg := zktest.BenchConfig(addr)
	cfg.Rate = 2000
	cfg.Duration = 500 * time.Millisecond
	w, _ := bench.LookupWorkload("getdata-sync")
	res, err := bench.RunWorkload(context.Background(), cfg, w.Name)
	if err != nil {
		t.Fatal(err)
	}
	zktest.CheckBenchResult(t, cfg, w, res)
	if res.Mode != "open" || res.Rate != 2000 {
		t.Fatalf("mode %s rate %v", res.Mode, res.Rate)
	}
	// 2000/s for 0.5 s schedules 1000 requests; a few may fall past the deadline.
	if n := res.Requests(); n < 900 || n > 1000 {
		t.Fatalf("%d requests issued, want about 1000", n)
	}
}
