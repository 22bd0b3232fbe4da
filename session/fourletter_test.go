package session_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"zkd/jute"
	"zkd/session"
)

// allWords are the four-letter words ZooKeeper 3.8 knows (spec/ops.md §1).
var allWords = []string{"ruok", "stat", "srvr", "conf", "cons", "crst", "dump", "envi", "mntr",
	"srst", "wchs", "wchc", "wchp", "dirs", "isro", "gtmk", "stmk", "hash"}

func notWhitelisted(word string) string {
	return word + " is not executed because it is not in the whitelist.\n"
}

func TestFourLetterWordWhitelist(t *testing.T) {
	t.Run("whitelist=default", func(t *testing.T) {
		h := newHarness(t, nil)
		for _, w := range allWords {
			got := h.srv.FourLetterWord(w)
			if w == "srvr" {
				if !strings.HasPrefix(got, "Zookeeper version: ") {
					t.Errorf("srvr = %q", got)
				}
				continue
			}
			if got != notWhitelisted(w) {
				t.Errorf("%s = %q, want %q", w, got, notWhitelisted(w))
			}
		}
	})
	t.Run("whitelist=ruok,stat", func(t *testing.T) {
		h := newHarness(t, func(c *session.Config) { c.FourLetterWords = []string{"ruok", "stat"} })
		if got := h.srv.FourLetterWord("ruok"); got != "imok" {
			t.Errorf("ruok = %q", got)
		}
		if got := h.srv.FourLetterWord("stat"); !strings.HasPrefix(got, "Zookeeper version: ") {
			t.Errorf("stat = %q", got)
		}
		if got := h.srv.FourLetterWord("srvr"); !strings.HasPrefix(got, "Zookeeper version: ") {
			t.Errorf("srvr (always on) = %q", got)
		}
		if got := h.srv.FourLetterWord("cons"); got != notWhitelisted("cons") {
			t.Errorf("cons = %q", got)
		}
	})
	t.Run("whitelist=*", func(t *testing.T) {
		h := newHarness(t, func(c *session.Config) { c.FourLetterWords = []string{"*"} })
		for w, want := range map[string]string{"ruok": "imok", "isro": "rw", "gtmk": "306",
			"srst": "Server stats reset.\n", "crst": "Connection stats reset.\n"} {
			if got := h.srv.FourLetterWord(w); got != want {
				t.Errorf("%s = %q, want %q", w, got, want)
			}
		}
		for _, w := range []string{"srvr", "stat", "cons", "envi"} {
			if got := h.srv.FourLetterWord(w); strings.Contains(got, "is not executed") || got == "" {
				t.Errorf("%s = %q", w, got)
			}
		}
	})
}

func TestIsFourLetterWord(t *testing.T) {
	for _, w := range allWords {
		if !session.IsFourLetterWord([]byte(w)) {
			t.Errorf("IsFourLetterWord(%q) = false", w)
		}
	}
	for _, b := range []string{"", "ruo", "RUOK", "\x00\x00\x00\x2d", "abcd", "imok"} {
		if session.IsFourLetterWord([]byte(b)) {
			t.Errorf("IsFourLetterWord(%q) = true", b)
		}
	}
}

// fixture reads a ZooKeeper 3.8.0 four-letter-word capture from testdata.
func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(t, "4lw"), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shape reduces a value to its form: hex numbers to HEX, decimal runs to N,
// capital words to A.
func shape(v string) string {
	v = regexp.MustCompile(`0x[0-9a-f]+`).ReplaceAllString(v, "HEX")
	v = regexp.MustCompile(`[0-9]+`).ReplaceAllString(v, "N")
	return regexp.MustCompile(`\b[A-Z]+\b`).ReplaceAllString(v, "A")
}

var versionLine = regexp.MustCompile(`^Zookeeper version: 3\.8\.\d+-zkd-[^,]+, built on \d\d/\d\d/\d\d\d\d \d\d:\d\d GMT$`)

// srvr has the captured line keys in the captured order and values of the same
// form; the version line keeps the pre-3.7 form go-zookeeper's FLWSrvr parses.
func TestSrvrMatchesZooKeeperCapture(t *testing.T) {
	want := fixture(t, "srvr.txt")
	h := newHarness(t, func(c *session.Config) {
		c.Version = "1.2.3"
		c.BuildTime = time.Date(2026, 11, 21, 9, 5, 0, 0, time.UTC)
	})
	cl := h.connect()
	cl.create("/a", []byte("x"), 0, jute.OpenACLUnsafe)
	cl.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/a"})
	h.dial() // a connection without a session counts too

	got := h.srv.FourLetterWord("srvr")
	if !strings.HasSuffix(got, "\n") {
		t.Fatalf("srvr does not end with a newline: %q", got)
	}
	gotLines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	wantLines := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("srvr has %d lines, ZooKeeper %d:\n%s", len(gotLines), len(wantLines), got)
	}
	if !versionLine.MatchString(gotLines[0]) {
		t.Errorf("version line %q does not match %v", gotLines[0], versionLine)
	}
	if gotLines[0] != "Zookeeper version: 3.8.6-zkd-1.2.3, built on 11/21/2026 09:05 GMT" {
		t.Errorf("version line %q", gotLines[0])
	}
	for i := 1; i < len(wantLines); i++ {
		gk, gv, _ := strings.Cut(gotLines[i], ": ")
		wk, wv, _ := strings.Cut(wantLines[i], ": ")
		if gk != wk {
			t.Errorf("line %d key %q, ZooKeeper has %q", i, gk, wk)
		}
		if shape(gv) != shape(wv) {
			t.Errorf("line %d (%s) value %q has form %q, ZooKeeper's %q has %q", i, gk, gv, shape(gv), wv, shape(wv))
		}
	}
	// Values that must agree with the server's state.
	for _, line := range []string{
		"Connections: 2",
		"Outstanding: 0",
		"Zxid: " + h.tree.LastZxid().String(),
		"Mode: standalone",
		"Node count: 6", // /, /zookeeper, /zookeeper/quota, /zookeeper/config, /a, and the root's second entry
	} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("srvr lacks %q:\n%s", line, got)
		}
	}
}

// consLine matches one connection of cons: " /ip:port[interest](k=v,...)".
var consLine = regexp.MustCompile(`^ /([0-9.]+:\d+)\[([01])\]\((.*)\)$`)

// consKeys returns the connection's address, interest flag and key=value pairs.
func consKeys(t *testing.T, line string) (addr, interest string, keys, values []string) {
	t.Helper()
	m := consLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("cons line %q does not have the form %v", line, consLine)
	}
	for _, kv := range strings.Split(m[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("cons line %q: %q is not key=value", line, kv)
		}
		keys, values = append(keys, k), append(values, v)
	}
	return m[1], m[2], keys, values
}

// cons lists each connection in ZooKeeper's form, then an empty line.
func TestConsMatchesZooKeeperCapture(t *testing.T) {
	want := fixture(t, "cons.txt")
	// Reference lines from the capture: one with a session, one without.
	ref := map[string][2][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(want, "\n\n"), "\n") {
		_, interest, keys, values := consKeys(t, line)
		ref[interest] = [2][]string{keys, values}
	}
	if len(ref) != 2 {
		t.Fatalf("capture has no line of each kind: %q", want)
	}

	h := newHarness(t, func(c *session.Config) { c.FourLetterWords = []string{"*"} })
	cl := h.connect()
	cl.create("/a", nil, 0, jute.OpenACLUnsafe)
	cl.call(jute.OpGetChildren, &jute.PathWatchRequest{Path: "/"})
	bare := h.dial()

	got := h.srv.FourLetterWord("cons")
	if !strings.HasSuffix(got, ")\n\n") {
		t.Fatalf("cons does not end with a line and an empty line: %q", got)
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("cons lists %d connections, want 2:\n%s", len(lines), got)
	}
	seen := map[string]bool{}
	for _, line := range lines {
		addr, interest, keys, values := consKeys(t, line)
		seen[addr] = true
		r := ref[interest]
		if strings.Join(keys, ",") != strings.Join(r[0], ",") {
			t.Errorf("cons line %q\nkeys %v, ZooKeeper has %v", line, keys, r[0])
			continue
		}
		for i := range keys {
			if shape(values[i]) != shape(r[1][i]) {
				t.Errorf("cons %s=%q has form %q, ZooKeeper's %q has %q", keys[i], values[i], shape(values[i]), r[1][i], shape(r[1][i]))
			}
		}
		if interest == "1" {
			kv := map[string]string{}
			for i := range keys {
				kv[keys[i]] = values[i]
			}
			if kv["sid"] != cl.sid.String() || kv["lop"] != "GETC" || kv["to"] != "30000" || kv["lcxid"] != "0x2" ||
				kv["queued"] != "0" || kv["lzxid"] != h.tree.LastZxid().String() {
				t.Errorf("cons line of the session: %q", line)
			}
		}
	}
	if !seen[cl.remote] || !seen[bare.remote] {
		t.Errorf("cons does not list %s and %s:\n%s", cl.remote, bare.remote, got)
	}
}

// A four-letter word received on a connection counts as one received packet.
func TestConnFourLetterWordCountsReceived(t *testing.T) {
	h := newHarness(t, nil)
	cl := h.dial()
	if got := cl.c.FourLetterWord("srvr"); !strings.Contains(got, "\nReceived: 1\n") {
		t.Fatalf("srvr on a connection:\n%s", got)
	}
}

// A member with no leader answers every word that needs a serving server with
// ZooKeeper's sentence, isro with null, and ruok and gtmk as usual: byte for
// byte what a LOOKING ZooKeeper 3.8.0 follower printed.
func TestFourLetterWordsOfAServerNotServing(t *testing.T) {
	h := newHarness(t, func(c *session.Config) { c.FourLetterWords = []string{"*"} })
	h.gate.notServing.Store(true)
	for _, w := range []string{"conf", "cons", "crst", "dirs", "dump", "gtmk", "hash", "isro", "mntr", "ruok",
		"srst", "srvr", "stat", "wchc", "wchp", "wchs"} {
		if got, want := h.srv.FourLetterWord(w), fixture(t, "ensemble-no-quorum/"+w+".txt"); got != want {
			t.Errorf("%s = %q, want %q", w, got, want)
		}
	}
}
