package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"zkd/internal/testutil"
)

// TestMain removes what the tests build once per test binary: the zkd binary
// and the compiled Java clients, which would otherwise stay in the temporary
// directory after every run.
func TestMain(m *testing.M) {
	testutil.Main(m, securityClients.remove, curatorReconfigClient.remove)
}

// javaClient is a Java program under testdata, compiled against ZooKeeper's and
// Curator's jars once per test binary into a temporary directory.
type javaClient struct {
	src  string // under testdata
	once sync.Once
	dir  string
	err  error
}

var (
	securityClients       = &javaClient{src: filepath.Join("security", "SecurityClients.java")}
	curatorReconfigClient = &javaClient{src: filepath.Join("reconfig", "CuratorReconfig.java")}
)

// classes compiles the program the first time it is asked for and returns its
// class directory.
func (j *javaClient) classes(t *testing.T) string {
	t.Helper()
	j.once.Do(func() {
		if j.dir, j.err = os.MkdirTemp("", "zkd-java-"); j.err != nil {
			return
		}
		src, _ := filepath.Abs(filepath.Join("testdata", j.src))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, javacBin, "-nowarn", "-encoding", "UTF-8", "-cp", jarPath(zkServerJars, curatorJars), "-d", j.dir, src)
		if out, err := cmd.CombinedOutput(); err != nil {
			j.err = fmt.Errorf("javac %s: %v\n%s", j.src, err, out)
		}
	})
	if j.err != nil {
		t.Fatal(j.err)
	}
	return j.dir
}

// remove deletes the class directory, if there is one.
func (j *javaClient) remove() {
	if j.dir != "" {
		os.RemoveAll(j.dir)
	}
}
