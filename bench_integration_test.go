package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/bench"
	"zkd/internal/zktest"
	"zkd/zoocfg"
)

// startBenchZkd starts an in-process zkd for the load generator and returns its
// address.
func startBenchZkd(t *testing.T) string {
	t.Helper()
	return zktest.StartServer(t, func(c *zoocfg.Config) {
		c.TickTime = 100 * time.Millisecond
		c.MaxSessionTimeout = 30 * time.Second
		c.PreAllocSize = 4 << 20
	}).ConnectString()
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
