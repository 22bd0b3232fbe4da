package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNoZooKeeper is returned by Compare when Debian's zookeeper package (or java) is
// not installed; the error text carries the command that installs it.
var ErrNoZooKeeper = errors.New("bench: Apache ZooKeeper not installed")

// Debian's zookeeper.jar and the jars its manifest misses (the conformance kit's
// lib/common.sh has the story): netty codec/resolver/unix-common for the client
// port, an slf4j binding with log4j 1.2 for logs.
const (
	zkJar       = "/usr/share/java/zookeeper.jar"
	zkExtraJars = "/usr/share/java/servlet-api.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:" +
		"/usr/share/java/netty-transport-native-unix-common.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
	zkMainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
	installHint = "as root: apt-get update && apt-get install -y zookeeper " +
		"(or run scripts/deps.sh, which installs the conformance kit's packages too)"
)

// Labels of the compared servers, in the order runs alternate.
const (
	LabelZooKeeper = "zookeeper"
	LabelZkd       = "zkd"
)

// CompareConfig sets up `zkd bench compare`.
type CompareConfig struct {
	Bench       Config        // workload settings; Addr, Label, ServerPID and Control are set per server
	Zkd         string        // the zkd binary (bin/zkd)
	Java        string        // java executable
	ZKClasspath string        // "" = Debian's jars
	ZKHeap      string        // -Xms and -Xmx of ZooKeeper's JVM (each, in an ensemble)
	TickTime    time.Duration // tickTime of both servers
	Reps        int           // repetitions, each runs every workload on every server
	KeepDirs    bool          // keep the temporary data directories and logs
	// NoLimits skips the same-run limits: the null server (`zkd bench null-server`)
	// and DiskLimit.
	NoLimits bool
	// Ensemble > 0 compares ensembles of that many servers (3-server Apache
	// ZooKeeper against 3-server zkd, from the same kind of zoo.cfg files).
	Ensemble int
	// Servers are the sides to run (LabelZooKeeper, LabelZkd); empty: both.
	Servers []string
}

// DefaultCompareConfig returns the comparison defaults: three repetitions, a fixed
// 2 GiB G1 heap for ZooKeeper, ZooKeeper's default tickTime, a 2 s warm-up before
// every run (ZooKeeper's JIT takes about that to reach speed), no connection limit
// (both servers run with maxClientCnxns=0) and no request cap: every run of every
// server measures the same time window.
func DefaultCompareConfig() CompareConfig {
	b := DefaultConfig()
	b.MaxConns = 0
	return CompareConfig{Bench: b, Zkd: "bin/zkd", Java: "/usr/bin/java", ZKHeap: "2g", TickTime: 2 * time.Second, Reps: 3}
}

// Validate reports an unusable comparison setup.
func (c *CompareConfig) Validate() error {
	if c.Reps < 3 {
		return errors.New("bench: compare needs at least 3 repetitions")
	}
	if c.TickTime < time.Millisecond {
		return errors.New("bench: tick time must be at least 1ms")
	}
	if c.ZKHeap == "" {
		return errors.New("bench: ZooKeeper heap size is empty")
	}
	if c.Bench.Count != 0 {
		return errors.New("bench: compare measures every server over the same time window (-duration); " +
			"a -count cap would end the faster server's runs early, so it is not allowed here")
	}
	if c.Ensemble < 0 || c.Ensemble == 1 || c.Ensemble == 2 {
		return errors.New("bench: -ensemble takes 0 (standalone) or 3 or more servers")
	}
	for _, s := range c.Servers {
		if s != LabelZooKeeper && s != LabelZkd {
			return fmt.Errorf("bench: -servers takes %s and %s, not %q", LabelZooKeeper, LabelZkd, s)
		}
	}
	b := c.Bench
	b.Addr = "127.0.0.1:1"
	return b.Validate()
}

// sides returns the servers to run, in alternation order.
func (c *CompareConfig) sides() []string {
	if len(c.Servers) == 0 {
		return []string{LabelZooKeeper, LabelZkd}
	}
	var out []string
	for _, s := range []string{LabelZooKeeper, LabelZkd} {
		if contains(c.Servers, s) {
			out = append(out, s)
		}
	}
	return out
}

// launcher starts the servers of a comparison in one temporary directory.
type launcher struct {
	cc      CompareConfig
	zkdPath string
	tmp     string
}

// Compare starts Apache ZooKeeper and zkd on free loopback ports, each with its own
// temporary data directory, runs every named workload on both alternately (ZooKeeper,
// zkd, ZooKeeper, zkd, ...) Reps times, stops both, and returns the runs with a
// summary of medians, ranges and zkd/ZooKeeper ratios. Nothing is installed: a
// missing ZooKeeper gives ErrNoZooKeeper with the install command.
//
// Every run has the same warm-up and the same time window on both servers. The
// base tree of the table workloads is created once per server, unmeasured, before
// the first repetition. The 1M-znode workloads run last in each repetition, on a
// fresh server of each kind (started for them and thrown away after), sharing one
// preload.
//
// Standalone and unless NoLimits, the same rotation measures two limits. A third
// process from the same binary, `zkd bench null-server`, answers every request
// with a fixed reply over zkd's netloop: each workload it can answer
// (NullWorkload) runs on it right after zkd. Each write workload is followed by
// DiskLimit in the comparison's temp directory (the disk of both servers' logs)
// at its batching (DiskShape), for Config.Duration. Report.Limits puts each
// server's requests/s against both.
//
// With Ensemble > 0 both sides are ensembles of that many servers, started from
// zoo.cfg files with server.N lines and a myid each; workloads with a route
// (@leader, @followers, @all) run on those members, and failover kills the leader.
func Compare(ctx context.Context, cc CompareConfig, names []string) (rep *Report, err error) {
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	names, err = ExpandNames(names)
	if err != nil {
		return nil, err
	}
	var regular, million []string
	for _, n := range names {
		if w, _ := LookupWorkload(n); w.Group == GroupMillion {
			million = append(million, n)
		} else {
			regular = append(regular, n)
		}
	}
	if cc.Ensemble > 0 && len(million) > 0 {
		return nil, fmt.Errorf("bench: %s are standalone figures; run them without -ensemble", strings.Join(million, ", "))
	}
	out := cc.Bench.Out
	if out == nil {
		out = io.Discard
	}
	sides := cc.sides()
	l := &launcher{cc: cc}
	if contains(sides, LabelZooKeeper) {
		if _, err := os.Stat(zkJar); err != nil {
			return nil, fmt.Errorf("%w (%s missing); %s", ErrNoZooKeeper, zkJar, installHint)
		}
		if _, err := exec.LookPath(cc.Java); err != nil {
			return nil, fmt.Errorf("%w (no java at %s); %s", ErrNoZooKeeper, cc.Java, installHint)
		}
	}
	if l.zkdPath, err = filepath.Abs(cc.Zkd); err != nil {
		return nil, err
	}
	if contains(sides, LabelZkd) || !cc.NoLimits {
		if st, err := os.Stat(l.zkdPath); err != nil || st.IsDir() {
			return nil, fmt.Errorf("bench: zkd binary %s not found (go build -o bin/zkd . or make build)", l.zkdPath)
		}
	}

	if l.tmp, err = os.MkdirTemp("", "zkd-bench-compare-"); err != nil {
		return nil, err
	}
	var sets []*serverSet
	var null *serverSet
	defer func() {
		for _, s := range sets {
			s.stop()
		}
		if null != nil {
			null.stop()
		}
		if cc.KeepDirs || err != nil {
			fmt.Fprintf(out, "server directories and logs kept in %s\n", l.tmp)
			return
		}
		os.RemoveAll(l.tmp)
	}()

	limits := !cc.NoLimits && cc.Ensemble == 0 && len(regular) > 0
	diskDir := filepath.Join(l.tmp, "disk")
	if len(regular) > 0 {
		for _, side := range sides {
			var s *serverSet
			if cc.Ensemble > 0 {
				s, err = l.startEnsemble(ctx, side, filepath.Join(l.tmp, side), cc.Ensemble)
			} else {
				s, err = l.startStandalone(ctx, side, filepath.Join(l.tmp, side))
			}
			if s != nil {
				sets = append(sets, s)
			}
			if err != nil {
				return nil, err
			}
			for _, m := range s.members {
				fmt.Fprintf(out, "%s: pid %d on %s (dir %s)\n", m.label, m.pid(), m.addr, m.dir)
			}
		}
		if limits {
			null, err = l.startNull(ctx, filepath.Join(l.tmp, "null"))
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(out, "%s: pid %d on %s\n", NullServerLabel, null.members[0].pid(), null.members[0].addr)
			if err := os.MkdirAll(diskDir, 0o755); err != nil {
				return nil, err
			}
		}
	}
	fmt.Fprintln(out, DurabilityNote)

	rep = NewReport()
	rep.Config = cc.Bench
	rep.Servers = sides
	rep.Notes = append(rep.Notes, l.notes(limits, diskDir, len(million) > 0)...)
	// A report is summarised even when a run fails half-way.
	defer func() {
		rep.Summary = Summarize(rep.Runs, rep.Servers)
		rep.Limits = SummarizeLimits(rep.Runs, rep.Disk, rep.Servers)
	}()

	base := cc.Bench
	if needsTree(regular) {
		for _, s := range sets {
			cfg := base
			cfg.Addr, cfg.Label, cfg.Control = s.connect(), s.label, s
			fmt.Fprintf(out, "preparing the base tree on %s ...\n", s.label)
			note, err := PrepareTree(ctx, cfg)
			if err != nil {
				return rep, err
			}
			fmt.Fprintln(out, note)
			rep.Notes = append(rep.Notes, note)
		}
	}
	base.treeReady = true // on every server of sets; the null server needs none

	for r := 1; r <= cc.Reps; r++ {
		for _, name := range regular {
			order := append([]*serverSet(nil), sets...)
			if null != nil && NullWorkload(name) {
				order = append(order, null)
			}
			for _, s := range order {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				if err := s.alive(); err != nil {
					return rep, err
				}
				cfg := base
				cfg.Addr, cfg.Label, cfg.Control = s.connect(), s.label, s
				fmt.Fprintf(out, "[rep %d/%d] %s on %s ...\n", r, cc.Reps, name, s.label)
				res, err := RunWorkload(ctx, cfg, name)
				if err != nil {
					return rep, fmt.Errorf("%s on %s: %w", name, s.label, err)
				}
				res.Rep = r
				rep.Runs = append(rep.Runs, res)
				WriteResultText(out, res)
			}
			if batch, entry, ok := DiskShape(cc.Bench, name); ok && limits {
				fmt.Fprintf(out, "[rep %d/%d] %s on the disk ...\n", r, cc.Reps, name)
				lr, err := DiskLimit(ctx, diskDir, entry, batch, cc.Bench.Duration)
				if err != nil {
					return rep, fmt.Errorf("%s disk limit: %w", name, err)
				}
				lr.Workload, lr.Rep = name, r
				rep.Disk = append(rep.Disk, lr)
				WriteDiskText(out, lr)
			}
		}
		if len(million) > 0 {
			for _, side := range sides {
				fmt.Fprintf(out, "[rep %d/%d] %s on a fresh %s ...\n", r, cc.Reps, strings.Join(million, ","), side)
				results, err := l.runMillion(ctx, side, r, million)
				if err != nil {
					return rep, fmt.Errorf("%s on %s: %w", GroupMillion, side, err)
				}
				for _, res := range results {
					res.Rep = r
					rep.Runs = append(rep.Runs, res)
					WriteResultText(out, res)
				}
			}
		}
	}
	return rep, nil
}

// notes describe a comparison's set-up for its report.
func (l *launcher) notes(limits bool, diskDir string, million bool) []string {
	cc := l.cc
	shape := "standalone servers"
	if cc.Ensemble > 0 {
		shape = fmt.Sprintf("%d-server ensembles (server.N lines and myid, all on 127.0.0.1)", cc.Ensemble)
	}
	out := []string{
		fmt.Sprintf("Apache ZooKeeper (Debian %s) on java with -Xms%s -Xmx%s -XX:+UseG1GC, forceSync=yes, tickTime=%dms; zkd %s; same tickTime and zoo.cfg keys; %s.",
			zkVersion(), cc.ZKHeap, cc.ZKHeap, cc.TickTime.Milliseconds(), l.zkdPath, shape),
		fmt.Sprintf("%d repetitions; each runs every workload on %s%s; figures are medians [min-max] over repetitions, "+
			"ratios zkd/zookeeper per repetition.", cc.Reps, strings.Join(cc.sides(), " then "), limitsOrder(limits)),
		fmt.Sprintf("Every run: %v unmeasured warm-up, then a %v measured window, the same on every server (no request cap).",
			cc.Bench.Warmup, cc.Bench.Duration),
		"The servers stay up for the whole comparison (the idle one too); the load generator shares the machine's CPUs with them, unpinned.",
	}
	if million {
		out = append(out, fmt.Sprintf("The %s workloads run on a fresh server of each kind per repetition (empty data directory), "+
			"restarted with SIGKILL for restart and memory after restart.", GroupMillion))
	}
	if limits {
		fs := filesystemOf(diskDir)
		if fs == "" {
			fs = "its file system"
		}
		out = append(out,
			fmt.Sprintf("Limits, same run and rotation: %s = `zkd bench null-server`, zkd's netloop answering every request with a fixed reply "+
				"(no state, no disk: what the network and syscalls allow).", NullServerLabel),
			fmt.Sprintf("disk = one write + fdatasync per batch into a zero-filled file in the servers' temp directory (%s), "+
				"batch = the workload's sessions x requests in flight, entry = data + path + %d B of txn framing.", fs, txnFraming),
			"A fraction is a server's median over the limit's median (the limit's over the server's for a latency): 1 is the limit.")
	}
	return out
}

func limitsOrder(limits bool) string {
	if !limits {
		return ""
	}
	return " then its limits (" + NullServerLabel + ", disk)"
}

// newServer describes a server of kind side in dir listening on port, with
// peers' server.N lines if it is an ensemble member, and writes its zoo.cfg.
func (l *launcher) newServer(side, label, dir string, port int, peers []Peer) (*server, error) {
	if err := prepareDir(dir, ZooCfg(dir, port, l.cc.TickTime, peers)); err != nil {
		return nil, err
	}
	s := &server{label: label, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir,
		dataDirs: []string{filepath.Join(dir, "data"), filepath.Join(dir, "log")}, log: filepath.Join(dir, "server.out")}
	switch side {
	case LabelZooKeeper:
		if err := os.WriteFile(filepath.Join(dir, "log4j.properties"), []byte(log4jProperties), 0o644); err != nil {
			return nil, err
		}
		s.bin, s.args = l.cc.Java, zkArgs(l.cc, dir)
	default:
		s.bin, s.args = l.zkdPath, zkdArgs(dir)
	}
	return s, nil
}

// zkArgs is ZooKeeper's java command line for the server in dir.
func zkArgs(cc CompareConfig, dir string) []string {
	cp := cc.ZKClasspath
	if cp == "" {
		parts := []string{zkJar}
		for _, j := range strings.Split(zkExtraJars, ":") {
			if _, err := os.Stat(j); err == nil {
				parts = append(parts, j)
			}
		}
		cp = strings.Join(parts, ":")
	}
	return []string{
		"-Xms" + cc.ZKHeap, "-Xmx" + cc.ZKHeap, "-XX:+UseG1GC", "-Djava.net.preferIPv4Stack=true",
		"-Dfile.encoding=UTF-8", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties"),
		"-Dzookeeper.root.logger=WARN,CONSOLE", "-Dzookeeper.jmx.log4j.disable=true",
		"-Dzookeeper.admin.enableServer=false", "-Dzookeeper.forceSync=yes",
		"-Dzookeeper.log.dir=" + dir,
		"-cp", cp, zkMainClass, filepath.Join(dir, "zoo.cfg"),
	}
}

// zkdArgs is zkd's command line for the server in dir: `zkd zoo.cfg`, quieter.
func zkdArgs(dir string) []string {
	return []string{"-log-level", "warn", filepath.Join(dir, "zoo.cfg")}
}

// startStandalone starts one server of kind side in dir on a free port and waits
// until it accepts a session.
func (l *launcher) startStandalone(ctx context.Context, side, dir string) (*serverSet, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s, err := l.newServer(side, side, dir, port, nil)
	if err != nil {
		return nil, err
	}
	set := &serverSet{label: side, members: []*server{s}}
	if err := s.launch(); err != nil {
		return nil, err
	}
	return set, s.waitSession(ctx, l.cc.Bench.SessionTimeout)
}

// startEnsemble writes n zoo.cfg files with server.1..n lines on free loopback
// ports and a myid each under dir, starts one server of kind side per file, and
// waits until one is leader and the others follow (srvr).
func (l *launcher) startEnsemble(ctx context.Context, side, dir string, n int) (*serverSet, error) {
	peers, err := PlanEnsemble(dir, n, freePort)
	if err != nil {
		return nil, err
	}
	if err := WriteEnsemble(peers, l.cc.TickTime); err != nil {
		return nil, err
	}
	set := &serverSet{label: side}
	for _, p := range peers {
		s, err := l.newServer(side, side+"."+strconv.Itoa(p.ID), p.Dir, p.ClientPort, peers)
		if err != nil {
			return set, err
		}
		set.members = append(set.members, s)
		if err := s.launch(); err != nil {
			return set, err
		}
	}
	addrs, _ := ParseConnectString(set.connect())
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	died := make(chan error, 1)
	go func() { // a member that exits while the ensemble forms fails the start at once
		for wctx.Err() == nil {
			if err := set.alive(); err != nil {
				died <- err
				cancel()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	_, err = waitEnsemble(wctx, addrs, 120*time.Second)
	select {
	case derr := <-died:
		return set, derr
	default:
	}
	if err != nil {
		var logs []string
		for _, m := range set.members {
			logs = append(logs, m.log)
		}
		return set, fmt.Errorf("bench: %s ensemble: %w; logs: %s", side, err, strings.Join(logs, " "))
	}
	return set, nil
}

// startNull runs `zkd bench null-server` on a free loopback port.
func (l *launcher) startNull(ctx context.Context, dir string) (*serverSet, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &server{label: NullServerLabel, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir,
		bin: l.zkdPath, args: []string{"bench", "null-server", "-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))},
		log: filepath.Join(dir, "server.out")}
	set := &serverSet{label: NullServerLabel, members: []*server{s}}
	if err := s.launch(); err != nil {
		return nil, err
	}
	if err := s.waitSession(ctx, l.cc.Bench.SessionTimeout); err != nil {
		s.stop()
		return nil, err
	}
	return set, nil
}

// runMillion runs the GroupMillion workloads on a fresh standalone server of kind
// side, then stops it and removes its directory (unless KeepDirs).
func (l *launcher) runMillion(ctx context.Context, side string, rep int, names []string) (results []*Result, err error) {
	dir := filepath.Join(l.tmp, fmt.Sprintf("%s-%s-r%d", side, GroupMillion, rep))
	var set *serverSet
	set, err = l.startStandalone(ctx, side, dir)
	if set != nil {
		defer func() {
			set.stop()
			if !l.cc.KeepDirs && err == nil {
				os.RemoveAll(dir)
			}
		}()
	}
	if err != nil {
		return nil, err
	}
	cfg := l.cc.Bench
	cfg.Addr, cfg.Label, cfg.Control, cfg.disposable = set.connect(), side, set, true
	return RunMillion(ctx, cfg, names)
}

const log4jProperties = `log4j.rootLogger=${zookeeper.root.logger}
zookeeper.root.logger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Threshold=WARN
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

// zkVersion reads the Debian package version from dpkg's status file.
func zkVersion() string {
	b, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		return "zookeeper"
	}
	for _, para := range strings.Split(string(b), "\n\n") {
		if !strings.HasPrefix(para, "Package: zookeeper\n") {
			continue
		}
		for _, line := range strings.Split(para, "\n") {
			if v, ok := strings.CutPrefix(line, "Version: "); ok {
				return "zookeeper " + v
			}
		}
	}
	return "zookeeper"
}
