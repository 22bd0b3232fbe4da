package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRaceReportIsFoundOnlyInTheRunsOwnOutput: a restarted server appends to the
// log of its earlier runs, so a report is blamed on the run that wrote it.
func TestRaceReportIsFoundOnlyInTheRunsOwnOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zkd.log")
	earlier := "level=INFO msg=\"data loaded\"\n==================\n" + raceReportMarker +
		"\nWrite at 0x00c0001 by goroutine 7:\n  zkd/replica.(*Replica).apply()\n"
	if err := os.WriteFile(path, []byte(earlier), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := raceReportIn(path, 0); !strings.HasPrefix(got, raceReportMarker) || !strings.Contains(got, "goroutine 7") {
		t.Fatalf("report in the whole log: %q", got)
	}
	offset := int64(len(earlier))
	if got := raceReportIn(path, offset); got != "" {
		t.Fatalf("a later run without a race was blamed for an earlier report: %q", got)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	later := raceReportMarker + "\nRead at 0x00c0002 by goroutine 9:\n" + strings.Repeat("x", 20<<10)
	if _, err := f.WriteString(later); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := raceReportIn(path, offset)
	if !strings.Contains(got, "goroutine 9") || strings.Contains(got, "goroutine 7") {
		t.Fatalf("report of the later run: %q", got[:min(len(got), 200)])
	}
	if len(got) > 9<<10 {
		t.Fatalf("report not cut: %d bytes", len(got))
	}
	if got := raceReportIn(filepath.Join(t.TempDir(), "missing.log"), 0); got != "" {
		t.Fatalf("missing log: %q", got)
	}
}
