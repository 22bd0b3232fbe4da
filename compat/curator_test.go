package compat

import (
	"testing"
	"time"

	"zkd/internal/testutil"
)

var curatorCompat = &testutil.JavaClasses{Name: "CuratorCompat"}

// compileCurator compiles testdata/CuratorCompat.java once per package run.
func compileCurator(t *testing.T) string {
	t.Helper()
	return curatorCompat.Compile(t, "javac", "-nowarn", "-Xlint:-deprecation", "-encoding", "UTF-8",
		"-cp", classpath(zkJars, curatorJars), testdata(t, "CuratorCompat.java"))
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
