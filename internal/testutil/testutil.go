// Package testutil holds the helpers that tests of several packages share when
// they run zkd or Apache ZooKeeper as separate processes: a free loopback port,
// the zkd binary built once per test binary, the module root, and the rule for a
// missing external tool (fail in CI, where scripts/deps.sh installs it; skip
// elsewhere); and the process's own CPU time and RSS that benchmarks report. It
// imports only the standard library and is imported only by tests.
package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePort returns a port the kernel just handed out on 127.0.0.1, and never one
// an earlier call in this process returned. The listener is closed before
// FreePort returns, so the kernel may hand the same port out again at once: a
// test that asked for a server's ports one after the other was given one port
// for two of them, and its ensemble could not start.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		handedOut.Lock()
		seen := handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if !seen {
			return port
		}
	}
	t.Fatal("testutil: the kernel handed out no new port in 100 tries")
	return 0
}

// handedOut is every port FreePort has returned in this process.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// ModuleRoot returns the directory holding go.mod, above the test's directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: no go.mod above the test directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// RaceEnv, when set, has BuildZkd build zkd with the race detector, so that tests
// which run it as a process find races in it too (`make race` sets it).
const RaceEnv = "ZKD_TEST_RACE"

// BuildZkd builds the repository's zkd once per test binary and returns its path.
// The binary lives in a temporary directory, which Main removes: a package whose
// tests call it runs them through Main.
func BuildZkd(t testing.TB) string {
	t.Helper()
	root := ModuleRoot(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "zkd-test-bin-")
		if buildErr != nil {
			return
		}
		bin := filepath.Join(buildDir, "zkd")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := []string{"build", "-o", bin}
		if os.Getenv(RaceEnv) != "" {
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Main is a package's TestMain: it runs the tests, then cleanups, then removes
// the binary BuildZkd made, if any, and exits with the tests' status.
// internal/lint checks that every package that builds zkd uses it.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// ErrMissing marks a missing external tool in messages.
var ErrMissing = errors.New("not installed")

// Missing fails the test when the environment variable CI is set (CI installs every
// tool with scripts/deps.sh, so a missing one is a broken set-up) and skips it
// otherwise, with msg saying what is missing.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v (scripts/deps.sh installs it)", msg, ErrMissing)
	}
	t.Skipf("%s: %v; install with scripts/deps.sh", msg, ErrMissing)
}

// SimSeeds returns the seeds a seeded simulation test runs: n of them from first,
// or, for runs longer than CI's, ZKD_SIM_SEEDS of them from ZKD_SIM_SEED0 (first
// when unset). Such runs, over a few thousand seeds, have found what CI's handful
// never met.
func SimSeeds(first uint64, n int) []uint64 {
	if v, err := strconv.Atoi(os.Getenv("ZKD_SIM_SEEDS")); err == nil && v > 0 {
		n = v
		if s, err := strconv.ParseUint(os.Getenv("ZKD_SIM_SEED0"), 10, 64); err == nil {
			first = s
		}
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = first + uint64(i)
	}
	return seeds
}

// ArtifactDir returns a directory for what a failing test leaves to be read
// afterwards (a violating history, a server's data): a fresh one under
// ZKD_TEST_ARTIFACTS when that is set, so it outlives the test run, and
// t.TempDir() otherwise. Failures seen once in many runs are only worth their
// cost if what they found can be read.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("ZKD_TEST_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatalf("artifact directory: %v", err)
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	dir, err := os.MkdirTemp(root, name+"-")
	if err != nil {
		t.Fatalf("artifact directory: %v", err)
	}
	return dir
}
