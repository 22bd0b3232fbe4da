package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/bench"
	"zkd/internal/testutil"
	"zkd/internal/zktest"
)

// zkdBench runs `zkd bench args...` and returns its exit code and standard output.
func zkdBench(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.BuildZkd(t), append([]string{"bench"}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code <= 0 {
		t.Fatalf("zkd bench %q: %v\n%s", args, err, errOut.String())
	}
	if code != 0 {
		t.Logf("zkd bench %q exited %d; stderr:\n%s", args, code, errOut.String())
	}
	return code, out.String()
}

// A bench run writes the text summary, the JSON results and the HTML report; an
// unknown workload and -count 0 fail.
func TestBenchCommandWritesReports(t *testing.T) {
	addr := zktest.StartProcess(t, zktest.ProcessOptions{}).ConnectString()
	dir := t.TempDir()
	jsonPath, htmlPath, svgPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html"), filepath.Join(dir, "r.svg")
	args := []string{"-addr", addr, "-duration", "300ms", "-count", "500", "-keys", "100", "-latency-ops", "20",
		"-server-pid", "0", "-json", jsonPath, "-report", htmlPath, "latency,exists-pipe"}
	code, out := zkdBench(t, args...)
	if code != 0 {
		t.Fatalf("zkd bench exited %d:\n%s", code, out)
	}
	for _, want := range []string{"fdatasync every group commit", "== latency on server", "== exists-pipe on server", "p99.9"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
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
	if code, _ := zkdBench(t, append(args[:len(args)-5:len(args)-5], "-report", svgPath, "nosuchworkload")...); code == 0 {
		t.Fatal("an unknown workload did not fail")
	}
	if code, _ := zkdBench(t, "-count", "0", "latency"); code == 0 {
		t.Fatal("-count 0 did not fail")
	}
}

// startNullServer runs `zkd bench null-server` on a free loopback port and waits
// until it answers ruok; it stops in Cleanup.
func startNullServer(t *testing.T) (addr string, pid int) {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "null-server.log")
	addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := testutil.StartProcess(t, dir, logPath, testutil.BuildZkd(t), "bench", "null-server", "-addr", addr, "-event-loops", "2")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("null server log:\n%s", testutil.TailFile(logPath, 30))
		}
	})
	zktest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		select {
		case <-p.Exited():
			t.Fatalf("the null server exited: %v", p.Cmd.ProcessState)
		default:
		}
		if got, err := zktest.FourLetterWord(addr, "ruok"); err != nil || got != "imok" {
			return fmt.Errorf("ruok: %q %v", got, err)
		}
		return nil
	})
	return addr, p.Cmd.Process.Pid
}

// Every workload the null server can answer runs against it with the usual
// accounting: every request answered, none with an error.
func TestBenchNullServerAnswersItsWorkloads(t *testing.T) {
	addr, pid := startNullServer(t)
	cfg := zktest.BenchConfig(addr)
	cfg.Label = bench.NullServerLabel
	cfg.ServerPID = pid
	cfg.Duration = 300 * time.Millisecond
	ran := 0
	for _, w := range bench.Workloads() {
		if !bench.NullWorkload(w.Name) {
			continue
		}
		ran++
		t.Run(w.Name, func(t *testing.T) {
			res, err := bench.RunWorkload(context.Background(), cfg, w.Name)
			if err != nil {
				t.Fatal(err)
			}
			zktest.CheckBenchResult(t, cfg, w, res)
		})
	}
	if ran == 0 {
		t.Fatal("no workload is marked as answerable by the null server")
	}
}

// The limits of a comparison, without ZooKeeper: zkd and the null server run a
// write workload, DiskLimit mirrors its batching, and zkd's requests/s come out as
// fractions of both limits.
func TestBenchNullAndDiskLimitsGiveFractions(t *testing.T) {
	ctx := context.Background()
	const wl = "create-c32"
	zkd := zktest.StartProcess(t, zktest.ProcessOptions{})
	zcfg := zktest.BenchConfig(zkd.ConnectString())
	zcfg.ServerPID = zkd.PID()
	zcfg.Duration = 300 * time.Millisecond
	ncfg := zcfg
	ncfg.Addr, ncfg.ServerPID = startNullServer(t)
	ncfg.Label = bench.NullServerLabel
	w, _ := bench.LookupWorkload(wl)
	var runs []*bench.Result
	for _, cfg := range []bench.Config{zcfg, ncfg} {
		res, err := bench.RunWorkload(ctx, cfg, wl)
		if err != nil {
			t.Fatalf("%s on %s: %v", wl, cfg.Label, err)
		}
		zktest.CheckBenchResult(t, cfg, w, res)
		runs = append(runs, res)
	}
	batch, entry, ok := bench.DiskShape(zcfg, wl)
	if !ok || batch != 32 {
		t.Fatalf("DiskShape(%s) = %d, %d, %v", wl, batch, entry, ok)
	}
	disk, err := bench.DiskLimit(ctx, t.TempDir(), entry, batch, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if disk.Fsyncs == 0 || disk.Entries != disk.Fsyncs*int64(batch) {
		t.Fatalf("disk: %d entries in %d fdatasyncs of %d", disk.Entries, disk.Fsyncs, batch)
	}
	disk.Workload = wl
	rows := bench.SummarizeLimits(runs, []*bench.LimitResult{disk}, []string{"zkd"})
	var limits []string
	for _, r := range rows {
		limits = append(limits, r.Limit)
		if strings.HasSuffix(r.Limit, "requests/s") || r.Limit == "disk entries/s" {
			if f, ok := r.Fractions["zkd"]; !ok || !(f > 0) {
				t.Fatalf("%s: zkd fraction %v (%v)", r.Limit, f, ok)
			}
		}
	}
	if strings.Join(limits, ",") != bench.NullServerLabel+" requests/s,disk entries/s,disk fdatasyncs/s" {
		t.Fatalf("limit rows %q", limits)
	}
}
