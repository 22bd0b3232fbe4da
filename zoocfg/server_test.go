package zoocfg

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// goldenServer is one line of testdata/zookeeper/servers.golden: a server.N value
// and what ZooKeeper 3.8's QuorumServer printed for it ("!error": it refused it).
type goldenServer struct {
	id            int64
	value, output string
}

func readServerGolden(t *testing.T) []goldenServer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "zookeeper", "servers.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenServer
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("golden line %q", line)
		}
		id, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, goldenServer{id, f[1], f[2]})
	}
	return out
}

// ParseServer accepts and refuses what ZooKeeper's QuorumServer accepts and
// refuses, and String prints exactly what ZooKeeper prints.
func TestServerPrintsAsZooKeeper(t *testing.T) {
	golden := readServerGolden(t)
	if len(golden) < 30 {
		t.Fatalf("only %d golden cases", len(golden))
	}
	for _, g := range golden {
		s, err := ParseServer(g.id, g.value)
		switch {
		case g.output == "!error" && err == nil:
			t.Errorf("server.%d=%s: accepted as %s; ZooKeeper refuses it", g.id, g.value, s)
		case g.output == "!error":
			if !errors.Is(err, ErrBadServer) {
				t.Errorf("server.%d=%s: error %v is not ErrBadServer", g.id, g.value, err)
			}
		case err != nil:
			t.Errorf("server.%d=%s: %v; ZooKeeper prints %s", g.id, g.value, err, g.output)
		case s.String() != g.output:
			t.Errorf("server.%d=%s:\n zkd  %s\n zk   %s", g.id, g.value, s, g.output)
		}
	}
}

// The examples of spec/ops.md §4.2 and the brief's form print back unchanged.
func TestServerSpecExamples(t *testing.T) {
	for _, line := range []string{
		"server.3=zk3.example.com:2888:3888:observer;0.0.0.0:2181",
		"server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181",
		"server.1=127.0.0.1:25211:25221:participant",
	} {
		s, err := ParseServerLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if s.String() != line {
			t.Errorf("%s printed as %s", line, s)
		}
	}
	s, err := ParseServerLine("server.3=zk3.example.com:2888:3888:observer;0.0.0.0:2181")
	if err != nil {
		t.Fatal(err)
	}
	want := Server{ID: 3, Addrs: []PeerAddr{{Host: "zk3.example.com", QuorumPort: 2888, ElectionPort: 3888}},
		Type: Observer, ClientAddr: "0.0.0.0:2181"}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("parsed %+v, want %+v", s, want)
	}
	if a := s.Addrs[0]; a.QuorumAddr() != "zk3.example.com:2888" || a.ElectionAddr() != "zk3.example.com:3888" {
		t.Errorf("QuorumAddr %s ElectionAddr %s", a.QuorumAddr(), a.ElectionAddr())
	}
	v6, _ := ParseServer(1, "[::1]:2888:3888")
	if v6.Addrs[0].QuorumAddr() != "[0:0:0:0:0:0:0:1]:2888" {
		t.Errorf("IPv6 QuorumAddr = %s", v6.Addrs[0].QuorumAddr())
	}
	for _, bad := range []string{"server.1", "server.x=a:1:2", "sever.1=a:1:2"} {
		if _, err := ParseServerLine(bad); !errors.Is(err, ErrBadServer) {
			t.Errorf("ParseServerLine(%q): err = %v", bad, err)
		}
	}
}

// Where zkd refuses what ZooKeeper lets through: an empty host (which Java reads
// as localhost), quorum or election port 0 (no peer could reach it), and a
// negative server id.
func TestServerStricterThanZooKeeper(t *testing.T) {
	for _, c := range []struct {
		id    int64
		value string
	}{
		{1, ":2888:3888"},
		{1, "0:1:2| :1:2"},
		{1, "127.0.0.1:1:2;:2181"},
		{1, "127.0.0.1:1:2;a b:2181"},
		{18, "[[]:1:2"},
		{1, "127.0.0.1:0:3888"},
		{1, "127.0.0.1:2888:0"},
		{-1, "127.0.0.1:2888:3888"},
	} {
		if s, err := ParseServer(c.id, c.value); err == nil {
			t.Errorf("server.%d=%s accepted as %s", c.id, c.value, s)
		}
	}
}

// String and ParseServer are inverses on every accepted golden case.
func TestServerRoundTrip(t *testing.T) {
	for _, g := range readServerGolden(t) {
		s, err := ParseServer(g.id, g.value)
		if err != nil {
			continue
		}
		again, err := ParseServerLine(s.String())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Errorf("%s: reparsed as %+v, %v; want %+v", s, again, err, s)
		}
	}
}

// goldenMembership is one case of testdata/zookeeper/memberships.golden: the
// input text and what ZooKeeper printed for /zookeeper/config and a dynamic file.
type goldenMembership struct {
	input, config, dynamic string
}

func readMembershipGolden(t *testing.T) []goldenMembership {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", "zookeeper", "memberships.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join("testdata", "zookeeper", "memberships.golden"))
	if err != nil {
		t.Fatal(err)
	}
	inputs := strings.Split(string(in), "----\n")
	var cases []goldenMembership
	for i, block := range strings.Split(string(out), "==== ")[1:] {
		_, body, _ := strings.Cut(block, "\n")
		parts := strings.Split(body, "\n<<<END\n")
		if len(parts) != 3 || i >= len(inputs) {
			t.Fatalf("golden block %d malformed", i)
		}
		cases = append(cases, goldenMembership{inputs[i], parts[0], parts[1]})
	}
	return cases
}

// Membership prints /zookeeper/config and dynamic files byte for byte as
// ZooKeeper's QuorumMaj and writeDynamicConfig do.
func TestMembershipPrintsAsZooKeeper(t *testing.T) {
	cases := readMembershipGolden(t)
	if len(cases) < 4 {
		t.Fatalf("only %d golden memberships", len(cases))
	}
	for i, c := range cases {
		m, err := ParseMembership(c.input)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := m.String(); got != c.config {
			t.Errorf("case %d /zookeeper/config:\nzkd:\n%s\nZooKeeper:\n%s", i, got, c.config)
		}
		if got := m.DynamicFileText(); got != c.dynamic {
			t.Errorf("case %d dynamic file:\nzkd:\n%s\nZooKeeper:\n%s", i, got, c.dynamic)
		}
		again, err := ParseMembership(m.String())
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Errorf("case %d: String does not parse back: %+v, %v", i, again, err)
		}
		fromFile, err := ParseMembership(m.DynamicFileText())
		fromFile.Version = m.Version
		if err != nil || !reflect.DeepEqual(fromFile, m) {
			t.Errorf("case %d: DynamicFileText does not parse back: %+v, %v", i, fromFile, err)
		}
	}
}

// The membership block of a live ensemble's conf output (captured from ZooKeeper
// 3.8.0, spec/ops.md §1.4) parses, and prints back as that block; the AdminServer's
// voting_view of the same ensemble lists the same addresses and types.
func TestMembershipFromLiveEnsemble(t *testing.T) {
	for _, role := range []string{"ensemble-leader", "ensemble-follower"} {
		b, err := os.ReadFile(filepath.Join("testdata", "zk-3.8.0", role, "conf.txt"))
		if err != nil {
			t.Fatal(err)
		}
		_, block, ok := strings.Cut(string(b), "membership: \n")
		if !ok {
			t.Fatalf("%s: no membership block", role)
		}
		m, err := ParseMembership(block)
		if err != nil {
			t.Fatal(err)
		}
		if m.String() != block {
			t.Errorf("%s:\nzkd:\n%q\nZooKeeper:\n%q", role, m.String(), block)
		}
		if p, o := m.Counts(); p != 3 || o != 0 || m.Version != 0 {
			t.Errorf("%s: %d participants, %d observers, version %d", role, p, o, m.Version)
		}
	}
	b, err := os.ReadFile(filepath.Join("testdata", "zk-3.8.0", "ensemble-leader", "voting_view.json"))
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		CurrentConfig map[string]struct {
			ServerAddresses   []string `json:"server_addresses"`
			ElectionAddresses []string `json:"election_addresses"`
			LearnerType       string   `json:"learner_type"`
		} `json:"current_config"`
	}
	if err := json.Unmarshal(b, &view); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join("testdata", "zk-3.8.0", "ensemble-leader", "conf.txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(conf), "membership: \n")
	m, _ := ParseMembership(block)
	if len(view.CurrentConfig) != len(m.Servers) {
		t.Fatalf("voting_view has %d servers, conf %d", len(view.CurrentConfig), len(m.Servers))
	}
	for _, s := range m.Servers {
		v, ok := view.CurrentConfig[strconv.FormatInt(s.ID, 10)]
		if !ok || v.LearnerType != s.Type.String() || len(v.ServerAddresses) != len(s.Addrs) ||
			v.ServerAddresses[0] != s.Addrs[0].QuorumAddr() || v.ElectionAddresses[0] != s.Addrs[0].ElectionAddr() {
			t.Errorf("server.%d: voting_view %+v, conf %s", s.ID, v, s)
		}
	}
}

func TestParseMembershipErrors(t *testing.T) {
	for _, text := range []string{
		"server.1=127.0.0.1:1:2\nserver.1=127.0.0.1:3:4\n",
		"server.1=127.0.0.1:1:2\nversion=1\nversion=2\n",
		"server.1=127.0.0.1:1:2\nversion=zz\n",
		"server.1=127.0.0.1:1:2\ntickTime=2000\n",
		"server.x=127.0.0.1:1:2\n",
		"server.1=127.0.0.1:1\n",
		"server.1\n",
	} {
		if m, err := ParseMembership(text); err == nil {
			t.Errorf("%q accepted as %v", text, m)
		}
	}
	m, err := ParseMembership("# a comment\n\nversion=0\n")
	if err != nil || len(m.Servers) != 0 || m.String() != "version=0" {
		t.Errorf("empty membership: %q, %v", m.String(), err)
	}
}

func TestMembershipLookupAndCounts(t *testing.T) {
	m, err := ParseMembership("server.3=127.0.0.1:5:6:observer\nserver.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\n")
	if err != nil {
		t.Fatal(err)
	}
	if ids := []int64{m.Servers[0].ID, m.Servers[1].ID, m.Servers[2].ID}; !reflect.DeepEqual(ids, []int64{1, 2, 3}) {
		t.Fatalf("Servers not sorted by ID: %v", ids)
	}
	if s, ok := m.Lookup(3); !ok || s.Voting() {
		t.Errorf("Lookup(3) = %v, %v", s, ok)
	}
	if _, ok := m.Lookup(4); ok {
		t.Error("Lookup(4) found a server")
	}
	if p, o := m.Counts(); p != 2 || o != 1 {
		t.Errorf("Counts = %d, %d", p, o)
	}
}

func TestDynamicFileNames(t *testing.T) {
	if got := DynamicFileName("/etc/zookeeper/zoo.cfg", 0x100000000); got != "/etc/zookeeper/zoo.cfg.dynamic.100000000" {
		t.Errorf("DynamicFileName = %s", got)
	}
	for _, c := range []struct {
		name string
		v    int64
		ok   bool
	}{
		{"zoo.cfg.dynamic.100000000", 0x100000000, true},
		{"zoo.cfg.dynamic.0", 0, true},
		{"zoo.cfg.dynamic.1001", 0x1001, true},
		{"zoo.cfg.dynamic", 0, false},
		{"dynamic", 0, false},
	} {
		if v, ok := versionFromFileName(c.name); v != c.v || ok != c.ok {
			t.Errorf("versionFromFileName(%s) = %x, %v", c.name, v, ok)
		}
	}
}

// FuzzParseServer: no panic; whatever is accepted prints as a line that parses
// back to the same Server, and prints the same again.
func FuzzParseServer(f *testing.F) {
	for _, seed := range []string{
		"127.0.0.1:2888:3888", "[::1]:2888:3888:observer;[::1]:2181", "a:1:2|b:3:4;5", "h:1:2;0.0.0.0:2181",
		"[::1:1:2", "a:1:2:observer|b:3:4:participant", ";;", "|", "[]:1:2",
	} {
		f.Add(int64(1), seed)
	}
	f.Fuzz(func(t *testing.T, id int64, value string) {
		s, err := ParseServer(id, value)
		if err != nil {
			return
		}
		again, err := ParseServerLine(s.String())
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", value, s, err)
		}
		if !reflect.DeepEqual(again, s) || again.String() != s.String() {
			t.Fatalf("%q: %+v reparsed as %+v", value, s, again)
		}
	})
}

// FuzzParseMembership: no panic; an accepted text prints as /zookeeper/config and
// as a dynamic file, and both parse back to the same membership.
func FuzzParseMembership(f *testing.F) {
	f.Add("server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889;2181\nversion=100000000")
	f.Add("server.11=[::1]:1:2:observer\n# c\n\nserver.2=a:1:2|b:3:4")
	f.Add("version=0")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseMembership(text)
		if err != nil {
			return
		}
		again, err := ParseMembership(m.String())
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("%q: String %q reparsed as %+v, %v", text, m.String(), again, err)
		}
		fromFile, err := ParseMembership(m.DynamicFileText())
		if err != nil || len(fromFile.Servers) != len(m.Servers) {
			t.Fatalf("%q: DynamicFileText %q reparsed as %+v, %v", text, m.DynamicFileText(), fromFile, err)
		}
	})
}
