package compat

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	curatorOnce    sync.Once
	curatorClasses string
	curatorErr     error
)

// compileCurator compiles testdata/CuratorCompat.java once per package run.
func compileCurator(t *testing.T) string {
	t.Helper()
	curatorOnce.Do(func() {
		out := filepath.Join(pkgDir, "curator")
		if curatorErr = os.MkdirAll(out, 0o755); curatorErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "javac", "-nowarn", "-Xlint:-deprecation", "-encoding", "UTF-8",
			"-cp", classpath(zkJars, curatorJars), "-d", out, testdata(t, "CuratorCompat.java"))
		if b, err := cmd.CombinedOutput(); err != nil {
			curatorErr = fmt.Errorf("javac CuratorCompat.java: %v\n%s", err, b)
			return
		}
		curatorClasses = out
	})
	if curatorErr != nil {
		t.Fatal(curatorErr)
	}
	return curatorClasses
}

// TestCurator runs testdata/CuratorCompat.java: Curator 5.4's recipes, caches,
// transactions and node kinds, one subtest per check the program prints.
func TestCurator(t *testing.T) {
	long(t)
	forEachServer(t, curatorSuite(t))
}

// curatorSuite compiles the Curator program and returns what runs it against a
// server.
func curatorSuite(t *testing.T) func(*suite) {
	t.Helper()
	need(t, javaBin, "javac")
	needJars(t, zkJars, curatorJars)
	classes := compileCurator(t)
	log4j := testdata(t, "log4j-client.properties")
	return func(s *suite) {
		p, err := startProc(s.t, "CuratorCompat", nil, false, javaBin, "-Xmx512m", "-XX:TieredStopAtLevel=1",
			"-Dlog4j.configuration=file:"+log4j, "-cp", classes+":"+classpath(zkJars, curatorJars),
			"CuratorCompat", s.server.addr)
		if err != nil {
			s.t.Fatal(err)
		}
		s.runCheckLines(p, 3*time.Minute, nil)
	}
}
