package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// liveSource is what a running workload exposes to the progress line.
type liveSource struct {
	measureStart int64 // now() when the window starts (the warm-up ends)
	deadline     int64 // now() when it ends; 0 if the workload has no fixed window
	snap         func() liveStats
}

// liveStats are a run's figures so far.
type liveStats struct {
	seen int64 // requests answered (or cycles finished), warm-up included
	errs int64 // measured requests that failed
	p99  int64 // of the measured requests, ns; 0 before any
	n    uint64
}

// setLive publishes a run's recorders to the progress line.
func (e *env) setLive(measureStart, deadline int64, k opKinds, recs []*recorder) {
	e.live.Store(&liveSource{measureStart: measureStart, deadline: deadline, snap: func() liveStats {
		return liveOf(k, recs)
	}})
}

// liveOf sums recorders: every answer, and the errors and p99 of the request kinds.
func liveOf(k opKinds, recs []*recorder) liveStats {
	var st liveStats
	var h Histogram
	for _, r := range recs {
		r.mu.Lock()
		st.seen += r.seen
		for i := range r.ops {
			if k.events[i] {
				continue
			}
			o := &r.ops[i]
			for _, n := range o.errs {
				st.errs += n
			}
			h.Merge(&o.hist)
		}
		r.mu.Unlock()
	}
	st.n = h.Count()
	if st.n > 0 {
		st.p99 = h.Quantile(0.99)
	}
	return st
}

// progressLine formats one progress line. t is now(); rate the answers per second
// since the previous line.
func progressLine(label string, src *liveSource, st liveStats, t int64, rate float64) string {
	var b strings.Builder
	b.WriteString(label)
	b.WriteString(": ")
	switch {
	case src == nil:
		b.WriteString("setting up")
		return b.String()
	case t < src.measureStart:
		fmt.Fprintf(&b, "warm-up, %s left", fmtSeconds(src.measureStart-t))
	case src.deadline > src.measureStart:
		el := min(t, src.deadline) - src.measureStart
		fmt.Fprintf(&b, "%s/%s", fmtSeconds(el), fmtSeconds(src.deadline-src.measureStart))
		if t > src.deadline {
			b.WriteString(" (draining)")
		}
	default:
		fmt.Fprintf(&b, "%s", fmtSeconds(t-src.measureStart))
	}
	fmt.Fprintf(&b, "  %s req/s", fmtNum(rate))
	if st.n > 0 {
		fmt.Fprintf(&b, "  p99 %s", fmtDur(st.p99))
	} else {
		b.WriteString("  p99 -")
	}
	fmt.Fprintf(&b, "  errors %d", st.errs)
	return b.String()
}

// fmtSeconds prints nanoseconds as seconds with one decimal: 3.2s.
func fmtSeconds(ns int64) string { return fmt.Sprintf("%.1fs", float64(max(ns, 0))/1e9) }

// startProgress writes progress lines for e to w until the returned stop is
// called. On a terminal (tty) the line is rewritten in place and cleared at the
// end; otherwise one plain line goes out per period.
func startProgress(w io.Writer, tty bool, every time.Duration, label string, e *env) (stop func()) {
	if w == nil {
		return func() {}
	}
	if every <= 0 {
		every = 2 * time.Second
		if tty {
			every = 250 * time.Millisecond
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tk := time.NewTicker(every)
		defer tk.Stop()
		lastT, lastSeen := now(), int64(0)
		for {
			select {
			case <-done:
				if tty {
					io.WriteString(w, "\r\033[K")
				}
				return
			case <-tk.C:
			}
			src := e.live.Load()
			var st liveStats
			if src != nil {
				st = src.snap()
			}
			t := now()
			rate := float64(st.seen-lastSeen) / (float64(t-lastT) / 1e9)
			lastT, lastSeen = t, st.seen
			line := progressLine(label, src, st, t, rate)
			if tty {
				io.WriteString(w, "\r\033[K"+line)
			} else {
				io.WriteString(w, line+"\n")
			}
		}
	}()
	return func() { close(done); <-finished }
}
