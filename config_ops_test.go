package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/admin"
)

// A file with only dataDir gets ZooKeeper 3.8's defaults for every operator key.
func TestZooCfgDefaultsAreZooKeepers(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.LoadZooCfg(writeCfg(t, "dataDir=/tmp/x\n"), quietLog); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ClientAddr", cfg.ClientAddr, "0.0.0.0:2181"},
		{"TickTime", cfg.TickTime, 3 * time.Second},
		{"MaxClientCnxns", cfg.MaxClientCnxns, 60},
		{"FourLetterWords", strings.Join(cfg.FourLetterWords, ","), "srvr"},
		{"Admin.Enabled", cfg.Admin.Enabled, true},
		{"AdminAddr", cfg.AdminAddr(), "0.0.0.0:8080"},
		{"Admin.PortSet", cfg.Admin.PortSet, false},
		{"Admin.CommandURL", cfg.Admin.CommandURL, "/commands"},
		{"Admin.IdleTimeout", cfg.Admin.IdleTimeout, 30 * time.Second},
		{"Metrics.Enabled", cfg.Metrics.Enabled(), false},
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
		{"Quorum.ElectionAlg", cfg.Quorum.ElectionAlg, 3},
		{"Quorum.StandaloneEnabled", cfg.Quorum.StandaloneEnabled, true},
		{"Quorum.PeerType", cfg.Quorum.PeerType, "participant"},
		{"DigestEnabled", cfg.DigestEnabled, true},
		{"ForceSync", cfg.ForceSync, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Bare zkd (no file) keeps everything on loopback.
	if bare := DefaultConfig(); bare.AdminAddr() != "127.0.0.1:8080" || bare.ClientAddr != "127.0.0.1:2181" {
		t.Errorf("bare zkd: admin %s, client %s", bare.AdminAddr(), bare.ClientAddr)
	}
}

// Every key of spec/ops.md §4, §2 and §5 is read: operator keys take effect, and
// the ensemble keys are checked.
func TestZooCfgOperatorAndEnsembleKeys(t *testing.T) {
	dyn := filepath.Join(t.TempDir(), "zoo.cfg.dynamic.100000000")
	if err := os.WriteFile(dyn, []byte("server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2191\n"+
		"server.2=[::1]:2889:3889|127.0.0.2:2889:3889;2192\nserver.3=zk3:2890:3890:observer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := writeCfg(t, fmt.Sprintf(`dataDir=%s
initLimit=10
syncLimit=5
connectToLearnerMasterLimit=7
electionAlg=3
peerType=participant
standaloneEnabled=true
reconfigEnabled=true
dynamicConfigFile=%s
server.9=ignored:1:2
admin.enableServer=true
admin.serverAddress=127.0.0.3
admin.serverPort=9090
admin.commandURL=/zk
admin.idleTimeout=5000
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
secureClientPort=2281
maxCnxns=500
leaderServes=no
group.1=1:2:3
weight.1=2
multiAddress.enabled=true
`, dataDir, dyn, admin.PrometheusProvider))
	var logs bytes.Buffer
	cfg := DefaultConfig()
	if err := cfg.LoadZooCfg(p, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ClientAddr (from server.1, myid 1)", cfg.ClientAddr, "127.0.0.1:2191"},
		{"AdminAddr", cfg.AdminAddr(), "127.0.0.3:9090"},
		{"Admin.PortSet", cfg.Admin.PortSet, true},
		{"Admin.CommandURL", cfg.Admin.CommandURL, "/zk"},
		{"Admin.IdleTimeout", cfg.Admin.IdleTimeout, 5 * time.Second},
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
		{"SecureClientPort", cfg.SecureClientPort, 2281},
		{"MaxCnxns", cfg.MaxCnxns, 500},
		{"ReconfigEnabled", cfg.ReconfigEnabled, true},
		{"Quorum.InitLimit", cfg.Quorum.InitLimit, 10},
		{"Quorum.SyncLimit", cfg.Quorum.SyncLimit, 5},
		{"Quorum.MyID", cfg.Quorum.MyID, int64(1)},
		{"servers (the dynamic file's, not the static server.9)", len(cfg.Quorum.Servers), 3},
		{"server.2 addresses", strings.Join(cfg.Quorum.Servers[1].Addresses, "|"), "[::1]:2889:3889|127.0.0.2:2889:3889"},
		{"server.2 client", cfg.Quorum.Servers[1].ClientAddr, "0.0.0.0:2192"},
		{"server.3 observer", cfg.Quorum.Servers[2].Observer, true},
		{"system property", cfg.SystemProperties["zookeeper.admin.serverPort"], "9090"},
		{"no property for a consumed key", cfg.SystemProperties["zookeeper.initLimit"], ""},
		{"config text kept", strings.HasPrefix(cfg.ConfigText, "dataDir="), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !strings.Contains(logs.String(), "zkd serves standalone") {
		t.Errorf("a two-voter configuration did not warn that zkd runs standalone:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "unknown configuration key") {
		t.Errorf("a ZooKeeper key was reported unknown:\n%s", logs.String())
	}
}

func TestZooCfgUnknownKeyIsAWarning(t *testing.T) {
	var logs bytes.Buffer
	cfg := DefaultConfig()
	p := writeCfg(t, "dataDir=/tmp/x\nnoSuchKey=1\n")
	if err := cfg.LoadZooCfg(p, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "unknown configuration key") || !strings.Contains(logs.String(), "key=noSuchKey") ||
		!strings.Contains(logs.String(), "line=2") {
		t.Fatalf("log:\n%s", logs.String())
	}
	if cfg.SystemProperties["zookeeper.noSuchKey"] != "1" {
		t.Errorf("unknown key not kept as zookeeper.noSuchKey, as ZooKeeper does")
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
		{"group.1=1:b\n", "group.1"},
		{"weight.1=heavy\n", "weight.1"},
		{"tickTime=2000\n\n# comment\nmaxSessionTimeout=1m\n", "maxSessionTimeout"},
	}
	for _, c := range cases {
		p := writeCfg(t, "dataDir=/tmp/x\n"+c.body)
		cfg := DefaultConfig()
		err := cfg.LoadZooCfg(p, quietLog)
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
	dyn := filepath.Join(dir, "zoo.cfg.dynamic")
	if err := os.WriteFile(dyn, []byte("server.1=zk1:2888:3888\nserver.2=zk2:2888\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	err := cfg.LoadZooCfg(writeCfg(t, "dataDir="+dir+"\ndynamicConfigFile="+dyn+"\n"), quietLog)
	if err == nil || !strings.Contains(err.Error(), dyn+":2:") || !strings.Contains(err.Error(), "server.2") {
		t.Fatalf("bad dynamic file: err = %v", err)
	}
	cfg = DefaultConfig()
	err = cfg.LoadZooCfg(writeCfg(t, "dataDir="+dir+"\ndynamicConfigFile="+filepath.Join(dir, "missing")+"\n"), quietLog)
	if err == nil || !strings.Contains(err.Error(), "dynamicConfigFile") {
		t.Fatalf("missing dynamic file: err = %v", err)
	}
}

// A single server.N line with a client part is a standalone server on that port,
// as the official Docker image's default ZOO_SERVERS gives.
func TestServerLineClientPortWithoutClientPortKey(t *testing.T) {
	var logs bytes.Buffer
	cfg := DefaultConfig()
	p := writeCfg(t, "dataDir=/tmp/x\nserver.1=localhost:2888:3888;2181\n")
	if err := cfg.LoadZooCfg(p, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAddr != "0.0.0.0:2181" || cfg.distributed() || strings.Contains(logs.String(), "standalone") {
		t.Fatalf("ClientAddr=%s distributed=%v log=%s", cfg.ClientAddr, cfg.distributed(), logs.String())
	}
}

// Without a config file, the official image's ZOO_* variables configure zkd as
// its docker-entrypoint.sh would.
func TestDockerEnvironment(t *testing.T) {
	env := map[string]string{
		"ZOO_DATA_DIR":                "/srv/data",
		"ZOO_TICK_TIME":               "1000",
		"ZOO_MAX_CLIENT_CNXNS":        "0",
		"ZOO_4LW_COMMANDS_WHITELIST":  "srvr,ruok,mntr",
		"ZOO_ADMINSERVER_ENABLED":     "false",
		"ZOO_AUTOPURGE_PURGEINTERVAL": "1",
		"ZOO_CFG_EXTRA":               "metricsProvider.className=" + admin.PrometheusProvider + " metricsProvider.httpPort=7070",
		"ZOO_CONF_DIR":                t.TempDir(), // no zoo.cfg there
	}
	getenv := func(k string) string { return env[k] }
	cfg, _, err := parseFlagsEnv(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"DataDir", cfg.DataDir, "/srv/data"},
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
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// An existing $ZOO_CONF_DIR/zoo.cfg wins, as in the image.
	confDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(confDir, "zoo.cfg"), []byte("dataDir=/from/file\nclientPort=2999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env["ZOO_CONF_DIR"] = confDir
	cfg, _, err = parseFlagsEnv(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/file" || cfg.ClientAddr != "0.0.0.0:2999" {
		t.Errorf("with $ZOO_CONF_DIR/zoo.cfg: DataDir=%q ClientAddr=%q", cfg.DataDir, cfg.ClientAddr)
	}
	// No ZOO_* variable: the bare defaults.
	cfg, _, err = parseFlagsEnv(nil, func(string) string { return "" })
	if err != nil || cfg.ClientAddr != "127.0.0.1:2181" || cfg.DataDir != "zkd-data" {
		t.Errorf("bare: ClientAddr=%q DataDir=%q err=%v", cfg.ClientAddr, cfg.DataDir, err)
	}
}

// System properties named in spec/ops.md reach the operator settings.
func TestOperatorSystemProperties(t *testing.T) {
	cfg := DefaultConfig()
	err := cfg.ApplySystemProperties([]string{"-Dzookeeper.admin.serverPort=9999", "-Dzookeeper.admin.enableServer=false",
		"-Dzookeeper.fsync.warningthresholdms=20", "-Dreadonlymode.enabled=true", "-Dzookeeper.4lw.commands.whitelist=*"})
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
}
