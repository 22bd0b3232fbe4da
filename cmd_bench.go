package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	fmt.Fprintln(tw, "workload\tkind\tgroup\twhat")
	for _, wl := range bench.Workloads() {
		kind := "scenario"
		if wl.Loop {
			kind = "loop"
		}
		group := wl.Group
		if group == "" {
			group = "all"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", wl.Name, kind, group, wl.Help)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nGroups: all (every workload outside %s and %s), %s (the README's performance table, on the base tree), "+
		"%s (slow: 1M znodes, -znodes scales it), %s (%s).\n"+
		"A loop workload takes a route: name@leader, name@followers or name@all picks servers of the connect string by srvr mode.\n",
		bench.GroupMillion, bench.GroupEnsemble, bench.GroupTable, bench.GroupMillion, bench.GroupEnsemble,
		strings.Join(bench.EnsembleWorkloads, ","))
}

// benchOutputFlags are the report files every bench command can write, and
// whether to show the progress line.
type benchOutputFlags struct {
	json, report string
	quiet        bool
}

// setProgress sends the live progress line to stderr unless -quiet: rewritten in
// place when stderr is a terminal, one plain line every two seconds otherwise.
func setProgress(cfg *bench.Config, out benchOutputFlags, stderr io.Writer) {
	if out.quiet {
		return
	}
	cfg.Progress = stderr
	if f, ok := stderr.(*os.File); ok {
		cfg.ProgressTTY = bench.IsTerminal(f)
	}
}

// addBenchFlags registers the workload flags on fs, writing into cfg.
func addBenchFlags(fs *flag.FlagSet, cfg *bench.Config, out *benchOutputFlags) {
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every random choice (keys, op mix)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window of every run, after -warmup (the same for every server)")
	fs.Int64Var(&cfg.Count, "count", cfg.Count, "cap of measured requests per run; a run that reaches it ends early (0: no cap; compare allows none)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured load before each run's window (ZooKeeper's JIT needs about 2s)")
	fs.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "connections to hold per server at most: the server's maxClientCnxns (0: no limit); default shapes are reduced to fit")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "sessions of loop workloads (0: the workload's default)")
	fs.IntVar(&cfg.InFlight, "inflight", cfg.InFlight, "requests in flight per session, closed loop (0: the workload's default)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "open loop: requests/s in total; latency from the intended send time (0: closed loop)")
	fs.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "requested session timeout")
	fs.IntVar(&cfg.Keys, "keys", cfg.Keys, "znodes of the read and setData workloads")
	fs.IntVar(&cfg.Children, "children", cfg.Children, "children of the getChildren2 parent")
	fs.IntVar(&cfg.Topics, "topics", cfg.Topics, "kafka: topics (znodes = topics x partitions; Kafka-sized is 10000 x 32)")
	fs.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "kafka: partitions per topic")
	fs.IntVar(&cfg.KafkaClients, "kafka-clients", cfg.KafkaClients, "kafka: sessions")
	fs.IntVar(&cfg.FanoutSessions, "fanout-sessions", cfg.FanoutSessions, "fanout: watching sessions (0: 100, within -max-conns)")
	fs.IntVar(&cfg.FanoutZnodes, "fanout-znodes", cfg.FanoutZnodes, "fanout: znodes each session watches")
	fs.IntVar(&cfg.FanoutRounds, "fanout-rounds", cfg.FanoutRounds, "fanout: znodes set one after the other")
	fs.IntVar(&cfg.StormSessions, "storm-sessions", cfg.StormSessions, "storm: sessions, one ephemeral each (0: 200, within -max-conns)")
	fs.IntVar(&cfg.LockContenders, "lock-contenders", cfg.LockContenders, "lock: contending sessions")
	fs.IntVar(&cfg.LatencyOps, "latency-ops", cfg.LatencyOps, "latency: requests of each kind")
	fs.IntVar(&cfg.TreeZnodes, "tree", cfg.TreeZnodes, "table workloads: znodes of 100 B in the base tree /zkbench-tree")
	fs.IntVar(&cfg.Znodes, "znodes", cfg.Znodes, "preload-1m, mem-1m, restart-1m: znodes of 100 B (scale down for a quick run)")
	fs.IntVar(&cfg.PreloadClients, "preload-clients", cfg.PreloadClients, "sessions of a pipelined preload (256 creates in flight each)")
	fs.IntVar(&cfg.Watchers, "watchers", cfg.Watchers, "watch-500: sessions watching the one znode (0: 500, within -max-conns)")
	fs.IntVar(&cfg.StormWorkers, "storm-workers", cfg.StormWorkers, "sessions-16: workers looping connect, create ephemeral, close")
	fs.Float64Var(&cfg.OpenRate, "open-rate", cfg.OpenRate, "getdata-open: offered getData/s (open loop)")
	fs.StringVar(&out.json, "json", "", "write every result as JSON to this file")
	fs.StringVar(&out.report, "report", "", "write the summary, tables, latency CDFs and throughput over time to this file (.html, else SVG)")
	fs.BoolVar(&out.quiet, "quiet", false, "no live progress line on stderr")
}

func benchUsage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "%s\n\nWorkloads (zkd bench list): %s; groups: all, %s, %s, %s.\n\nFlags:\n", synopsis, benchWorkloadNames(),
			bench.GroupTable, bench.GroupMillion, bench.GroupEnsemble)
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
	fs.Usage = benchUsage(fs, "Usage: zkd bench [flags] workload[,workload...|group]\n       zkd bench list\n       zkd bench compare [flags] [workload...]\n       zkd bench report results.json [report.html|report.svg]\n       zkd bench null-server [-addr host:port]\n\n"+
		"Runs workloads against a running ZooKeeper-compatible server.")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "server address host:port, or a connect string host:port,host:port,... (sessions round robin)")
	fs.StringVar(&cfg.Label, "label", cfg.Label, "name of the server in the output")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "read the server's CPU time and RSS from /proc/<pid>")
	dataDirs := fs.String("data-dirs", "", "the server's data directories, comma-separated, for preload-1m's bytes on disk")
	fs.BoolVar(&cfg.KeepTree, "keep-tree", false, "leave the base tree /zkbench-tree on the server for the next run")
	tlsCA := fs.String("tls-ca", "", "connect over TLS (a secureClientPort), trusting this PEM CA file")
	tlsCert := fs.String("tls-cert", "", "with -tls-ca: client certificate, PEM")
	tlsKey := fs.String("tls-key", "", "with -tls-ca: client private key, PEM")
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
	if *tlsCA != "" {
		c, err := benchTLSConfig(*tlsCA, *tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintf(stderr, "zkd bench: %v\n", err)
			return 2
		}
		cfg.TLS = c
	}
	if *dataDirs != "" {
		cfg.DataDirs = strings.Split(*dataDirs, ",")
	}
	cfg.Out = stdout
	setProgress(&cfg, out, stderr)
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
	fs.Usage = benchUsage(fs, "Usage: zkd bench compare [flags] [workload[,workload...]]   (default "+benchDefaultCompare+
		"; with -ensemble: "+bench.GroupEnsemble+")\n\n"+
		"Starts Apache ZooKeeper 3.8 (Debian's package, java run directly) and zkd on free 127.0.0.1 ports\n"+
		"with temporary data directories, runs the workloads on each alternately -reps times (each run:\n"+
		"-warmup unmeasured, then the same -duration window on both), prints medians, ranges and\n"+
		"zkd/ZooKeeper ratios with their spread, and stops both. Installs nothing.\n"+
		"In the same rotation it measures two limits: a null server (zkd bench null-server: zkd's netloop\n"+
		"answering every request with a fixed reply) and, for write workloads, append + fdatasync at the\n"+
		"workload's batching on the servers' disk; every figure is also given as a fraction of its limit.\n"+
		"`zkd bench compare table,1m` runs the README's whole performance table (make bench-perf); -ensemble 3 compares\n"+
		"3-server ensembles started from zoo.cfg files with server.N lines, including the leader failover.")
	fs.StringVar(&cc.Zkd, "zkd", cc.Zkd, "zkd binary to compare (build it first: make build)")
	fs.StringVar(&cc.Java, "java", cc.Java, "java executable for ZooKeeper")
	fs.StringVar(&cc.ZKClasspath, "zk-classpath", "", "ZooKeeper classpath (default: Debian's jars in /usr/share/java)")
	fs.StringVar(&cc.ZKHeap, "zk-heap", cc.ZKHeap, "ZooKeeper JVM heap, -Xms and -Xmx")
	fs.DurationVar(&cc.TickTime, "tick", cc.TickTime, "tickTime of both servers")
	fs.IntVar(&cc.Reps, "reps", cc.Reps, "repetitions (at least 3)")
	fs.BoolVar(&cc.KeepDirs, "keep", false, "keep the servers' temporary directories and logs")
	fs.BoolVar(&cc.NoLimits, "no-limits", false, "skip the null-server and disk limits")
	fs.IntVar(&cc.Ensemble, "ensemble", 0, "compare ensembles of this many servers (0: standalone servers)")
	sides := fs.String("servers", "", "run only these sides: zookeeper, zkd or zookeeper,zkd (default both)")
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
		if cc.Ensemble > 0 {
			names = []string{bench.GroupEnsemble}
		}
	}
	if *sides != "" {
		cc.Servers = strings.Split(*sides, ",")
	}
	cc.Bench.Out = stdout
	setProgress(&cc.Bench, out, stderr)
	cc.Bench.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Compare(ctx, cc, names)
	if rep != nil {
		rep.Command = "zkd bench compare " + strings.Join(args, " ")
		if len(rep.Summary) > 0 {
			m := rep.Machine
			ratio := ""
			if n := len(rep.Servers); n >= 2 {
				ratio = "; ratio = " + rep.Servers[n-1] + "/" + rep.Servers[0]
			}
			fmt.Fprintf(stdout, "\n== %s: medians [min-max] over %d repetitions%s\n", strings.Join(rep.Servers, " vs "), cc.Reps, ratio)
			fmt.Fprintf(stdout, "machine: %d CPUs, %s, kernel %s, %s\n", m.NumCPU, m.CPUModel, m.Kernel, m.GoVersion)
			for _, n := range rep.Notes {
				fmt.Fprintln(stdout, n)
			}
			bench.WriteSummaryText(stdout, rep.Summary, rep.Servers)
			benchWriteLimits(stdout, rep)
			benchWriteHeadlines(stdout, rep)
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
		benchWriteHeadlines(stdout, rep)
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

// benchWriteHeadlines prints the summary last, where a terminal leaves it in view.
func benchWriteHeadlines(w io.Writer, rep *bench.Report) {
	ratio := ""
	if n := len(rep.Servers); n >= 2 {
		ratio = "; ratio " + rep.Servers[n-1] + "/" + rep.Servers[0] + " per repetition, median [min-max]"
	}
	fmt.Fprintf(w, "\n== summary: headline figures, median [min-max]%s\n", ratio)
	bench.WriteHeadlinesText(w, rep.Summary, rep.Limits, rep.Servers)
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

// benchTLSConfig is the load generator's TLS client configuration: trust the CA
// in caFile and, when given, present the client certificate.
func benchTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls-ca: no certificate in %s", caFile)
	}
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
