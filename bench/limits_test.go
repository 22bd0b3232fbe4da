package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// fakeLimitsReport is fakeReport with null-server runs of both workloads and disk
// runs of kafka, as Compare makes them.
func fakeLimitsReport() *Report {
	rep := fakeReport()
	for r := 1; r <= 3; r++ {
		rep.Runs = append(rep.Runs,
			fakeResult(NullServerLabel, "kafka", r, 20e3, uint64(r+40)),
			fakeResult(NullServerLabel, "latency", r, 10e3, uint64(r+50)))
		lat := &Histogram{}
		for i := range 100 {
			lat.Record(int64(50_000 + 1000*i))
		}
		rep.Disk = append(rep.Disk, &LimitResult{Kind: "disk", Workload: "kafka", Rep: r, Filesystem: "ext4",
			EntrySize: 144, Batch: 4, Entries: int64(4000 * r), Fsyncs: int64(1000 * r), ElapsedSec: 1, SyncLatency: lat})
	}
	rep.Summary = Summarize(rep.Runs, rep.Servers)
	rep.Limits = SummarizeLimits(rep.Runs, rep.Disk, rep.Servers)
	return rep
}

func TestLimitsSummaryFractions(t *testing.T) {
	mk := func(server, wl string, rps float64) *Result {
		return &Result{Workload: wl, Server: server, Mode: "closed", ElapsedSec: 1,
			Ops:          []*OpStats{{Name: "op", Issued: int64(rps), OK: int64(rps), Latency: &Histogram{}}},
			ServerCPUSec: -1, ServerRSSBytes: -1}
	}
	runs := []*Result{
		mk("a", "w", 100), mk("b", "w", 300), mk(NullServerLabel, "w", 1000),
		mk("a", "w", 120), mk("b", "w", 200), mk(NullServerLabel, "w", 1200),
		mk("a", "w", 90), mk("b", "w", 900), mk(NullServerLabel, "w", 800),
		mk("a", "r", 10), mk("b", "r", 20), // no limit for r
	}
	disk := []*LimitResult{
		{Kind: "disk", Workload: "w", Batch: 2, EntrySize: 100, Entries: 600, Fsyncs: 300, ElapsedSec: 1},
		{Kind: "disk", Workload: "w", Batch: 2, EntrySize: 100, Entries: 800, Fsyncs: 400, ElapsedSec: 2},
		{Kind: "disk", Workload: "w", Batch: 2, EntrySize: 100, Entries: 1200, Fsyncs: 600, ElapsedSec: 1},
	}
	servers := []string{"a", "b"}
	// The null server is a limit, not a compared server.
	for _, row := range Summarize(runs, servers) {
		if _, ok := row.Values[NullServerLabel]; ok {
			t.Fatalf("summary row %s/%s has a null-server value", row.Workload, row.Metric)
		}
	}
	rows := SummarizeLimits(runs, disk, servers)
	if len(rows) != 3 {
		t.Fatalf("%d limit rows, want null, disk entries, disk fdatasyncs: %+v", len(rows), rows)
	}
	null, entries, syncs := rows[0], rows[1], rows[2]
	if null.Limit != NullServerLabel+" requests/s" || null.Value.Median != 1000 || null.Value.Min != 800 || null.Value.Max != 1200 {
		t.Fatalf("null row %+v", null)
	}
	if null.Fractions["a"] != 0.1 || null.Fractions["b"] != 0.3 {
		t.Fatalf("null fractions %v, want a 0.1 b 0.3", null.Fractions)
	}
	if entries.Limit != "disk entries/s" || entries.Value.Median != 600 || !strings.Contains(entries.Detail, "batch 2 x 100 B") {
		t.Fatalf("disk row %+v", entries)
	}
	if entries.Fractions["b"] != 0.5 {
		t.Fatalf("disk fractions %v, want b 0.5", entries.Fractions)
	}
	if syncs.Limit != "disk fdatasyncs/s" || syncs.Value.Median != 300 || syncs.Fractions != nil {
		t.Fatalf("fdatasync row %+v", syncs)
	}
	var out bytes.Buffer
	WriteLimitsText(&out, rows, servers)
	for _, want := range []string{"a/limit", "b/limit", "null-server requests/s", "1000 [800-1200]", "0.30", "disk entries/s", "0.50"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("limits table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLimitsSurviveJSONAndReachTheReports(t *testing.T) {
	rep := fakeLimitsReport()
	if len(rep.Limits) != 4 { // null for both workloads, disk entries and fdatasyncs for kafka
		t.Fatalf("%d limit rows: %+v", len(rep.Limits), rep.Limits)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := WriteJSONFile(path, rep); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Fatalf("JSON changed in a round trip:\n%s\n%s", a, b)
	}
	if len(back.Disk) != 3 || back.Disk[2].SyncLatency.Count() != 100 {
		t.Fatalf("disk runs read back: %+v", back.Disk)
	}
	again := SummarizeLimits(back.Runs, back.Disk, back.Servers)
	for i, r := range again {
		if r.Value != rep.Limits[i].Value || math.Abs(r.Fractions["zookeeper"]-rep.Limits[i].Fractions["zookeeper"]) > 1e-12 {
			t.Fatalf("re-summarised limit %d differs: %+v vs %+v", i, r, rep.Limits[i])
		}
	}

	var svg bytes.Buffer
	WriteSVG(&svg, rep)
	if root := wellFormed(t, svg.Bytes()); root != "svg" {
		t.Fatalf("root %q", root)
	}
	for _, want := range []string{serverColour(rep, NullServerLabel), "limits: null-server requests/s", "disk entries/s", ">" + NullServerLabel + "<"} {
		if !strings.Contains(svg.String(), want) {
			t.Fatalf("SVG lacks %q", want)
		}
	}
	var html bytes.Buffer
	WriteHTML(&html, rep)
	if root := wellFormed(t, html.Bytes()); root != "html" {
		t.Fatalf("root %q", root)
	}
	for _, want := range []string{"Limits in the same run", "zkd &lt;&amp;&gt; / limit", "Disk limit runs", "kafka on null-server (rep 1)",
		"null-server requests/s 500 (zookeeper"} {
		if !strings.Contains(html.String(), want) {
			t.Fatalf("HTML lacks %q", want)
		}
	}
}

// The null server's limit for a workload whose headline is a latency (watch-500's
// all-delivered p50) is that latency, and a server's fraction of it is the
// limit's time over the server's: 1 at the limit, smaller the slower it is.
func TestLimitOfALatencyHeadline(t *testing.T) {
	mk := func(server string, rep int, ms float64) *Result {
		all := &OpStats{Name: "all-delivered", Event: true, OK: 200, Latency: &Histogram{}}
		for range 200 {
			all.Latency.Record(int64(ms * 1e6))
		}
		return &Result{Workload: "watch-500", Server: server, Rep: rep, Mode: "scenario", ElapsedSec: 1,
			Ops: []*OpStats{all}, ServerCPUSec: -1, ServerRSSBytes: -1}
	}
	var runs []*Result
	for rep, ms := range []float64{10, 8, 12} {
		runs = append(runs, mk("a", rep, 2*ms), mk("b", rep, 4*ms), mk(NullServerLabel, rep, ms))
	}
	rows := SummarizeLimits(runs, nil, []string{"a", "b"})
	if len(rows) != 1 || rows[0].Limit != NullServerLabel+" all-delivered p50" {
		t.Fatalf("limit rows %+v", rows)
	}
	r := rows[0]
	if math.Abs(r.Value.Median-10)/10 > 0.02 || math.Abs(r.Fractions["a"]-0.5) > 0.02 || math.Abs(r.Fractions["b"]-0.25) > 0.02 {
		t.Fatalf("limit %+v, fractions %v: want 10 ms, a 0.5, b 0.25", r.Value, r.Fractions)
	}
}
