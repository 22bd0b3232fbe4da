package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// fakeResult builds a plausible run with seeded latencies around base ns.
func fakeResult(server, workload string, rep int, base float64, seed uint64) *Result {
	rng := rand.New(rand.NewPCG(seed, 7))
	get := &OpStats{Name: "getData", Issued: 1000, OK: 990, Errors: map[string]int64{"NoNode": 10}, Latency: &Histogram{}}
	for range 990 {
		get.Latency.Record(int64(base * (1 + rng.ExpFloat64())))
	}
	watch := &OpStats{Name: "watch", Event: true, OK: 50, Latency: &Histogram{}}
	for range 50 {
		watch.Latency.Record(int64(base * 3 * (1 + rng.Float64())))
	}
	return &Result{
		Workload: workload, Server: server, Rep: rep, Mode: "closed", Clients: 4, InFlight: 2,
		ElapsedSec: 2, Ops: []*OpStats{get, watch},
		TimelineMs: 100, Timeline: []int64{40, 50, 55, 45, 50, 60, 50, 50, 40, 30, 50, 50, 55, 45, 50, 60, 50, 50, 40, 30},
		Metrics:      map[string]float64{"storm_cleanup_s": base / 1e5, "sessions": 4},
		ServerCPUSec: 0.5, ServerRSSBytes: 64 << 20, ServerPeakRSSBytes: 70 << 20, GenCPUSec: 0.25,
	}
}

func fakeReport() *Report {
	rep := NewReport()
	rep.Command = `zkd bench compare -x "<&>"`
	rep.Servers = []string{"zookeeper", "zkd <&>"}
	rep.Notes = append(rep.Notes, `quotes " and <tags> & ampersands`)
	for r := 1; r <= 3; r++ {
		rep.Runs = append(rep.Runs,
			fakeResult("zookeeper", "kafka", r, 400e3, uint64(r)),
			fakeResult("zkd <&>", "kafka", r, 100e3, uint64(r+10)),
			fakeResult("zookeeper", "latency", r, 200e3, uint64(r+20)),
			fakeResult("zkd <&>", "latency", r, 50e3, uint64(r+30)))
	}
	rep.Summary = Summarize(rep.Runs, rep.Servers)
	return rep
}

func TestReportJSONRoundTrip(t *testing.T) {
	rep := fakeReport()
	rep.Summary = append(rep.Summary, SummaryRow{Workload: "x", Metric: "y", Ratio: math.NaN(),
		Values: map[string]Spread{"zkd <&>": spreadOf(nil)}})
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
	if len(back.Runs) != len(rep.Runs) {
		t.Fatalf("%d runs read back, want %d", len(back.Runs), len(rep.Runs))
	}
	for i, r := range back.Runs {
		orig := rep.Runs[i]
		for j, o := range r.Ops {
			oo := orig.Ops[j]
			if o.Latency.Count() != oo.Latency.Count() || o.Latency.Quantile(0.99) != oo.Latency.Quantile(0.99) {
				t.Fatalf("run %d op %s: histogram changed", i, o.Name)
			}
		}
		if r.Throughput() != orig.Throughput() || r.ServerCPUPer1k() != orig.ServerCPUPer1k() {
			t.Fatalf("run %d: derived figures changed", i)
		}
	}
	if last := back.Summary[len(back.Summary)-1]; !math.IsNaN(last.Ratio) || !math.IsNaN(last.Values["zkd <&>"].Median) {
		t.Fatalf("NaN ratio/median did not survive: %+v", last)
	}
}

// wellFormed parses b as XML to the end and returns the root element's name.
func wellFormed(t *testing.T, b []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	root := ""
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if root != "" {
					t.Fatalf("second root element <%s>", e.Name.Local)
				}
				root = e.Name.Local
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced elements, depth %d at EOF", depth)
	}
	return root
}

func TestReportSVGIsWellFormed(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  *Report
	}{
		{"compare", fakeReport()},
		{"empty", NewReport()},
		{"one run without timeline", &Report{Servers: []string{"s"}, Runs: []*Result{{Workload: "w", Server: "s",
			Ops: []*OpStats{{Name: "op", Latency: &Histogram{}}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			WriteSVG(&b, tc.rep)
			if root := wellFormed(t, b.Bytes()); root != "svg" {
				t.Fatalf("root element %q, want svg", root)
			}
			if tc.name == "compare" {
				s := b.String()
				for _, want := range []string{"<polyline", serverColour(tc.rep, "zookeeper"), serverColour(tc.rep, "zkd <&>"), "kafka", "latency", "zkd &lt;&amp;&gt;"} {
					if !strings.Contains(s, want) {
						t.Fatalf("SVG lacks %q", want)
					}
				}
			}
			var h bytes.Buffer
			WriteHTML(&h, tc.rep)
			if root := wellFormed(t, h.Bytes()); root != "html" {
				t.Fatalf("HTML root element %q, want html", root)
			}
		})
	}
}

func TestSummarizeMediansAndRatios(t *testing.T) {
	mk := func(server string, rps float64) *Result {
		return &Result{Workload: "w", Server: server, Mode: "closed", ElapsedSec: 1,
			Ops:          []*OpStats{{Name: "op", Issued: int64(rps), OK: int64(rps), Latency: &Histogram{}}},
			ServerCPUSec: -1, ServerRSSBytes: -1}
	}
	runs := []*Result{mk("a", 100), mk("b", 300), mk("a", 120), mk("b", 200), mk("a", 90), mk("b", 900)}
	rows := Summarize(runs, []string{"a", "b"})
	var row *SummaryRow
	for i := range rows {
		if rows[i].Metric == "requests/s" {
			row = &rows[i]
		}
	}
	if row == nil {
		t.Fatalf("no requests/s row in %+v", rows)
	}
	a, b := row.Values["a"], row.Values["b"]
	if a.Median != 100 || a.Min != 90 || a.Max != 120 || a.N != 3 {
		t.Fatalf("a = %+v", a)
	}
	if b.Median != 300 || b.Min != 200 || b.Max != 900 {
		t.Fatalf("b = %+v", b)
	}
	if row.Ratio != 3 || row.Better != "higher" {
		t.Fatalf("ratio %v better %q, want 3 higher", row.Ratio, row.Better)
	}
	var out bytes.Buffer
	WriteSummaryText(&out, rows, []string{"a", "b"})
	if !strings.Contains(out.String(), "100 [90-120]") || !strings.Contains(out.String(), "3.00") {
		t.Fatalf("summary table:\n%s", out.String())
	}
}

func TestResultTextShowsErrorsAndProblems(t *testing.T) {
	r := fakeResult("zkd", "kafka", 1, 1e5, 1)
	r.Problems = []string{"getData: issued 5 but 4 answered"}
	var b bytes.Buffer
	WriteResultText(&b, r)
	for _, want := range []string{"kafka on zkd", "NoNode:10", "watch (event)", "PROBLEM: getData", "storm_cleanup_s="} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestTagPacking(t *testing.T) {
	for _, tc := range []struct {
		intended int64
		kind     int
		measured bool
	}{{0, 0, false}, {0, 5, true}, {1 << 50, 127, true}, {123456789, 3, false}} {
		i, k, m := unpackTag(packTag(tc.intended, tc.kind, tc.measured))
		if i != tc.intended || k != tc.kind || m != tc.measured {
			t.Fatalf("pack/unpack %+v gave %d %d %v", tc, i, k, m)
		}
	}
}
