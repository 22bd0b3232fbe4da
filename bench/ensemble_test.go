package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
)

// The zoo.cfg contract of an ensemble: every member gets the same server.N lines,
// its own client port, data and log directories, and a myid file; the ports are
// distinct; ZooKeeper and zkd are started from the same file.
func TestEnsembleFilesFollowTheZooCfgContract(t *testing.T) {
	dir := t.TempDir()
	next := 20000
	port := func() (int, error) { // hands out one port twice: the plan must skip it
		next++
		if next == 20003 {
			return 20002, nil
		}
		return next, nil
	}
	peers, err := PlanEnsemble(dir, 3, port)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteEnsemble(peers, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ports := map[int]bool{}
	var serverLines string
	for i, p := range peers {
		if p.ID != i+1 || p.Dir != filepath.Join(dir, "srv"+strconv.Itoa(i+1)) {
			t.Fatalf("peer %d: %+v", i, p)
		}
		for _, q := range []int{p.ClientPort, p.QuorumPort, p.ElectionPort} {
			if ports[q] {
				t.Fatalf("port %d used twice", q)
			}
			ports[q] = true
		}
		b, err := os.ReadFile(filepath.Join(p.Dir, "zoo.cfg"))
		if err != nil {
			t.Fatal(err)
		}
		kv := map[string]string{}
		var servers []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("line %q", line)
			}
			if strings.HasPrefix(k, "server.") {
				servers = append(servers, line)
			}
			kv[k] = v
		}
		for k, want := range map[string]string{
			"clientPort": strconv.Itoa(p.ClientPort), "clientPortAddress": "127.0.0.1", "tickTime": "500",
			"dataDir": filepath.Join(p.Dir, "data"), "dataLogDir": filepath.Join(p.Dir, "log"),
			"forceSync": "yes", "maxClientCnxns": "0", "4lw.commands.whitelist": "*",
		} {
			if kv[k] != want {
				t.Fatalf("peer %d: %s=%q, want %q", p.ID, k, kv[k], want)
			}
		}
		if len(servers) != 3 {
			t.Fatalf("peer %d: server lines %q", p.ID, servers)
		}
		for j, q := range peers {
			want := "server." + strconv.Itoa(q.ID) + "=127.0.0.1:" + strconv.Itoa(q.QuorumPort) + ":" + strconv.Itoa(q.ElectionPort)
			if servers[j] != want {
				t.Fatalf("peer %d: %q, want %q", p.ID, servers[j], want)
			}
		}
		if i == 0 {
			serverLines = strings.Join(servers, "\n")
		} else if strings.Join(servers, "\n") != serverLines {
			t.Fatal("members disagree on the server lines")
		}
		myid, err := os.ReadFile(filepath.Join(p.Dir, "data", "myid"))
		if err != nil || strings.TrimSpace(string(myid)) != strconv.Itoa(p.ID) {
			t.Fatalf("peer %d: myid %q, %v", p.ID, myid, err)
		}
		if st, err := os.Stat(filepath.Join(p.Dir, "log")); err != nil || !st.IsDir() {
			t.Fatalf("peer %d: no log directory", p.ID)
		}
		cfgPath := filepath.Join(p.Dir, "zoo.cfg")
		if a := zkdArgs(p.Dir); a[len(a)-1] != cfgPath {
			t.Fatalf("zkd is not started as `zkd zoo.cfg`: %q", a)
		}
		if a := zkArgs(DefaultCompareConfig(), p.Dir); a[len(a)-1] != cfgPath || a[len(a)-2] != zkMainClass || a[0] != "-Xms2g" || a[1] != "-Xmx2g" {
			t.Fatalf("ZooKeeper command line %q", a)
		}
	}
	if _, err := PlanEnsemble(dir, 0, port); err == nil {
		t.Fatal("an empty ensemble was planned")
	}
	if _, err := PlanEnsemble(dir, 3, func() (int, error) { return 1, nil }); err == nil {
		t.Fatal("a port source stuck on one port gave no error")
	}
}

func TestSrvrModeOfRealReplies(t *testing.T) {
	for file, want := range map[string]string{
		"srvr-leader.txt": ModeLeader, "srvr-follower.txt": ModeFollower,
		"srvr-standalone.txt": ModeStandalone, "srvr-no-quorum.txt": "",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := srvrMode(string(b)); got != want {
			t.Errorf("%s: mode %q, want %q", file, got, want)
		}
	}
}

func TestExpandNamesGroupsAndRoutes(t *testing.T) {
	f := func(in string, want string) {
		t.Helper()
		got, err := ExpandNames([]string{in})
		if want == "error" {
			if err == nil {
				t.Errorf("%q expanded to %q, want an error", in, got)
			}
			return
		}
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	f("1m", "preload-1m,mem-1m,restart-1m")
	f("table", "getdata-64x16,getdata-16x1,setdata-32x8,setdata-256x1,createseq-32x8,mix-64x8,watch-500,sessions-16,getdata-open")
	f("ensemble", strings.Join(EnsembleWorkloads, ","))
	f("getdata-64x16@all, setdata-32x8@leader", "getdata-64x16@all,setdata-32x8@leader")
	f("getdata-64x16@observers", "error")
	f("watch-500@leader", "error")
	f("failover@all", "error")
	f("nosuch", "error")
	all, err := ExpandNames([]string{"all"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if w, _ := LookupWorkload(n); w.Group == GroupMillion || w.Group == GroupEnsemble {
			t.Errorf("all includes %s of group %s", n, w.Group)
		}
	}
	if !contains(all, "getdata-open") || !contains(all, "kafka") {
		t.Errorf("all: %q", all)
	}
}

// zooKeeperEnsemble starts a 3-server Apache ZooKeeper 3.8 ensemble as Compare
// does (small heaps, 200 ms ticks so that a failover takes about a second).
func zooKeeperEnsemble(t *testing.T, ctx context.Context) (*serverSet, CompareConfig) {
	t.Helper()
	if _, err := os.Stat(zkJar); err != nil {
		testutil.Missing(t, "Apache ZooKeeper 3.8 ("+zkJar+")")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		testutil.Missing(t, "java")
	}
	cc := DefaultCompareConfig()
	cc.Java, cc.ZKHeap, cc.TickTime = java, "256m", 200*time.Millisecond
	l := &launcher{cc: cc, tmp: t.TempDir()}
	set, err := l.startEnsemble(ctx, LabelZooKeeper, filepath.Join(l.tmp, "zk"), 3)
	if set != nil {
		t.Cleanup(set.stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return set, cc
}

// The ensemble launcher against Apache ZooKeeper: routes pick the leader and the
// followers by srvr, reads spread over every server with per-server figures, and
// a failover kills the leader, measures the time to the next acknowledged write,
// and leaves the ensemble whole again.
func TestZooKeeperEnsembleRoutesAndFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	set, cc := zooKeeperEnsemble(t, ctx)
	cfg := cc.Bench
	cfg.Addr, cfg.Label, cfg.Control = set.connect(), LabelZooKeeper, set
	cfg.Warmup, cfg.Duration, cfg.TreeZnodes, cfg.PreloadClients = 100*time.Millisecond, 300*time.Millisecond, 300, 2
	if _, err := PrepareTree(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.treeReady = true
	leader, err := waitEnsemble(ctx, strings.Split(cfg.Addr, ","), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	check := func(res *Result, servers int) {
		t.Helper()
		if len(res.Problems) > 0 {
			t.Fatalf("%s: problems %q", res.Workload, res.Problems)
		}
		for _, o := range res.Ops {
			if !o.Event && (o.Issued == 0 || o.Issued != o.OK || o.ErrorCount() != 0) {
				t.Fatalf("%s: %s issued %d ok %d errors %v", res.Workload, o.Name, o.Issued, o.OK, o.Errors)
			}
		}
		if servers == 1 {
			if res.PerServer != nil {
				t.Fatalf("%s: per-server parts for one server", res.Workload)
			}
			return
		}
		var sessions int
		var reqs int64
		for _, p := range res.PerServer {
			sessions += p.Sessions
			reqs += p.Requests
		}
		if len(res.PerServer) != servers || sessions != res.Clients || reqs != res.Requests() {
			t.Fatalf("%s: %d parts, %d sessions of %d, %d requests of %d", res.Workload, len(res.PerServer), sessions, res.Clients, reqs, res.Requests())
		}
	}
	res, err := RunWorkload(ctx, cfg, "setdata-32x8@"+RouteFollowers)
	if err != nil {
		t.Fatal(err)
	}
	check(res, 2)
	for _, p := range res.PerServer {
		if p.Addr == leader {
			t.Fatalf("the followers' run used the leader %s", leader)
		}
	}
	res, err = RunWorkload(ctx, cfg, "setdata-32x8@"+RouteLeader)
	if err != nil {
		t.Fatal(err)
	}
	check(res, 1)
	res, err = RunWorkload(ctx, cfg, "getdata-64x16@"+RouteAll)
	if err != nil {
		t.Fatal(err)
	}
	check(res, 3)
	if res.ServerRSSBytes <= 0 {
		t.Fatalf("no ensemble RSS: %d", res.ServerRSSBytes)
	}

	res, err = RunWorkload(ctx, cfg, "failover")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("failover problems %q", res.Problems)
	}
	if f := res.Metrics["failover_s"]; !(f > 0) || !(res.Metrics["new_leader_s"] > 0) {
		t.Fatalf("failover figures %v", res.Metrics)
	}
	if first := res.Op("first write after the kill"); first == nil || first.OK != 1 {
		t.Fatalf("first write %+v", first)
	}
	if set := res.Op("setData"); set == nil || set.OK == 0 || set.Issued != set.OK+set.ErrorCount() {
		t.Fatalf("writes %+v", set)
	}
	if !strings.Contains(strings.Join(res.Notes, " "), "leader "+leader+" killed") {
		t.Fatalf("notes %q do not name the killed leader %s", res.Notes, leader)
	}
	if err := set.alive(); err != nil {
		t.Fatalf("the killed leader did not come back: %v", err)
	}
	if _, err := waitEnsemble(ctx, strings.Split(cfg.Addr, ","), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err = RunWorkload(ctx, cfg, "setdata-32x8@"+RouteLeader)
	if err != nil {
		t.Fatalf("writes after the failover: %v", err)
	}
	check(res, 1)
}

// Without server control, failover and restart-1m refuse to run rather than
// measure nothing.
func TestControlWorkloadsNeedAController(t *testing.T) {
	cfg := quickConfig("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3")
	if _, err := runFailover(context.Background(), newEnv(&cfg, "/")); !errors.Is(err, ErrNoControl) {
		t.Fatalf("failover: %v", err)
	}
	if _, err := runMillion(context.Background(), newEnv(&cfg, "/"), []millionPart{millionRestart}); err == nil {
		t.Fatal("restart-1m over three servers ran")
	}
	cfg.Addr = "127.0.0.1:1"
	if _, err := runMillion(context.Background(), newEnv(&cfg, "/"), []millionPart{millionRestart}); !errors.Is(err, ErrNoControl) {
		t.Fatalf("restart-1m: %v", err)
	}
}
