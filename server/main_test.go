package server

import (
	"path/filepath"
	"testing"

	"zkd/internal/testutil"
)

// TestMain removes what the tests build once per test binary: the zkd binary
// and the compiled Java clients, which would otherwise stay in the temporary
// directory after every run.
func TestMain(m *testing.M) {
	testutil.Main(m, securityClients.Remove, curatorReconfigClient.Remove)
}

var (
	securityClients       = &testutil.JavaClasses{Name: "SecurityClients"}
	curatorReconfigClient = &testutil.JavaClasses{Name: "CuratorReconfig"}
)

// javaClasses compiles a program under testdata against ZooKeeper's and
// Curator's jars, once per test binary, and returns its class directory.
func javaClasses(t *testing.T, j *testutil.JavaClasses, src string) string {
	t.Helper()
	abs, _ := filepath.Abs(filepath.Join("testdata", src))
	return j.Compile(t, javacBin, "-nowarn", "-encoding", "UTF-8", "-cp", jarPath(zkServerJars, curatorJars), abs)
}
