package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// serverHues give each server its hue, in Report.Servers order (blue for
// ZooKeeper, red for zkd); the ops of one server are shades around it.
var serverHues = []float64{212, 4, 130, 280, 32, 180}

// Shades of one server's ops: hue offset and lightness per op index, so that every
// op of a server has its own colour and every colour stays near the server's hue.
var (
	opHueOffsets = []float64{0, 24, -24, 44, -44, 12, -12, 34}
	opLightness  = []float64{40, 58, 30, 66, 49, 74, 22, 53}
)

// hslHex converts HSL (h in degrees, s and l in percent) to #rrggbb.
func hslHex(h, sat, light float64) string {
	h = math.Mod(math.Mod(h, 360)+360, 360) / 360
	sat, light = sat/100, light/100
	if sat == 0 {
		v := int(math.Round(light * 255))
		return fmt.Sprintf("#%02x%02x%02x", v, v, v)
	}
	q := light * (1 + sat)
	if light >= 0.5 {
		q = light + sat - light*sat
	}
	p := 2*light - q
	ch := func(t float64) int {
		t = math.Mod(t+1, 1)
		var v float64
		switch {
		case t < 1.0/6:
			v = p + (q-p)*6*t
		case t < 0.5:
			v = q
		case t < 2.0/3:
			v = p + (q-p)*(2.0/3-t)*6
		default:
			v = p
		}
		return int(math.Round(v * 255))
	}
	return fmt.Sprintf("#%02x%02x%02x", ch(h+1.0/3), ch(h), ch(h-1.0/3))
}

// opColour is the colour of op number opIndex of a server: a shade of the server's
// hue (grey for the null server, a limit rather than a contender).
func opColour(rep *Report, server string, opIndex int) string {
	i := opIndex % len(opHueOffsets)
	light := opLightness[i]
	if opIndex >= len(opHueOffsets) { // beyond the table: shift lightness to stay distinct
		light = math.Mod(light+7*float64(opIndex/len(opHueOffsets)), 80) + 10
	}
	if server == NullServerLabel {
		return hslHex(0, 0, light)
	}
	hue := 0.0
	for j, s := range labelsOf(rep) {
		if s == server {
			hue = serverHues[j%len(serverHues)]
		}
	}
	return hslHex(hue+opHueOffsets[i], 70, light)
}

// dashes tells the ops of one panel apart.
var dashes = []string{"", "6,3", "2,2", "8,3,2,3", "1,3", "10,4"}

const (
	panelW    = 520
	panelH    = 240
	marginL   = 60
	panelGapX = 80 // room for the right panel's axis labels
	svgWidth  = marginL + panelW + panelGapX + panelW + 30
	rowHeight = panelH + 80
)

// esc escapes text for XML.
func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// WriteReportFile writes rep as HTML (name ends in .html or .htm: tables plus the
// charts) or else as one SVG document.
func WriteReportFile(path string, rep *Report) error {
	var b bytes.Buffer
	if strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".htm") {
		WriteHTML(&b, rep)
	} else {
		WriteSVG(&b, rep)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// workloadsOf returns the workloads of rep in first-run order.
func workloadsOf(rep *Report) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rep.Runs {
		if !seen[r.Workload] {
			seen[r.Workload] = true
			out = append(out, r.Workload)
		}
	}
	return out
}

// labelsOf returns rep.Servers, then the labels of runs on other servers (the null
// server) in first-run order.
func labelsOf(rep *Report) []string {
	out := append([]string(nil), rep.Servers...)
	for _, r := range rep.Runs {
		if !contains(out, r.Server) {
			out = append(out, r.Server)
		}
	}
	return out
}

// serverColour returns the colour of a server label: its first op's shade.
func serverColour(rep *Report, server string) string { return opColour(rep, server, 0) }

// limitsLine sums up the limit rows of one workload for the charts.
func limitsLine(rep *Report, wl string) string {
	var parts []string
	for _, r := range rep.Limits {
		if r.Workload != wl || len(r.Fractions) == 0 {
			continue
		}
		var fr []string
		for _, s := range rep.Servers {
			if f, ok := r.Fractions[s]; ok {
				fr = append(fr, fmt.Sprintf("%s %.2f", s, f))
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", r.Limit, fmtNum(r.Value.Median), strings.Join(fr, ", ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return "limits: " + strings.Join(parts, "; ")
}

// WriteSVG writes a self-contained SVG: per workload a latency CDF (percentile on
// a "nines" axis against log latency, every op, runs of a server merged) and the
// throughput over time of every run; one colour per server.
func WriteSVG(w io.Writer, rep *Report) {
	wls := workloadsOf(rep)
	headHeight := 58 + 14*len(rep.Notes) + 30
	height := headHeight + rowHeight*max(len(wls), 1)
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, height)
	title := fmt.Sprintf("zkd bench — %s", strings.Join(rep.Servers, " vs "))
	fmt.Fprintf(w, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", marginL, esc(title))
	m := rep.Machine
	fmt.Fprintf(w, `<text x="%d" y="42">%s</text>`+"\n", marginL,
		esc(fmt.Sprintf("%s, %d CPUs, %s/%s, %s, started %s", m.CPUModel, m.NumCPU, m.OS, m.Arch, m.GoVersion, rep.Started.Format("2006-01-02 15:04 MST"))))
	y := 58
	for _, n := range rep.Notes {
		fmt.Fprintf(w, `<text x="%d" y="%d" fill="#444">%s</text>`+"\n", marginL, y, esc(n))
		y += 14
	}
	// Legend: servers, then the null server.
	x := marginL
	for _, s := range labelsOf(rep) {
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`, x, y+4, x+24, y+4, serverColour(rep, s))
		fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", x+30, y+8, esc(s))
		x += 40 + 8*len(s)
	}
	for i, wl := range wls {
		top := headHeight + i*rowHeight
		var runs []*Result
		for _, r := range rep.Runs {
			if r.Workload == wl {
				runs = append(runs, r)
			}
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", marginL, top+10, esc(wl))
		if line := limitsLine(rep, wl); line != "" {
			fmt.Fprintf(w, `<text x="%d" y="%d" fill="#555">%s</text>`+"\n", marginL+12+8*len(wl), top+10, esc(line))
		}
		writeCDFPanel(w, rep, runs, marginL, top+30)
		writeTimelinePanel(w, rep, runs, marginL+panelW+panelGapX, top+30)
	}
	fmt.Fprintln(w, `</svg>`)
}

// cdfLine is one op of one server, merged over its runs.
type cdfLine struct {
	server string
	op     string
	hist   Histogram
}

// nines maps a cumulative fraction to the CDF panel's y scale: log10(1/(1-f)), so
// 90% is 1, 99% is 2, 99.9% is 3; capped at 5.
func nines(f float64) float64 {
	if f >= 1-1e-5 {
		return 5
	}
	return math.Min(5, -math.Log10(1-f))
}

func writeCDFPanel(w io.Writer, rep *Report, runs []*Result, x0, y0 int) {
	var lines []*cdfLine
	var ops []string
	find := func(server, op string) *cdfLine {
		for _, l := range lines {
			if l.server == server && l.op == op {
				return l
			}
		}
		l := &cdfLine{server: server, op: op}
		lines = append(lines, l)
		return l
	}
	for _, r := range runs {
		for _, o := range r.Ops {
			if o.Latency == nil || o.Latency.Count() == 0 {
				continue
			}
			find(r.Server, o.Name).hist.Merge(o.Latency)
			if !contains(ops, o.Name) {
				ops = append(ops, o.Name)
			}
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		lo = math.Min(lo, float64(max(l.hist.Min(), 1)))
		hi = math.Max(hi, float64(max(l.hist.Max(), 1)))
	}
	fmt.Fprintf(w, `<g transform="translate(%d,%d)">`+"\n", x0, y0)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", panelW, panelH)
	fmt.Fprintf(w, `<text x="%d" y="-6">latency CDF (x: log latency, y: percentile)</text>`+"\n", 0)
	if len(lines) == 0 {
		fmt.Fprintln(w, `<text x="10" y="20">no latency recorded</text></g>`)
		return
	}
	llo, lhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if lhi <= llo {
		lhi = llo + 1
	}
	px := func(v float64) float64 {
		return (math.Log10(math.Max(v, 1)) - llo) / (lhi - llo) * panelW
	}
	py := func(f float64) float64 { return panelH - nines(f)/5*panelH }
	for d := llo; d <= lhi; d++ {
		x := (d - llo) / (lhi - llo) * panelW
		fmt.Fprintf(w, `<line x1="%.1f" y1="0" x2="%.1f" y2="%d" stroke="#eee"/>`, x, x, panelH)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, panelH+14, esc(fmtDur(int64(math.Pow(10, d)))))
	}
	for i, lbl := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		y := panelH - float64(i)/5*panelH
		fmt.Fprintf(w, `<line x1="0" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, y, panelW, y)
		fmt.Fprintf(w, `<text x="-4" y="%.1f" text-anchor="end">%s</text>`+"\n", y+4, lbl)
	}
	for _, l := range lines {
		var pts []string
		prevY := py(0)
		for _, p := range l.hist.CDF() {
			x := px(float64(p.Value))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, prevY), fmt.Sprintf("%.1f,%.1f", x, py(p.Fraction)))
			prevY = py(p.Fraction)
		}
		dash := dashes[indexOf(ops, l.op)%len(dashes)]
		attr := ""
		if dash != "" {
			attr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"><title>%s</title></polyline>`+"\n",
			opColour(rep, l.server, indexOf(ops, l.op)), attr, strings.Join(pts, " "), esc(l.server+" "+l.op))
	}
	// Legend: one entry per line, in its colour and dash.
	for i, l := range lines {
		y := 12 + i*13
		dash := dashes[indexOf(ops, l.op)%len(dashes)]
		attr := ""
		if dash != "" {
			attr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
		}
		fmt.Fprintf(w, `<line x1="8" y1="%d" x2="34" y2="%d" stroke="%s" stroke-width="2"%s/><text x="40" y="%d">%s</text>`+"\n",
			y, y, opColour(rep, l.server, indexOf(ops, l.op)), attr, y+4, esc(l.server+" "+l.op))
	}
	fmt.Fprintln(w, `</g>`)
}

func writeTimelinePanel(w io.Writer, rep *Report, runs []*Result, x0, y0 int) {
	fmt.Fprintf(w, `<g transform="translate(%d,%d)">`+"\n", x0, y0)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", panelW, panelH)
	fmt.Fprintf(w, `<text x="0" y="-6">completed requests/s over time (one line per run)</text>`+"\n")
	// Re-bucket every run to at most ~120 points.
	type series struct {
		server string
		step   float64 // seconds per point
		rates  []float64
	}
	var all []series
	maxT, maxR := 0.0, 0.0
	for _, r := range runs {
		if len(r.Timeline) == 0 || r.TimelineMs <= 0 {
			continue
		}
		tl := r.Timeline
		if len(tl) > 1 {
			tl = tl[:len(tl)-1] // the last interval is cut short by the end of the run
		}
		per := max(1, (len(tl)+119)/120)
		step := float64(r.TimelineMs*int64(per)) / 1000
		var rates []float64
		for i := 0; i < len(tl); i += per {
			var n int64
			j := i
			for ; j < min(i+per, len(tl)); j++ {
				n += tl[j]
			}
			rates = append(rates, float64(n)/(float64(j-i)*float64(r.TimelineMs)/1000))
		}
		all = append(all, series{r.Server, step, rates})
		maxT = math.Max(maxT, step*float64(len(rates)))
		for _, v := range rates {
			maxR = math.Max(maxR, v)
		}
	}
	if len(all) == 0 || maxR <= 0 {
		fmt.Fprintln(w, `<text x="10" y="20">no timeline</text></g>`)
		return
	}
	maxR = niceCeil(maxR * 1.05)
	for i := 0; i <= 4; i++ {
		y := panelH - float64(i)/4*panelH
		fmt.Fprintf(w, `<line x1="0" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, y, panelW, y)
		fmt.Fprintf(w, `<text x="-4" y="%.1f" text-anchor="end">%s</text>`+"\n", y+4, fmtNum(maxR*float64(i)/4))
	}
	for i := 0; i <= 5; i++ {
		x := float64(i) / 5 * panelW
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%ss</text>`+"\n", x, panelH+14, sig3(maxT*float64(i)/5))
	}
	for _, s := range all {
		pts := make([]string, len(s.rates))
		for i, v := range s.rates {
			x := (float64(i) + 0.5) * s.step / maxT * panelW
			pts[i] = fmt.Sprintf("%.1f,%.1f", x, panelH-v/maxR*panelH)
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-opacity="0.75" stroke-width="1.5" points="%s"><title>%s</title></polyline>`+"\n",
			serverColour(rep, s.server), strings.Join(pts, " "), esc(s.server))
		if len(pts) <= 3 { // too short to see as a line
			for _, p := range pts {
				x, y, _ := strings.Cut(p, ",")
				fmt.Fprintf(w, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, x, y, serverColour(rep, s.server))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, `</g>`)
}

func contains(list []string, s string) bool { return indexOf(list, s) >= 0 }

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, for axis limits.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
