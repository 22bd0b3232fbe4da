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
	"syscall"
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

// CompareConfig sets up `zkd bench compare`.
type CompareConfig struct {
	Bench       Config        // workload settings; Addr, Label and ServerPID are set per server
	Zkd         string        // the zkd binary (bin/zkd)
	Java        string        // java executable
	ZKClasspath string        // "" = Debian's jars
	ZKHeap      string        // -Xms and -Xmx of ZooKeeper's JVM
	TickTime    time.Duration // tickTime of both servers
	Reps        int           // repetitions, each runs every workload on every server
	KeepDirs    bool          // keep the temporary data directories and logs
	// NoLimits skips the same-run limits: the null server (`zkd bench null-server`)
	// and DiskLimit.
	NoLimits bool
}

// DefaultCompareConfig returns the comparison defaults: three repetitions, 1 GB
// heap, ZooKeeper's default tickTime, and a 1 s warm-up before every run.
func DefaultCompareConfig() CompareConfig {
	b := DefaultConfig()
	b.Warmup = time.Second
	return CompareConfig{Bench: b, Zkd: "bin/zkd", Java: "/usr/bin/java", ZKHeap: "1g", TickTime: 2 * time.Second, Reps: 3}
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
	b := c.Bench
	b.Addr = "127.0.0.1:1"
	return b.Validate()
}

// server is one server process under test.
type server struct {
	label  string
	addr   string
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	log    string        // its stdout+stderr file
}

// Compare starts Apache ZooKeeper and zkd on free loopback ports, each with its own
// temporary data directory, runs every named workload on both alternately (ZooKeeper,
// zkd, ZooKeeper, zkd, ...) Reps times, stops both, and returns the runs with a
// summary of medians, ranges and zkd/ZooKeeper ratios. Nothing is installed: a
// missing ZooKeeper gives ErrNoZooKeeper with the install command.
//
// Unless NoLimits, the same rotation measures two limits. A third process from the
// same binary, `zkd bench null-server`, answers every request with a fixed reply
// over zkd's netloop: each workload it can answer (NullWorkload) runs on it right
// after zkd. Each write workload is followed by DiskLimit in the comparison's temp
// directory (the disk of both servers' logs) at its batching (DiskShape), for
// Config.Duration. Report.Limits puts each server's requests/s against both.
func Compare(ctx context.Context, cc CompareConfig, names []string) (rep *Report, err error) {
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	names, err = ExpandNames(names)
	if err != nil {
		return nil, err
	}
	out := cc.Bench.Out
	if out == nil {
		out = io.Discard
	}
	if _, err := os.Stat(zkJar); err != nil {
		return nil, fmt.Errorf("%w (%s missing); %s", ErrNoZooKeeper, zkJar, installHint)
	}
	if _, err := exec.LookPath(cc.Java); err != nil {
		return nil, fmt.Errorf("%w (no java at %s); %s", ErrNoZooKeeper, cc.Java, installHint)
	}
	zkdPath, err := filepath.Abs(cc.Zkd)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(zkdPath); err != nil || st.IsDir() {
		return nil, fmt.Errorf("bench: zkd binary %s not found (go build -o bin/zkd . or make build)", zkdPath)
	}

	tmp, err := os.MkdirTemp("", "zkd-bench-compare-")
	if err != nil {
		return nil, err
	}
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
		if cc.KeepDirs || err != nil {
			fmt.Fprintf(out, "server directories and logs kept in %s\n", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()

	zk, err := startZooKeeper(ctx, cc, filepath.Join(tmp, "zookeeper"))
	if zk != nil {
		servers = append(servers, zk)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "zookeeper: pid %d on %s (dir %s)\n", zk.cmd.Process.Pid, zk.addr, zk.dir)
	zd, err := startZkd(ctx, cc, zkdPath, filepath.Join(tmp, "zkd"))
	if zd != nil {
		servers = append(servers, zd)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "zkd: pid %d on %s (dir %s)\n", zd.cmd.Process.Pid, zd.addr, zd.dir)
	var null *server
	diskDir := filepath.Join(tmp, "disk")
	if !cc.NoLimits {
		null, err = startNullServer(ctx, cc, zkdPath, filepath.Join(tmp, "null"))
		if null != nil {
			servers = append(servers, null)
		}
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "%s: pid %d on %s\n", null.label, null.cmd.Process.Pid, null.addr)
		if err := os.MkdirAll(diskDir, 0o755); err != nil {
			return nil, err
		}
	}
	fmt.Fprintln(out, DurabilityNote)

	rep = NewReport()
	rep.Config = cc.Bench
	rep.Servers = []string{zk.label, zd.label}
	rep.Notes = append(rep.Notes,
		fmt.Sprintf("Apache ZooKeeper (Debian %s) on java with -Xms%s -Xmx%s -XX:+UseG1GC, forceSync=yes, tickTime=%dms; zkd %s; same tickTime.",
			zkVersion(), cc.ZKHeap, cc.ZKHeap, cc.TickTime.Milliseconds(), zkdPath),
		fmt.Sprintf("%d repetitions; each runs every workload on zookeeper then zkd%s; figures are medians [min-max] over repetitions.", cc.Reps, limitsOrder(cc)),
		"Both servers stay up for the whole comparison (the idle one too); the load generator shares the machine's CPUs with them, unpinned.")
	if null != nil {
		fs := filesystemOf(diskDir)
		if fs == "" {
			fs = "its file system"
		}
		rep.Notes = append(rep.Notes,
			fmt.Sprintf("Limits, same run and rotation: %s = `zkd bench null-server`, zkd's netloop answering every request with a fixed reply "+
				"(no state, no disk: what the network and syscalls allow).", NullServerLabel),
			fmt.Sprintf("disk = one write + fdatasync per batch into a zero-filled file in the servers' temp directory (%s), "+
				"batch = the workload's sessions, entry = data + path + %d B of txn framing.", fs, txnFraming),
			"A fraction is a server's median requests/s over the limit's median.")
	}
	// A report is summarised even when a run fails half-way.
	defer func() {
		rep.Summary = Summarize(rep.Runs, rep.Servers)
		rep.Limits = SummarizeLimits(rep.Runs, rep.Disk, rep.Servers)
	}()
	for r := 1; r <= cc.Reps; r++ {
		for _, name := range names {
			for _, s := range servers {
				if s == null && !NullWorkload(name) {
					continue
				}
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				select {
				case <-s.exited:
					return rep, fmt.Errorf("bench: %s exited during the comparison; log: %s", s.label, s.log)
				default:
				}
				cfg := cc.Bench
				cfg.Addr, cfg.Label, cfg.ServerPID = s.addr, s.label, s.cmd.Process.Pid
				fmt.Fprintf(out, "[rep %d/%d] %s on %s ...\n", r, cc.Reps, name, s.label)
				res, err := RunWorkload(ctx, cfg, name)
				if err != nil {
					return rep, fmt.Errorf("%s on %s: %w", name, s.label, err)
				}
				res.Rep = r
				rep.Runs = append(rep.Runs, res)
				WriteResultText(out, res)
			}
			if batch, entry, ok := DiskShape(cc.Bench, name); ok && null != nil {
				fmt.Fprintf(out, "[rep %d/%d] %s on the disk ...\n", r, cc.Reps, name)
				l, err := DiskLimit(ctx, diskDir, entry, batch, cc.Bench.Duration)
				if err != nil {
					return rep, fmt.Errorf("%s disk limit: %w", name, err)
				}
				l.Workload, l.Rep = name, r
				rep.Disk = append(rep.Disk, l)
				WriteDiskText(out, l)
			}
		}
	}
	return rep, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// zooCfg is the zoo.cfg both servers get (zkd reads the same keys).
func zooCfg(dir string, port int, tick time.Duration) string {
	return fmt.Sprintf(`tickTime=%d
initLimit=10
syncLimit=5
dataDir=%s/data
dataLogDir=%s/log
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
autopurge.purgeInterval=0
forceSync=yes
`, tick.Milliseconds(), dir, dir, port)
}

const log4jProperties = `log4j.rootLogger=${zookeeper.root.logger}
zookeeper.root.logger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Threshold=WARN
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

func prepareDir(dir string, port int, tick time.Duration) error {
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(zooCfg(dir, port, tick)), 0o644)
}

func startZooKeeper(ctx context.Context, cc CompareConfig, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, port, cc.TickTime); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "log4j.properties"), []byte(log4jProperties), 0o644); err != nil {
		return nil, err
	}
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
	args := []string{
		"-Xms" + cc.ZKHeap, "-Xmx" + cc.ZKHeap, "-XX:+UseG1GC", "-Djava.net.preferIPv4Stack=true",
		"-Dfile.encoding=UTF-8", "-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + filepath.Join(dir, "log4j.properties"),
		"-Dzookeeper.root.logger=WARN,CONSOLE", "-Dzookeeper.jmx.log4j.disable=true",
		"-Dzookeeper.admin.enableServer=false", "-Dzookeeper.forceSync=yes",
		"-Dzookeeper.log.dir=" + dir,
		"-cp", cp, zkMainClass, filepath.Join(dir, "zoo.cfg"),
	}
	return startServer(ctx, "zookeeper", dir, port, cc.Java, args, cc.Bench.SessionTimeout)
}

func startZkd(ctx context.Context, cc CompareConfig, bin, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, port, cc.TickTime); err != nil {
		return nil, err
	}
	args := []string{"-config", filepath.Join(dir, "zoo.cfg"), "-log-level", "warn"}
	return startServer(ctx, "zkd", dir, port, bin, args, cc.Bench.SessionTimeout)
}

func limitsOrder(cc CompareConfig) string {
	if cc.NoLimits {
		return ""
	}
	return " then its limits (" + NullServerLabel + ", disk)"
}

// startNullServer runs `zkd bench null-server` on a free loopback port.
func startNullServer(ctx context.Context, cc CompareConfig, bin, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"bench", "null-server", "-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	return startServer(ctx, NullServerLabel, dir, port, bin, args, cc.Bench.SessionTimeout)
}

// startServer runs name with args, output to dir/server.out, and waits until a
// session handshake succeeds on its port (60 s at most).
func startServer(ctx context.Context, label, dir string, port int, name string, args []string, timeout time.Duration) (*server, error) {
	logPath := filepath.Join(dir, "server.out")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's Ctrl-C goes to us; we stop it
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: start %s: %w", label, err)
	}
	s := &server{label: label, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, cmd: cmd,
		exited: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); logf.Close(); close(s.exited) }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := Dial(ctx, s.addr, DialOptions{SessionTimeout: timeout, ConnectTimeout: 2 * time.Second})
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return s, fmt.Errorf("bench: %s exited while starting; log: %s\n%s", label, logPath, tail(logPath, 20))
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("bench: %s did not accept a session on %s within 60s; log: %s", label, s.addr, logPath)
		}
	}
}

// stop sends SIGTERM, waits up to 15 s, then SIGKILL.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

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
