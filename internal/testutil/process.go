package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a server (zkd or Apache ZooKeeper) a test runs as a child process,
// in its own process group, with its output in a log file.
type Process struct {
	Cmd     *exec.Cmd
	LogPath string
	exited  chan struct{}
}

// StartProcess runs name with args in dir ("" for the test's own), stdout and stderr
// appended to logPath. The JVM
// flag variables (JVMFLAGS, SERVER_JVMFLAGS) are left out of its environment: zkd
// honours -D properties in them, and a developer's settings must not leak into
// the server under test. The process is stopped in Cleanup, and the test fails
// if its output holds a data race report (a zkd built with ZKD_TEST_RACE set).
func StartProcess(t testing.TB, dir, logPath, name string, args ...string) *Process {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var logStart int64 // the log is shared with earlier runs of the same server
	if fi, err := logFile.Stat(); err == nil {
		logStart = fi.Size()
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JVMFLAGS=") && !strings.HasPrefix(kv, "SERVER_JVMFLAGS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{Cmd: cmd, LogPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.exited) }()
	t.Cleanup(func() {
		p.Stop()
		if report := raceReportIn(logPath, logStart); report != "" {
			t.Errorf("%s reported a data race (log %s):\n%s", name, logPath, report)
		}
	})
	return p
}

// raceReportMarker opens each report of the race detector, which a binary built
// with -race writes to its standard error before it carries on.
const raceReportMarker = "WARNING: DATA RACE"

// raceReportIn returns the first race report in the file from offset on, cut to
// a readable length, or "" if there is none (or the file cannot be read).
func raceReportIn(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) <= offset {
		return ""
	}
	out := string(b[offset:])
	i := strings.Index(out, raceReportMarker)
	if i < 0 {
		return ""
	}
	out = out[i:]
	const maxReport = 8 << 10
	if len(out) > maxReport {
		out = out[:maxReport] + "\n[...]"
	}
	return out
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// stopTimeout is how long Stop waits after SIGTERM before it kills.
const stopTimeout = 15 * time.Second

// Stop sends SIGTERM and waits for the exit, killing the process if it is still
// there after stopTimeout; it reports whether SIGTERM alone stopped it.
func (p *Process) Stop() bool {
	select {
	case <-p.exited:
		return true
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(stopTimeout):
		_ = p.Cmd.Process.Kill()
		<-p.exited
		return false
	}
}

// Kill stops the process with SIGKILL, as a crash would.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// TailFile returns the last n lines of a file ("" if it cannot be read).
func TailFile(path string, n int) string {
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

// ZooCfg returns a standalone zoo.cfg on 127.0.0.1:port with data in dataDir, no
// per-address connection limit and no AdminServer, followed by extra lines.
func ZooCfg(dataDir string, port int, extra string) string {
	return fmt.Sprintf("tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\n"+
		"clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n%s", dataDir, port, extra)
}
