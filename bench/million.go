package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"zkd/jute"
)

// The 1M-znode figures (GroupMillion) share one preload of Config.Znodes znodes of
// 100 B into /zkbench-1m (the base tree's shape), so Run and Compare run them
// together:
//
//	preload-1m   time of the pipelined preload; bytes on disk after it (du)
//	mem-1m       server RSS right after the preload, and after a restart
//	restart-1m   kill -9, start, poll getData of the last znode: time until it answers
//
// A restart needs Config.Control; Compare runs these on a fresh server per
// repetition, so each preload starts from an empty data directory.
const millionRoot = "/zkbench-1m"

// millionPart is one of the group's workloads.
type millionPart int

const (
	millionPreload millionPart = iota
	millionMem
	millionRestart
)

var millionNames = [...]string{millionPreload: "preload-1m", millionMem: "mem-1m", millionRestart: "restart-1m"}

// millionRunner runs the group for one of its workloads (RunWorkload).
func millionRunner(p millionPart) func(ctx context.Context, e *env) (*Result, error) {
	return func(ctx context.Context, e *env) (*Result, error) {
		rs, err := runMillion(ctx, e, []millionPart{p})
		if err != nil {
			return nil, err
		}
		return rs[0], nil
	}
}

// RunMillion runs the named GroupMillion workloads against cfg.Addr with one
// shared preload, and returns a Result per name, in order.
func RunMillion(ctx context.Context, cfg Config, names []string) ([]*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var parts []millionPart
	for _, n := range names {
		found := false
		for p, pn := range millionNames {
			if pn == n {
				parts, found = append(parts, millionPart(p)), true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w %q: not a %s workload", ErrUnknownWorkload, n, GroupMillion)
		}
	}
	e := newEnv(&cfg, millionRoot)
	stop := startProgress(cfg.Progress, cfg.ProgressTTY, cfg.ProgressEvery, cfg.Label+" "+GroupMillion, e)
	defer stop()
	rs, err := runMillion(ctx, e, parts)
	if err != nil {
		return nil, fmt.Errorf("bench %s: %w", GroupMillion, err)
	}
	for i, r := range rs {
		r.Workload, r.Server = names[i], cfg.Label
		r.Notes = append(e.notes(), r.Notes...)
	}
	return rs, nil
}

// runMillion preloads, measures and (when a part needs it) restarts; it returns the
// parts' Results in order. The tree is removed at the end unless the server is
// disposable (Compare's fresh servers).
func runMillion(ctx context.Context, e *env, parts []millionPart) ([]*Result, error) {
	cfg := e.cfg
	n := cfg.Znodes
	want := map[millionPart]bool{}
	for _, p := range parts {
		want[p] = true
	}
	restart := want[millionMem] || want[millionRestart]
	if restart && len(e.addrs) > 1 {
		return nil, errors.New("mem-1m and restart-1m restart one server: give one address")
	}
	if want[millionRestart] && cfg.Control == nil {
		return nil, fmt.Errorf("%w: restart-1m kills and starts the server; zkd bench compare starts its own", ErrNoControl)
	}
	addr := e.addrs[0]
	pid := func() int {
		if cfg.Control != nil {
			return cfg.Control.PID(addr)
		}
		return cfg.ServerPID
	}
	if n != 1_000_000 {
		e.note(fmt.Sprintf("%d znodes (-znodes), not 1M", n))
	}

	// A leftover tree of an interrupted run goes first, unmeasured.
	c, err := e.dial(ctx, nil)
	if err != nil {
		return nil, err
	}
	r, err := c.Do(ctx, jute.OpExists, &jute.PathWatchRequest{Path: millionRoot})
	if err == nil && r.Err == jute.CodeOK {
		err = unload(ctx, e, millionRoot, n, cfg.PreloadClients)
		if err == nil {
			err = deleteTree(ctx, c, millionRoot)
		}
	}
	c.Close()
	if err != nil {
		return nil, fmt.Errorf("remove the old %s: %w", millionRoot, err)
	}

	k := kinds("create")
	t0 := now()
	rec := newRecorder(1, t0)
	e.setLive(t0, 0, k, []*recorder{rec})
	var win window
	win.begin(e.pids())
	err = preload(ctx, e, millionRoot, n, cfg.PreloadClients, func(r *Reply) {
		rec.mu.Lock()
		rec.issuedLocked(0)
		rec.doneLocked(0, r.Err, r.Done-r.Sent, r.Done)
		rec.mu.Unlock()
	})
	t1 := now()
	if err != nil {
		return nil, fmt.Errorf("preload: %w", err)
	}
	pre := &Result{Mode: "scenario", Clients: cfg.PreloadClients, ElapsedSec: float64(t1-t0) / 1e9}
	win.end(pre)
	merge(pre, k, rec)
	checkAccounting(pre)
	pre.Metrics = map[string]float64{
		"znodes":               float64(n),
		"preload_s":            pre.ElapsedSec,
		"preload_znodes_per_s": float64(n) / max(pre.ElapsedSec, 1e-9),
	}
	dirs := cfg.DataDirs
	if cfg.Control != nil {
		dirs = cfg.Control.DataDirs(addr)
	}
	if len(dirs) > 0 {
		used, apparent, err := diskUsage(dirs)
		if err != nil {
			return nil, fmt.Errorf("bytes on disk: %w", err)
		}
		pre.Metrics["disk_mb"] = float64(used) / (1 << 20)
		pre.Metrics["disk_apparent_mb"] = float64(apparent) / (1 << 20)
	} else {
		pre.Notes = append(pre.Notes, "bytes on disk not measured: the server's data directories are unknown (-data-dirs)")
	}

	mem := &Result{Mode: "scenario", Clients: 1, ServerCPUSec: -1, ServerRSSBytes: -1, ServerPeakRSSBytes: -1,
		Metrics: map[string]float64{"znodes": float64(n)}}
	if s := readProc(pid()); s.ok {
		mem.Metrics["rss_loaded_mb"] = float64(s.rss) / (1 << 20)
		mem.Metrics["peak_rss_loaded_mb"] = float64(s.peakRSS) / (1 << 20)
	} else {
		mem.Notes = append(mem.Notes, "RSS not measured: the server's process is unknown (-server-pid)")
	}

	rst := &Result{Mode: "scenario", Clients: 1, ServerCPUSec: -1, ServerRSSBytes: -1, ServerPeakRSSBytes: -1,
		Metrics: map[string]float64{"znodes": float64(n)}}
	if restart && cfg.Control != nil {
		last := treeKeys(millionRoot, n)[n-1]
		took, err := restartUntilRead(ctx, e, addr, last)
		if err != nil {
			return nil, err
		}
		rst.Metrics["restart_s"] = took.Seconds()
		rst.ElapsedSec = took.Seconds()
		// RSS after the restart, once the server has settled for the warm-up time
		// (at least a second): a JVM's heap is still growing while reads start.
		time.Sleep(max(cfg.Warmup, time.Second))
		if s := readProc(pid()); s.ok {
			mem.Metrics["rss_restarted_mb"] = float64(s.rss) / (1 << 20)
			rst.ServerRSSBytes = s.rss
		}
	} else if want[millionMem] {
		mem.Notes = append(mem.Notes, "RSS after a restart not measured: no server control (zkd bench compare restarts its own servers)")
	}

	if !cfg.disposable {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Minute)
		defer cancel()
		if err := unload(cctx, e, millionRoot, n, cfg.PreloadClients); err != nil {
			cfg.logger().Warn("bench: removing the 1M tree failed", "err", err)
		}
	}
	out := make([]*Result, len(parts))
	for i, p := range parts {
		switch p {
		case millionPreload:
			out[i] = pre
		case millionMem:
			out[i] = mem
		case millionRestart:
			out[i] = rst
		}
	}
	return out, nil
}

// restartUntilRead kills the server at addr with SIGKILL, starts it again and polls
// getData of path until it answers; it returns the time from the start of the new
// process to that answer.
func restartUntilRead(ctx context.Context, e *env, addr, path string) (time.Duration, error) {
	ctl := e.cfg.Control
	if err := ctl.Kill(addr); err != nil {
		return 0, fmt.Errorf("kill %s: %w", addr, err)
	}
	t0 := time.Now()
	if err := ctl.Start(ctx, addr); err != nil {
		return 0, fmt.Errorf("start %s: %w", addr, err)
	}
	deadline := t0.Add(10 * time.Minute)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c, err := Dial(ctx, addr, DialOptions{SessionTimeout: e.cfg.SessionTimeout, ConnectTimeout: time.Second, TLS: e.cfg.TLS})
		if err == nil {
			var r Reply
			r, err = c.Do(ctx, jute.OpGetData, &jute.PathWatchRequest{Path: path})
			took := time.Since(t0)
			c.Close()
			if err == nil && r.Err == jute.CodeOK {
				return took, nil
			}
			if err == nil {
				err = r.Err
			}
		}
		last = err
		if ctl.PID(addr) == 0 {
			return 0, fmt.Errorf("%s exited while restarting (last: %v)", addr, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return 0, fmt.Errorf("%s did not answer getData %s within 10 minutes of its start (last: %v)", addr, path, last)
}
