package server

import (
	"context"
	"log/slog"
	"runtime/metrics"
	"time"

	"zkd/zoocfg"
)

// pauseMonitor is ZooKeeper's JVM pause monitor (jvm.pause.monitor): a
// goroutine that sleeps a fixed time and measures how much longer it took.
// What it catches in zkd is mostly the host: a stalled VM, a stopped process,
// swapping, a starved CPU. Those expire sessions, and a log line at the time
// of the pause is what an operator needs to tell them from a network fault.
// Every overshoot is observed in jvm_pause_time_ms, under ZooKeeper's name so
// that its dashboards find it; one over the info or warn threshold is logged
// at that level with the collections that ran meanwhile.
type pauseMonitor struct {
	cfg  zoocfg.PauseMonitorSettings
	log  *slog.Logger
	note func(pauseMs int64) // the jvm_pause_time_ms summary
	// gcCycles reads the count of completed collections.
	gcCycles func() uint64

	infoExceeded, warnExceeded int64 // owned by the monitor's goroutine
	lastCycles                 uint64
}

func newPauseMonitor(cfg zoocfg.PauseMonitorSettings, log *slog.Logger, note func(int64)) *pauseMonitor {
	p := &pauseMonitor{cfg: cfg, log: log, note: note, gcCycles: gcCycles}
	p.lastCycles = p.gcCycles()
	return p
}

// run measures until stop is closed.
func (p *pauseMonitor) run(stop <-chan struct{}) {
	p.log.Info("starting the pause monitor", "infoThresholdMs", p.cfg.InfoThreshold.Milliseconds(),
		"warnThresholdMs", p.cfg.WarnThreshold.Milliseconds(), "sleepTimeMs", p.cfg.Sleep.Milliseconds())
	t := time.NewTimer(p.cfg.Sleep)
	defer t.Stop()
	for {
		start := time.Now()
		t.Reset(p.cfg.Sleep)
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p.observe(time.Since(start))
	}
}

// observe takes one sleep's length: it notes the overshoot and logs it past a
// threshold, as ZooKeeper does (whole milliseconds; warn above the warn
// threshold, else info above the info threshold).
func (p *pauseMonitor) observe(slept time.Duration) {
	extra := (slept - p.cfg.Sleep).Milliseconds()
	if extra >= 0 {
		p.note(extra)
	}
	cycles := p.gcCycles()
	collections := cycles - p.lastCycles
	p.lastCycles = cycles
	level := slog.LevelInfo
	switch {
	case extra > p.cfg.WarnThreshold.Milliseconds():
		p.warnExceeded++
		level = slog.LevelWarn
	case extra > p.cfg.InfoThreshold.Milliseconds():
		p.infoExceeded++
	default:
		return
	}
	p.log.Log(context.Background(), level, "detected a pause of this process or its host machine", "pauseMs", extra,
		"infoLevelPauses", p.infoExceeded, "warnLevelPauses", p.warnExceeded, "gcCycles", collections)
}

// pauseTimingName is ZooKeeper's summary of the monitor's measurements.
const pauseTimingName = "jvm_pause_time_ms"

// gcCycles returns the count of the Go collector's completed cycles.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
