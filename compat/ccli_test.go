package compat

import (
	"fmt"
	"strings"
	"testing"
)

// cliMTDialect drives the C client's cli_mt (zookeeper-bin 3.8.0). Its commands are
// asynchronous and their completions print from the client's completion thread in
// request order, so the marker after each command is another asynchronous request,
// a delete of a missing node, whose completion line comes after the command's. (A
// synchronous call such as exists is answered on another thread and can overtake
// earlier completions, so it cannot serve as the marker.) cli_mt prints everything
// on stderr and always exits 0.
func cliMTDialect() *dialect {
	return &dialect{
		client: "cli_mt",
		start: func(t *testing.T, addr, session string) (*proc, error) {
			return startProc(t, "cli_mt "+session, nil, true, cliMT, "-h", addr)
		},
		marker: func(n int) (string, func(string) (string, bool)) {
			path := fmt.Sprintf("/ccli-mark-%d", n)
			want := path + ": rc = -101"
			return "delete " + path, func(line string) (string, bool) {
				if before, ok := strings.CutSuffix(line, want); ok {
					return before, true
				}
				return "", false
			}
		},
		split: func(line string) (string, string, bool) {
			if strings.HasPrefix(line, "Got a new session id: ") {
				return "", "", false
			}
			if i := strings.Index(line, "Watcher "); i >= 0 {
				return line[:i], line[i+len("Watcher "):], true
			}
			return line, "", false
		},
		event: func(typ, path string) string { return typ + " state = CONNECTED_STATE for path " + path },
		ready: "SESSION_EVENT state = CONNECTED_STATE",
		quit:  "quit",
	}
}

// TestCClient runs testdata/cli_mt.script: basic operations and watches of the C
// client, with two sessions.
func TestCClient(t *testing.T) {
	long(t)
	forEachServer(t, cClientSuite(t))
}

// cClientSuite checks cli_mt is there and returns what runs it against a server.
func cClientSuite(t *testing.T) func(*suite) {
	t.Helper()
	need(t, cliMT)
	d := cliMTDialect()
	return func(s *suite) {
		steps := parseScript(s.t, d, testdata(s.t, "cli_mt.script"), map[string]string{"SERVER": s.server.addr})
		s.runScript(d, steps)
	}
}
