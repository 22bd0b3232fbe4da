package compat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/zktest"
)

// TestClientsAgainstAnEnsembleAcrossALeaderKill runs kazoo, zkCli, the C
// client's cli_mt and go-zookeeper against the connect string of a
// three-server zkd ensemble (every member's address, as an application is
// configured), kills the leader with SIGKILL, and runs them again against the
// same connect string, one member of which is now dead. Each run writes, reads,
// watches and uses an ephemeral; the second also reads what the first wrote.
// A go-zookeeper session opened before the kill keeps its id and its
// ephemeral through it.
func TestClientsAgainstAnEnsembleAcrossALeaderKill(t *testing.T) {
	long(t)
	// Every client is looked for before the servers start: a missing one fails
	// under CI and skips the test elsewhere.
	need(t, python3, kazooDir, javaBin, cliMT)
	needJars(t, zkJars)
	dir := t.TempDir()
	kazooScript := filepath.Join(dir, "kazoo_ensemble.py")
	if err := os.WriteFile(kazooScript, []byte(kazooEnsembleScript), 0o644); err != nil {
		t.Fatal(err)
	}
	zkcli := zkcliDialect(testdata(t, "log4j-client.properties"))
	ccli := cliMTDialect()

	c := zktest.StartProcessCluster(t, 3, zktest.ProcessOptions{Extra: "4lw.commands.whitelist=*\n"})
	lead := c.Leader()
	serving := func(members ...int) {
		zktest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
			for _, m := range members {
				if zktest.Mode(c.Member(m).ConnectString()) == "" {
					return fmt.Errorf("member %d does not serve yet", m)
				}
			}
			return nil
		})
	}
	serving(0, 1, 2)
	addr := c.ConnectString()
	srv := &server{kind: "zkd", addr: addr}

	keeper, _ := zktest.ConnectZK(t, addr, 10*time.Second)
	if _, err := keeper.Create("/ens", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := keeper.Create("/ens/keeper", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	keeperID := keeper.SessionID()

	rec := &record{}
	phase := func(name string) {
		t.Run("phase="+name, func(t *testing.T) {
			t.Run("client=kazoo", func(t *testing.T) {
				s := &suite{t: t, server: srv, rec: rec}
				p, err := startProc(t, "kazoo_ensemble.py", []string{"PYTHONDONTWRITEBYTECODE=1"}, false,
					python3, "-u", kazooScript, addr, name)
				if err != nil {
					t.Fatal(err)
				}
				s.runCheckLines(p, 2*time.Minute, nil)
			})
			for _, cl := range []struct {
				d      *dialect
				script string
			}{{zkcli, zkcliEnsembleScript}, {ccli, cliMTEnsembleScript}} {
				t.Run("client="+cl.d.client, func(t *testing.T) {
					text := cl.script
					if name == "after" {
						text += cliAfterLines[cl.d.client]
					}
					path := filepath.Join(dir, cl.d.client+"-"+name+".script")
					if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
					s := &suite{t: t, server: srv, rec: rec}
					s.runScript(cl.d, parseScript(t, cl.d, path, map[string]string{"PHASE": name}))
				})
			}
			t.Run("client=go-zookeeper", func(t *testing.T) { goZookeeperEnsemble(t, addr, name) })
		})
	}

	phase("before")
	c.Member(lead).Kill()
	if next := c.Leader(); next == lead {
		t.Fatal("the killed member still leads")
	}
	var alive []int
	for m := range c.N() {
		if m != lead {
			alive = append(alive, m)
		}
	}
	serving(alive...)
	phase("after")

	// The session opened before the kill lives on, with its ephemeral.
	zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, stat, err := keeper.Get("/ens/keeper")
		if err != nil {
			return err
		}
		if keeper.SessionID() != keeperID || stat.EphemeralOwner != keeperID {
			return fmt.Errorf("session 0x%x (was 0x%x) sees /ens/keeper owned by 0x%x", keeper.SessionID(), keeperID, stat.EphemeralOwner)
		}
		return nil
	})
}

// goZookeeperEnsemble is go-zookeeper's run: a new session on the connect
// string writes, reads, watches and closes with an ephemeral, and in the
// second run reads what every client wrote in the first.
func goZookeeperEnsemble(t *testing.T, addr, phase string) {
	acl := zk.WorldACL(zk.PermAll)
	conn, _ := zktest.ConnectZK(t, addr, 10*time.Second)
	other, _ := zktest.ConnectZK(t, addr, 10*time.Second)
	p := "/ens/go-" + phase
	if _, err := conn.Create(p, []byte("g-"+phase), 0, acl); err != nil {
		t.Fatalf("create %s: %v", p, err)
	}
	if st, err := conn.Set(p, []byte("g2-"+phase), 0); err != nil || st.Version != 1 {
		t.Fatalf("set %s with version 0: %v", p, err)
	}
	eph, err := conn.Create(p+"-eph", nil, zk.FlagEphemeral, acl)
	if err != nil {
		t.Fatalf("create ephemeral: %v", err)
	}
	_, _, w, err := conn.GetW(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Set(p, []byte("g3-"+phase), -1); err != nil {
		t.Fatal(err)
	}
	zktest.ExpectEvent(t, w, zk.EventNodeDataChanged, p)
	if _, err := conn.Multi(&zk.CreateRequest{Path: p + "-txn", Data: []byte("t"), Acl: acl},
		&zk.SetDataRequest{Path: p, Data: []byte("g4-" + phase), Version: 2}); err != nil {
		t.Fatalf("multi: %v", err)
	}
	if _, err := other.Sync(p); err != nil {
		t.Fatal(err)
	}
	if data, _, err := other.Get(p); err != nil || string(data) != "g4-"+phase {
		t.Fatalf("another session reads %s = %q, %v after sync", p, data, err)
	}
	if phase == "after" {
		// The writes of the first run, by every client, survived the leader's kill.
		for path, want := range map[string]string{"/ens/go-before": "g4-before", "/ens/kazoo-before": "k4",
			"/ens/zkcli-before": "z2-before", "/ens/cli_mt-before": "c2-before"} {
			if data, _, err := other.Get(path); err != nil || string(data) != want {
				t.Errorf("after the leader's kill %s = %q, %v; want %q", path, data, err, want)
			}
		}
	}
	conn.Close()
	zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if _, err := other.Sync(eph); err != nil {
			return err
		}
		ok, _, err := other.Exists(eph)
		if err != nil {
			return err
		}
		if ok {
			return errors.New("the ephemeral outlived its closed session")
		}
		return nil
	})
}

// cliAfterLines are the commands the command-line clients add in the second
// run: what they wrote in the first is still there.
var cliAfterLines = map[string]string{
	"zkCli": `
session default
> get /ens/zkcli-before
= z2-before
`,
	"cli_mt": `
session a
> get /ens/cli_mt-before
= c2-before
`,
}

// zkcliEnsembleScript is a zkCli run in the syntax of script_test.go: two
// sessions, a write watched by the other.
const zkcliEnsembleScript = `
> create /ens/zkcli-${PHASE} z-${PHASE}
= Created /ens/zkcli-${PHASE}
> create -e /ens/zkcli-${PHASE}-eph e
= Created /ens/zkcli-${PHASE}-eph
> get -w /ens/zkcli-${PHASE}
= z-${PHASE}
session b
> set /ens/zkcli-${PHASE} z2-${PHASE}
event @default NodeDataChanged /ens/zkcli-${PHASE}
> sync /ens
= Sync is OK
> get /ens/zkcli-${PHASE}
= z2-${PHASE}
> stat /ens/zkcli-${PHASE}-eph
~ ^ephemeralOwner = 0x[0-9a-f]*[1-9a-f]
`

// cliMTEnsembleScript is the same for cli_mt, which creates nodes with the
// data "new" and whose get sets a watch.
const cliMTEnsembleScript = `
session a
> create /ens/cli_mt-${PHASE}
= [/ens/cli_mt-${PHASE}]: rc = 0
> create +e /ens/cli_mt-${PHASE}-eph
= [/ens/cli_mt-${PHASE}-eph]: rc = 0
> get /ens/cli_mt-${PHASE}
= new
session b
> set /ens/cli_mt-${PHASE} c2-${PHASE}
= /ens/cli_mt-${PHASE}: rc = 0 Stat:
event @a CHANGED_EVENT /ens/cli_mt-${PHASE}
> sync /ens
= [/ens]: rc = 0
> get /ens/cli_mt-${PHASE}
= c2-${PHASE}
> exists /ens/cli_mt-${PHASE}-eph
! Error
`

// kazooEnsembleScript is kazoo's run, printing the check lines of
// checklines_test.go. usage: kazoo_ensemble.py HOSTS PHASE
const kazooEnsembleScript = `import sys
import threading
import traceback

from kazoo.client import KazooClient
from kazoo.protocol.states import EventType

HOSTS, PHASE = sys.argv[1], sys.argv[2]
WAIT = 30


def check(name, ok, detail="condition is false"):
    print(("ok %s" % name) if ok else ("FAIL %s: %s" % (name, detail)), flush=True)


def client():
    c = KazooClient(hosts=HOSTS, timeout=10)
    c.start(timeout=WAIT)
    return c


try:
    zk = client()
    check("connected", zk.connected)
    p = "/ens/kazoo-" + PHASE
    zk.create(p, b"k1")
    data, st = zk.get(p)
    check("create and get", data == b"k1" and st.version == 0, repr((data, st)))
    st = zk.set(p, b"k2", version=0)
    check("set with version", st.version == 1, repr(st))
    eph = zk.create(p + "-eph", b"e", ephemeral=True)
    check("ephemeral owned by the session", zk.exists(eph).ephemeralOwner == zk.client_id[0])
    s1 = zk.create(p + "-seq-", b"", sequence=True)
    s2 = zk.create(p + "-seq-", b"", sequence=True)
    check("sequential names increase", s1 < s2, "%s, %s" % (s1, s2))
    fired, seen = threading.Event(), []
    zk.get(p, watch=lambda ev: (seen.append(ev), fired.set()))
    other = client()
    other.set(p, b"k3")
    check("data watch fires for another session's set",
          fired.wait(WAIT) and seen[0].type == EventType.CHANGED and seen[0].path == p, repr(seen))
    t = zk.transaction()
    t.create(p + "-txn", b"t")
    t.set_data(p, b"k4", version=2)
    res = t.commit()
    check("transaction", res[0] == p + "-txn" and zk.get(p)[0] == b"k4", repr(res))
    other.sync(p)
    check("another session reads the writes after sync", other.get(p)[0] == b"k4")
    if PHASE == "after":
        check("the first run's write survived the leader's kill", other.get("/ens/kazoo-before")[0] == b"k4")
    zk.stop()
    zk.close()
    other.sync(eph)
    check("the ephemeral ends with its session", other.exists(eph) is None)
    other.stop()
    other.close()
    print("# done", flush=True)
except Exception as e:
    for line in traceback.format_exc().rstrip("\n").split("\n"):
        print("# " + line, flush=True)
    check("no exception", False, repr(e))
`
