package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"zkd/bench"
)

// benchDefaultCompare is what `zkd bench compare` runs when none are named.
const benchDefaultCompare = "latency,create-c32,setdata-c32,getdata-pipe,kafka"

// benchMain runs `zkd bench ...`; args excludes "bench". It returns the exit code.
func benchMain(args []string) int {
	stdout, stderr := os.Stdout, os.Stderr
	if len(args) > 0 {
		switch args[0] {
		case "list":
			benchListWorkloads(stdout)
			return 0
		case "compare":
			return benchCompare(args[1:], stdout, stderr)
		case "report":
			return benchReport(args[1:], stdout, stderr)
		case "null-server":
			return benchNullServer(args[1:], stdout, stderr)
		}
	}
	return benchRun(args, stdout, stderr)
}

func benchListWorkloads(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, wl := range bench.Workloads() {
		kind := "scenario"
		if wl.Loop {
			kind = "loop"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", wl.Name, kind, wl.Help)
	}
	tw.Flush()
}

// benchOutputFlags are the report files every bench command can write.
type benchOutputFlags struct {
	json, report string
}

// addBenchFlags registers the workload flags on fs, writing into cfg.
func addBenchFlags(fs *flag.FlagSet, cfg *bench.Config, out *benchOutputFlags) {
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every random choice (keys, op mix)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time per run (each run stops at -duration or -count)")
	fs.Int64Var(&cfg.Count, "count", cfg.Count, "measured requests per run at most")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured load before each run")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "sessions of loop workloads (0: the workload's default)")
	fs.IntVar(&cfg.InFlight, "inflight", cfg.InFlight, "requests in flight per session, closed loop (0: the workload's default)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "open loop: requests/s in total; latency from the intended send time (0: closed loop)")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "requested session timeout")
	fs.IntVar(&cfg.Keys, "keys", cfg.Keys, "znodes of the read and setData workloads")
	fs.IntVar(&cfg.Children, "children", cfg.Children, "children of the getChildren2 parent")
	fs.IntVar(&cfg.Topics, "topics", cfg.Topics, "kafka: topics (znodes = topics x partitions; Kafka-sized is 10000 x 32)")
	fs.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "kafka: partitions per topic")
	fs.IntVar(&cfg.KafkaClients, "kafka-clients", cfg.KafkaClients, "kafka: sessions")
	fs.IntVar(&cfg.FanoutSessions, "fanout-sessions", cfg.FanoutSessions, "fanout: watching sessions")
	fs.IntVar(&cfg.FanoutZnodes, "fanout-znodes", cfg.FanoutZnodes, "fanout: znodes each session watches")
	fs.IntVar(&cfg.FanoutRounds, "fanout-rounds", cfg.FanoutRounds, "fanout: znodes set one after the other")
	fs.IntVar(&cfg.StormSessions, "storm-sessions", cfg.StormSessions, "storm: sessions, one ephemeral each")
	fs.IntVar(&cfg.LockContenders, "lock-contenders", cfg.LockContenders, "lock: contending sessions")
	fs.IntVar(&cfg.LatencyOps, "latency-ops", cfg.LatencyOps, "latency: requests of each kind")
	fs.StringVar(&out.json, "json", "", "write every result as JSON to this file")
	fs.StringVar(&out.report, "report", "", "write latency CDFs and throughput over time to this file (.html, else SVG)")
}

func benchUsage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "%s\n\nWorkloads (zkd bench list): %s, or all.\n\nFlags:\n", synopsis, benchWorkloadNames())
		fs.PrintDefaults()
	}
}

func benchWorkloadNames() string {
	var names []string
	for _, w := range bench.Workloads() {
		names = append(names, w.Name)
	}
	return strings.Join(names, ", ")
}

func benchRun(args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConfig()
	var out benchOutputFlags
	fs := flag.NewFlagSet("zkd bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = benchUsage(fs, "Usage: zkd bench [flags] workload[,workload...]\n       zkd bench list\n       zkd bench compare [flags] [workload...]\n       zkd bench report results.json [report.html|report.svg]\n       zkd bench null-server [-addr host:port]\n\n"+
		"Runs workloads against a running ZooKeeper-compatible server.")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "server address host:port")
	fs.StringVar(&cfg.Label, "label", cfg.Label, "name of the server in the output")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "read the server's CPU time and RSS from /proc/<pid>")
	addBenchFlags(fs, &cfg, &out)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cfg.Out = stdout
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg, fs.Args())
	if rep != nil {
		rep.Command = "zkd bench " + strings.Join(args, " ")
		if werr := benchWriteOutputs(rep, out, stdout); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "zkd bench: %v\n", err)
		return 1
	}
	return benchProblems(rep, stderr)
}

func benchCompare(args []string, stdout, stderr io.Writer) int {
	cc := bench.DefaultCompareConfig()
	var out benchOutputFlags
	fs := flag.NewFlagSet("zkd bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = benchUsage(fs, "Usage: zkd bench compare [flags] [workload[,workload...]]   (default "+benchDefaultCompare+")\n\n"+
		"Starts Apache ZooKeeper 3.8 (Debian's package, java run directly) and zkd on free 127.0.0.1 ports\n"+
		"with temporary data directories, runs the workloads on each alternately -reps times, prints\n"+
		"medians, ranges and zkd/ZooKeeper ratios, and stops both. Installs nothing.\n"+
		"In the same rotation it measures two limits: a null server (zkd bench null-server: zkd's netloop\n"+
		"answering every request with a fixed reply) and, for write workloads, append + fdatasync at the\n"+
		"workload's batching on the servers' disk; every figure is also given as a fraction of its limit.")
	fs.StringVar(&cc.Zkd, "zkd", cc.Zkd, "zkd binary to compare (build it first: make build)")
	fs.StringVar(&cc.Java, "java", cc.Java, "java executable for ZooKeeper")
	fs.StringVar(&cc.ZKClasspath, "zk-classpath", "", "ZooKeeper classpath (default: Debian's jars in /usr/share/java)")
	fs.StringVar(&cc.ZKHeap, "zk-heap", cc.ZKHeap, "ZooKeeper JVM heap, -Xms and -Xmx")
	fs.DurationVar(&cc.TickTime, "tick", cc.TickTime, "tickTime of both servers")
	fs.IntVar(&cc.Reps, "reps", cc.Reps, "repetitions (at least 3)")
	fs.BoolVar(&cc.KeepDirs, "keep", false, "keep the servers' temporary directories and logs")
	fs.BoolVar(&cc.NoLimits, "no-limits", false, "skip the null-server and disk limits")
	addBenchFlags(fs, &cc.Bench, &out)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	names := fs.Args()
	if len(names) == 0 {
		names = []string{benchDefaultCompare}
	}
	cc.Bench.Out = stdout
	cc.Bench.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Compare(ctx, cc, names)
	if rep != nil {
		rep.Command = "zkd bench compare " + strings.Join(args, " ")
		if len(rep.Summary) > 0 {
			m := rep.Machine
			fmt.Fprintf(stdout, "\n== zkd vs Apache ZooKeeper: medians [min-max] over %d repetitions; ratio = zkd/zookeeper\n", cc.Reps)
			fmt.Fprintf(stdout, "machine: %d CPUs, %s, kernel %s, %s\n", m.NumCPU, m.CPUModel, m.Kernel, m.GoVersion)
			for _, n := range rep.Notes {
				fmt.Fprintln(stdout, n)
			}
			bench.WriteSummaryText(stdout, rep.Summary, rep.Servers)
			benchWriteLimits(stdout, rep)
		}
		if werr := benchWriteOutputs(rep, out, stdout); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "zkd bench compare: %v\n", err)
		return 1
	}
	return benchProblems(rep, stderr)
}

// benchReport re-renders a -json file: `zkd bench report in.json [out.html|out.svg]`.
func benchReport(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintln(stderr, "Usage: zkd bench report results.json [report.html|report.svg]")
		return 2
	}
	rep, err := bench.ReadJSONFile(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "zkd bench report: %v\n", err)
		return 1
	}
	for _, r := range rep.Runs {
		bench.WriteResultText(stdout, r)
	}
	for _, l := range rep.Disk {
		bench.WriteDiskText(stdout, l)
	}
	if len(rep.Servers) >= 2 {
		rep.Summary = bench.Summarize(rep.Runs, rep.Servers) // with this binary's rules
		rep.Limits = bench.SummarizeLimits(rep.Runs, rep.Disk, rep.Servers)
		bench.WriteSummaryText(stdout, rep.Summary, rep.Servers)
		benchWriteLimits(stdout, rep)
	}
	if len(args) == 2 {
		if err := bench.WriteReportFile(args[1], rep); err != nil {
			fmt.Fprintf(stderr, "zkd bench report: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", args[1])
	}
	return 0
}

// benchWriteLimits prints the limit rows of a comparison, if it measured any.
func benchWriteLimits(w io.Writer, rep *bench.Report) {
	if len(rep.Limits) == 0 {
		return
	}
	fmt.Fprintf(w, "\n== limits in the same run: medians [min-max]; <server>/limit = its median requests/s over the limit's\n")
	bench.WriteLimitsText(w, rep.Limits, rep.Servers)
}

func benchWriteOutputs(rep *bench.Report, out benchOutputFlags, stdout io.Writer) error {
	if out.json != "" {
		if err := bench.WriteJSONFile(out.json, rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", out.json)
	}
	if out.report != "" {
		if err := bench.WriteReportFile(out.report, rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", out.report)
	}
	return nil
}

// benchProblems reports runs whose accounting did not add up; exit code 3 if any.
func benchProblems(rep *bench.Report, stderr io.Writer) int {
	n := 0
	for _, r := range rep.Runs {
		for _, p := range r.Problems {
			fmt.Fprintf(stderr, "zkd bench: %s on %s: %s\n", r.Workload, r.Server, p)
			n++
		}
	}
	if n > 0 {
		return 3
	}
	return 0
}
