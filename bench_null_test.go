package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"zkd/bench"
	"zkd/internal/zktest"
	"zkd/netloop"
)

// startBenchNull starts the null server in-process on 127.0.0.1:0, as
// `zkd bench null-server` does.
func startBenchNull(t *testing.T) string {
	t.Helper()
	cfg := netloop.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.EventLoops = 2
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := startNullServer(cfg)
	if err != nil {
		t.Fatalf("null server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return srv.Addr().String()
}

// Every workload the null server can answer runs against it with the usual
// accounting: every request answered, none with an error.
func TestBenchNullServerAnswersItsWorkloads(t *testing.T) {
	addr := startBenchNull(t)
	cfg := zktest.BenchConfig(addr)
	cfg.Label = bench.NullServerLabel
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
	zcfg := zktest.BenchConfig(startBenchZkd(t))
	zcfg.Duration = 300 * time.Millisecond
	ncfg := zcfg
	ncfg.Addr, ncfg.Label = startBenchNull(t), bench.NullServerLabel
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

func TestBenchNullServerCommandFlags(t *testing.T) {
	if code := benchNullServer([]string{"-h"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("-h exited %d", code)
	}
	if code := benchNullServer([]string{"-no-such-flag"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("a bad flag exited %d, want 2", code)
	}
	if code := benchNullServer([]string{"-addr", "not an address"}, io.Discard, io.Discard); code != 1 {
		t.Fatalf("a bad address exited %d, want 1", code)
	}
}
