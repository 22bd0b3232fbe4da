package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// ErrUnknownWorkload is returned by RunWorkload and Run for a name Workloads does
// not list.
var ErrUnknownWorkload = errors.New("bench: unknown workload")

// ErrNoControl is returned by a workload that must kill or restart a server when
// Config.Control is nil.
var ErrNoControl = errors.New("bench: needs servers it can stop and start")

// DurabilityNote is printed with every result and stored in every report, so a
// reader knows both servers' writes were durable when the figures were taken.
const DurabilityNote = "Both servers fdatasync every group commit before acknowledging a write " +
	"(zkd: forceSync default; Apache ZooKeeper: forceSync=yes, its default)."

var runSeq atomic.Int64

// Routes pick servers of a connect string by their role, as `srvr` reports it:
// "getdata-64x16@followers" runs on the followers only.
const (
	RouteLeader    = "leader"
	RouteFollowers = "followers"
	RouteAll       = "all"
)

// splitRoute splits "name@route".
func splitRoute(name string) (base, route string) {
	base, route, _ = strings.Cut(name, "@")
	return base, route
}

// RunWorkload runs one workload against cfg.Addr: it creates a fresh root znode,
// runs, and deletes everything it created (cleanup is not measured). A route
// suffix narrows the connect string to the servers of that role first.
func RunWorkload(ctx context.Context, cfg Config, name string) (*Result, error) {
	w, ok := LookupWorkload(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownWorkload, name)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, route := splitRoute(name); route != "" {
		addrs, err := resolveRoute(ctx, cfg.Addr, route)
		if err != nil {
			return nil, errf(name, err)
		}
		cfg.members, cfg.Addr = cfg.Addr, strings.Join(addrs, ",")
	}
	e := newEnv(&cfg, fmt.Sprintf("/zkbench-%x-%d-%s", time.Now().UnixNano()&0xffffffffff, runSeq.Add(1), strings.ReplaceAll(name, "@", "-")))
	stop := startProgress(cfg.Progress, cfg.ProgressTTY, cfg.ProgressEvery, cfg.Label+" "+name, e)
	defer stop()
	admin, err := e.dial(ctx, nil)
	if err != nil {
		return nil, errf(name, err)
	}
	defer admin.Close()
	if err := createAll(ctx, admin, []string{e.root}, nil); err != nil {
		return nil, errf(name, fmt.Errorf("create %s: %w", e.root, err))
	}
	res, err := w.run(ctx, e)

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	cerr := deleteTree(cctx, admin, e.root)
	if cerr != nil && w.control {
		// The run killed a server, maybe the one this session was on: clean up
		// through a new session (any server of the connect string).
		for i := range e.addrs {
			c, derr := e.dialAt(cctx, i, nil)
			if derr != nil {
				continue
			}
			cerr = deleteTree(cctx, c, e.root)
			c.Close()
			if cerr == nil {
				break
			}
		}
	}
	if cerr != nil {
		cfg.logger().Warn("bench: cleanup failed", "root", e.root, "err", cerr)
	}
	if err != nil {
		return nil, errf(name, err)
	}
	res.Workload, res.Server = name, cfg.Label
	if res.Mode == "" {
		res.Mode = "scenario"
	}
	res.Notes = append(e.notes(), res.Notes...)
	return res, nil
}

// needsTree reports whether any of names reads or writes the base tree.
func needsTree(names []string) bool {
	for _, n := range names {
		if w, ok := LookupWorkload(n); ok && w.tree {
			return true
		}
	}
	return false
}

// PrepareTree creates the base tree of cfg.TreeZnodes znodes on cfg.Addr unless it
// is there already (unmeasured), and reports what it did for the notes.
func PrepareTree(ctx context.Context, cfg Config) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	e := newEnv(&cfg, treeRoot)
	t0 := time.Now()
	created, err := ensureTreeOn(ctx, e)
	if err != nil {
		return "", fmt.Errorf("bench: base tree on %s: %w", cfg.Label, err)
	}
	if !created {
		return fmt.Sprintf("%s: base tree %s of %d znodes x %d B already in place", cfg.Label, treeRoot, cfg.TreeZnodes, treeDataSize), nil
	}
	return fmt.Sprintf("%s: base tree %s of %d znodes x %d B created (unmeasured) in %.1fs", cfg.Label, treeRoot, cfg.TreeZnodes, treeDataSize,
		time.Since(t0).Seconds()), nil
}

// RemoveTree deletes the base tree PrepareTree made.
func RemoveTree(ctx context.Context, cfg Config) error {
	e := newEnv(&cfg, treeRoot)
	return unload(ctx, e, treeRoot, cfg.TreeZnodes, cfg.PreloadClients)
}

// Run runs the named workloads (groups expanded) in order against one server or
// connect string, writing a summary of each to cfg.Out as it finishes. The base
// tree is created once, before the first workload that needs it, and removed at
// the end unless cfg.KeepTree; the 1M-znode workloads run together, sharing one
// preload.
func Run(ctx context.Context, cfg Config, names []string) (*Report, error) {
	names, err := ExpandNames(names)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := NewReport()
	rep.Servers = []string{cfg.Label}
	rep.Config = cfg
	if cfg.Out != nil {
		fmt.Fprintln(cfg.Out, DurabilityNote)
	}
	if needsTree(names) && !cfg.treeReady {
		cfg.progress("preparing the base tree on %s ...", cfg.Addr)
		note, err := PrepareTree(ctx, cfg)
		if err != nil {
			return rep, err
		}
		cfg.progress("%s", note)
		rep.Notes = append(rep.Notes, note)
		cfg.treeReady = true
		if !cfg.KeepTree {
			defer func() {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
				defer cancel()
				if err := RemoveTree(cctx, cfg); err != nil {
					cfg.logger().Warn("bench: removing the base tree failed", "err", err)
				}
			}()
		}
	}
	var million []string
	for _, n := range names {
		if w, _ := LookupWorkload(n); w.Group == GroupMillion {
			million = append(million, n)
		}
	}
	millionDone := false
	for _, name := range names {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		var results []*Result
		if w, _ := LookupWorkload(name); w.Group == GroupMillion {
			if millionDone {
				continue
			}
			millionDone = true
			cfg.progress("running %s against %s (%s) ...", strings.Join(million, ","), cfg.Label, cfg.Addr)
			results, err = RunMillion(ctx, cfg, million)
		} else {
			cfg.progress("running %s against %s (%s) ...", name, cfg.Label, cfg.Addr)
			var res *Result
			res, err = RunWorkload(ctx, cfg, name)
			results = []*Result{res}
		}
		if err != nil {
			return rep, err
		}
		for _, res := range results {
			rep.Runs = append(rep.Runs, res)
			if cfg.Out != nil {
				WriteResultText(cfg.Out, res)
			}
		}
	}
	return rep, nil
}

// ExpandNames checks workload names and expands "all" (every workload outside the
// 1M and ensemble groups) and the group names.
func ExpandNames(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		for _, n := range strings.Split(n, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if grp := groupNames(n); grp != nil {
				out = append(out, grp...)
				continue
			}
			base, route := splitRoute(n)
			if _, ok := LookupWorkload(base); !ok {
				return nil, fmt.Errorf("%w %q (zkd bench list shows them)", ErrUnknownWorkload, n)
			}
			switch route {
			case "", RouteLeader, RouteFollowers, RouteAll:
			default:
				return nil, fmt.Errorf("%w %q: route must be @%s, @%s or @%s", ErrUnknownWorkload, n, RouteLeader, RouteFollowers, RouteAll)
			}
			if route != "" {
				if w, _ := LookupWorkload(base); w.control || !w.Loop {
					return nil, fmt.Errorf("%w %q: only loop workloads take a route", ErrUnknownWorkload, n)
				}
			}
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("bench: no workload named")
	}
	return out, nil
}

// EnsembleWorkloads is what `zkd bench compare -ensemble N` runs by default: writes
// at 32 and 256 sessions through the followers and through the leader, reads
// spread over every server, and the leader failover.
var EnsembleWorkloads = []string{
	"setdata-32x8@" + RouteFollowers, "setdata-32x8@" + RouteLeader,
	"setdata-256x1@" + RouteFollowers, "setdata-256x1@" + RouteLeader,
	"getdata-64x16@" + RouteAll, "failover",
}

// groupNames returns the workloads of a group name, or nil.
func groupNames(n string) []string {
	var out []string
	switch n {
	case "all":
		for _, w := range Workloads() {
			if w.Group != GroupMillion && w.Group != GroupEnsemble {
				out = append(out, w.Name)
			}
		}
	case GroupTable, GroupMillion:
		for _, w := range Workloads() {
			if w.Group == n {
				out = append(out, w.Name)
			}
		}
	case GroupEnsemble:
		out = append(out, EnsembleWorkloads...)
	}
	return out
}
