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
// the server under test. The process is stopped in Cleanup.
func StartProcess(t testing.TB, dir, logPath, name string, args ...string) *Process {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
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
	t.Cleanup(func() { p.Stop() })
	return p
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
