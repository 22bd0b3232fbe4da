package zoocfg

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"zkd/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/zookeeper/*.golden from Apache ZooKeeper's classes")

// zkJar is Debian's Apache ZooKeeper 3.8 (scripts/deps.sh installs it).
const zkJar = "/usr/share/java/zookeeper.jar"

// TestGoldenFilesMatchZooKeeper runs testdata/zookeeper/ZkPrint.java against
// Apache ZooKeeper's own QuorumServer, QuorumMaj and writeDynamicConfig, and checks
// that the golden files the other tests compare zkd with are what ZooKeeper prints
// today (with -update: rewrites them).
func TestGoldenFilesMatchZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs Java (~7 s); skipped with -short")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		testutil.Missing(t, "java")
	}
	javac, err := exec.LookPath("javac")
	if err != nil {
		testutil.Missing(t, "javac (a JDK)")
	}
	if _, err := os.Stat(zkJar); err != nil {
		testutil.Missing(t, "Apache ZooKeeper ("+zkJar+")")
	}
	src, err := filepath.Abs(filepath.Join("testdata", "zookeeper"))
	if err != nil {
		t.Fatal(err)
	}
	classes := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, javac, "-nowarn", "-cp", zkJar, "-d", classes,
		filepath.Join(src, "ZkPrint.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	for _, run := range []struct {
		mode, input, golden string
		jvmFlags            []string
	}{
		{"servers", "servers.txt", "servers.golden", []string{"-Dzookeeper.multiAddress.enabled=true"}},
		{"memberships", "memberships.txt", "memberships.golden", nil},
	} {
		args := append(run.jvmFlags, "-cp", zkJar+":"+classes, "ZkPrint", run.mode, filepath.Join(src, run.input))
		cmd := exec.CommandContext(ctx, java, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("ZkPrint %s: %v\n%s", run.mode, err, stderr.Bytes())
		}
		path := filepath.Join(src, run.golden)
		if *update {
			if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stdout.Bytes(), want) {
			t.Errorf("%s differs from what ZooKeeper prints now (go test -run %s -update rewrites it):\n%s",
				run.golden, t.Name(), stdout.Bytes())
		}
	}
}
