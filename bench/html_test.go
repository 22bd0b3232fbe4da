package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// node is a parsed element of a well-formed HTML report.
type node struct {
	name     string
	attrs    map[string]string
	children []*node
	text     strings.Builder
}

func parseDoc(t *testing.T, b []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	root := &node{name: "#document"}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		top := stack[len(stack)-1]
		switch e := tok.(type) {
		case xml.StartElement:
			n := &node{name: e.Name.Local, attrs: map[string]string{}}
			for _, a := range e.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, n := range stack {
				n.text.Write(e)
			}
		}
	}
	return root
}

// all returns every element below n (depth first) that match accepts.
func (n *node) all(match func(*node) bool) []*node {
	var out []*node
	for _, c := range n.children {
		if match(c) {
			out = append(out, c)
		}
		out = append(out, c.all(match)...)
	}
	return out
}

func named(name string) func(*node) bool { return func(n *node) bool { return n.name == name } }

func TestHTMLReportStructure(t *testing.T) {
	rep := fakeLimitsReport()
	rep.Runs[0].Notes = []string{"58 sessions instead of the default 64"}
	var clean bytes.Buffer
	WriteHTML(&clean, rep)
	doc := parseDoc(t, clean.Bytes())

	sections := doc.all(named("section"))
	if len(sections) == 0 || sections[0].attrs["id"] != "summary" {
		t.Fatalf("the first section is not the summary: %v", sections)
	}
	summary := sections[0]
	tables := summary.all(named("table"))
	if len(tables) != 1 || len(tables[0].all(named("th"))) < 5 || len(tables[0].all(named("tr"))) < 3 {
		t.Fatal("the summary has no real table with a header and rows")
	}
	st := summary.text.String()
	for _, want := range []string{"kafka", "requests/s", "zkd <&> / zookeeper", "[", "null-server requests/s 500 (zookeeper"} {
		if !strings.Contains(st, want) {
			t.Fatalf("summary lacks %q: %s", want, st)
		}
	}
	if pre := doc.all(named("pre")); len(pre) != 0 {
		t.Fatalf("%d <pre> blocks: tables must be tables", len(pre))
	}
	if n := len(doc.all(named("table"))); n < 3+len(rep.Runs) {
		t.Fatalf("%d tables for %d runs", n, len(rep.Runs))
	}
	notes := doc.all(func(n *node) bool { return n.attrs["class"] == "note" })
	if len(notes) < len(rep.Notes)+1 {
		t.Fatalf("%d notes, want the report's %d and the run's", len(notes), len(rep.Notes))
	}
	if p := doc.all(func(n *node) bool { return strings.Contains(n.attrs["class"], "problem") }); len(p) != 0 {
		t.Fatalf("a clean report shows %d problems", len(p))
	}
	if strings.Contains(htmlStyle, ".note{color:#a") || !strings.Contains(htmlStyle, "li.problem") {
		t.Fatal("notes must not look like errors; problems must")
	}

	rep.Runs[1].Problems = []string{"getData: issued 5 but 4 answered"}
	var broken bytes.Buffer
	WriteHTML(&broken, rep)
	doc = parseDoc(t, broken.Bytes())
	probs := doc.all(func(n *node) bool { return n.attrs["class"] == "problem" })
	if len(probs) != 2 { // the problems section and the run's own list
		t.Fatalf("%d problem entries, want 2", len(probs))
	}
	if s := doc.all(func(n *node) bool { return n.name == "section" && n.attrs["id"] == "problems" }); len(s) != 1 {
		t.Fatal("no problems section")
	}
}

// Every op of a server has its own colour, near the server's hue; no two servers
// share a colour.
func TestOpColoursDistinctWithinAServer(t *testing.T) {
	rep := &Report{Servers: []string{"zookeeper", "zkd"}, Runs: []*Result{{Server: NullServerLabel}}}
	seen := map[string]string{}
	for _, s := range []string{"zookeeper", "zkd", NullServerLabel} {
		for op := range 12 {
			c := opColour(rep, s, op)
			if len(c) != 7 || c[0] != '#' {
				t.Fatalf("%s op %d: colour %q", s, op, c)
			}
			if other, dup := seen[c]; dup {
				t.Fatalf("%s op %d has the colour %s of %s", s, op, c, other)
			}
			seen[c] = s
		}
	}
	if c := opColour(rep, "zookeeper", 0); c[5:] <= c[1:3] { // blue: more blue than red
		t.Fatalf("zookeeper's first colour %s is not blue", c)
	}
	for _, tc := range []struct {
		h, s, l float64
		want    string
	}{{0, 100, 50, "#ff0000"}, {120, 100, 50, "#00ff00"}, {240, 100, 50, "#0000ff"}, {0, 0, 50, "#808080"}} {
		if got := hslHex(tc.h, tc.s, tc.l); got != tc.want {
			t.Errorf("hsl(%v,%v,%v) = %s, want %s", tc.h, tc.s, tc.l, got, tc.want)
		}
	}
	// In the chart, each (server, op) line carries its own colour.
	var svg bytes.Buffer
	WriteSVG(&svg, fakeReport())
	doc := parseDoc(t, svg.Bytes())
	strokes := map[string]string{}
	for _, pl := range doc.all(named("polyline")) {
		title := pl.text.String()
		if !strings.Contains(title, " ") || strings.HasSuffix(title, ">") {
			continue
		}
		if prev, ok := strokes[title]; ok && prev != pl.attrs["stroke"] {
			continue // the same line in another workload's panel
		}
		strokes[title] = pl.attrs["stroke"]
	}
	if strokes["zookeeper getData"] == strokes["zookeeper watch"] || strokes["zkd <&> getData"] == strokes["zkd <&> watch"] {
		t.Fatalf("two ops of one server share a colour: %v", strokes)
	}
}

func TestRatioSpreadPairsRepetitions(t *testing.T) {
	mk := func(server string, rep int, rps float64) *Result {
		return &Result{Workload: "getdata-64x16", Server: server, Rep: rep, Mode: "closed", ElapsedSec: 1,
			Ops:          []*OpStats{{Name: "getData", Issued: int64(rps), OK: int64(rps), Latency: &Histogram{}}},
			ServerCPUSec: -1, ServerRSSBytes: -1}
	}
	runs := []*Result{mk("a", 1, 100), mk("b", 1, 300), mk("a", 2, 200), mk("b", 2, 200), mk("a", 3, 100), mk("b", 3, 500)}
	rows := Summarize(runs, []string{"a", "b"})
	row := rows[0]
	if row.Metric != "requests/s" {
		t.Fatalf("first row %q", row.Metric)
	}
	// Per repetition: 3, 1, 5 -> median 3 [1-5]; medians 100 and 300 -> 3.
	if rs := row.RatioSpread; rs.Median != 3 || rs.Min != 1 || rs.Max != 5 || rs.N != 3 || row.Ratio != 3 {
		t.Fatalf("ratio %v spread %+v", row.Ratio, rs)
	}
	if got := ratioText(row); got != "3.00 [1.00-5.00]" {
		t.Fatalf("ratio text %q", got)
	}
	// Repetitions that do not pair: the extremes of the two ranges.
	rs := ratioSpread([]float64{100, 200}, []int{1, 1}, []float64{300, 400}, []int{1, 2})
	if math.Abs(rs.Median-350.0/150) > 1e-9 || rs.Min != 1.5 || rs.Max != 4 {
		t.Fatalf("unpaired spread %+v", rs)
	}
	heads := Headlines(rows)
	if len(heads) != 1 || heads[0].Metric != "requests/s" {
		t.Fatalf("headlines %+v", heads)
	}
	var b bytes.Buffer
	WriteHeadlinesText(&b, rows, nil, []string{"a", "b"})
	if !strings.Contains(b.String(), "getdata-64x16") || !strings.Contains(b.String(), "3.00 [1.00-5.00]") {
		t.Fatalf("headline text:\n%s", b.String())
	}
}

func TestHeadlinesFollowTheWorkloads(t *testing.T) {
	for _, tc := range []struct {
		workload string
		want     []string
	}{
		{"getdata-16x1", []string{"requests/s", "getData p99"}},
		{"setdata-32x8@leader", []string{"requests/s", "setData p50", "setData p99", "setData p99.9"}},
		{"watch-500", []string{"all-delivered p50", "all-delivered p99"}},
		{"restart-1m", []string{"restart_s"}},
		{"kafka", []string{"requests/s"}},
		{"latency", []string{"requests/s"}},
	} {
		if got := headlineMetrics(tc.workload); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %q, want %q", tc.workload, got, tc.want)
		}
	}
	if got := headlineMetrics("storm"); !contains(got, "storm_cleanup_s") || !contains(got, "sessions_per_s") {
		t.Errorf("storm: %q", got)
	}
}
