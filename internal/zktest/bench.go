package zktest

import (
	"os"
	"testing"
	"time"

	"zkd/bench"
	"zkd/jute"
)

// BenchConfig bounds a load-generator run to well under a second, by time (no
// request cap, so every loop run measures its whole window), with small shapes;
// the server is this process (in-process: /proc/self stands in for it) until the
// caller sets ServerPID.
func BenchConfig(addr string) bench.Config {
	cfg := bench.DefaultConfig()
	cfg.Addr = addr
	cfg.Label = "zkd"
	cfg.ServerPID = os.Getpid()
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
	cfg.MaxConns = 0 // test servers have no per-IP limit
	cfg.TreeZnodes = 500
	cfg.Znodes = 1500
	cfg.PreloadClients = 3
	cfg.Watchers = 20
	cfg.StormWorkers = 4
	cfg.OpenRate = 2000
	return cfg
}

// CheckBenchResult asserts the accounting every load-generator run must satisfy:
// no problems, every request answered or counted as an error, one latency per
// reply, the server's figures present, the whole window measured.
func CheckBenchResult(t testing.TB, cfg bench.Config, w bench.Workload, res *bench.Result) {
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
