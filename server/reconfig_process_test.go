package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
	"zkd/internal/zkcheck"
	"zkd/zoocfg"
)

// procServer is one server process of a procEnsemble: a directory with its
// zoo.cfg and data/myid, and its server.N line with real loopback ports (a
// reconfigured membership is one text for every member, so no per-link proxy
// can stand in the addresses).
type procServer struct {
	myid int
	dir  string
	line string
	addr string // client address
	proc *testutil.Process
}

func (s *procServer) cfgPath() string { return filepath.Join(s.dir, "zoo.cfg") }
func (s *procServer) logPath() string { return filepath.Join(s.dir, "server.out") }

// procEnsemble runs servers of one kind (zkd or Apache ZooKeeper) as processes,
// with reconfigEnabled and a super user (super:test).
type procEnsemble struct {
	t       *testing.T
	kind    zkcheck.ServerKind
	dir     string
	servers []*procServer
}

func newProcEnsemble(t *testing.T, kind zkcheck.ServerKind, n int) *procEnsemble {
	t.Helper()
	e := &procEnsemble{t: t, kind: kind, dir: t.TempDir()}
	for range n {
		e.newServer("participant")
	}
	for _, s := range e.servers {
		e.writeConfig(s, e.servers)
		e.start(s)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range e.servers {
				t.Logf("server.%d (%s) log tail:\n%s", s.myid, kind.Name(), testutil.TailFile(s.logPath(), 25))
			}
		}
	})
	e.waitHealthy(e.servers)
	return e
}

// newServer allocates a server's ports and directory.
func (e *procEnsemble) newServer(role string) *procServer {
	t := e.t
	s := &procServer{myid: len(e.servers) + 1}
	s.dir = filepath.Join(e.dir, "srv"+strconv.Itoa(s.myid))
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "data", "myid"), []byte(strconv.Itoa(s.myid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	client := testutil.FreePort(t)
	s.addr = fmt.Sprintf("127.0.0.1:%d", client)
	s.line = fmt.Sprintf("server.%d=127.0.0.1:%d:%d:%s;127.0.0.1:%d", s.myid, testutil.FreePort(t), testutil.FreePort(t), role, client)
	if err := e.kind.Prepare(s.dir); err != nil {
		t.Fatal(err)
	}
	e.servers = append(e.servers, s)
	return s
}

// writeConfig writes s's zoo.cfg with the server lines of members.
func (e *procEnsemble) writeConfig(s *procServer, members []*procServer) {
	var b strings.Builder
	fmt.Fprintf(&b, "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir=%s\n", filepath.Join(s.dir, "data"))
	b.WriteString("maxClientCnxns=0\n4lw.commands.whitelist=*\nadmin.enableServer=false\nforceSync=no\n")
	b.WriteString("reconfigEnabled=true\nDigestAuthenticationProvider.superDigest=" + superDigest() + "\n")
	for _, m := range members {
		b.WriteString(m.line + "\n")
	}
	if err := os.WriteFile(s.cfgPath(), []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *procEnsemble) start(s *procServer) {
	name, args := e.kind.Command(s.dir)
	s.proc = testutil.StartProcess(e.t, s.dir, s.logPath(), name, args...)
}

// waitHealthy waits until one of members leads and the others follow or observe.
func (e *procEnsemble) waitHealthy(members []*procServer) {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		leaders, others := 0, 0
		var modes []string
		for _, s := range members {
			m, _ := zkcheck.Mode(s.addr, time.Second)
			modes = append(modes, m)
			switch m {
			case "leader":
				leaders++
			case "follower", "observer":
				others++
			}
		}
		if leaders == 1 && others == len(members)-1 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s ensemble not healthy: modes %q", e.kind.Name(), modes)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leader returns the member that leads.
func (e *procEnsemble) leader(members []*procServer) *procServer {
	e.t.Helper()
	e.waitHealthy(members)
	for _, s := range members {
		if m, _ := zkcheck.Mode(s.addr, time.Second); m == "leader" {
			return s
		}
	}
	e.t.Fatal("no leader")
	return nil
}

// superClient connects to addrs and authenticates as the super user.
func superClient(t *testing.T, addrs ...string) *zk.Conn {
	t.Helper()
	c, events, err := zk.Connect(addrs, 5*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	deadline := time.After(30 * time.Second)
	for ev := range events {
		if ev.State == zk.StateHasSession {
			break
		}
		select {
		case <-deadline:
			t.Fatal("no session")
		default:
		}
	}
	if err := c.AddAuth("digest", []byte("super:test")); err != nil {
		t.Fatal(err)
	}
	return c
}

// reconfigRetry runs a reconfig until it stops failing with a code that only
// says "not yet" (the new server has not asked to join or caught up, the last
// change is being left, the connection moved).
func reconfigRetry(t *testing.T, what string, f func() (*zk.Stat, error)) *zk.Stat {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		start := time.Now()
		st, err := f()
		switch {
		case err == nil:
			t.Logf("%s: answered in %v", what, time.Since(start).Round(time.Millisecond))
			return st
		// go-zookeeper has no errors for NEWCONFIGNOQUORUM (-13) and
		// RECONFIGINPROGRESS (-14).
		case time.Now().After(deadline) || !(err.Error() == "unknown error: -13" || err.Error() == "unknown error: -14" ||
			errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer)):
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lines returns the server lines of members, as /zookeeper/config has them.
func lines(members []*procServer) []string {
	var out []string
	for _, s := range members {
		out = append(out, s.line)
	}
	return out
}

// checkConfigEverywhere waits until every member has /zookeeper/config with
// exactly members' lines at version, in its dynamic configuration file and
// zoo.cfg too.
func (e *procEnsemble) checkConfigEverywhere(members []*procServer, version int64) {
	e.t.Helper()
	want := strings.Join(lines(members), "\n")
	for _, s := range members {
		eventually(e.t, fmt.Sprintf("server.%d's configuration", s.myid), func() error {
			c, _, err := zk.Connect([]string{s.addr}, 5*time.Second, zk.WithLogger(nopLogger{}))
			if err != nil {
				return err
			}
			defer c.Close()
			data, _, err := c.Get("/zookeeper/config")
			if err != nil {
				return err
			}
			if got := string(data); got != want+fmt.Sprintf("\nversion=%x", version) {
				return fmt.Errorf("/zookeeper/config %q", got)
			}
			dyn := zoocfg.DynamicFileName(s.cfgPath(), version)
			b, err := os.ReadFile(dyn)
			if err != nil {
				return err
			}
			sorted := lines(members)
			slices.Sort(sorted)
			if string(b) != strings.Join(sorted, "\n") {
				return fmt.Errorf("%s: %q", dyn, b)
			}
			static, err := os.ReadFile(s.cfgPath())
			if err != nil {
				return err
			}
			if strings.Contains(string(static), "server.") || !strings.Contains(string(static), "dynamicConfigFile="+dyn+"\n") {
				return fmt.Errorf("zoo.cfg: %q", static)
			}
			return nil
		})
	}
}

// A 3-server zkd ensemble under the load of zkcheck's recording clients: a
// fourth server is added, the leader removed, and a non-incremental reconfig
// swaps a follower for a fifth server. A client watching /zookeeper/config sees
// every change, every member ends with the new text, dynamic file and zoo.cfg,
// and the recorded history is linearizable across the reconfigurations.
func TestZkdReconfigUnderLoadKeepsTheHistoryLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs zkd processes for a minute; skipped under -short")
	}
	e := newProcEnsemble(t, zkcheck.Zkd(testutil.BuildZkd(t)), 3)
	orig := slices.Clone(e.servers)
	r, err := zkcheck.NewRecorder(zkcheck.RecorderConfig{Servers: []string{orig[0].addr, orig[1].addr, orig[2].addr},
		Seed: 7, Duration: 3 * time.Minute, MaxOps: 60000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recorded := make(chan struct{})
	go func() { r.Run(ctx); close(recorded) }()

	lead := e.leader(orig)
	var watchAt []string
	for _, s := range orig {
		if s != lead {
			watchAt = append(watchAt, s.addr)
		}
	}
	// The watcher stays on a server that is neither removed (the leader) nor
	// swapped out (the last original follower).
	admin := superClient(t, watchAt[0])
	watch := func() <-chan zk.Event {
		_, _, ch, err := admin.GetW("/zookeeper/config")
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	expectChange := func(ch <-chan zk.Event, st *zk.Stat, members []*procServer) {
		t.Helper()
		select {
		case ev := <-ch:
			if ev.Type != zk.EventNodeDataChanged || ev.Path != "/zookeeper/config" {
				t.Fatalf("watch event %+v", ev)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no watch event for the reconfig")
		}
		data, got, err := admin.Get("/zookeeper/config")
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Join(lines(members), "\n") + fmt.Sprintf("\nversion=%x", st.Mzxid)
		if string(data) != want || got.Version != -1 || got.Mzxid != st.Mzxid {
			t.Fatalf("/zookeeper/config %q %+v, want %q", data, got, want)
		}
		e.checkConfigEverywhere(members, st.Mzxid)
	}
	time.Sleep(2 * time.Second)

	// 1. A fourth server, started from a zoo.cfg naming the ensemble and itself.
	s4 := e.newServer("participant")
	e.writeConfig(s4, e.servers)
	e.start(s4)
	ch := watch()
	st := reconfigRetry(t, "adding server.4", func() (*zk.Stat, error) {
		return admin.IncrementalReconfig([]string{s4.line}, nil, -1)
	})
	members := []*procServer{orig[0], orig[1], orig[2], s4}
	expectChange(ch, st, members)
	e.waitHealthy(members)
	time.Sleep(2 * time.Second)

	// 2. The leader leaves.
	lead = e.leader(members)
	ch = watch()
	st = reconfigRetry(t, "removing the leader", func() (*zk.Stat, error) {
		return admin.IncrementalReconfig(nil, []string{strconv.Itoa(lead.myid)}, -1)
	})
	members = slices.DeleteFunc(slices.Clone(members), func(s *procServer) bool { return s == lead })
	expectChange(ch, st, members)
	next := e.leader(members)
	if next == lead {
		t.Fatal("the removed leader still leads")
	}
	eventually(t, "the removed leader stops serving", func() error {
		if m, _ := zkcheck.Mode(lead.addr, time.Second); m == "leader" || m == "follower" {
			return fmt.Errorf("mode %q", m)
		}
		return nil
	})
	if c, events, err := zk.Connect([]string{lead.addr}, 5*time.Second, zk.WithLogger(nopLogger{})); err == nil {
		timeout := time.After(3 * time.Second)
	wait:
		for {
			select {
			case ev := <-events:
				if ev.State == zk.StateHasSession {
					t.Fatal("the removed leader gave a client a session")
				}
			case <-timeout:
				break wait
			}
		}
		c.Close()
	}
	time.Sleep(2 * time.Second)

	// 3. Non-incremental: the member list without one original follower (not
	// the watcher's server), with a fifth server.
	s5 := e.newServer("participant")
	e.writeConfig(s5, append(slices.Clone(members), s5))
	e.start(s5)
	var keep []*procServer
	for _, s := range members {
		if s.addr == watchAt[0] || s.myid > 3 {
			keep = append(keep, s)
		}
	}
	keep = append(keep, s5)
	ch = watch()
	st = reconfigRetry(t, "the new member list", func() (*zk.Stat, error) {
		return admin.Reconfig(lines(keep), -1)
	})
	expectChange(ch, st, keep)
	e.waitHealthy(keep)
	time.Sleep(3 * time.Second)

	cancel()
	<-recorded
	r.ReadBack()
	if ab := r.Abandoned(); len(ab) > 0 {
		t.Errorf("requests left unanswered on live connections: %q", ab)
	}
	h := r.History()
	ops, writes, unknown := h.Count()
	t.Logf("%d operations (%d writes, %d of unknown outcome), %d sessions", ops, writes, unknown, h.Sessions())
	late := 0
	for _, op := range h.Ops {
		if op.In.Kind.IsWrite() && !op.Out.Unknown && op.Out.Code == zkcheck.CodeOK {
			late++
		}
	}
	if late < 100 {
		t.Fatalf("only %d successful writes recorded", late)
	}
	v, err := zkcheck.Check(h, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verdict: per pair %v, whole %v", v.Pairs, v.Whole)
	if v.Pairs != porcupine.Ok || v.Whole == porcupine.Illegal {
		jp, hp, err := zkcheck.Dump(zkcheck.Shrink(h, time.Minute, 2*time.Minute), testutil.ArtifactDir(t), "reconfig", time.Minute)
		t.Fatalf("history judged %v (per pair %v, whole %v): %s %s %v", v.Result(), v.Pairs, v.Whole, jp, hp, err)
	}
}

// versionLine matches /zookeeper/config's version line.
var versionLine = regexp.MustCompile(`version=[0-9a-f]+$`)

// anyVersion matches a version line anywhere in a text.
var anyVersion = regexp.MustCompile(`version=[0-9a-f]+`)

// TestReconfigAnswersLikeZooKeeper sends the same reconfigs to a 3-server Apache
// ZooKeeper 3.8 ensemble and a 3-server zkd ensemble, both with reconfigEnabled
// and a super user, and compares the codes and /zookeeper/config (server lines
// with each ensemble's ports named, and the Stat rules).
func TestReconfigAnswersLikeZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three JVMs; skipped under -short")
	}
	zkKind := zkcheck.ZooKeeper(t)
	ens := map[string]*procEnsemble{
		"zookeeper": newProcEnsemble(t, zkKind, 3),
		"zkd":       newProcEnsemble(t, zkcheck.Zkd(testutil.BuildZkd(t)), 3),
	}
	type answer struct {
		err    string
		config string
	}
	// normalized replaces e's ports with names and the version with its class.
	normalized := func(e *procEnsemble, data []byte, st *zk.Stat) string {
		s := string(data)
		for _, srv := range e.servers {
			f := strings.FieldsFunc(srv.line, func(r rune) bool { return r == '=' || r == ':' || r == ';' })
			for i, p := range []string{f[2], f[3], f[6]} {
				s = strings.ReplaceAll(s, ":"+p, fmt.Sprintf(":<%d.%d>", srv.myid, i))
			}
		}
		v := versionLine.FindString(s)
		version, _ := strconv.ParseInt(strings.TrimPrefix(v, "version="), 16, 64)
		s = versionLine.ReplaceAllString(s, "version=<v>")
		return fmt.Sprintf("%s [version!=0 %t, stat version %d, mzxid==version %t, dataLength ok %t]",
			s, version != 0, st.Version, st.Mzxid == version, int(st.DataLength) == len(data))
	}
	// A follower's client, so that removing the leader does not cut it off.
	follower := func(e *procEnsemble) *procServer {
		lead := e.leader(e.servers[:3])
		for _, s := range e.servers[:3] {
			if s != lead && s.myid != 3 {
				return s
			}
		}
		return e.servers[0]
	}
	steps := []struct {
		name string
		do   func(e *procEnsemble, admin, anon *zk.Conn) error
	}{
		{"initial config", func(e *procEnsemble, admin, _ *zk.Conn) error { return nil }},
		{"no super user", func(_ *procEnsemble, _, anon *zk.Conn) error {
			_, err := anon.IncrementalReconfig(nil, []string{"3"}, -1)
			return err
		}},
		{"version 0 is not the current one", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig(nil, []string{"3"}, 0)
			return err
		}},
		{"one participant left", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig(nil, []string{"2", "3"}, -1)
			return err
		}},
		{"joining without a client port", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig([]string{"server.5=127.0.0.1:1234:1235"}, nil, -1)
			return err
		}},
		{"joining malformed", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig([]string{"server.5=127.0.0.1:1234;1236"}, nil, -1)
			return err
		}},
		{"new members with one participant", func(e *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.Reconfig([]string{e.servers[0].line}, -1)
			return err
		}},
		{"new members with a bad key", func(e *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.Reconfig([]string{e.servers[0].line, e.servers[1].line, "tickTime=5"}, -1)
			return err
		}},
		{"leaving id not a number", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig(nil, []string{"three"}, -1)
			return err
		}},
		{"joining id not a number", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig([]string{"server.x=127.0.0.1:1234:1235;1236"}, nil, -1)
			return err
		}},
		{"new members all observers", func(e *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.Reconfig([]string{strings.Replace(e.servers[0].line, "participant", "observer", 1)}, -1)
			return err
		}},
		{"remove server.3", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig(nil, []string{"3"}, -1)
			return err
		}},
		{"stale version after it", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig(nil, []string{"2"}, 5)
			return err
		}},
		{"no change but the version", func(_ *procEnsemble, admin, _ *zk.Conn) error {
			_, err := admin.IncrementalReconfig(nil, nil, -1)
			return err
		}},
	}
	clients := map[string][2]*zk.Conn{}
	for name, e := range ens {
		at := follower(e).addr
		anon, _, err := zk.Connect([]string{at}, 5*time.Second, zk.WithLogger(nopLogger{}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(anon.Close)
		clients[name] = [2]*zk.Conn{superClient(t, at), anon}
	}
	for _, step := range steps {
		got := map[string]answer{}
		for name, e := range ens {
			admin, anon := clients[name][0], clients[name][1]
			err := step.do(e, admin, anon)
			a := answer{err: fmt.Sprint(err)}
			// The change (or none) is on the client's server once its answer is.
			// ZooKeeper's followers drop their clients when the leader changes,
			// so the client may have to reconnect first.
			eventually(t, name+": "+step.name+": reading /zookeeper/config", func() error {
				if _, err := admin.Sync("/zookeeper/config"); err != nil {
					return err
				}
				data, st, err := admin.Get("/zookeeper/config")
				if err != nil {
					return err
				}
				a.config = normalized(e, data, st)
				return nil
			})
			got[name] = a
		}
		// A change that moves ZooKeeper's leader can close its followers'
		// client connections before the answer goes out: the outcome is then
		// known only from the configuration that follows.
		for name, a := range got {
			if a.err == zk.ErrConnectionClosed.Error() {
				for other, b := range got {
					if other != name && b.err == "<nil>" {
						a.err = b.err
						got[name] = a
					}
				}
			}
		}
		if got["zookeeper"] != got["zkd"] {
			t.Errorf("%s:\nZooKeeper: %+v\nzkd:       %+v", step.name, got["zookeeper"], got["zkd"])
		} else {
			t.Logf("%s: %+v", step.name, got["zkd"])
		}
	}
}

// zkCliJars is zkCli's classpath on Debian (compat's zkJars).
var zkCliJars = []string{"zookeeper.jar", "zookeeper-jute.jar", "netty-codec.jar", "netty-resolver.jar",
	"netty-transport-native-unix-common.jar", "slf4j-api.jar", "slf4j-log4j12.jar", "log4j-1.2.jar"}

// zkCliStdin runs Java zkCli against addr with commands on its standard input (it
// reads plain lines without jline) and returns what it printed.
func zkCliStdin(t *testing.T, addr string, commands ...string) string {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		testutil.Missing(t, "java")
	}
	var cp []string
	for _, j := range zkCliJars {
		p := "/usr/share/java/" + j
		if _, err := os.Stat(p); err != nil {
			testutil.Missing(t, "zkCli's jar "+p)
		}
		cp = append(cp, p)
	}
	log4j := filepath.Join(t.TempDir(), "log4j.properties")
	if err := os.WriteFile(log4j, []byte("log4j.rootLogger=ERROR, E\nlog4j.appender.E=org.apache.log4j.ConsoleAppender\n"+
		"log4j.appender.E.Target=System.err\nlog4j.appender.E.layout=org.apache.log4j.PatternLayout\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, java, "-Xmx128m", "-XX:TieredStopAtLevel=1", "-Dlog4j.configuration=file:"+log4j,
		"-cp", strings.Join(cp, ":"), "org.apache.zookeeper.ZooKeeperMain", "-server", addr)
	cmd.Stdin = strings.NewReader(strings.Join(append(commands, "quit"), "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() != nil {
		t.Fatalf("zkCli: %v\n%s", err, out)
	}
	return string(out)
}

// zkCli's reconfig -add and config work against zkd: the new server is added and
// config prints the membership /zookeeper/config holds.
func TestZkCliReconfigAddsAServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs zkd processes and JVMs; skipped under -short")
	}
	e := newProcEnsemble(t, zkcheck.Zkd(testutil.BuildZkd(t)), 3)
	s4 := e.newServer("participant")
	e.writeConfig(s4, e.servers)
	e.start(s4)
	at := e.servers[0].addr
	var out string
	eventually(t, "zkCli reconfig -add", func() error {
		out = zkCliStdin(t, at, "addauth digest super:test", "reconfig -add "+s4.line)
		if !strings.Contains(out, s4.line) {
			return fmt.Errorf("zkCli printed %q", out)
		}
		return nil
	})
	t.Logf("zkCli reconfig -add printed:\n%s", out)
	out = zkCliStdin(t, at, "config")
	want := strings.Join(lines(e.servers), "\n")
	if !strings.Contains(out, want+"\nversion=") {
		t.Fatalf("zkCli config printed %q, want the lines %q", out, want)
	}
	e.waitHealthy(e.servers)
}

// reconfigClient runs a client program that reconfigures an ensemble: it adds
// joining (a server line), removes server leaving, and tries a change from a
// stale config version; hosts are the connect string, and the client
// addresses of the joining and leaving servers let it check that it follows
// the membership. It returns what the program printed.
type reconfigClient func(t *testing.T, hosts string, joining, leaving *procServer) []byte

// runClient runs a client program with a time bound and fails the test, with its
// output, if it does not succeed.
func runClient(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e := stderr.String()
		if len(e) > 4000 {
			e = e[len(e)-4000:]
		}
		t.Fatalf("%s: %v\n%s\n%s", filepath.Base(name), err, out, e)
	}
	return out
}

// kazooReconfig runs testdata/reconfig/reconfig_kazoo.py.
func kazooReconfig(t *testing.T, hosts string, joining, leaving *procServer) []byte {
	for _, need := range []string{python3Bin, "/usr/lib/python3/dist-packages/kazoo"} {
		if _, err := os.Stat(need); err != nil {
			testutil.Missing(t, need)
		}
	}
	script, err := filepath.Abs(filepath.Join("testdata", "reconfig", "reconfig_kazoo.py"))
	if err != nil {
		t.Fatal(err)
	}
	return runClient(t, python3Bin, "-u", script, hosts, joining.line, strconv.Itoa(leaving.myid))
}

// curatorReconfig runs testdata/reconfig/CuratorReconfig.java.
func curatorReconfig(t *testing.T, hosts string, joining, leaving *procServer) []byte {
	cp := jarPath(zkServerJars, curatorJars)
	for _, f := range append([]string{javaBin, javacBin}, strings.Split(cp, ":")...) {
		if _, err := os.Stat(f); err != nil {
			testutil.Missing(t, f)
		}
	}
	classes := javaClasses(t, curatorReconfigClient, filepath.Join("reconfig", "CuratorReconfig.java"))
	return runClient(t, javaBin, "-Xmx128m", "-XX:TieredStopAtLevel=1", "-Dlog4j.configuration=file:/dev/null",
		"-cp", classes+":"+cp, "CuratorReconfig", hosts, joining.line, strconv.Itoa(leaving.myid), joining.addr, leaving.addr)
}

// Real clients' reconfig APIs against a zkd ensemble and an Apache ZooKeeper 3.8
// one: kazoo and Curator each add a fourth server, remove a follower, and try a
// change from a stale config version; the answers (the membership, named by
// each server's part, and the exceptions) are the same on both, Curator's
// ensemble tracker follows the new membership, and each ensemble ends healthy
// with it.
func TestClientsReconfigLikeZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes, JVMs and real clients; skipped under -short")
	}
	clients := []struct {
		name string
		run  reconfigClient
	}{{"kazoo", kazooReconfig}, {"curator", curatorReconfig}}
	kinds := []zkcheck.ServerKind{zkcheck.ZooKeeper(t), zkcheck.Zkd(testutil.BuildZkd(t))}
	for _, client := range clients {
		t.Run(client.name, func(t *testing.T) {
			printed := map[string]string{}
			for _, kind := range kinds {
				printed[kind.Name()] = reconfigThrough(t, kind, client.run)
			}
			t.Logf("%s printed:\n%s", client.name, printed["zkd"])
			if printed["zkd"] != printed[kinds[0].Name()] {
				t.Errorf("%s's reconfig steps differ:\nzkd:\n%s\nZooKeeper:\n%s", client.name, printed["zkd"], printed[kinds[0].Name()])
			}
			if !strings.Contains(printed["zkd"], "stale BadVersion") {
				t.Errorf("a change from a stale version: %q, want a BADVERSION exception", printed["zkd"])
			}
		})
	}
}

// reconfigThrough starts a 3-server ensemble of kind and a fourth server, has
// client add the fourth and remove a follower, checks that the ensemble ends
// with that membership, and returns the client's steps with each server's line
// named by its part (which follower leaves depends on who leads) and the
// version dropped, so that two ensembles' answers compare.
func reconfigThrough(t *testing.T, kind zkcheck.ServerKind, client reconfigClient) string {
	e := newProcEnsemble(t, kind, 3)
	s4 := e.newServer("participant")
	e.writeConfig(s4, e.servers)
	e.start(s4)
	// A follower leaves, so that the client's server keeps its leader: a
	// removed leader steps down, and a request in flight then loses its
	// connection on either server.
	lead := e.leader(e.servers[:3])
	var leaving *procServer
	var remaining []*procServer
	for _, s := range e.servers[:3] {
		if s != lead && leaving == nil {
			leaving = s
			continue
		}
		remaining = append(remaining, s)
	}
	hosts := strings.Join([]string{remaining[0].addr, remaining[1].addr}, ",")
	label := map[string]string{leaving.line: "<leaving>", s4.line: "<joining>", lead.line: "<leader>"}
	for _, s := range remaining {
		if s != lead {
			label[s.line] = "<follower>"
		}
	}
	remaining = append(remaining, s4)
	out := client(t, hosts, s4, leaving)
	want := strings.Join(lines(remaining), "|")
	if !strings.Contains(string(out), "removed "+want+"|version=") {
		t.Errorf("%s: the client printed %q, want the members %q after the removal", kind.Name(), out, want)
	}
	e.waitHealthy(remaining)
	var steps []string
	for _, step := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		verb, rest, _ := strings.Cut(step, " ")
		var parts []string
		for _, f := range strings.Split(rest, "|") {
			if l, ok := label[f]; ok {
				f = l
			}
			parts = append(parts, anyVersion.ReplaceAllString(f, "version=<v>"))
		}
		slices.Sort(parts)
		steps = append(steps, verb+" "+strings.Join(parts, " "))
	}
	return strings.Join(steps, "\n")
}
