package zkdisk

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/jute"
)

// liveSession is a session the workload leaves open, with its timeout (and its
// password, when the test knows it).
type liveSession struct {
	id      int64
	timeout int32
	passwd  []byte
}

// zkOpts are the settings the workload's ZooKeeper runs with: a snapshot every
// 100-200 txns and 16 KiB preallocation, so that the data directory ends up with
// many log files and snapshots taken while writes went on.
const zkOpts = "snapCount=200\npreAllocSize=16\n"

// runWorkload drives a server with every kind of write from several sessions at
// once, seeded, and returns the sessions it leaves open (their ephemerals with
// them). Sessions get a 30 s timeout.
func runWorkload(t *testing.T, addr string, seed uint64, rounds int) []liveSession {
	t.Helper()
	admin := connect(t, addr, 30*time.Second)
	if err := admin.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	open := zk.WorldACL(zk.PermAll)
	alice := append(zk.DigestACL(zk.PermAll, "alice", "secret"), zk.WorldACL(zk.PermRead)...)
	for _, p := range []string{"/app", "/app/persistent", "/app/seq", "/app/eph", "/app/containers", "/app/ttl", "/app/acl", "/app/q", "/app/multi"} {
		if _, err := admin.Create(p, []byte(p), 0, open); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	// A quota on /app/q, set up as zkCli's setquota does: ZooKeeper then keeps the
	// stats node's counts itself.
	for _, p := range []string{"/zookeeper/quota/app", "/zookeeper/quota/app/q"} {
		if _, err := admin.Create(p, nil, 0, open); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	if _, err := admin.Create("/zookeeper/quota/app/q/zookeeper_limits", []byte("count=1000,bytes=-1"), 0, open); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Create("/zookeeper/quota/app/q/zookeeper_stats", []byte("count=0,bytes=0"), 0, open); err != nil {
		t.Fatal(err)
	}

	const workers = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	var live []liveSession
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		c := connect(t, addr, 30*time.Second)
		if err := c.AddAuth("digest", []byte("alice:secret")); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(w int, c *zk.Conn) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			if err := workerOps(c, w, rng, rounds, open, alice); err != nil {
				errc <- fmt.Errorf("worker %d: %w", w, err)
				return
			}
			// Half the sessions close (a closeSession with its ephemerals), half
			// stay open across the crash.
			if w%2 == 0 {
				c.Close()
				return
			}
			mu.Lock()
			live = append(live, liveSession{id: c.SessionID(), timeout: 30000})
			mu.Unlock()
		}(w, c)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	return append(live, liveSession{id: admin.SessionID(), timeout: 30000})
}

// workerOps is one session's share of the workload, in its own namespace. Errors
// the server answers (NODEEXISTS, NONODE, BADVERSION: logged as error txns) are
// part of the workload; only a connection failure stops it.
func workerOps(c *zk.Conn, w int, rng *rand.Rand, rounds int, open, alice []zk.ACL) error {
	var mine []string // persistent nodes this worker created and has not deleted
	data := func() []byte {
		switch rng.IntN(8) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	fatal := func(err error) bool {
		return err != nil && (errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrClosing) || errors.Is(err, zk.ErrNoServer))
	}
	pick := func() string { return mine[rng.IntN(len(mine))] }
	for i := 0; i < rounds; i++ {
		var err error
		switch op := rng.IntN(20); {
		case op < 5:
			p := fmt.Sprintf("/app/persistent/w%d-%d", w, i)
			if _, err = c.Create(p, data(), 0, open); err == nil {
				mine = append(mine, p)
			}
		case op == 5:
			_, err = c.Create("/app/seq/s-", data(), zk.FlagSequence, open)
		case op == 6:
			_, err = c.Create(fmt.Sprintf("/app/eph/w%d-%d", w, i), data(), zk.FlagEphemeral, open)
		case op == 7:
			_, err = c.Create("/app/eph/es-", data(), zk.FlagEphemeralSequential, open)
		case op == 8:
			p := fmt.Sprintf("/app/containers/w%d-%d", w, i)
			if _, err = c.CreateContainer(p, data(), zk.FlagContainer, open); err == nil {
				for k := 0; k < rng.IntN(3); k++ {
					_, err = c.Create(fmt.Sprintf("%s/k%d", p, k), data(), 0, open)
				}
				if rng.IntN(2) == 0 {
					err = c.Delete(p+"/k0", -1) // may leave the container empty (never reaped here)
				}
			}
		case op == 9:
			flag := int32(zk.FlagTTL)
			p := fmt.Sprintf("/app/ttl/w%d-%d", w, i)
			if rng.IntN(3) == 0 {
				flag, p = 6, fmt.Sprintf("/app/ttl/w%d-s-", w) // persistent sequential with TTL
			}
			_, err = c.CreateTTL(p, data(), flag, open, time.Hour)
		case op == 10:
			p := fmt.Sprintf("/app/acl/w%d-%d", w, i)
			if _, err = c.Create(p, data(), 0, alice); err == nil && rng.IntN(2) == 0 {
				_, err = c.SetACL(p, append(zk.DigestACL(zk.PermAll, "alice", "secret"), zk.WorldACL(zk.PermRead|zk.PermWrite)...), 0)
			}
		case op == 11:
			p := fmt.Sprintf("/app/q/w%d-%d", w, i)
			if _, err = c.Create(p, data(), 0, open); err == nil {
				_, err = c.Set(p, data(), -1)
				if rng.IntN(3) == 0 {
					err = c.Delete(p, -1)
				}
			}
		case op == 12 && len(mine) > 0:
			// A multi that succeeds: create, setData, check, delete.
			base := fmt.Sprintf("/app/multi/w%d-%d", w, i)
			victim := pick()
			_, err = c.Multi(
				&zk.CreateRequest{Path: base, Data: data(), Acl: open},
				&zk.CreateRequest{Path: base + "/a", Data: data(), Acl: open},
				&zk.SetDataRequest{Path: base, Data: data(), Version: 0},
				&zk.CheckVersionRequest{Path: base + "/a", Version: 0},
				&zk.DeleteRequest{Path: victim, Version: -1},
			)
			if err == nil {
				mine = removeString(mine, victim)
			}
		case op == 13 && len(mine) > 0:
			// A multi that fails at its check: a failed multi txn, nothing changes.
			_, err = c.Multi(
				&zk.CreateRequest{Path: fmt.Sprintf("/app/multi/fail-w%d-%d", w, i), Data: data(), Acl: open},
				&zk.SetDataRequest{Path: pick(), Data: data(), Version: -1},
				&zk.CheckVersionRequest{Path: pick(), Version: 12345},
			)
		case op < 17 && len(mine) > 0:
			_, err = c.Set(pick(), data(), -1)
		case op == 17 && len(mine) > 0:
			p := pick()
			if err = c.Delete(p, -1); err == nil {
				mine = removeString(mine, p)
			}
		case op == 18:
			// Error txns: an existing node, a missing one, a bad version.
			_, err = c.Create("/app", nil, 0, open)
			_ = c.Delete(fmt.Sprintf("/app/persistent/missing-%d", i), -1)
			if len(mine) > 0 {
				_, _ = c.Set(pick(), nil, 9999)
			}
		default:
			_, err = c.Set("/app", data(), -1)
		}
		if fatal(err) {
			return err
		}
	}
	return nil
}

func removeString(s []string, v string) []string {
	for i, x := range s {
		if x == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

// generateZooKeeperData runs the workload on a fresh Apache ZooKeeper, reads back
// every node it serves, and kills it with SIGKILL, as a crash would. It returns
// the data directory, the served tree and the sessions left open.
func generateZooKeeperData(t *testing.T, seed uint64, rounds int) (string, map[string]nodeState, []liveSession) {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "zk")
	zkSrv := startZooKeeper(t, dataDir, zkOpts)
	live := runWorkload(t, zkSrv.addr, seed, rounds)
	reader := connect(t, zkSrv.addr, 30*time.Second)
	if err := reader.AddAuth("digest", []byte("alice:secret")); err != nil {
		t.Fatal(err)
	}
	// A session whose password the test knows, holding an ephemeral.
	raw, resp := rawConnect(t, zkSrv.addr, 0, nil)
	if resp.SessionID == 0 {
		t.Fatal("ZooKeeper refused a session")
	}
	raw.createEphemeral(t, "/app/eph/raw-held")
	served := servedTree(t, reader)
	zkSrv.proc.Kill()
	return dataDir, served, append(live, liveSession{id: reader.SessionID(), timeout: 30000},
		liveSession{id: raw.id, timeout: resp.TimeOut, passwd: raw.passwd})
}

// TestImportFromLiveZooKeeper imports what a real ZooKeeper 3.8 wrote under a
// concurrent workload of every node kind, ACLs, a quota, multis and error txns,
// with sessions left open, many log files and snapshots taken mid-write, after a
// SIGKILL; from the newest snapshot and from each older one. The imported tree
// must equal, node by node, what the server served before the kill.
func TestImportFromLiveZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Apache ZooKeeper")
	}
	dataDir, served, live := generateZooKeeperData(t, 1, 350)
	v2 := filepath.Join(dataDir, VersionDir)
	snaps, _ := ListSnapshots(v2)
	logs, _ := ListLogs(v2)
	if len(snaps) < 3 || len(logs) < 3 {
		t.Fatalf("want several snapshots and logs, have: %s", describeDir(v2))
	}
	t.Logf("%d znodes served; %s", len(served), describeDir(v2))

	check := func(t *testing.T, dir string) Summary {
		t.Helper()
		tree, sum := loadTree(t, LoadOptions{DataDir: dir})
		compareTrees(t, served, treeState(t, tree))
		if sum.DigestChecks == 0 || sum.DigestMismatches != 0 {
			t.Errorf("%d digest checks, %d mismatches", sum.DigestChecks, sum.DigestMismatches)
		}
		for _, s := range live {
			to, ok := tree.Session(jute.SessionID(s.id))
			if !ok || to != s.timeout {
				t.Errorf("open session 0x%x: timeout %d, present %v", s.id, to, ok)
			}
		}
		if sum.Sessions != len(live) {
			t.Errorf("%d sessions imported, %d were open", sum.Sessions, len(live))
		}
		return sum
	}
	t.Run("newest", func(t *testing.T) {
		sum := check(t, dataDir)
		t.Logf("snapshot %s, %d txns over %d logs, %d digest checks", filepath.Base(sum.Snapshot), sum.Txns, len(sum.LogFiles), sum.DigestChecks)
		if len(sum.Warnings) > 0 {
			t.Logf("warnings: %s", strings.Join(sum.Warnings, "; "))
		}
	})
	// From every older snapshot the replay crosses more logs and more fuzzy
	// snapshot boundaries, and must end at the same tree.
	for _, s := range snaps[1:] {
		name := filepath.Base(s.Path)
		t.Run("from="+name, func(t *testing.T) {
			dir := copyDir(t, dataDir, func(n string) bool { return !strings.HasPrefix(n, "snapshot.") || n == name })
			check(t, dir)
		})
	}
	// The import as a whole: a zkd data directory appears beside ZooKeeper's files.
	t.Run("import", func(t *testing.T) {
		to := t.TempDir()
		sum, err := Import(ImportOptions{From: LoadOptions{DataDir: dataDir}, To: to})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(sum.Output); err != nil {
			t.Fatalf("output: %v", err)
		}
		if sum.Znodes != int64(len(served)) {
			t.Errorf("summary says %d znodes, the server had %d", sum.Znodes, len(served))
		}
	})
}
