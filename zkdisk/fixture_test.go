package zkdisk

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"zkd/jute"
)

const fixtureDir = "testdata/datadir"

// TestLoadFixtureMatchesExpectedTree imports the data directory a live ZooKeeper
// 3.8.0 wrote (290 txns of every kind over five logs and five fuzzy snapshots)
// from each of its snapshots in turn, and from the same final state written plain,
// gzip and snappy, and checks every node against what the live server served.
func TestLoadFixtureMatchesExpectedTree(t *testing.T) {
	lastZxid, want := expectedTree(t, filepath.Join(fixtureDir, "expected-tree.json"))
	cases := []struct {
		name     string
		dir      func(t *testing.T) string
		snapshot string
		txns     int64
	}{
		{"as-written", func(*testing.T) string { return fixtureDir }, "snapshot.11a", 8},
		{"from=snapshot.0", onlySnapshot("snapshot.0"), "snapshot.0", 290},
		{"from=snapshot.56", onlySnapshot("snapshot.56"), "snapshot.56", 0x122 - 0x56},
		{"from=snapshot.95", onlySnapshot("snapshot.95"), "snapshot.95", 0x122 - 0x95},
		{"from=snapshot.d6", onlySnapshot("snapshot.d6"), "snapshot.d6", 0x122 - 0xd6},
		{"codec=plain", fixed("testdata/compressed/plain"), "snapshot.122", 0},
		{"codec=gz", fixed("testdata/compressed/gz"), "snapshot.122.gz", 0},
		{"codec=snappy", fixed("testdata/compressed/snappy"), "snapshot.122.snappy", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree, sum := loadTree(t, LoadOptions{DataDir: c.dir(t)})
			if filepath.Base(sum.Snapshot) != c.snapshot || sum.Txns != c.txns {
				t.Errorf("used %s and replayed %d txns, want %s and %d", sum.Snapshot, sum.Txns, c.snapshot, c.txns)
			}
			if sum.LastZxid != lastZxid || int64(tree.LastZxid()) != lastZxid {
				t.Errorf("last zxid %#x (tree %v), want %#x", sum.LastZxid, tree.LastZxid(), lastZxid)
			}
			if sum.Znodes != int64(len(want)) || sum.Sessions != 1 || sum.Ephemerals != 3 {
				t.Errorf("summary %d znodes, %d sessions, %d ephemerals; want %d, 1, 3", sum.Znodes, sum.Sessions, sum.Ephemerals, len(want))
			}
			if sum.DigestChecks == 0 || sum.DigestMismatches != 0 {
				t.Errorf("%d digest checks, %d mismatches", sum.DigestChecks, sum.DigestMismatches)
			}
			if sum.Txns > 0 && sum.DigestChecks < int(sum.Txns)/2 {
				t.Errorf("only %d digest checks over %d txns", sum.DigestChecks, sum.Txns)
			}
			compareTrees(t, want, treeState(t, tree))
			// Session M stays open with its 30 s timeout, and owns its ephemerals.
			const m = jute.SessionID(0x100004fe94c0000)
			if to, ok := tree.Session(m); !ok || to != 30000 {
				t.Errorf("session M: timeout %d, open %v", to, ok)
			}
			if eph := tree.Ephemerals(m, "/"); len(eph) != 3 {
				t.Errorf("session M owns %v, want 3 ephemerals", eph)
			}
		})
	}
}

func fixed(dir string) func(*testing.T) string { return func(*testing.T) string { return dir } }

// onlySnapshot copies the fixture with one snapshot: the replay then starts there.
func onlySnapshot(name string) func(*testing.T) string {
	return func(t *testing.T) string {
		return copyDir(t, fixtureDir, func(n string) bool { return !strings.HasPrefix(n, "snapshot.") || n == name })
	}
}

// TestSnapshotReaderMatchesSnapshotFormatter reads each fixture snapshot and
// compares every node's stored stat and data, and the sessions, with the dump of
// ZooKeeper's own SnapshotFormatter.
func TestSnapshotReaderMatchesSnapshotFormatter(t *testing.T) {
	for _, name := range []string{"snapshot.0", "snapshot.56", "snapshot.95", "snapshot.d6", "snapshot.11a"} {
		t.Run(name, func(t *testing.T) {
			dump := parseFormatterDump(t, filepath.Join(fixtureDir, "tool-dumps", name+".SnapshotFormatter.txt"))
			got := map[string]string{}
			info, err := ReadSnapshotFile(filepath.Join(fixtureDir, "version-2", name), ReadOptions{}, func(n *SnapNode) error {
				p := n.Path
				if p == "" {
					p = "/"
				}
				got[p] = formatStored(n)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(dump.nodes) {
				t.Errorf("%d nodes, the dump has %d", len(got), len(dump.nodes))
			}
			for p, want := range dump.nodes {
				if got[p] != want {
					t.Errorf("%s:\n  got  %s\n  want %s", p, got[p], want)
				}
			}
			var sessions []string
			for _, s := range info.Sessions {
				sessions = append(sessions, "0x"+strconv.FormatInt(int64(s.ID), 16)+", "+strconv.Itoa(int(s.Timeout)))
			}
			if strings.Join(sessions, ";") != strings.Join(dump.sessions, ";") && !sameSet(sessions, dump.sessions) {
				t.Errorf("sessions %v, dump %v", sessions, dump.sessions)
			}
			if info.Magic != SnapMagic || info.Version != 2 || info.DBID != -1 {
				t.Errorf("header %#x %d %d", info.Magic, info.Version, info.DBID)
			}
			if info.Digest == nil && name != "snapshot.0" {
				t.Error("no digest section")
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		if m[s]--; m[s] < 0 {
			return false
		}
	}
	return true
}

// formatStored renders a node's stored fields as SnapshotFormatter prints them.
func formatStored(n *SnapNode) string {
	s := n.Stat
	h := func(v int64) string { return "0x" + leftPad(strconv.FormatUint(uint64(v), 16), 14) }
	data := ""
	if n.Data != nil {
		data = base64.StdEncoding.EncodeToString(n.Data)
	}
	return strings.Join([]string{"cZxid=" + h(s.Czxid), "mZxid=" + h(s.Mzxid), "pZxid=" + h(s.Pzxid),
		"cversion=" + strconv.Itoa(int(s.Cversion)), "dataVersion=" + strconv.Itoa(int(s.Version)),
		"aclVersion=" + strconv.Itoa(int(s.Aversion)), "ephemeralOwner=" + h(s.EphemeralOwner), "data=" + data}, " ")
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

type formatterDump struct {
	nodes    map[string]string
	sessions []string
}

// parseFormatterDump reads SnapshotFormatter -d output into formatStored's form.
func parseFormatterDump(t *testing.T, path string) formatterDump {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := formatterDump{nodes: map[string]string{}}
	var cur string
	var fields []string
	inSessions := false
	flush := func() {
		if cur != "" {
			d.nodes[cur] = strings.Join(fields, " ")
		}
		cur, fields = "", nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "----":
			flush()
		case strings.HasPrefix(line, "Session Details"):
			flush()
			inSessions = true
		case inSessions && strings.HasPrefix(line, "0x"):
			parts := strings.Split(line, ", ")
			d.sessions = append(d.sessions, parts[0]+", "+parts[1])
		case strings.HasPrefix(line, "/"):
			cur = line
		case strings.HasPrefix(line, "  ") && cur != "":
			k, v, _ := strings.Cut(strings.TrimSpace(line), " =")
			v = strings.TrimSpace(v)
			if k == "ctime" || k == "mtime" {
				continue
			}
			fields = append(fields, k+"="+v)
		}
	}
	flush()
	return d
}

// TestLogReaderMatchesTxnLogToolkit reads every fixture log and compares each
// record's session, cxid, zxid and type with ZooKeeper's TxnLogToolkit dump, and
// where the data ends with what the fixture's README measured.
func TestLogReaderMatchesTxnLogToolkit(t *testing.T) {
	line := regexp.MustCompile(`session (0x[0-9a-f]+) cxid (0x[0-9a-f]+) zxid (0x[0-9a-f]+) ([A-Za-z0-9]+)`)
	ends := map[string]int64{"log.1": 10177, "log.58": 5198, "log.97": 5859, "log.d8": 6871, "log.11c": 716}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(fixtureDir, "tool-dumps", name+".TxnLogToolkit.txt"))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, m := range line.FindAllStringSubmatch(string(raw), -1) {
				want = append(want, strings.Join(m[1:], " "))
			}
			r, err := OpenLog(filepath.Join(fixtureDir, "version-2", name), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var got []string
			for {
				rec, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				h := rec.Txn.Header
				got = append(got, "0x"+strconv.FormatUint(uint64(h.ClientID), 16)+" 0x"+strconv.FormatInt(int64(h.Cxid), 16)+
					" 0x"+strconv.FormatInt(h.Zxid, 16)+" "+toolkitName(h.Type))
				// Re-encoding the decoded txn gives back the bytes on disk.
				if re := AppendTxn(nil, rec.Txn); string(re) != string(rec.Entry) {
					t.Errorf("zxid %#x: re-encoded txn differs from the record", h.Zxid)
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("records differ from the dump:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			why, at := r.End()
			if why != LogEndPadding || at != end {
				t.Errorf("data ends with %v at %d, want zero padding at %d", why, at, end)
			}
		})
	}
}

// toolkitName is the type name TxnLogToolkit prints.
func toolkitName(op jute.OpCode) string {
	if op == jute.OpCreateTTL {
		return "createTtl"
	}
	return op.String()
}

// TestLoadStandaloneCheckDirectory imports the directory ZooKeeper 3.8.0 itself
// cannot reload (a top-level check txn) as the state the server had.
func TestLoadStandaloneCheckDirectory(t *testing.T) {
	tree, sum := loadTree(t, LoadOptions{DataDir: "testdata/standalone-check"})
	if sum.LastZxid != 5 || sum.Sessions != 0 || sum.DigestMismatches != 0 || sum.DigestChecks < 4 {
		t.Errorf("summary %+v", sum)
	}
	data, stat, code := tree.GetData("/chk", nil, superID)
	if code != jute.CodeOK || string(data) != "d" || stat.Czxid != 2 || stat.Version != 0 {
		t.Errorf("/chk = %q %+v %v", data, stat, code)
	}
	if !strings.Contains(strings.Join(sum.Warnings, "\n"), "standalone check txn") {
		t.Errorf("no warning about the check txn: %v", sum.Warnings)
	}
}
