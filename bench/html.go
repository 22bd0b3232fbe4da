package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// htmlStyle: informational notes are quiet; problems alone are red.
const htmlStyle = `body{font-family:sans-serif;font-size:13px;margin:20px;color:#222}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;vertical-align:top}
td:first-child,th:first-child,td.text,th.text{text-align:left}
th{background:#f0f0f0}
section#summary{border:2px solid #888;padding:4px 12px;margin-bottom:16px}
ul.notes li{color:#333}
li.note{background:#f4f6f9;border-left:3px solid #9ab;padding:2px 6px;margin:2px 0;list-style:none}
li.problem,p.problem{color:#a00;font-weight:bold}
span.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.better{color:#666}`

// WriteHTML writes a self-contained HTML page (well-formed XML as well): the
// summary first (each workload's headline figures, medians with their range, the
// zkd/ZooKeeper ratio with its spread, and the limits), then the notes, any
// problems, every figure, the limits, one table per run, and the charts.
func WriteHTML(w io.Writer, rep *Report) {
	fmt.Fprintln(w, `<!DOCTYPE html>`)
	fmt.Fprintln(w, `<html lang="en"><head><meta charset="utf-8"/><title>zkd bench</title>`)
	fmt.Fprintf(w, "<style>%s</style></head><body>\n", htmlStyle)
	fmt.Fprintf(w, "<h1>zkd bench: %s</h1>\n", esc(strings.Join(rep.Servers, " vs ")))

	summary := rep.Summary
	if len(summary) == 0 && len(rep.Runs) > 0 {
		summary = Summarize(rep.Runs, rep.Servers)
	}
	limits := rep.Limits
	writeSummarySection(w, rep, summary, limits)

	m := rep.Machine
	fmt.Fprintln(w, `<section id="setup"><h2>Set-up</h2>`)
	fmt.Fprintf(w, "<p>%s</p>\n", esc(fmt.Sprintf("%s, %d CPUs, %s/%s, kernel %s, %s; started %s", m.CPUModel, m.NumCPU, m.OS, m.Arch, m.Kernel, m.GoVersion,
		rep.Started.Format("2006-01-02 15:04:05 MST"))))
	if rep.Command != "" {
		fmt.Fprintf(w, "<p>Command: <code>%s</code></p>\n", esc(rep.Command))
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w, `<ul class="notes">`)
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "<li class=\"note\">%s</li>\n", esc(n))
		}
		fmt.Fprintln(w, `</ul>`)
	}
	fmt.Fprintln(w, `</section>`)

	var problems []string
	for _, r := range rep.Runs {
		for _, p := range r.Problems {
			problems = append(problems, fmt.Sprintf("%s on %s (rep %d): %s", r.Workload, r.Server, r.Rep, p))
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, `<section id="problems"><h2>Problems</h2><ul>`)
		for _, p := range problems {
			fmt.Fprintf(w, "<li class=\"problem\">%s</li>\n", esc(p))
		}
		fmt.Fprintln(w, `</ul></section>`)
	}

	if len(summary) > 0 {
		fmt.Fprintln(w, `<section id="figures"><h2>Every figure (median [min-max] over repetitions)</h2>`)
		writeFiguresTable(w, summary, rep.Servers)
		fmt.Fprintln(w, `</section>`)
	}
	if len(limits) > 0 {
		fmt.Fprintln(w, `<section id="limits"><h2>Limits in the same run</h2>`)
		writeLimitsTable(w, limits, rep.Servers)
		fmt.Fprintln(w, `</section>`)
	}

	fmt.Fprintln(w, `<section id="runs"><h2>Runs</h2>`)
	for _, r := range rep.Runs {
		writeRunHTML(w, rep, r)
	}
	if len(rep.Disk) > 0 {
		writeDiskTable(w, rep.Disk)
	}
	fmt.Fprintln(w, `</section>`)
	fmt.Fprintln(w, `<section id="charts"><h2>Charts</h2>`)
	WriteSVG(w, rep)
	fmt.Fprintln(w, `</section>`)
	fmt.Fprintln(w, "</body></html>")
}

// cell writes one <td> (class "text" for left-aligned text).
func cell(w io.Writer, text string, left bool) {
	if left {
		fmt.Fprintf(w, `<td class="text">%s</td>`, esc(text))
		return
	}
	fmt.Fprintf(w, "<td>%s</td>", esc(text))
}

func headerRow(w io.Writer, cols ...string) {
	fmt.Fprint(w, "<thead><tr>")
	for _, c := range cols {
		fmt.Fprintf(w, "<th>%s</th>", esc(c))
	}
	fmt.Fprintln(w, "</tr></thead>")
}

// writeSummarySection is what a reader sees first.
func writeSummarySection(w io.Writer, rep *Report, rows []SummaryRow, limits []LimitRow) {
	fmt.Fprintln(w, `<section id="summary"><h2>Summary</h2>`)
	servers := rep.Servers
	heads := Headlines(rows)
	if len(heads) == 0 {
		fmt.Fprintln(w, "<p>No runs.</p></section>")
		return
	}
	ratio := len(servers) >= 2
	intro := "Each workload's headline figures: median [min-max] over repetitions"
	if ratio {
		intro += fmt.Sprintf("; %s/%s is the ratio per repetition, median [min-max]", servers[len(servers)-1], servers[0])
	}
	fmt.Fprintf(w, "<p>%s. Limits: what the machine allows in the same run, with each server's fraction of it.</p>\n", esc(intro))
	fmt.Fprintln(w, `<table class="summary">`)
	cols := []string{"workload", "figure", "better"}
	cols = append(cols, servers...)
	if ratio {
		cols = append(cols, servers[len(servers)-1]+" / "+servers[0])
	}
	cols = append(cols, "limits (fraction of)")
	headerRow(w, cols...)
	fmt.Fprintln(w, "<tbody>")
	last := ""
	for _, r := range heads {
		fmt.Fprint(w, "<tr>")
		wl, lim := "", ""
		if r.Workload != last {
			wl, lim = r.Workload, limitText(limits, r.Workload, servers)
		}
		last = r.Workload
		cell(w, wl, true)
		cell(w, figureName(r), true)
		fmt.Fprintf(w, `<td class="text better">%s</td>`, esc(r.Better))
		for _, s := range servers {
			v, ok := r.Values[s]
			if !ok {
				cell(w, "-", false)
				continue
			}
			cell(w, spreadText(v), false)
		}
		if ratio {
			cell(w, ratioText(r), false)
		}
		cell(w, lim, true)
		fmt.Fprintln(w, "</tr>")
	}
	fmt.Fprintln(w, "</tbody></table></section>")
}

// writeFiguresTable is every summary row.
func writeFiguresTable(w io.Writer, rows []SummaryRow, servers []string) {
	fmt.Fprintln(w, `<table class="figures">`)
	cols := []string{"workload", "figure", "better"}
	cols = append(cols, servers...)
	if len(servers) >= 2 {
		cols = append(cols, servers[len(servers)-1]+" / "+servers[0])
	}
	headerRow(w, cols...)
	fmt.Fprintln(w, "<tbody>")
	last := ""
	for _, r := range rows {
		wl := r.Workload
		if wl == last {
			wl = ""
		}
		last = r.Workload
		fmt.Fprint(w, "<tr>")
		cell(w, wl, true)
		cell(w, figureName(r), true)
		fmt.Fprintf(w, `<td class="text better">%s</td>`, esc(r.Better))
		for _, s := range servers {
			v, ok := r.Values[s]
			if !ok {
				cell(w, "-", false)
				continue
			}
			cell(w, spreadText(v), false)
		}
		if len(servers) >= 2 {
			cell(w, ratioText(r), false)
		}
		fmt.Fprintln(w, "</tr>")
	}
	fmt.Fprintln(w, "</tbody></table>")
}

func writeLimitsTable(w io.Writer, rows []LimitRow, servers []string) {
	fmt.Fprintln(w, `<table class="limits">`)
	cols := []string{"workload", "limit", "median [min-max]"}
	for _, s := range servers {
		cols = append(cols, s+" / limit")
	}
	cols = append(cols, "shape")
	headerRow(w, cols...)
	fmt.Fprintln(w, "<tbody>")
	for _, r := range rows {
		fmt.Fprint(w, "<tr>")
		cell(w, r.Workload, true)
		cell(w, r.Limit, true)
		cell(w, spreadText(r.Value), false)
		for _, s := range servers {
			if f, ok := r.Fractions[s]; ok {
				cell(w, fmt.Sprintf("%.2f", f), false)
			} else {
				cell(w, "-", false)
			}
		}
		cell(w, r.Detail, true)
		fmt.Fprintln(w, "</tr>")
	}
	fmt.Fprintln(w, "</tbody></table>")
}

// writeRunHTML is one run: its shape, a table of its ops (each with its colour),
// its servers, its metrics, notes and problems.
func writeRunHTML(w io.Writer, rep *Report, r *Result) {
	fmt.Fprintf(w, "<h3>%s on %s (rep %d)</h3>\n", esc(r.Workload), esc(r.Server), r.Rep)
	shape := fmt.Sprintf("%d sessions", r.Clients)
	switch r.Mode {
	case "closed":
		shape = fmt.Sprintf("closed loop, %d sessions x %d in flight", r.Clients, r.InFlight)
	case "open":
		shape = fmt.Sprintf("open loop at %s req/s over %d sessions", fmtNum(r.Rate), r.Clients)
	}
	line := fmt.Sprintf("%s: %s req/s, %s requests in a %.2fs window", shape, fmtNum(r.Throughput()), fmtNum(float64(r.Requests())), r.ElapsedSec)
	if r.WarmupSec > 0 {
		line += fmt.Sprintf(" after %.1fs warm-up", r.WarmupSec)
	}
	var proc []string
	if r.ServerCPUSec >= 0 {
		proc = append(proc, fmt.Sprintf("server CPU %.2fs", r.ServerCPUSec))
	}
	if r.ServerRSSBytes >= 0 {
		proc = append(proc, fmt.Sprintf("server RSS %.1f MB", float64(r.ServerRSSBytes)/(1<<20)))
	}
	proc = append(proc, fmt.Sprintf("generator CPU %.2fs", r.GenCPUSec))
	fmt.Fprintf(w, "<p>%s; %s</p>\n", esc(line), esc(strings.Join(proc, ", ")))

	fmt.Fprintln(w, `<table class="ops">`)
	headerRow(w, "op", "count", "per s", "p50", "p90", "p99", "p99.9", "max", "errors")
	fmt.Fprintln(w, "<tbody>")
	for i, o := range r.Ops {
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
		fmt.Fprintf(w, `<tr><td class="text"><span class="swatch" style="background:%s"></span>%s</td>`, opColour(rep, r.Server, i), esc(name))
		for _, v := range []string{fmt.Sprint(n), rate, fmtDur(h.Quantile(0.5)), fmtDur(h.Quantile(0.9)), fmtDur(h.Quantile(0.99)),
			fmtDur(h.Quantile(0.999)), fmtDur(h.Max())} {
			cell(w, v, false)
		}
		cell(w, errorText(o), false)
		fmt.Fprintln(w, "</tr>")
	}
	fmt.Fprintln(w, "</tbody></table>")
	if len(r.PerServer) > 0 {
		fmt.Fprintln(w, `<table class="servers">`)
		headerRow(w, "server", "sessions", "req/s", "p50", "p99", "errors")
		fmt.Fprintln(w, "<tbody>")
		for _, p := range r.PerServer {
			fmt.Fprint(w, "<tr>")
			cell(w, p.Addr, true)
			cell(w, fmt.Sprint(p.Sessions), false)
			cell(w, fmtNum(p.Throughput()), false)
			cell(w, fmtDur(p.Latency.Quantile(0.5)), false)
			cell(w, fmtDur(p.Latency.Quantile(0.99)), false)
			cell(w, fmt.Sprint(p.Errors), false)
			fmt.Fprintln(w, "</tr>")
		}
		fmt.Fprintln(w, "</tbody></table>")
	}
	if len(r.Metrics) > 0 {
		keys := make([]string, 0, len(r.Metrics))
		for k := range r.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, `<table class="metrics">`)
		headerRow(w, "metric", "value")
		fmt.Fprintln(w, "<tbody>")
		for _, k := range keys {
			v := r.Metrics[k]
			text := sig3(v)
			if math.IsNaN(v) {
				text = "-"
			}
			fmt.Fprintf(w, "<tr>")
			cell(w, k, true)
			cell(w, text, false)
			fmt.Fprintln(w, "</tr>")
		}
		fmt.Fprintln(w, "</tbody></table>")
	}
	if len(r.Notes) > 0 || len(r.Problems) > 0 {
		fmt.Fprintln(w, `<ul class="notes">`)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "<li class=\"note\">%s</li>\n", esc(n))
		}
		for _, p := range r.Problems {
			fmt.Fprintf(w, "<li class=\"problem\">%s</li>\n", esc(p))
		}
		fmt.Fprintln(w, `</ul>`)
	}
}

func writeDiskTable(w io.Writer, disk []*LimitResult) {
	fmt.Fprintln(w, `<h3>Disk limit runs (append + fdatasync)</h3>`)
	fmt.Fprintln(w, `<table class="disk">`)
	headerRow(w, "workload", "rep", "batch", "entry", "entries/s", "fdatasyncs/s", "p50", "p99", "max", "file system")
	fmt.Fprintln(w, "<tbody>")
	for _, l := range disk {
		h := l.SyncLatency
		if h == nil {
			h = &Histogram{}
		}
		fmt.Fprint(w, "<tr>")
		cell(w, l.Workload, true)
		for _, v := range []string{fmt.Sprint(l.Rep), fmt.Sprint(l.Batch), fmt.Sprintf("%d B", l.EntrySize), fmtNum(l.EntriesPerSec()),
			fmtNum(l.FsyncsPerSec()), fmtDur(h.Quantile(0.5)), fmtDur(h.Quantile(0.99)), fmtDur(h.Max())} {
			cell(w, v, false)
		}
		cell(w, l.Filesystem, true)
		fmt.Fprintln(w, "</tr>")
	}
	fmt.Fprintln(w, "</tbody></table>")
}
