package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one `zkd bench` or `zkd bench compare` measured: the runs,
// and for a comparison the summary table. It is what -json writes.
type Report struct {
	Tool    string    `json:"tool"`
	Started time.Time `json:"started"`
	Command string    `json:"command,omitempty"`
	Machine Machine   `json:"machine"`
	Notes   []string  `json:"notes,omitempty"`
	Config  Config    `json:"config"`
	// Servers are the labels in the order runs alternate; they fix report colours.
	Servers []string `json:"servers"`
	// Runs are every run, of the compared servers and of the null server
	// (Server == NullServerLabel, a limit, not one of Servers).
	Runs    []*Result    `json:"runs"`
	Summary []SummaryRow `json:"summary,omitempty"`
	// Disk are the DiskLimit runs of a comparison, one per write workload and
	// repetition.
	Disk []*LimitResult `json:"disk,omitempty"`
	// Limits summarise the null-server runs and Disk, with each server's fraction.
	Limits []LimitRow `json:"limits,omitempty"`
}

// NewReport returns an empty report stamped with the time and machine.
func NewReport() *Report {
	return &Report{Tool: "zkd bench", Started: time.Now().UTC(), Machine: ThisMachine(), Notes: []string{DurabilityNote}}
}

// WriteJSONFile writes rep as indented JSON.
func WriteJSONFile(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSONFile reads what WriteJSONFile wrote.
func ReadJSONFile(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	return &rep, nil
}

// fmtDur formats nanoseconds with three significant digits: 812µs, 1.23ms, 4.5s.
func fmtDur(ns int64) string {
	d := float64(ns)
	switch {
	case d < 1e3:
		return strconv.FormatFloat(d, 'f', 0, 64) + "ns"
	case d < 1e6:
		return sig3(d/1e3) + "µs"
	case d < 1e9:
		return sig3(d/1e6) + "ms"
	default:
		return sig3(d/1e9) + "s"
	}
}

// sig3 prints v with about three significant digits.
func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// fmtNum prints a count or rate compactly: 950, 12.3k, 4.56M.
func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return sig3(v/1e6) + "M"
	case a >= 1e4:
		return sig3(v/1e3) + "k"
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return sig3(v)
	}
}

// WriteResultText writes one run as a header line and a table of its ops.
func WriteResultText(w io.Writer, r *Result) {
	shape := fmt.Sprintf("%d sessions", r.Clients)
	switch r.Mode {
	case "closed":
		shape = fmt.Sprintf("closed loop, %d sessions x %d in flight", r.Clients, r.InFlight)
	case "open":
		shape = fmt.Sprintf("open loop at %s req/s over %d sessions", fmtNum(r.Rate), r.Clients)
	}
	warm := ""
	if r.WarmupSec > 0 {
		warm = fmt.Sprintf(" after %.1fs warm-up", r.WarmupSec)
	}
	if r.Requests() > 0 {
		fmt.Fprintf(w, "== %s on %s (%s): %s req/s, %s requests in %.2fs%s\n",
			r.Workload, r.Server, shape, fmtNum(r.Throughput()), fmtNum(float64(r.Requests())), r.ElapsedSec, warm)
	} else {
		fmt.Fprintf(w, "== %s on %s (%s)\n", r.Workload, r.Server, shape)
	}
	var proc []string
	if r.ServerCPUSec >= 0 {
		proc = append(proc, fmt.Sprintf("server CPU %.2fs (%.3f s per 1k req)", r.ServerCPUSec, r.ServerCPUPer1k()))
	}
	if r.ServerRSSBytes >= 0 {
		proc = append(proc, fmt.Sprintf("server RSS %.1f MB (peak %.1f MB)", float64(r.ServerRSSBytes)/(1<<20), float64(r.ServerPeakRSSBytes)/(1<<20)))
	}
	proc = append(proc, fmt.Sprintf("generator CPU %.2fs", r.GenCPUSec))
	fmt.Fprintf(w, "   %s\n", strings.Join(proc, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(r.Ops) > 0 {
		fmt.Fprintln(tw, "op\tcount\tper s\tp50\tp90\tp99\tp99.9\tmax\terrors\t")
	}
	for _, o := range r.Ops {
		h := o.Latency
		n := o.OK + o.ErrorCount()
		name := o.Name
		if o.Event {
			name += " (event)"
		}
		rate := "-"
		if r.ElapsedSec > 0 {
			rate = fmtNum(float64(n) / r.ElapsedSec)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, n, rate,
			fmtDur(h.Quantile(0.5)), fmtDur(h.Quantile(0.9)), fmtDur(h.Quantile(0.99)),
			fmtDur(h.Quantile(0.999)), fmtDur(h.Max()), errorText(o))
	}
	tw.Flush()
	if len(r.Metrics) > 0 {
		keys := make([]string, 0, len(r.Metrics))
		for k := range r.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + sig3(r.Metrics[k])
		}
		fmt.Fprintf(w, "   %s\n", strings.Join(parts, " "))
	}
	for _, p := range r.PerServer {
		fmt.Fprintf(w, "   %s: %d sessions, %s req/s, p50 %s p99 %s, %d errors\n", p.Addr, p.Sessions, fmtNum(p.Throughput()),
			fmtDur(p.Latency.Quantile(0.5)), fmtDur(p.Latency.Quantile(0.99)), p.Errors)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "   note: %s\n", n)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "   PROBLEM: %s\n", p)
	}
}

func errorText(o *OpStats) string {
	if len(o.Errors) == 0 {
		return "0"
	}
	var parts []string
	for _, name := range sortedErrors(o) {
		parts = append(parts, fmt.Sprintf("%s:%d", name, o.Errors[name]))
	}
	return strings.Join(parts, ",")
}

// Spread is the median and range of one figure over repetitions.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

func spreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// SummaryRow is one figure of one workload across servers.
type SummaryRow struct {
	Workload string            `json:"workload"`
	Metric   string            `json:"metric"`
	Unit     string            `json:"unit"`
	Better   string            `json:"better"` // "higher" or "lower"
	Values   map[string]Spread `json:"values"` // by server label
	Ratio    float64           `json:"ratio"`  // median of the last server / median of the first
	// RatioSpread is the ratio's median and range over repetitions: the last
	// server's figure over the first's of the same repetition (or, when the
	// repetitions do not pair, the extreme ratios of the two ranges).
	RatioSpread Spread `json:"ratio_spread"`
}

// summarised are the workload metrics worth a row, with their direction.
var summarised = map[string]string{
	"storm_cleanup_s":      "lower",
	"sessions_per_s":       "higher",
	"handoffs_per_s":       "higher",
	"rss_per_watch_byte":   "lower",
	"watch_register_s":     "lower",
	"preload_s":            "lower",
	"preload_znodes_per_s": "higher",
	"disk_mb":              "lower",
	"rss_loaded_mb":        "lower",
	"rss_restarted_mb":     "lower",
	"restart_s":            "lower",
	"failover_s":           "lower",
	"new_leader_s":         "lower",
}

// figure is one named number taken from a Result. order places its row within the
// workload's rows: (group, position), groups being throughput, each op, errors,
// workload metrics, server figures.
type figure struct {
	metric, unit, better string
	value                float64
	order                [2]int
}

func figures(r *Result) []figure {
	var out []figure
	add := func(group, pos int, metric, unit, better string, v float64) {
		out = append(out, figure{metric, unit, better, v, [2]int{group, pos}})
	}
	if r.Mode != "scenario" || r.Workload == "latency" {
		add(0, 0, "requests/s", "/s", "higher", r.Throughput())
	}
	for i, o := range r.Ops {
		if o.Latency.Count() == 0 {
			continue
		}
		ms := func(q float64) float64 { return float64(o.Latency.Quantile(q)) / 1e6 }
		// A tail quantile needs samples beyond it to mean anything.
		switch n := o.Latency.Count(); {
		case n == 1:
			add(1+i, 0, o.Name, "ms", "lower", ms(0.5))
		default:
			add(1+i, 0, o.Name+" p50", "ms", "lower", ms(0.5))
			if n >= 100 {
				add(1+i, 1, o.Name+" p99", "ms", "lower", ms(0.99))
			}
			if n >= 1000 {
				add(1+i, 2, o.Name+" p99.9", "ms", "lower", ms(0.999))
			}
		}
	}
	var errs int64
	for _, o := range r.Ops {
		errs += o.ErrorCount()
	}
	if n := r.Requests(); n > 0 {
		// A share, not a count: a faster server issues more requests and, with
		// conditional writes, loses more version races.
		add(1000, 0, "errors", "% of requests", "lower", 100*float64(errs)/float64(n))
	}
	keys := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		if _, ok := summarised[k]; ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		add(1001, i, k, "", summarised[k], r.Metrics[k])
	}
	if v := r.ServerCPUPer1k(); v >= 0 && r.Mode != "scenario" {
		add(2000, 0, "server CPU per 1k req", "s", "lower", v)
	}
	if r.ServerRSSBytes >= 0 {
		add(2000, 1, "server RSS", "MB", "lower", float64(r.ServerRSSBytes)/(1<<20))
	}
	return out
}

// Summarize builds one row per (workload, figure) with each server's median and
// range over its runs, and the ratio of the last server's median to the first's.
// Runs of a server not in servers (the null server's) are left to SummarizeLimits.
func Summarize(runs []*Result, servers []string) []SummaryRow {
	type key struct{ workload, metric string }
	var order []key
	rows := map[key]*SummaryRow{}
	vals := map[key]map[string][]float64{}
	reps := map[key]map[string][]int{}
	pos := map[key][2]int{}
	for _, r := range runs {
		if len(servers) > 0 && !contains(servers, r.Server) {
			continue
		}
		for _, f := range figures(r) {
			k := key{r.Workload, f.metric}
			if rows[k] == nil {
				rows[k] = &SummaryRow{Workload: r.Workload, Metric: f.metric, Unit: f.unit, Better: f.better, Values: map[string]Spread{}}
				vals[k] = map[string][]float64{}
				reps[k] = map[string][]int{}
				order = append(order, k)
			}
			vals[k][r.Server] = append(vals[k][r.Server], f.value)
			reps[k][r.Server] = append(reps[k][r.Server], r.Rep)
			if p, ok := pos[k]; !ok || f.order[0] < p[0] || (f.order[0] == p[0] && f.order[1] < p[1]) {
				pos[k] = f.order
			}
		}
	}
	// Rows of a workload stay together, in first-seen order of workloads, and within
	// one in figure order (a quantile first reached in a later run must not trail).
	wlIndex := map[string]int{}
	for _, k := range order {
		if _, ok := wlIndex[k.workload]; !ok {
			wlIndex[k.workload] = len(wlIndex)
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if wa, wb := wlIndex[a.workload], wlIndex[b.workload]; wa != wb {
			return wa < wb
		}
		oa, ob := pos[a], pos[b]
		return oa[0] < ob[0] || (oa[0] == ob[0] && oa[1] < ob[1])
	})
	out := make([]SummaryRow, 0, len(order))
	for _, k := range order {
		row := rows[k]
		for s, v := range vals[k] {
			row.Values[s] = spreadOf(v)
		}
		row.Ratio = math.NaN()
		row.RatioSpread = spreadOf(nil)
		if len(servers) >= 2 {
			first, last := servers[0], servers[len(servers)-1]
			a, okA := row.Values[first]
			b, okB := row.Values[last]
			if okA && okB && a.Median != 0 {
				row.Ratio = b.Median / a.Median
				row.RatioSpread = ratioSpread(vals[k][first], reps[k][first], vals[k][last], reps[k][last])
			}
		}
		out = append(out, *row)
	}
	return out
}

// ratioSpread is the spread of b/a over repetitions: paired by repetition when
// each repetition has one value on each side, else the ratio of the medians
// between the extreme ratios of the two ranges.
func ratioSpread(a []float64, aReps []int, b []float64, bReps []int) Spread {
	byRep := func(v []float64, reps []int) map[int]float64 {
		m := make(map[int]float64, len(v))
		for i, r := range reps {
			if _, dup := m[r]; dup {
				return nil
			}
			m[r] = v[i]
		}
		return m
	}
	am, bm := byRep(a, aReps), byRep(b, bReps)
	if am != nil && bm != nil && len(am) == len(bm) {
		var ratios []float64
		for r, av := range am {
			bv, ok := bm[r]
			if !ok || av == 0 {
				ratios = nil
				break
			}
			ratios = append(ratios, bv/av)
		}
		if len(ratios) > 0 {
			return spreadOf(ratios)
		}
	}
	sa, sb := spreadOf(a), spreadOf(b)
	if sa.Min == 0 || sa.Max == 0 || sa.Median == 0 {
		return spreadOf(nil)
	}
	return Spread{Median: sb.Median / sa.Median, Min: sb.Min / sa.Max, Max: sb.Max / sa.Min, N: min(sa.N, sb.N)}
}

// MarshalJSON writes NaN ratios as null.
func (r SummaryRow) MarshalJSON() ([]byte, error) {
	type plain SummaryRow
	p := struct {
		plain
		Ratio *float64 `json:"ratio"`
	}{plain: plain(r)}
	if !math.IsNaN(r.Ratio) && !math.IsInf(r.Ratio, 0) {
		p.Ratio = &r.Ratio
	}
	return json.Marshal(p)
}

// UnmarshalJSON reads a null ratio as NaN.
func (r *SummaryRow) UnmarshalJSON(b []byte) error {
	type plain SummaryRow
	var p struct {
		plain
		Ratio *float64 `json:"ratio"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = SummaryRow(p.plain)
	r.Ratio = math.NaN()
	if p.Ratio != nil {
		r.Ratio = *p.Ratio
	}
	return nil
}

// MarshalJSON writes NaN spreads (a server without that figure) as nulls.
func (s Spread) MarshalJSON() ([]byte, error) {
	f := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Median *float64 `json:"median"`
		Min    *float64 `json:"min"`
		Max    *float64 `json:"max"`
		N      int      `json:"n"`
	}{f(s.Median), f(s.Min), f(s.Max), s.N})
}

// WriteSummaryText prints the comparison table: per row each server's median
// [min-max] and the ratio last/first.
func WriteSummaryText(w io.Writer, rows []SummaryRow, servers []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := []string{"workload", "metric", "better"}
	for _, s := range servers {
		hdr = append(hdr, s+" median [min-max]")
	}
	if len(servers) >= 2 {
		hdr = append(hdr, servers[len(servers)-1]+"/"+servers[0])
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	last := ""
	for _, r := range rows {
		wl := r.Workload
		if wl == last {
			wl = ""
		}
		last = r.Workload
		cols := []string{wl, figureName(r), r.Better}
		for _, s := range servers {
			v, ok := r.Values[s]
			if !ok {
				cols = append(cols, "-")
				continue
			}
			cols = append(cols, fmt.Sprintf("%s [%s-%s]", fmtNum(v.Median), fmtNum(v.Min), fmtNum(v.Max)))
		}
		if len(servers) >= 2 {
			cols = append(cols, ratioText(r))
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	tw.Flush()
}

// ratioText prints a row's ratio with its spread: 1.52 [1.31-1.60].
func ratioText(r SummaryRow) string {
	if math.IsNaN(r.Ratio) {
		return "-"
	}
	rs := r.RatioSpread
	if math.IsNaN(rs.Min) || rs.N < 2 {
		return fmt.Sprintf("%.2f", r.Ratio)
	}
	return fmt.Sprintf("%.2f [%.2f-%.2f]", r.Ratio, rs.Min, rs.Max)
}

// spreadText prints a median with its range: 12.3k [11.9k-13.0k].
func spreadText(v Spread) string {
	if math.IsNaN(v.Median) {
		return "-"
	}
	if v.N < 2 {
		return fmtNum(v.Median)
	}
	return fmt.Sprintf("%s [%s-%s]", fmtNum(v.Median), fmtNum(v.Min), fmtNum(v.Max))
}

// headlineMetrics are the figures of a workload the summary shows.
func headlineMetrics(workload string) []string {
	w, ok := LookupWorkload(workload)
	if !ok {
		return nil
	}
	if len(w.Headline) > 0 {
		return w.Headline
	}
	if w.Loop || w.Name == "latency" {
		return []string{"requests/s"}
	}
	var out []string
	for m := range summarised {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Headlines picks the summary rows a reader needs first: per workload its headline
// figures (Workload.Headline), in row order.
func Headlines(rows []SummaryRow) []SummaryRow {
	var out []SummaryRow
	for _, r := range rows {
		if contains(headlineMetrics(r.Workload), r.Metric) {
			out = append(out, r)
		}
	}
	return out
}

// limitText sums up the limits of one workload for the summary: each limit's
// median and every server's fraction of it.
func limitText(limits []LimitRow, workload string, servers []string) string {
	var parts []string
	for _, l := range limits {
		if l.Workload != workload || len(l.Fractions) == 0 {
			continue
		}
		var fr []string
		for _, s := range servers {
			if f, ok := l.Fractions[s]; ok {
				fr = append(fr, fmt.Sprintf("%s %.2f", s, f))
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", l.Limit, fmtNum(l.Value.Median), strings.Join(fr, ", ")))
	}
	return strings.Join(parts, "; ")
}

// WriteHeadlinesText prints the summary: each workload's headline figures, every
// server's median [min-max], the ratio last/first with its spread, and the limits.
func WriteHeadlinesText(w io.Writer, rows []SummaryRow, limits []LimitRow, servers []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := []string{"workload", "figure", "better"}
	hdr = append(hdr, servers...)
	if len(servers) >= 2 {
		hdr = append(hdr, servers[len(servers)-1]+"/"+servers[0])
	}
	hdr = append(hdr, "limits (fraction of)")
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	last := ""
	for _, r := range Headlines(rows) {
		wl, lim := r.Workload, ""
		if wl == last {
			wl = ""
		} else {
			lim = limitText(limits, r.Workload, servers)
		}
		last = r.Workload
		cols := []string{wl, figureName(r), r.Better}
		for _, s := range servers {
			v, ok := r.Values[s]
			if !ok {
				cols = append(cols, "-")
				continue
			}
			cols = append(cols, spreadText(v))
		}
		if len(servers) >= 2 {
			cols = append(cols, ratioText(r))
		}
		cols = append(cols, lim)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	tw.Flush()
}

// figureName is a row's metric with its unit.
func figureName(r SummaryRow) string {
	if r.Unit != "" && r.Unit != "/s" {
		return r.Metric + " (" + r.Unit + ")"
	}
	return r.Metric
}

// UnmarshalJSON reads null figures as NaN.
func (s *Spread) UnmarshalJSON(b []byte) error {
	var p struct {
		Median *float64 `json:"median"`
		Min    *float64 `json:"min"`
		Max    *float64 `json:"max"`
		N      int      `json:"n"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	f := func(v *float64) float64 {
		if v == nil {
			return math.NaN()
		}
		return *v
	}
	*s = Spread{Median: f(p.Median), Min: f(p.Min), Max: f(p.Max), N: p.N}
	return nil
}

// LimitRow is one same-run limit of a workload (the null server's headline figure,
// or the disk's entries/s at the workload's batching) and how close each server came.
type LimitRow struct {
	Workload string `json:"workload"`
	Limit    string `json:"limit"`            // "null-server requests/s", "null-server all-delivered p50", "disk entries/s", "disk fdatasyncs/s"
	Detail   string `json:"detail,omitempty"` // the shape: "batch 32 x 144 B, ext4"
	Value    Spread `json:"value"`            // over repetitions
	// Fractions are by server, 1 at the limit: its median / Value.Median, or
	// Value.Median / its median for a latency (not on fdatasyncs/s rows; on disk
	// entries/s rows a write request is one log entry).
	Fractions map[string]float64 `json:"fractions,omitempty"`
}

// SummarizeLimits builds the limit rows of every workload of runs: the null
// server's headline figure where it ran the workload (limitFigure), and the
// disk's entries/s and fdatasyncs/s where DiskLimit mirrored it; each with every
// server's median as a fraction of the limit's median (of its time, for a
// latency: the limit's median over the server's, so that 1 is the limit itself).
func SummarizeLimits(runs []*Result, disk []*LimitResult, servers []string) []LimitRow {
	var wls []string
	tput := map[string]map[string][]float64{} // workload -> server -> requests/s
	head := map[string]map[string][]float64{} // workload -> server -> limitFigure
	headName := map[string]string{}
	lowerBetter := map[string]bool{}
	for _, r := range runs {
		if !contains(wls, r.Workload) {
			wls = append(wls, r.Workload)
		}
		if tput[r.Workload] == nil {
			tput[r.Workload] = map[string][]float64{}
			head[r.Workload] = map[string][]float64{}
		}
		tput[r.Workload][r.Server] = append(tput[r.Workload][r.Server], r.Throughput())
		if f, ok := limitFigure(r); ok {
			head[r.Workload][r.Server] = append(head[r.Workload][r.Server], f.value)
			headName[r.Workload], lowerBetter[r.Workload] = f.metric, f.better == "lower"
		}
	}
	for _, l := range disk {
		if !contains(wls, l.Workload) {
			wls = append(wls, l.Workload)
		}
	}
	fractions := func(byServer map[string][]float64, limit float64, lower bool) map[string]float64 {
		var out map[string]float64
		for _, s := range servers {
			v, ok := byServer[s]
			if !ok || !(limit > 0) {
				continue
			}
			if out == nil {
				out = map[string]float64{}
			}
			if lower {
				out[s] = limit / spreadOf(v).Median
			} else {
				out[s] = spreadOf(v).Median / limit
			}
		}
		return out
	}
	var rows []LimitRow
	for _, wl := range wls {
		if v, ok := head[wl][NullServerLabel]; ok {
			sp := spreadOf(v)
			rows = append(rows, LimitRow{Workload: wl, Limit: NullServerLabel + " " + headName[wl],
				Detail: "fixed replies, same netloop", Value: sp, Fractions: fractions(head[wl], sp.Median, lowerBetter[wl])})
		}
		var entries, syncs []float64
		var shape *LimitResult
		lat := &Histogram{}
		for _, l := range disk {
			if l.Workload != wl {
				continue
			}
			entries = append(entries, l.EntriesPerSec())
			syncs = append(syncs, l.FsyncsPerSec())
			if l.SyncLatency != nil {
				lat.Merge(l.SyncLatency)
			}
			shape = l
		}
		if shape == nil {
			continue
		}
		detail := fmt.Sprintf("batch %d x %d B", shape.Batch, shape.EntrySize)
		if shape.Filesystem != "" {
			detail += ", " + shape.Filesystem
		}
		sp := spreadOf(entries)
		rows = append(rows, LimitRow{Workload: wl, Limit: "disk entries/s", Detail: detail, Value: sp, Fractions: fractions(tput[wl], sp.Median, false)})
		syncDetail := ""
		if lat.Count() > 0 {
			syncDetail = "write+fdatasync p50 " + fmtDur(lat.Quantile(0.5)) + ", p99 " + fmtDur(lat.Quantile(0.99))
		}
		rows = append(rows, LimitRow{Workload: wl, Limit: "disk fdatasyncs/s", Detail: syncDetail, Value: spreadOf(syncs)})
	}
	return rows
}

// limitFigure is the figure of r that the null server's run of its workload is a
// limit for: the workload's first headline figure (watch-500's all-delivered p50,
// sessions-16's sessions/s), else requests/s.
func limitFigure(r *Result) (figure, bool) {
	want := "requests/s"
	if h := headlineMetrics(r.Workload); len(h) > 0 {
		want = h[0]
	}
	for _, f := range figures(r) {
		if f.metric == want {
			return f, true
		}
	}
	return figure{}, false
}

// WriteLimitsText prints the limit rows: per workload each limit's median
// [min-max] over repetitions and every server's requests/s as a fraction of it.
func WriteLimitsText(w io.Writer, rows []LimitRow, servers []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := []string{"workload", "limit", "median [min-max]"}
	for _, s := range servers {
		hdr = append(hdr, s+"/limit")
	}
	hdr = append(hdr, "shape")
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	last := ""
	for _, r := range rows {
		wl := r.Workload
		if wl == last {
			wl = ""
		}
		last = r.Workload
		v := r.Value
		cols := []string{wl, r.Limit, fmt.Sprintf("%s [%s-%s]", fmtNum(v.Median), fmtNum(v.Min), fmtNum(v.Max))}
		for _, s := range servers {
			if f, ok := r.Fractions[s]; ok {
				cols = append(cols, fmt.Sprintf("%.2f", f))
			} else {
				cols = append(cols, "-")
			}
		}
		cols = append(cols, r.Detail)
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	tw.Flush()
}

// WriteDiskText writes one DiskLimit run as one line.
func WriteDiskText(w io.Writer, l *LimitResult) {
	fs := l.Filesystem
	if fs == "" {
		fs = "unknown fs"
	}
	h := l.SyncLatency
	if h == nil {
		h = &Histogram{}
	}
	fmt.Fprintf(w, "== disk limit for %s (append + fdatasync, batch %d x %d B, %s): %s entries/s, %s fdatasyncs/s in %.2fs; write+fdatasync p50 %s p99 %s max %s\n",
		l.Workload, l.Batch, l.EntrySize, fs, fmtNum(l.EntriesPerSec()), fmtNum(l.FsyncsPerSec()), l.ElapsedSec,
		fmtDur(h.Quantile(0.5)), fmtDur(h.Quantile(0.99)), fmtDur(h.Max()))
}
