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

// DurabilityNote is printed with every result and stored in every report, so a
// reader knows both servers' writes were durable when the figures were taken.
const DurabilityNote = "Both servers fdatasync every group commit before acknowledging a write " +
	"(zkd: forceSync default; Apache ZooKeeper: forceSync=yes, its default)."

var runSeq atomic.Int64

// RunWorkload runs one workload against cfg.Addr: it creates a fresh root znode,
// runs, and deletes everything it created (cleanup is not measured).
func RunWorkload(ctx context.Context, cfg Config, name string) (*Result, error) {
	w, ok := LookupWorkload(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownWorkload, name)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &env{cfg: &cfg, root: fmt.Sprintf("/zkbench-%x-%d-%s", time.Now().UnixNano()&0xffffffffff, runSeq.Add(1), name)}
	admin, err := e.dial(ctx, nil)
	if err != nil {
		return nil, errf(name, fmt.Errorf("connect to %s: %w", cfg.Addr, err))
	}
	defer admin.Close()
	if err := createAll(ctx, admin, []string{e.root}, nil); err != nil {
		return nil, errf(name, fmt.Errorf("create %s: %w", e.root, err))
	}
	res, err := w.run(ctx, e)

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if cerr := deleteTree(cctx, admin, e.root); cerr != nil {
		cfg.logger().Warn("bench: cleanup failed", "root", e.root, "err", cerr)
	}
	if err != nil {
		return nil, errf(name, err)
	}
	res.Workload, res.Server = name, cfg.Label
	if res.Mode == "" {
		res.Mode = "scenario"
	}
	return res, nil
}

// Run runs the named workloads ("all" for every one) in order against one server,
// writing a summary of each to cfg.Out as it finishes.
func Run(ctx context.Context, cfg Config, names []string) (*Report, error) {
	names, err := ExpandNames(names)
	if err != nil {
		return nil, err
	}
	rep := NewReport()
	rep.Servers = []string{cfg.Label}
	rep.Config = cfg
	if cfg.Out != nil {
		fmt.Fprintln(cfg.Out, DurabilityNote)
	}
	for _, name := range names {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		cfg.progress("running %s against %s (%s) ...", name, cfg.Label, cfg.Addr)
		res, err := RunWorkload(ctx, cfg, name)
		if err != nil {
			return rep, err
		}
		rep.Runs = append(rep.Runs, res)
		if cfg.Out != nil {
			WriteResultText(cfg.Out, res)
		}
	}
	return rep, nil
}

// ExpandNames checks workload names and expands "all".
func ExpandNames(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		for _, n := range strings.Split(n, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if n == "all" {
				for _, w := range Workloads() {
					out = append(out, w.Name)
				}
				continue
			}
			if _, ok := LookupWorkload(n); !ok {
				return nil, fmt.Errorf("%w %q (zkd bench list shows them)", ErrUnknownWorkload, n)
			}
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("bench: no workload named")
	}
	return out, nil
}
