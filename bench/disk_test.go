package bench

import (
	"context"
	"math"
	"os"
	"testing"
	"time"
)

func TestDiskLimitCountsAddUp(t *testing.T) {
	dir := t.TempDir()
	const entry, batch = 144, 32
	res, err := DiskLimit(context.Background(), dir, entry, batch, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != "disk" || res.EntrySize != entry || res.Batch != batch {
		t.Fatalf("shape %+v", res)
	}
	if res.Fsyncs == 0 || res.Entries != res.Fsyncs*batch {
		t.Fatalf("%d entries in %d fdatasyncs of %d", res.Entries, res.Fsyncs, batch)
	}
	if res.SyncLatency.Count() != uint64(res.Fsyncs) {
		t.Fatalf("%d latencies for %d fdatasyncs", res.SyncLatency.Count(), res.Fsyncs)
	}
	if res.ElapsedSec <= 0 || res.EntriesPerSec() <= 0 || math.Abs(res.FsyncsPerSec()*batch/res.EntriesPerSec()-1) > 1e-9 {
		t.Fatalf("rates: %v entries/s, %v fdatasyncs/s over %vs", res.EntriesPerSec(), res.FsyncsPerSec(), res.ElapsedSec)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left behind %v", left)
	}
}

func TestDiskLimitStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := DiskLimit(ctx, t.TempDir(), 100, 4, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fsyncs != 0 || res.Entries != 0 {
		t.Fatalf("a cancelled run synced %d batches", res.Fsyncs)
	}
}

func TestDiskLimitRejectsBadShapes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ entry, batch int }{{0, 1}, {1, 0}, {-1, 5}} {
		if _, err := DiskLimit(ctx, t.TempDir(), tc.entry, tc.batch, time.Millisecond); err == nil {
			t.Errorf("entry %d batch %d: no error", tc.entry, tc.batch)
		}
	}
	if _, err := DiskLimit(ctx, "/nonexistent/dir", 10, 1, time.Millisecond); err == nil {
		t.Error("a missing directory gave no error")
	}
}

func TestDiskShapeFollowsTheWriteWorkloads(t *testing.T) {
	cfg := DefaultConfig()
	f := func(name string, wantBatch, wantEntry int, wantOK bool) {
		t.Helper()
		batch, entry, ok := DiskShape(cfg, name)
		if batch != wantBatch || entry != wantEntry || ok != wantOK {
			t.Errorf("%s: batch %d entry %d ok %v, want %d %d %v", name, batch, entry, ok, wantBatch, wantEntry, wantOK)
		}
	}
	f("create-c32", 32, 32+pathEstimate+txnFraming, true)
	f("create-c256", 256, 32+pathEstimate+txnFraming, true)
	f("setdata-c32", 32, 1024+pathEstimate+txnFraming, true)
	f("setdata-c256", 256, 1024+pathEstimate+txnFraming, true)
	f("getdata-pipe", 0, 0, false)
	f("latency", 0, 0, false)
	f("nosuch", 0, 0, false)
	cfg.Clients = 8
	f("setdata-c256", 8, 1024+pathEstimate+txnFraming, true)
}

// The null server runs what needs no state beyond getData's watches (NullWatches).
func TestNullWorkloadsAreTheStatelessOnes(t *testing.T) {
	for _, w := range Workloads() {
		want := true
		switch w.Name {
		case "kafka", "multi100", "multi1000", "fanout", "storm", "lock", "getdata-open", "preload-1m", "mem-1m", "restart-1m", "failover":
			want = false
		}
		if NullWorkload(w.Name) != want {
			t.Errorf("%s: NullWorkload %v, want %v", w.Name, !want, want)
		}
	}
}
