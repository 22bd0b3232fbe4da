package zoocfg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A file with only dataDir gets ZooKeeper 3.8's defaults for every operator key.
func TestZooCfgDefaultsAreZooKeepers(t *testing.T) {
	cfg := mustLoad(t, "dataDir=/tmp/x\n")
	runChecks(t, []check{
		{"ClientAddr (no clientPort: none)", cfg.ClientAddr, ""},
		{"TickTime", cfg.TickTime, 3 * time.Second},
		{"MaxClientCnxns", cfg.MaxClientCnxns, 60},
		{"FourLetterWords", strings.Join(cfg.FourLetterWords, ","), "srvr"},
		{"Admin.Enabled", cfg.Admin.Enabled, true},
		{"AdminAddr", cfg.AdminAddr(), "0.0.0.0:8080"},
		{"Admin.PortSet", cfg.Admin.PortSet, false},
		{"Admin.CommandURL", cfg.Admin.CommandURL, "/commands"},
		{"Admin.IdleTimeout", cfg.Admin.IdleTimeout, 30 * time.Second},
		{"Admin.RateLimiterInterval", cfg.Admin.RateLimiterInterval, 5 * time.Minute},
		{"Admin.SnapshotEnabled (zkd: off unless asked for)", cfg.Admin.SnapshotEnabled, false},
		{"Metrics.Enabled", cfg.Metrics.Enabled(), false},
		{"Metrics.ClassName", cfg.Metrics.ClassName, DefaultMetricsProvider},
		{"MetricsAddr", cfg.MetricsAddr(), "0.0.0.0:7000"},
		{"FsyncWarningThreshold", cfg.FsyncWarningThreshold, time.Second},
		{"ClientPortListenBacklog", cfg.ClientPortListenBacklog, -1},
		{"SnapCount", cfg.SnapCount, 100000},
		{"SnapSizeBytes", cfg.SnapSizeBytes, int64(4 << 30)},
		{"SnapRetainCount", cfg.SnapRetainCount, 3},
		{"PurgeInterval", cfg.PurgeInterval, time.Duration(0)},
		{"PreAllocSize", cfg.PreAllocSize, int64(64 << 20)},
		{"GlobalOutstandingLimit", cfg.GlobalOutstandingLimit, 1000},
		{"CommitLogCount", cfg.CommitLogCount, 500},
		{"TxnLogSizeLimitKB", cfg.TxnLogSizeLimitKB, int64(-1)},
		{"MaxBuffer", cfg.MaxBuffer, 0xfffff},
		{"ContainerCheckInterval", cfg.ContainerCheckInterval, time.Minute},
		{"ContainerMaxPerMinute", cfg.ContainerMaxPerMinute, 10000},
		{"Quorum.ElectionAlg", cfg.Quorum.ElectionAlg, 3},
		{"Quorum.StandaloneEnabled", cfg.Quorum.StandaloneEnabled, true},
		{"Quorum.PeerType", cfg.Quorum.PeerType.String(), "participant"},
		{"Quorum.SyncEnabled", cfg.Quorum.SyncEnabled, true},
		{"Quorum.LeaderServes", cfg.Quorum.LeaderServes, true},
		{"Quorum.ElectionPortBindRetry", cfg.Quorum.ElectionPortBindRetry, 3},
		{"Quorum.MultiAddress.Enabled", cfg.Quorum.MultiAddress.Enabled, false},
		{"Quorum.MultiAddress.ReachabilityCheckEnabled", cfg.Quorum.MultiAddress.ReachabilityCheckEnabled, true},
		{"Quorum.MultiAddress.ReachabilityCheckTimeout", cfg.Quorum.MultiAddress.ReachabilityCheckTimeout, time.Second},
		{"Quorum.MyID", cfg.Quorum.MyID, int64(NoMyID)},
		{"DigestEnabled", cfg.DigestEnabled, true},
		{"ForceSync", cfg.ForceSync, true},
		{"SerializeLastZxid", cfg.SerializeLastZxid, true},
		{"TxnLogDir (dataLogDir = dataDir)", cfg.TxnLogDir(), "/tmp/x"},
		{"Ensemble", cfg.Ensemble(), false},
	})
	// Bare zkd (no file) keeps everything on loopback.
	if bare := Default(); bare.AdminAddr() != "127.0.0.1:8080" || bare.ClientAddr != "127.0.0.1:2181" {
		t.Errorf("bare zkd: admin %s, client %s", bare.AdminAddr(), bare.ClientAddr)
	}
}

// Every key of spec/ops.md §4, §2 and §5 is read: operator keys take effect, and
// the ensemble keys are kept.
func TestZooCfgOperatorAndEnsembleKeys(t *testing.T) {
	dyn := filepath.Join(t.TempDir(), "zoo.cfg.dynamic.100000000")
	if err := os.WriteFile(dyn, []byte("server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2191\n"+
		"server.2=[::1]:2889:3889|127.0.0.2:2889:3889;2192\nserver.3=zk3:2890:3890:observer\n"+
		"group.1=1:2:3\nweight.1=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, fmt.Sprintf(`dataDir=%s
initLimit=10
syncLimit=5
connectToLearnerMasterLimit=7
electionAlg=3
peerType=participant
standaloneEnabled=true
reconfigEnabled=true
dynamicConfigFile=%s
admin.enableServer=true
admin.serverAddress=127.0.0.3
admin.serverPort=9090
admin.commandURL=/zk
admin.idleTimeout=5000
admin.snapshot.enabled=True
admin.rateLimiterIntervalInMS=1500
metricsProvider.className=%s
metricsProvider.httpHost=127.0.0.4
metricsProvider.httpPort=7001
metricsProvider.exportJvmInfo=false
fsync.warningthresholdms=250
clientPortListenBacklog=128
globalOutstandingLimit=2000
commitLogCount=100
snapSizeLimitInKb=1024
txnLogSizeLimitInKb=2048
digest.enabled=false
snapshot.compression.method=gz
localSessionsEnabled=true
localSessionsUpgradingEnabled=true
secureClientPort=2281
maxCnxns=500
leaderServes=no
multiAddress.enabled=true
quorumListenOnAllIPs=true
electionPortBindRetry=0
syncEnabled=false
observerMasterPort=2999
cnxTimeout=1500
`, dataDir, dyn, PrometheusMetricsProvider))
	s2, _ := cfg.Quorum.Membership.Lookup(2)
	s3, _ := cfg.Quorum.Membership.Lookup(3)
	runChecks(t, []check{
		{"ClientAddr (from server.1, myid 1)", cfg.ClientAddr, "127.0.0.1:2191"},
		{"AdminAddr", cfg.AdminAddr(), "127.0.0.3:9090"},
		{"Admin.PortSet", cfg.Admin.PortSet, true},
		{"Admin.CommandURL", cfg.Admin.CommandURL, "/zk"},
		{"Admin.IdleTimeout", cfg.Admin.IdleTimeout, 5 * time.Second},
		{"Admin.SnapshotEnabled", cfg.Admin.SnapshotEnabled, true},
		{"Admin.RateLimiterInterval", cfg.Admin.RateLimiterInterval, 1500 * time.Millisecond},
		{"Metrics.Enabled", cfg.Metrics.Enabled(), true},
		{"MetricsAddr", cfg.MetricsAddr(), "127.0.0.4:7001"},
		{"FsyncWarningThreshold", cfg.FsyncWarningThreshold, 250 * time.Millisecond},
		{"ClientPortListenBacklog", cfg.ClientPortListenBacklog, 128},
		{"GlobalOutstandingLimit", cfg.GlobalOutstandingLimit, 2000},
		{"CommitLogCount", cfg.CommitLogCount, 100},
		{"SnapSizeBytes", cfg.SnapSizeBytes, int64(1 << 20)},
		{"TxnLogSizeLimitKB", cfg.TxnLogSizeLimitKB, int64(2048)},
		{"DigestEnabled", cfg.DigestEnabled, false},
		{"SnapshotCompression", cfg.SnapshotCompression, "gz"},
		{"LocalSessions", cfg.LocalSessions, true},
		{"LocalSessionsUpgrading", cfg.LocalSessionsUpgrading, true},
		{"SecureClientPort", cfg.SecureClientPort, 2281},
		{"MaxCnxns", cfg.MaxCnxns, 500},
		{"ReconfigEnabled", cfg.ReconfigEnabled, true},
		{"Quorum.InitLimit", cfg.Quorum.InitLimit, 10},
		{"Quorum.SyncLimit", cfg.Quorum.SyncLimit, 5},
		{"Quorum.ConnectToLearnerMasterLimit", cfg.Quorum.ConnectToLearnerMasterLimit, 7},
		{"Quorum.MyID", cfg.Quorum.MyID, int64(1)},
		{"Quorum.LeaderServes", cfg.Quorum.LeaderServes, false},
		{"Quorum.MultiAddress.Enabled", cfg.Quorum.MultiAddress.Enabled, true},
		{"Quorum.QuorumListenOnAllIPs", cfg.Quorum.QuorumListenOnAllIPs, true},
		{"Quorum.ElectionPortBindRetry", cfg.Quorum.ElectionPortBindRetry, 0},
		{"Quorum.SyncEnabled", cfg.Quorum.SyncEnabled, false},
		{"Quorum.ObserverMasterPort", cfg.Quorum.ObserverMasterPort, 2999},
		{"Quorum.ConnectTimeout", cfg.Quorum.ConnectTimeout, 1500 * time.Millisecond},
		{"Quorum.ConnectTimeout default", Default().Quorum.ConnectTimeout, 5 * time.Second},
		{"servers (the dynamic file's)", len(cfg.Quorum.Membership.Servers), 3},
		{"config version (from the dynamic file's name)", cfg.Quorum.Membership.Version, int64(0x100000000)},
		{"server.2 addresses", fmt.Sprint(s2.Addrs), "[[0:0:0:0:0:0:0:1]:2889:3889 127.0.0.2:2889:3889]"},
		{"server.2 client", s2.ClientAddr, "0.0.0.0:2192"},
		{"server.3 observer", s3.Type, Observer},
		{"group.1", fmt.Sprint(cfg.Quorum.Groups[1]), "[1 2 3]"},
		{"weight.1", cfg.Quorum.Weights[1], int64(2)},
		{"system property", cfg.SystemProperties["zookeeper.admin.serverPort"], "9090"},
		{"no property for a consumed key", cfg.SystemProperties["zookeeper.initLimit"], ""},
		{"no property for multiAddress.enabled (consumed)", cfg.SystemProperties["zookeeper.multiAddress.enabled"], ""},
		{"config text kept", strings.HasPrefix(cfg.ConfigText, "dataDir="), true},
		{"two participants are an ensemble", cfg.Ensemble(), true},
	})
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var tolerance bool
	hierarchical := 0
	for _, w := range cfg.Warnings {
		if strings.Contains(w.Msg, "unknown configuration key") {
			t.Errorf("a ZooKeeper key was reported unknown: %v", w)
		}
		tolerance = tolerance || strings.Contains(w.Msg, "no server failure will be tolerated")
		if strings.Contains(w.Msg, "hierarchical quorums are not supported") {
			hierarchical++
		}
	}
	if !tolerance {
		t.Errorf("a two-participant ensemble drew no warning that it tolerates no failure: %v", cfg.Warnings)
	}
	// group.N and weight.N are kept, and said once to be not acted on.
	if hierarchical != 1 {
		t.Errorf("%d warnings that hierarchical quorums are not supported, want 1: %v", hierarchical, cfg.Warnings)
	}
}

func TestZooCfgUnknownKeyIsAWarning(t *testing.T) {
	p := writeCfg(t, "dataDir=/tmp/x\nnoSuchKey=1\n")
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 {
		t.Fatalf("warnings: %v", cfg.Warnings)
	}
	w := cfg.Warnings[0]
	if !strings.Contains(w.Msg, "unknown configuration key") || w.Key != "noSuchKey" || w.Line != 2 || w.File != p {
		t.Fatalf("warning: %+v", w)
	}
	if w.String() != p+":2: noSuchKey: unknown configuration key ignored" {
		t.Errorf("String() = %q", w.String())
	}
	if cfg.SystemProperties["zookeeper.noSuchKey"] != "1" {
		t.Errorf("unknown key not kept as zookeeper.noSuchKey, as ZooKeeper does")
	}
}

// audit.enable turns the audit log on, from zoo.cfg as ZooKeeper takes it
// (zookeeper.audit.enable); Java's Boolean.getBoolean reads anything but
// "true" as false.
func TestZooCfgAuditEnable(t *testing.T) {
	for value, want := range map[string]bool{"true": true, "TRUE": true, "false": false, "yes": false} {
		cfg, err := Load(writeCfg(t, "dataDir=/tmp/x\naudit.enable="+value+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.AuditEnable != want || len(cfg.Warnings) != 0 {
			t.Fatalf("audit.enable=%s: %v, warnings %v", value, cfg.AuditEnable, cfg.Warnings)
		}
	}
}

// A bad value is an error naming the file, the line and the key.
func TestZooCfgBadFiles(t *testing.T) {
	cases := []struct{ body, key string }{
		{"electionAlg=1\n", "electionAlg"},
		{"peerType=leader\n", "peerType"},
		{"standaloneEnabled=maybe\n", "standaloneEnabled"},
		{"reconfigEnabled=yes\n", "reconfigEnabled"},
		{"initLimit=ten\n", "initLimit"},
		{"syncLimit=-1\n", "syncLimit"},
		{"admin.serverPort=http\n", "admin.serverPort"},
		{"admin.serverPort=70000\n", "admin.serverPort"},
		{"admin.idleTimeout=soon\n", "admin.idleTimeout"},
		{"metricsProvider.className=com.example.NoSuchProvider\n", "metricsProvider.className"},
		{"metricsProvider.httpPort=-3\n", "metricsProvider.httpPort"},
		{"metricsProvider.numWorkerThreads=x\n", "metricsProvider.numWorkerThreads"},
		{"fsync.warningthresholdms=-1\n", "fsync.warningthresholdms"},
		{"clientPortListenBacklog=big\n", "clientPortListenBacklog"},
		{"globalOutstandingLimit=0\n", "globalOutstandingLimit"},
		{"snapSizeLimitInKb=4G\n", "snapSizeLimitInKb"},
		{"snapshot.compression.method=lz4\n", "snapshot.compression.method"},
		{"leaderServes=maybe\n", "leaderServes"},
		{"secureClientPort=tls\n", "secureClientPort"},
		{"server.1=zk1:2888\n", "server.1"},
		{"server.1=zk1:2888:2888\n", "server.1"},
		{"server.1=zk1:2888:3888:witness\n", "server.1"},
		{"server.x=zk1:2888:3888\n", "server.x"},
		{"server.1=zk1:2888:3888;host:port\n", "server.1"},
		{"server.1=zk1:2888:3888:observer|zk2:2889:3889:participant\n", "server.1"},
		{"server.1=[::1:2888:3888\n", "server.1"},
		{"server.-1=zk1:2888:3888\n", "server.-1"},
		{"group.1=1:b\n", "group.1"},
		{"weight.1=heavy\n", "weight.1"},
		{"tickTime=2000\n\n# comment\nmaxSessionTimeout=1m\n", "maxSessionTimeout"},
		{"syncEnabled=no\n", "syncEnabled"},
		{"version=xyz\n", "version"},
		{"observerMasterPort=-1\n", "observerMasterPort"},
	}
	for _, c := range cases {
		p := writeCfg(t, "dataDir=/tmp/x\n"+c.body)
		_, err := Load(p)
		if err == nil {
			t.Errorf("%q: no error", c.body)
			continue
		}
		line := 1 + strings.Count(("dataDir=/tmp/x\n" + c.body)[:strings.Index("dataDir=/tmp/x\n"+c.body, c.key)], "\n")
		for _, want := range []string{p, fmt.Sprintf(":%d:", line), c.key} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error %q does not name %q", c.body, err, want)
			}
		}
	}
}

func TestDynamicConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dyn := write("zoo.cfg.dynamic", "server.1=zk1:2888:3888\nserver.2=zk2:2888\n")
	_, err := Load(writeCfg(t, "dataDir="+dir+"\ndynamicConfigFile="+dyn+"\n"))
	if err == nil || !strings.Contains(err.Error(), dyn+":2:") || !strings.Contains(err.Error(), "server.2") {
		t.Fatalf("bad dynamic file: err = %v", err)
	}
	_, err = Load(writeCfg(t, "dataDir="+dir+"\ndynamicConfigFile="+filepath.Join(dir, "missing")+"\n"))
	if err == nil || !strings.Contains(err.Error(), "dynamicConfigFile") {
		t.Fatalf("missing dynamic file: err = %v", err)
	}
	// ZooKeeper's refusals: a version inside the file (its name carries it), any
	// key but server/group/weight, and server lines left in the static file.
	for _, c := range []struct{ body, want string }{
		{"server.1=zk1:2888:3888\nversion=100000000\n", ":2: version"},
		{"server.1=zk1:2888:3888\ntickTime=2000\n", ":2: tickTime: unrecognised parameter"},
	} {
		dyn := write("zoo.cfg.dynamic.1", c.body)
		_, err := Load(writeCfg(t, "dataDir="+dir+"\ndynamicConfigFile="+dyn+"\n"))
		if err == nil || !strings.Contains(err.Error(), dyn+c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, dyn+c.want)
		}
	}
	dyn = write("zoo.cfg.dynamic.2", "server.1=zk1:2888:3888\n")
	for _, key := range []string{"server.9=zk9:1:2", "group.1=1", "weight.1=1"} {
		p := writeCfg(t, key+"\ndataDir="+dir+"\ndynamicConfigFile="+dyn+"\n")
		_, err := Load(p)
		name, _, _ := strings.Cut(key, "=")
		if err == nil || !strings.Contains(err.Error(), p+":1: "+name) || !strings.Contains(err.Error(), "dynamic") {
			t.Errorf("%s beside dynamicConfigFile: err = %v", key, err)
		}
	}
	// Without a hex version in its name the version is 0.
	cfg := mustLoad(t, "dataDir="+dir+"\ndynamicConfigFile="+write("zoo.cfg.dynamic", "server.1=zk1:2888:3888\n")+"\n")
	if cfg.Quorum.Membership.Version != 0 || len(cfg.Quorum.Membership.Servers) != 1 {
		t.Fatalf("membership %v", cfg.Quorum.Membership)
	}
}

// A single server.N line with a client part is a standalone server on that port,
// as the official Docker image's default ZOO_SERVERS gives (the image writes myid).
// Without a myid the line is nobody's own, and, as in ZooKeeper, gives no client
// port.
func TestServerLineClientPortWithoutClientPortKey(t *testing.T) {
	dataDir := t.TempDir()
	body := "dataDir=" + dataDir + "\nserver.1=localhost:2888:3888;2181\n"
	cfg := mustLoad(t, body)
	if cfg.HasClientPort() || cfg.Ensemble() {
		t.Fatalf("no myid: ClientAddr=%q ensemble=%v", cfg.ClientAddr, cfg.Ensemble())
	}
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg = mustLoad(t, body)
	if cfg.ClientAddr != "0.0.0.0:2181" || cfg.Ensemble() || len(cfg.Warnings) != 0 {
		t.Fatalf("ClientAddr=%s ensemble=%v warnings=%v", cfg.ClientAddr, cfg.Ensemble(), cfg.Warnings)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// This server's own client part and clientPort/clientPortAddress must agree, as
// ZooKeeper's setupClientPort requires.
func TestOwnServerClientAddressMustMatchClientPort(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "dataDir=" + dataDir + "\ninitLimit=5\nsyncLimit=2\n" +
		"server.1=127.0.0.1:2888:3888;127.0.0.1:2181\nserver.2=127.0.0.2:2888:3888;127.0.0.2:2181\n"
	for _, c := range []struct {
		extra, want string // want: ClientAddr, or "error"
	}{
		{"", "127.0.0.2:2181"},
		{"clientPort=2181\n", "127.0.0.2:2181"},                              // wildcard, same port
		{"clientPort=2182\n", "error"},                                       // wildcard, other port
		{"clientPort=2181\nclientPortAddress=127.0.0.2\n", "127.0.0.2:2181"}, // same address
		{"clientPort=2181\nclientPortAddress=127.0.0.9\n", "error"},          // other address
		{"clientPort=2181\nclientPortAddress=localhost\n", "127.0.0.2:2181"}, // a name: not resolved
		{"clientPort=2181\nclientPortAddress=0.0.0.0\n", "127.0.0.2:2181"},   // explicit wildcard
	} {
		cfg, err := Load(writeCfg(t, base+c.extra))
		switch {
		case c.want == "error" && err == nil:
			t.Errorf("%q: no error, ClientAddr %s", c.extra, cfg.ClientAddr)
		case c.want == "error":
			if !strings.Contains(err.Error(), "client address for this server (id = 2)") {
				t.Errorf("%q: err = %v", c.extra, err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.extra, err)
		case cfg.ClientAddr != c.want:
			t.Errorf("%q: ClientAddr = %s, want %s", c.extra, cfg.ClientAddr, c.want)
		}
	}
}

// Without a config file, the official image's ZOO_* variables configure zkd as
// its docker-entrypoint.sh would.
func TestDockerEnvironment(t *testing.T) {
	dataDir := t.TempDir()
	env := map[string]string{
		"ZOO_DATA_DIR":                dataDir,
		"ZOO_TICK_TIME":               "1000",
		"ZOO_MAX_CLIENT_CNXNS":        "0",
		"ZOO_4LW_COMMANDS_WHITELIST":  "srvr,ruok,mntr",
		"ZOO_ADMINSERVER_ENABLED":     "false",
		"ZOO_AUTOPURGE_PURGEINTERVAL": "1",
		"ZOO_CFG_EXTRA":               "metricsProvider.className=" + PrometheusMetricsProvider + " metricsProvider.httpPort=7070",
		"ZOO_CONF_DIR":                t.TempDir(), // no zoo.cfg there
	}
	getenv := func(k string) string { return env[k] }
	cfg, ok, err := LoadDockerEnv(getenv)
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	runChecks(t, []check{
		{"DataDir", cfg.DataDir, dataDir},
		{"DataLogDir", cfg.DataLogDir, "/datalog"},
		{"ClientAddr", cfg.ClientAddr, "0.0.0.0:2181"},
		{"TickTime", cfg.TickTime, time.Second},
		{"MaxClientCnxns", cfg.MaxClientCnxns, 0},
		{"FourLetterWords", strings.Join(cfg.FourLetterWords, ","), "srvr,ruok,mntr"},
		{"Admin.Enabled", cfg.Admin.Enabled, false},
		{"PurgeInterval", cfg.PurgeInterval, time.Hour},
		{"SnapRetainCount", cfg.SnapRetainCount, 3},
		{"Quorum.InitLimit", cfg.Quorum.InitLimit, 5},
		{"Quorum.SyncLimit", cfg.Quorum.SyncLimit, 2},
		{"Quorum.MyID", cfg.Quorum.MyID, int64(1)},
		{"Metrics", cfg.MetricsAddr(), "0.0.0.0:7070"},
		{"Metrics.Enabled", cfg.Metrics.Enabled(), true},
		{"ConfigText", strings.Contains(cfg.ConfigText, "server.1=localhost:2888:3888;2181\n"), true},
		{"ConfigFile", cfg.ConfigFile, ""},
		{"Ensemble", cfg.Ensemble(), false},
	})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// ZOO_MY_ID stands in for a missing myid file; an existing file wins, as the
	// entrypoint writes myid only when it does not exist.
	env["ZOO_MY_ID"] = "3"
	env["ZOO_SERVERS"] = "server.1=zk1:2888:3888;2181 server.2=zk2:2888:3888;2181 server.3=zk3:2888:3888;2181"
	if cfg, _, err = LoadDockerEnv(getenv); err != nil || cfg.Quorum.MyID != 3 || !cfg.Ensemble() {
		t.Fatalf("ZOO_MY_ID=3: MyID=%d ensemble=%v err=%v", cfg.Quorum.MyID, cfg.Ensemble(), err)
	}
	if self, err := cfg.Self(); err != nil || self.String() != "server.3=zk3:2888:3888:participant;0.0.0.0:2181" {
		t.Fatalf("Self = %v, %v", self, err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, _, err = LoadDockerEnv(getenv); err != nil || cfg.Quorum.MyID != 2 {
		t.Fatalf("myid file 2, ZOO_MY_ID=3: MyID=%d err=%v", cfg.Quorum.MyID, err)
	}
	env["ZOO_MY_ID"] = "three"
	if err := os.Remove(filepath.Join(dataDir, "myid")); err != nil {
		t.Fatal(err)
	}
	if _, _, err = LoadDockerEnv(getenv); err == nil || !strings.Contains(err.Error(), "ZOO_MY_ID") {
		t.Fatalf("ZOO_MY_ID=three: err = %v", err)
	}
	delete(env, "ZOO_MY_ID")
	delete(env, "ZOO_SERVERS")

	// An existing $ZOO_CONF_DIR/zoo.cfg wins, as in the image.
	confDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(confDir, "zoo.cfg"), []byte("dataDir=/from/file\nclientPort=2999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env["ZOO_CONF_DIR"] = confDir
	cfg, _, err = LoadDockerEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/file" || cfg.ClientAddr != "0.0.0.0:2999" || cfg.ConfigFile != filepath.Join(confDir, "zoo.cfg") {
		t.Errorf("with $ZOO_CONF_DIR/zoo.cfg: DataDir=%q ClientAddr=%q ConfigFile=%q", cfg.DataDir, cfg.ClientAddr, cfg.ConfigFile)
	}
	// No ZOO_* variable: nothing to load.
	if _, ok, err := LoadDockerEnv(func(string) string { return "" }); ok || err != nil {
		t.Errorf("bare: ok=%v err=%v", ok, err)
	}
}

// System properties named in spec/ops.md reach the operator settings.
func TestOperatorSystemProperties(t *testing.T) {
	cfg := Default()
	err := cfg.ApplySystemProperties([]string{"-Dzookeeper.admin.serverPort=9999", "-Dzookeeper.admin.enableServer=false",
		"-Dzookeeper.fsync.warningthresholdms=20", "-Dreadonlymode.enabled=true", "-Dzookeeper.4lw.commands.whitelist=*",
		"-Dzookeeper.multiAddress.enabled=true", "-Dzookeeper.electionPortBindRetry=-2"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.Port != 9999 || !cfg.Admin.PortSet || cfg.Admin.Enabled || cfg.FsyncWarningThreshold != 20*time.Millisecond ||
		!cfg.ReadOnlyMode || cfg.FourLetterWords[0] != "*" {
		t.Fatalf("properties not applied: %+v", cfg.Admin)
	}
	if cfg.SystemProperties["zookeeper.admin.serverPort"] != "9999" {
		t.Errorf("system_properties does not list the -D property")
	}
	if !cfg.Quorum.MultiAddress.Enabled {
		t.Errorf("-Dzookeeper.multiAddress.enabled=true not applied")
	}
	// ZooKeeper falls back to its default for a negative electionPortBindRetry.
	if cfg.Quorum.ElectionPortBindRetry != 3 || len(cfg.Warnings) != 1 || cfg.Warnings[0].Key != "electionPortBindRetry" {
		t.Errorf("electionPortBindRetry=-2: %d, warnings %v", cfg.Quorum.ElectionPortBindRetry, cfg.Warnings)
	}
}

// ZooKeeper's rules for server lists (QuorumPeerConfig.parseDynamicConfig,
// isDistributed, checkValidity), checked by Validate.
func TestEnsembleRules(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noMyID := t.TempDir()
	const (
		s1  = "server.1=127.0.0.1:2888:3888\n"
		s2  = "server.2=127.0.0.1:2889:3889\n"
		s3  = "server.3=127.0.0.1:2890:3890\n"
		o4  = "server.4=127.0.0.1:2891:3891:observer\n"
		lim = "initLimit=10\nsyncLimit=5\n"
	)
	cases := []struct {
		name, body string
		dir        string
		ensemble   bool
		err        string // "" valid; else a fragment of Validate's error
		errIs      error
	}{
		{name: "no servers", body: lim},
		{name: "one participant", body: lim + s1},
		{name: "one participant, standaloneEnabled=false", body: lim + s1 + "standaloneEnabled=false\n", ensemble: true},
		{name: "three participants", body: lim + s1 + s2 + s3, ensemble: true},
		{name: "three participants and an observer", body: lim + s1 + s2 + s3 + o4, ensemble: true},
		{name: "two participants", body: lim + s1 + s2, ensemble: true},
		{name: "one participant and an observer", body: lim + s1 + o4, err: "observers without a quorum"},
		{name: "only an observer", body: lim + o4, err: "observers without participants"},
		{name: "standaloneEnabled=false without servers", body: lim + "standaloneEnabled=false\n", ensemble: true,
			err: "standaloneEnabled=false needs at least one participant"},
		{name: "ensemble without initLimit", body: "syncLimit=5\n" + s1 + s2 + s3, ensemble: true, err: "initLimit is not set"},
		{name: "ensemble without syncLimit", body: "initLimit=5\n" + s1 + s2 + s3, ensemble: true, err: "syncLimit is not set"},
		{name: "ensemble without myid", body: lim + s1 + s2 + s3, dir: noMyID, ensemble: true, errIs: ErrNoMyID},
		{name: "myid not a member", body: lim + s2 + s3 + "server.5=127.0.0.1:2892:3892\n", ensemble: true, errIs: ErrNotMember},
		{name: "multiple addresses without multiAddress.enabled", body: lim + s2 + s3 +
			"server.1=127.0.0.1:2888:3888|127.0.0.2:2888:3888\n", ensemble: true, err: ":6: server.1 has 2 addresses"},
		{name: "multiple addresses with multiAddress.enabled", body: lim + s2 + s3 + "multiAddress.enabled=true\n" +
			"server.1=127.0.0.1:2888:3888|127.0.0.2:2888:3888\n", ensemble: true},
		{name: "extended types and myid 1", body: lim + s1 + s2 + s3 + "extendedTypesEnabled=true\n", ensemble: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := dataDir
			if c.dir != "" {
				dir = c.dir
			}
			cfg := mustLoad(t, "dataDir="+dir+"\n"+c.body)
			if cfg.Ensemble() != c.ensemble {
				t.Errorf("Ensemble() = %v, want %v", cfg.Ensemble(), c.ensemble)
			}
			err := cfg.Validate()
			switch {
			case c.err == "" && c.errIs == nil && err != nil:
				t.Fatalf("Validate: %v", err)
			case c.errIs != nil && !errors.Is(err, c.errIs):
				t.Fatalf("Validate: %v, want %v", err, c.errIs)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("Validate: %v, want %q", err, c.err)
			}
		})
	}
}

func TestSelf(t *testing.T) {
	c := Default()
	if _, err := c.Self(); !errors.Is(err, ErrNoMyID) {
		t.Fatalf("no myid: %v", err)
	}
	c.Quorum.MyID = 2
	if _, err := c.Self(); !errors.Is(err, ErrNotMember) {
		t.Fatalf("no servers: %v", err)
	}
	m, err := ParseMembership("server.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4:observer;2181\n")
	if err != nil {
		t.Fatal(err)
	}
	c.Quorum.Membership = m
	s, err := c.Self()
	if err != nil || s.ID != 2 || s.Type != Observer || s.ClientAddr != "0.0.0.0:2181" {
		t.Fatalf("Self = %+v, %v", s, err)
	}
}

// The servers list decides this server's role; peerType that disagrees is
// overridden with a warning (ZooKeeper's setupPeerType).
func TestPeerType(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "dataDir=" + dataDir + "\ninitLimit=10\nsyncLimit=5\n" +
		"server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n"
	cases := []struct {
		name, body string
		want       PeerType
		warned     bool
	}{
		{"observer in both", "peerType=observer\nserver.4=127.0.0.1:2891:3891:observer\n", Observer, false},
		{"observer in the list only", "server.4=127.0.0.1:2891:3891:observer\n", Observer, true},
		{"observer in peerType only", "peerType=observer\nserver.4=127.0.0.1:2891:3891\n", Participant, true},
		{"participant", "server.4=127.0.0.1:2891:3891:participant\n", Participant, false},
		{"peerType in upper case", "peerType=OBSERVER\nserver.4=127.0.0.1:2891:3891:Observer\n", Observer, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := mustLoad(t, base+c.body)
			warned := false
			for _, w := range cfg.Warnings {
				warned = warned || w.Key == "peerType"
			}
			if cfg.Quorum.PeerType != c.want || warned != c.warned {
				t.Fatalf("PeerType = %v warned = %v; want %v, %v (%v)", cfg.Quorum.PeerType, warned, c.want, c.warned, cfg.Warnings)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// myid is read as ZooKeeper reads it: the first line, a decimal number, nothing
// but the line terminator stripped.
func TestMyIDFile(t *testing.T) {
	cases := []struct {
		content string
		want    int64 // -2: an error
	}{
		{"1\n", 1},
		{"7", 7},
		{"12\r\n", 12},
		{"3\nignored\n", 3},
		{"0\n", 0},
		{" 3\n", -2},
		{"3 \n", -2},
		{"", -2},
		{"three\n", -2},
		{"-4\n", -2},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "myid"), []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(writeCfg(t, "dataDir="+dir+"\n"))
		switch {
		case c.want == -2 && (err == nil || !strings.Contains(err.Error(), "myid")):
			t.Errorf("myid %q: err = %v, want an error naming myid", c.content, err)
		case c.want != -2 && err != nil:
			t.Errorf("myid %q: %v", c.content, err)
		case c.want != -2 && cfg.Quorum.MyID != c.want:
			t.Errorf("myid %q: MyID = %d, want %d", c.content, cfg.Quorum.MyID, c.want)
		}
	}
}

// Every key of spec/ops.md's tables has an entry, and the table names each key
// and property once.
func TestKeyTableCoversOpsMd(t *testing.T) {
	fileKeys := []string{
		// §4.1
		"tickTime", "initLimit", "syncLimit", "connectToLearnerMasterLimit", "dataDir", "dataLogDir",
		"clientPort", "clientPortAddress", "secureClientPort", "secureClientPortAddress", "clientPortListenBacklog",
		"maxClientCnxns", "maxCnxns", "minSessionTimeout", "maxSessionTimeout", "autopurge.snapRetainCount",
		"autopurge.purgeInterval", "snapCount", "snapSizeLimitInKb", "txnLogSizeLimitInKb", "preAllocSize",
		"globalOutstandingLimit", "commitLogCount", "electionAlg", "server.1", "group.1", "weight.1", "peerType",
		"dynamicConfigFile", "reconfigEnabled", "standaloneEnabled", "4lw.commands.whitelist", "localSessionsEnabled",
		"localSessionsUpgradingEnabled", "syncEnabled", "quorumListenOnAllIPs", "observerMasterPort",
		"multiAddress.enabled", "metricsProvider.className", "leaderServes", "serverCnxnFactory", "forceSync",
		"skipACL", "extendedTypesEnabled", "digest.enabled", "snapshot.compression.method", "enforceQuota",
		"serializeLastProcessedZxid.enabled", "sslQuorum", "portUnification", "quorum.auth.enableSasl",
		"client.portUnification", "electionPortBindRetry", "multiAddress.reachabilityCheckEnabled",
		"multiAddress.reachabilityCheckTimeoutMs",
		// §2
		"admin.enableServer", "admin.serverAddress", "admin.serverPort", "admin.commandURL", "admin.idleTimeout",
		"admin.portUnification", "admin.forceHttps", "admin.needClientAuth", "admin.rateLimiterIntervalInMS",
		"admin.snapshot.enabled", "admin.restore.enabled",
		// §5
		"metricsProvider.httpHost", "metricsProvider.httpPort", "metricsProvider.exportJvmInfo",
		"metricsProvider.numWorkerThreads", "metricsProvider.maxQueueSize", "metricsProvider.workerShutdownTimeoutMs",
	}
	for _, k := range fileKeys {
		if lookupFileKey(k) == nil {
			t.Errorf("zoo.cfg key %s has no entry", k)
		}
	}
	properties := []string{
		"jute.maxbuffer", "zookeeper.jute.maxbuffer.extrasize", "readonlymode.enabled", "znode.container.checkIntervalMs",
		"znode.container.maxPerMinute", "znode.container.maxNeverUsedIntervalMs",
		"zookeeper.DigestAuthenticationProvider.superDigest", "zookeeper.authProvider.1", "zookeeper.snapCount",
		"zookeeper.admin.serverPort", "zookeeper.4lw.commands.whitelist", "zookeeper.multiAddress.enabled",
	}
	for _, p := range properties {
		if lookupProperty(p) == nil {
			t.Errorf("property %s has no entry", p)
		}
	}
	names, props := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		if k.name != "" && names[k.name] || k.property != "" && props[k.property] {
			t.Errorf("%s: named twice in the table", k.displayName())
		}
		names[k.name], props[k.property] = true, true
		if !k.family && k.name != "" && k.property != "" && k.property != "zookeeper."+k.name {
			t.Errorf("%s: ZooKeeper's property for a zoo.cfg key is zookeeper.<key>, not %s", k.name, k.property)
		}
	}
}
