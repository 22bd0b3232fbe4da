package compat

import (
	"fmt"
	"testing"
	"time"

	"zkd/internal/testutil"
)

// TestKazoo runs testdata/kazoo_compat.py: kazoo 2.8's recipes, watches, TreeCache,
// transactions, and session loss. For the last, the script's clients connect through
// a proxy the test cuts and heals when the script asks ("@cut", "@heal").
func TestKazoo(t *testing.T) {
	long(t)
	forEachServer(t, kazooSuite(t))
}

// kazooSuite checks kazoo is there and returns what runs its script against a
// server.
func kazooSuite(t *testing.T) func(*suite) {
	t.Helper()
	need(t, python3, kazooDir)
	script := testdata(t, "kazoo_compat.py")
	return func(s *suite) {
		px := testutil.StartProxy(s.t, s.server.addr)
		p, err := startProc(s.t, "kazoo_compat.py", []string{"PYTHONDONTWRITEBYTECODE=1"}, true,
			python3, "-u", script, s.server.addr, px.Addr())
		if err != nil {
			s.t.Fatal(err)
		}
		s.runCheckLines(p, 3*time.Minute, func(word string) error {
			switch word {
			case "cut":
				px.Sever()
			case "heal":
				px.Heal()
			default:
				return fmt.Errorf("unknown request %q", word)
			}
			return p.send("ok")
		})
	}
}
