package compat

import (
	"fmt"
	"strings"
	"testing"
)

// zkcliDialect drives Java zkCli (org.apache.zookeeper.ZooKeeperMain 3.8) in
// interactive mode over stdin. Without jline on the classpath it reads plain lines
// and prints no prompt, so each command is followed by a marker: a stat of an
// invalid path, which the client rejects itself (no request to the server) with
// `Invalid path string "PATH" ...` once the previous command has finished.
func zkcliDialect(log4j string) *dialect {
	return &dialect{
		client: "zkCli",
		start: func(t *testing.T, addr, _ string) (*proc, error) {
			return startProc(t, "zkCli", nil, true, javaBin, "-Xmx256m", "-XX:TieredStopAtLevel=1",
				"-Dlog4j.configuration=file:"+log4j, "-cp", classpath(zkJars),
				"org.apache.zookeeper.ZooKeeperMain", "-server", addr)
		},
		marker: func(n int) (string, func(string) (string, bool)) {
			path := fmt.Sprintf("/zkcli-mark//%d", n)
			want := fmt.Sprintf("Invalid path string %q", path)
			return "stat " + path, func(line string) (string, bool) {
				i := strings.Index(line, want)
				if i < 0 {
					return "", false
				}
				return line[:i], true // commands that print without a newline
			}
		},
		// An event is printed as "", "WATCHER::", "", "WatchedEvent state:S type:T path:P".
		split: func(line string) (string, string, bool) {
			if i := strings.Index(line, "WatchedEvent "); i >= 0 {
				return line[:i], line[i+len("WatchedEvent "):], true
			}
			return strings.ReplaceAll(line, "WATCHER::", ""), "", false
		},
		event: func(typ, path string) string { return "state:SyncConnected type:" + typ + " path:" + path },
		ready: "state:SyncConnected type:None path:null",
		quit:  "quit",
	}
}

// TestZkCli runs testdata/zkcli.script, which uses every zkCli command that talks
// to the server, in one JVM against each server.
func TestZkCli(t *testing.T) {
	long(t)
	forEachServer(t, zkCliSuite(t))
}

// zkCliSuite checks zkCli's jars are there and returns what runs the script
// against a server.
func zkCliSuite(t *testing.T) func(*suite) {
	t.Helper()
	need(t, javaBin)
	needJars(t, zkJars)
	d := zkcliDialect(testdata(t, "log4j-client.properties"))
	return func(s *suite) {
		steps := parseScript(s.t, d, testdata(s.t, "zkcli.script"), map[string]string{"SERVER": s.server.addr})
		s.runScript(d, steps)
	}
}
