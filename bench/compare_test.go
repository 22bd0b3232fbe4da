package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// One command runs table workloads and the 1M group (scaled down) on Apache
// ZooKeeper and zkd alternately, with both limits, and summarises them: every
// workload has its runs on both servers in every repetition, the same window on
// both, ratios with their spread, and the limits.
func TestCompareRunsTableAndMillionSideBySide(t *testing.T) {
	if _, err := os.Stat(zkJar); err != nil {
		testutil.Missing(t, "Apache ZooKeeper 3.8 ("+zkJar+")")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		testutil.Missing(t, "java")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cc := DefaultCompareConfig()
	cc.Zkd, cc.Java, cc.ZKHeap, cc.TickTime = testutil.BuildZkd(t), java, "256m", 500*time.Millisecond
	cc.Bench.Warmup, cc.Bench.Duration = 100*time.Millisecond, 250*time.Millisecond
	cc.Bench.TreeZnodes, cc.Bench.Znodes, cc.Bench.PreloadClients = 300, 600, 2
	var out bytes.Buffer
	cc.Bench.Out = &out
	names := []string{"getdata-16x1", "setdata-32x8", GroupMillion}
	rep, err := Compare(ctx, cc, names)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := map[string]int{} // runs per workload and server
	for _, r := range rep.Runs {
		if len(r.Problems) > 0 {
			t.Fatalf("%s on %s: %q", r.Workload, r.Server, r.Problems)
		}
		if w, _ := LookupWorkload(r.Workload); w.Loop && r.ElapsedSec != cc.Bench.Duration.Seconds() {
			t.Fatalf("%s on %s: window %vs", r.Workload, r.Server, r.ElapsedSec)
		}
		want[r.Workload+" "+r.Server]++
	}
	for _, wl := range []string{"getdata-16x1", "setdata-32x8", "preload-1m", "mem-1m", "restart-1m"} {
		for _, s := range []string{LabelZooKeeper, LabelZkd} {
			if want[wl+" "+s] != cc.Reps {
				t.Fatalf("%s on %s: %d runs, want %d", wl, s, want[wl+" "+s], cc.Reps)
			}
		}
	}
	if want["getdata-16x1 "+NullServerLabel] != cc.Reps || len(rep.Disk) != cc.Reps {
		t.Fatalf("limits: %d null-server runs, %d disk runs", want["getdata-16x1 "+NullServerLabel], len(rep.Disk))
	}
	heads := Headlines(rep.Summary)
	figs := map[string]SummaryRow{}
	for _, h := range heads {
		figs[h.Workload+" "+h.Metric] = h
	}
	for _, k := range []string{"getdata-16x1 requests/s", "setdata-32x8 requests/s", "preload-1m preload_s", "preload-1m disk_mb",
		"mem-1m rss_loaded_mb", "mem-1m rss_restarted_mb", "restart-1m restart_s"} {
		row, ok := figs[k]
		if !ok {
			t.Fatalf("no headline %q in %+v", k, heads)
		}
		if !(row.Ratio > 0) || row.RatioSpread.N != cc.Reps || !(row.RatioSpread.Min <= row.Ratio && row.Ratio <= row.RatioSpread.Max) {
			t.Fatalf("%s: ratio %v spread %+v", k, row.Ratio, row.RatioSpread)
		}
	}
	var limits []string
	for _, l := range rep.Limits {
		limits = append(limits, l.Workload+" "+l.Limit)
	}
	if !contains(limits, "getdata-16x1 "+NullServerLabel+" requests/s") || !contains(limits, "setdata-32x8 disk entries/s") {
		t.Fatalf("limit rows %q", limits)
	}
	if !strings.Contains(out.String(), "[rep 3/3] preload-1m,mem-1m,restart-1m on a fresh zkd") {
		t.Fatalf("output:\n%s", out.String())
	}
}
