package zkdisk

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Phase names a stage of an import or export.
type Phase string

// The phases a Progress reports.
const (
	PhaseSnapshot Phase = "reading snapshot"
	PhaseLog      Phase = "replaying log"
	PhaseRestore  Phase = "building tree"
	PhaseWrite    Phase = "writing"
	// PhaseDownload and PhaseCheck are an online export's: the snapshot stream
	// coming in, then read back, checked and built into a tree.
	PhaseDownload Phase = "downloading"
	PhaseCheck    Phase = "checking"
)

// Progress is a periodic report from a reader or writer.
type Progress struct {
	Phase Phase
	File  string
	Nodes int64 // znodes handled so far in this phase
	Txns  int64 // txns replayed so far (PhaseLog)
	Bytes int64 // bytes of File consumed or written so far
	Total int64 // size of File; 0 if unknown
	// TotalNodes is the number of znodes the phase will handle, when known (the
	// bar then follows Nodes instead of Bytes).
	TotalNodes int64
}

// IsTerminal reports whether f is a character device (a terminal), where a
// redrawn progress bar makes sense.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Printer renders Progress reports for a person: on a terminal one line redrawn in
// place, with a bar when the size is known, znodes/s and MB/s; elsewhere (a log
// file, a pipe) a plain line at most once per Interval and one with the final
// figures when a phase or file ends. Update may be called from any goroutine.
type Printer struct {
	w   io.Writer
	tty bool
	// Now is the clock (time.Now unless a test sets it).
	Now func() time.Time
	// Interval is the least time between two plain lines (10 s by default); a
	// terminal is redrawn at most every 100 ms.
	Interval time.Duration

	mu struct {
		sync.Mutex
		cur   Progress  // guarded by mu: the latest report
		shown bool      // guarded by mu: cur has been drawn
		start time.Time // guarded by mu: when cur's phase began
		last  time.Time // guarded by mu: last draw
		open  bool      // guarded by mu: a terminal line is open
	}
}

// NewPrinter returns a Printer writing to w, as a terminal if tty.
func NewPrinter(w io.Writer, tty bool) *Printer {
	return &Printer{w: w, tty: tty, Now: time.Now, Interval: 10 * time.Second}
}

// Update records p and shows it if enough time has passed since the last line.
// A report of a new phase or file first shows the final state of the previous one.
func (pr *Printer) Update(p Progress) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	now := pr.Now()
	if p.Phase != pr.mu.cur.Phase || p.File != pr.mu.cur.File {
		pr.endLocked(now)
		pr.mu.start = now
		pr.mu.last = now
		if pr.tty {
			pr.mu.last = time.Time{}
		}
	}
	pr.mu.cur, pr.mu.shown = p, false
	every := pr.Interval
	if pr.tty {
		every = 100 * time.Millisecond
	}
	if now.Sub(pr.mu.last) >= every {
		pr.drawLocked(now)
	}
}

// Done shows the final state of the last phase and ends a terminal's line.
func (pr *Printer) Done() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.endLocked(pr.Now())
	pr.mu.cur = Progress{}
}

// endLocked shows the current report if it was not, and closes a terminal line.
func (pr *Printer) endLocked(now time.Time) {
	if pr.mu.cur.Phase != "" && !pr.mu.shown {
		pr.drawLocked(now)
	}
	if pr.mu.open {
		fmt.Fprintln(pr.w)
		pr.mu.open = false
	}
}

func (pr *Printer) drawLocked(now time.Time) {
	pr.mu.last, pr.mu.shown = now, true
	line := pr.lineLocked(pr.mu.cur, now)
	if pr.tty {
		fmt.Fprintf(pr.w, "\r\033[K%s", line)
		pr.mu.open = true
		return
	}
	fmt.Fprintln(pr.w, line)
}

func (pr *Printer) lineLocked(p Progress, now time.Time) string {
	secs := now.Sub(pr.mu.start).Seconds()
	var b strings.Builder
	b.WriteString(string(p.Phase))
	if p.File != "" {
		b.WriteString(" " + filepath.Base(p.File))
	}
	frac := -1.0
	switch {
	case p.Total > 0:
		frac = min(float64(p.Bytes)/float64(p.Total), 1)
	case p.TotalNodes > 0:
		frac = min(float64(p.Nodes)/float64(p.TotalNodes), 1)
	}
	if frac >= 0 {
		if pr.tty {
			const width = 24
			full := int(frac * width)
			b.WriteString(" [" + strings.Repeat("#", full) + strings.Repeat(".", width-full) + "]")
		}
		fmt.Fprintf(&b, " %3.0f%%", 100*frac)
	}
	// A download counts bytes only, and so does the check until the tree is built.
	counts := !(p.Phase == PhaseDownload || p.Phase == PhaseCheck && p.Nodes == 0)
	switch {
	case p.Phase == PhaseLog:
		fmt.Fprintf(&b, " %d txns", p.Txns)
	case counts:
		fmt.Fprintf(&b, " %d znodes", p.Nodes)
	}
	if p.Bytes > 0 {
		fmt.Fprintf(&b, " %s", formatBytes(p.Bytes))
	}
	if secs > 0 {
		switch {
		case p.Phase == PhaseLog:
			fmt.Fprintf(&b, " %.0f txns/s", float64(p.Txns)/secs)
		case counts:
			fmt.Fprintf(&b, " %.0f znodes/s", float64(p.Nodes)/secs)
		}
		if p.Bytes > 0 {
			fmt.Fprintf(&b, " %.1f MB/s", float64(p.Bytes)/1e6/secs)
		}
	}
	return b.String()
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
