package server

import (
	"context"
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
	"zkd/quorum/peer"
	"zkd/zoocfg"
)

// superDigest is the superDigest of user super with password test.
func superDigest() string {
	h := sha1.Sum([]byte("super:test"))
	return "super:" + base64.StdEncoding.EncodeToString(h[:])
}

// reconfigMember is one in-process member started from a zoo.cfg file.
type reconfigMember struct {
	myid  int
	dir   string
	cfg   string // zoo.cfg path
	line  string // its server.N line
	srv   *Server
	extra string // more zoo.cfg lines
}

// startFromFile loads dir's zoo.cfg and starts the member.
func (m *reconfigMember) start(t *testing.T) {
	t.Helper()
	cfg, err := zoocfg.Load(m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SuperDigest = superDigest()
	s, err := Start(context.Background(), cfg, Options{Version: "test", Logger: quiet})
	if err != nil {
		t.Fatalf("server.%d: %v", m.myid, err)
	}
	m.srv = s
	t.Cleanup(func() { _ = s.Stop() })
}

// startMembers starts every member from its zoo.cfg at once (each waits for the
// others to elect), with the super user of superDigest, and stops them all when
// the test ends.
func startMembers(t *testing.T, ms []*reconfigMember) {
	t.Helper()
	t.Cleanup(func() {
		for _, m := range ms {
			if m.srv != nil {
				_ = m.srv.Stop()
			}
		}
	})
	errs := make(chan error, len(ms))
	for _, m := range ms {
		go func() {
			cfg, err := zoocfg.Load(m.cfg)
			if err == nil {
				cfg.SuperDigest = superDigest()
				m.srv, err = Start(context.Background(), cfg, Options{Version: "test", Logger: quiet})
			}
			errs <- err
		}()
	}
	var startErr error
	for range ms {
		if err := <-errs; err != nil {
			startErr = err // every start returns before the test may end
		}
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
}

// newReconfigMembers writes zoo.cfg files for n servers (reconfigEnabled, tick of
// 100 ms); server i's file names servers 1..listed (at least i).
func newReconfigMembers(t *testing.T, n int) []*reconfigMember {
	t.Helper()
	ms := make([]*reconfigMember, n)
	for i := range ms {
		ms[i] = newReconfigMember(t, i+1)
	}
	return ms
}

// newReconfigMember makes server myid's directory and picks its ports: call it
// just before the server starts, so that no connection of the running ones
// takes a port meanwhile.
func newReconfigMember(t *testing.T, myid int) *reconfigMember {
	t.Helper()
	m := &reconfigMember{myid: myid, dir: t.TempDir()}
	m.line = fmt.Sprintf("server.%d=127.0.0.1:%d:%d:participant;127.0.0.1:%d", myid,
		testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t))
	m.cfg = filepath.Join(m.dir, "zoo.cfg")
	if err := os.WriteFile(filepath.Join(m.dir, "myid"), fmt.Appendf(nil, "%d\n", myid), 0o644); err != nil {
		t.Fatal(err)
	}
	return m
}

// writeConfig writes m's zoo.cfg naming servers.
func (m *reconfigMember) writeConfig(t *testing.T, servers []*reconfigMember) {
	t.Helper()
	var lines []string
	for _, s := range servers {
		lines = append(lines, s.line)
	}
	text := fmt.Sprintf("tickTime=100\ninitLimit=20\nsyncLimit=5\ndataDir=%s\nadmin.enableServer=false\npreAllocSize=1024\n"+
		"reconfigEnabled=true\n4lw.commands.whitelist=*\n%s\n%s\n", m.dir, strings.Join(lines, "\n"), m.extra)
	if err := os.WriteFile(m.cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (m *reconfigMember) client(t *testing.T) *zk.Conn { return clientOf(t, m.srv) }

// clientOf connects go-zookeeper to s alone, closed when the test ends.
func clientOf(t *testing.T, s *Server) *zk.Conn {
	t.Helper()
	// A member refuses clients until it knows the leader, which can come a
	// moment after another member has become it; go-zookeeper with one address
	// then gives up on the first request.
	eventually(t, fmt.Sprintf("the member on %s serving", s.Addr()), func() error {
		if r := s.Replica(); !r.Serving() {
			return fmt.Errorf("mode %q", r.Mode())
		}
		return nil
	})
	c, _, err := zk.Connect([]string{s.Addr().String()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// startThreeEstablished starts a 3-server ensemble and returns its members, the
// leader's index and a client of the leader, once the first leader has given
// the configuration its version.
func startThreeEstablished(t *testing.T) ([]*reconfigMember, int, *zk.Conn) {
	t.Helper()
	ms := newReconfigMembers(t, 3)
	for _, m := range ms {
		m.writeConfig(t, ms)
	}
	startMembers(t, ms)
	lead := leaderOf(t, []*Server{ms[0].srv, ms[1].srv, ms[2].srv})
	c := ms[lead].client(t)
	eventually(t, "the configuration is established", func() error {
		if _, st, err := c.Get("/zookeeper/config"); err != nil || st.Mzxid == 0 {
			return fmt.Errorf("%v %v", st, err)
		}
		return nil
	})
	return ms, lead, c
}

// eventually retries f for up to 30 s.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A fourth server started with a zoo.cfg naming the ensemble and itself joins
// the running ensemble, is added by a client's reconfig, and every member ends
// with the new /zookeeper/config, a dynamic configuration file named after its
// version, and a zoo.cfg pointing to it; conf prints the membership.
func TestReconfigAddsAServerStartedFromItsZooCfg(t *testing.T) {
	ms := newReconfigMembers(t, 3)
	for _, m := range ms {
		m.writeConfig(t, ms)
	}
	startMembers(t, ms)
	servers := []*Server{ms[0].srv, ms[1].srv, ms[2].srv}
	leaderOf(t, servers)
	c := ms[0].client(t)
	// The first leader gives the static configuration a version (reconfigEnabled).
	eventually(t, "the initial configuration", func() error {
		data, st, err := c.Get("/zookeeper/config")
		if err != nil {
			return err
		}
		want := strings.Join([]string{ms[0].line, ms[1].line, ms[2].line}, "\n") + fmt.Sprintf("\nversion=%x", st.Mzxid)
		if string(data) != want || st.Version != -1 || st.Mzxid == 0 {
			return fmt.Errorf("%q %+v", data, st)
		}
		return nil
	})

	ms = append(ms, newReconfigMember(t, 4))
	ms[3].writeConfig(t, ms)
	ms[3].start(t)
	if ms[3].srv.Replica().Serving() {
		t.Fatal("the joining server serves before it is added")
	}
	if err := c.AddAuth("digest", []byte("super:test")); err != nil {
		t.Fatal(err)
	}
	_, _, ch, err := c.GetW("/zookeeper/config")
	if err != nil {
		t.Fatal(err)
	}
	var stat *zk.Stat
	eventually(t, "reconfig adding server.4", func() error {
		stat, err = c.IncrementalReconfig([]string{ms[3].line}, nil, -1)
		return err
	})
	if ev := <-ch; ev.Type != zk.EventNodeDataChanged {
		t.Fatalf("watch event %+v", ev)
	}
	version := stat.Mzxid
	want := strings.Join([]string{ms[0].line, ms[1].line, ms[2].line, ms[3].line}, "\n") + fmt.Sprintf("\nversion=%x", version)
	for _, m := range ms {
		eventually(t, fmt.Sprintf("server.%d's /zookeeper/config", m.myid), func() error {
			got, _ := m.srv.Replica().Tree().Config()
			if string(got) != want {
				return fmt.Errorf("%q, want %q", got, want)
			}
			dyn := zoocfg.DynamicFileName(m.cfg, version)
			b, err := os.ReadFile(dyn)
			if err != nil {
				return err
			}
			if want := strings.Join([]string{ms[0].line, ms[1].line, ms[2].line, ms[3].line}, "\n"); string(b) != want {
				return fmt.Errorf("%s: %q", dyn, b)
			}
			static, err := os.ReadFile(m.cfg)
			if err != nil {
				return err
			}
			if strings.Contains(string(static), "server.") || !strings.Contains(string(static), "dynamicConfigFile="+dyn+"\n") {
				return fmt.Errorf("zoo.cfg: %q", static)
			}
			return nil
		})
	}
	// The new member serves, and its conf shows the membership.
	eventually(t, "server.4 serves", func() error {
		if !ms[3].srv.Replica().Serving() {
			return fmt.Errorf("not serving (mode %q)", ms[3].srv.Replica().Mode())
		}
		return nil
	})
	c4 := ms[3].client(t)
	if _, err := c4.Sync("/"); err != nil {
		t.Fatal(err)
	}
	if _, err := c4.Create("/from-4", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	conf := ms[3].srv.Sessions().FourLetterWord("conf")
	if !strings.Contains(conf, "serverId=4\n") || !strings.HasSuffix(conf, "membership: \n"+want) {
		t.Fatalf("conf:\n%s", conf)
	}

	// Every member restarts from its rewritten zoo.cfg and the ensemble goes on.
	for _, m := range ms {
		if err := m.srv.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		m.start(t)
	}
	leaderOf(t, []*Server{ms[0].srv, ms[1].srv, ms[2].srv, ms[3].srv})
	c = ms[3].client(t)
	eventually(t, "a write after the restart", func() error {
		_, err := c.Create("/after-restart", nil, 0, zk.WorldACL(zk.PermAll))
		return err
	})
}

// A member of a reconfigured ensemble that loses its disk starts empty under the
// raft id the ensemble knows for its myid, is resynchronised from the leader's
// snapshot and serves again; it does not bootstrap an ensemble of its own.
func TestWipedMemberOfAReconfiguredEnsembleCatchesUp(t *testing.T) {
	ms, lead, c := startThreeEstablished(t)
	victim := ms[(lead+1)%3]
	for i := range 30 {
		if _, err := c.Create(fmt.Sprintf("/n%d", i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	id := victim.srv.ens.id
	if err := victim.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(victim.dir, "zkd")); err != nil {
		t.Fatal(err)
	}
	victim.start(t)
	if got := victim.srv.ens.id; got != id {
		t.Fatalf("restarted as %s, was %s", Label(got), Label(id))
	}
	eventually(t, "the wiped member catches up and serves", func() error {
		r := victim.srv.Replica()
		if !r.Serving() {
			return fmt.Errorf("not serving (mode %q)", r.Mode())
		}
		if _, code := r.Tree().Exists("/n29", nil, nil); code != 0 {
			return fmt.Errorf("/n29: %v", code)
		}
		return nil
	})
}

// A member removed by a reconfig while it was stopped comes back with the old
// configuration and never gets the entry that removed it. With no leader, it
// asks the others for their views over the quorum port, learns it was removed,
// and stops trying to serve, where it would otherwise wait for a leader for good.
func TestMemberRemovedWhileStoppedLearnsItOnRestart(t *testing.T) {
	ms, lead, c := startThreeEstablished(t)
	victim := ms[(lead+1)%3]
	if err := c.AddAuth("digest", []byte("super:test")); err != nil {
		t.Fatal(err)
	}
	if err := victim.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	var stat *zk.Stat
	eventually(t, "reconfig removing the stopped server", func() error {
		var err error
		stat, err = c.IncrementalReconfig(nil, []string{strconv.Itoa(victim.myid)}, -1)
		return err
	})
	victim.start(t)
	r := victim.srv.Replica()
	eventually(t, "the removed server learns it", func() error {
		if e := r.Ensemble(); e.Member || r.Serving() {
			return fmt.Errorf("member %v, serving %v, config version %x", e.Member, r.Serving(), e.Version)
		}
		return nil
	})
	if e := r.Ensemble(); e.Version >= stat.Mzxid {
		t.Fatalf("the removed server applied the configuration %x that removed it", e.Version)
	}
	if _, err := c.Create("/after", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
}

// With sslQuorum, a server being added asks the members to let it join over the
// quorum's TLS, as every other quorum connection goes: it joins, is added by a
// reconfig and catches up, and a plaintext ask is not answered.
func TestReconfigAddsAServerToAnSSLQuorum(t *testing.T) {
	p := testutil.NewPKI(t, t.TempDir())
	reconfigAddsAFourth(t, func(m *reconfigMember) {
		cert := p.Issue(t, fmt.Sprintf("member%d", m.myid), pkix.Name{CommonName: fmt.Sprintf("zkd member %d", m.myid)}, testutil.CertOptions{})
		m.extra = "sslQuorum=true\nssl.quorum.keyStore.location=" + cert.PEM + "\nssl.quorum.trustStore.location=" + p.CAFile
	}, func(ms []*reconfigMember) {
		// A plaintext ask gets no answer from a member that speaks only TLS.
		if _, err := peer.Ask(context.Background(), peer.AskConfig{From: 99, Timeout: 2 * time.Second}, ms[0].srv.QuorumAddr(), []byte("?")); err == nil {
			t.Fatal("a plaintext ask was answered by an sslQuorum member")
		}
	})
}

// reconfigAddsAFourth runs a server's joining by reconfig: three members, each
// set up by setup (its zoo.cfg extra lines, its server line), start and take
// /before; between runs then; a fourth set up alike starts, a reconfig through
// member 1 adds it, and it must come to serve /before.
func reconfigAddsAFourth(t *testing.T, setup func(m *reconfigMember), between func(ms []*reconfigMember)) {
	t.Helper()
	ms := newReconfigMembers(t, 3)
	for _, m := range ms {
		setup(m)
		m.writeConfig(t, ms)
	}
	startMembers(t, ms)
	leaderOf(t, []*Server{ms[0].srv, ms[1].srv, ms[2].srv})
	c := ms[0].client(t)
	if _, err := c.Create("/before", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if between != nil {
		between(ms)
	}

	m4 := newReconfigMember(t, 4)
	setup(m4)
	ms = append(ms, m4)
	m4.writeConfig(t, ms)
	m4.start(t)
	if err := c.AddAuth("digest", []byte("super:test")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reconfig adding server.4", func() error {
		_, err := c.IncrementalReconfig([]string{m4.line}, nil, -1)
		return err
	})
	eventually(t, "server.4 serving the data", func() error {
		if !m4.srv.Replica().Serving() {
			return errors.New("not serving")
		}
		if _, code := m4.srv.Replica().Tree().Exists("/before", nil, nil); code != 0 {
			return fmt.Errorf("/before: %v", code)
		}
		return nil
	})
}
