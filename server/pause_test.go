package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"zkd/zoocfg"
)

// Each sleep's overshoot is noted; one past a threshold is logged at its
// level with the counts so far and the collections that ran meanwhile, as
// ZooKeeper's monitor logs.
func TestPauseMonitorObservesAndLogsPauses(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	var noted []int64
	cfg := zoocfg.PauseMonitorSettings{Enabled: true, Sleep: 500 * time.Millisecond,
		InfoThreshold: time.Second, WarnThreshold: 10 * time.Second}
	p := newPauseMonitor(cfg, log, func(ms int64) { noted = append(noted, ms) })
	cycles := uint64(7)
	p.gcCycles = func() uint64 { return cycles }
	p.lastCycles = cycles

	for _, step := range []struct {
		slept time.Duration
		gcs   uint64
	}{
		{499 * time.Millisecond, 0},   // woke early: nothing to note
		{502 * time.Millisecond, 1},   // 2 ms: noted, not logged
		{1500 * time.Millisecond, 0},  // 1000 ms: at the info threshold, not past it
		{1502 * time.Millisecond, 2},  // 1002 ms: info
		{10501 * time.Millisecond, 0}, // 10001 ms: warn
	} {
		cycles += step.gcs
		p.observe(step.slept)
	}
	if got := fmt.Sprint(noted); got != "[2 1000 1002 10001]" {
		t.Errorf("noted %s", got)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 ||
		!strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "pauseMs=1002 infoLevelPauses=1 warnLevelPauses=0 gcCycles=2") ||
		!strings.Contains(lines[1], "level=WARN") || !strings.Contains(lines[1], "pauseMs=10001 infoLevelPauses=1 warnLevelPauses=1 gcCycles=0") {
		t.Errorf("logged:\n%s", logged.String())
	}
}

// With jvm.pause.monitor on, mntr's jvm_pause_time_ms counts the monitor's
// sleeps; off (ZooKeeper's default), the summary is there and empty.
func TestPauseMonitorFeedsMntr(t *testing.T) {
	count := func(s *Server) string {
		for _, st := range s.sess.Monitor() {
			if st.Key == "cnt_jvm_pause_time_ms" {
				return fmt.Sprint(st.Value)
			}
		}
		return "absent"
	}
	off := start(t, testConfig(t, t.TempDir()))
	if got := count(off); got != "0" {
		t.Errorf("monitor off: cnt_jvm_pause_time_ms %s, want 0", got)
	}
	cfg := testConfig(t, t.TempDir())
	cfg.PauseMonitor = zoocfg.PauseMonitorSettings{Enabled: true, Sleep: time.Millisecond,
		InfoThreshold: time.Minute, WarnThreshold: time.Minute}
	on := start(t, cfg)
	eventually(t, "the monitor's first measurement", func() error {
		if got := count(on); got == "0" || got == "absent" {
			return fmt.Errorf("cnt_jvm_pause_time_ms %s", got)
		}
		return nil
	})
}
