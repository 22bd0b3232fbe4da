package zoocfg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCfg(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zoo.cfg")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustLoad loads body as a zoo.cfg, failing the test on an error.
func mustLoad(t *testing.T, body string) Config {
	t.Helper()
	c, err := Load(writeCfg(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// check is one expected field value.
type check struct {
	name      string
	got, want any
}

func runChecks(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadAppliesZooKeeperKeys(t *testing.T) {
	cfg := mustLoad(t, `# sample
tickTime=2000
initLimit=10
clientPort=2191
clientPortAddress = 127.0.0.2
dataDir=/var/lib/zk
dataLogDir: /var/log/zk
minSessionTimeout=4000
maxSessionTimeout 60000
maxClientCnxns=0
extendedTypesEnabled=true
4lw.commands.whitelist=ruok , stat,,
jute.maxbuffer=0x200000
zookeeper.DigestAuthenticationProvider.superDigest=super:xQJmxLMiHGwaqBvst5y6rkB6HQs=
admin.enableServer=false
server.1=127.0.0.1:2888:3888
some.unknown.key=1
`)
	runChecks(t, []check{
		{"ClientAddr", cfg.ClientAddr, "127.0.0.2:2191"},
		{"TickTime", cfg.TickTime, 2 * time.Second},
		{"DataDir", cfg.DataDir, "/var/lib/zk"},
		{"DataLogDir", cfg.DataLogDir, "/var/log/zk"},
		{"MinSessionTimeout", cfg.MinSessionTimeout, 4 * time.Second},
		{"MaxSessionTimeout", cfg.MaxSessionTimeout, time.Minute},
		{"MaxClientCnxns", cfg.MaxClientCnxns, 0},
		{"ExtendedTypes", cfg.ExtendedTypes, true},
		{"FourLetterWords", strings.Join(cfg.FourLetterWords, ","), "ruok,stat"},
		{"MaxBuffer", cfg.MaxBuffer, 0x200000},
		{"SuperDigest", cfg.SuperDigest, "super:xQJmxLMiHGwaqBvst5y6rkB6HQs="},
		{"Admin.Enabled", cfg.Admin.Enabled, false},
		{"servers", len(cfg.Quorum.Membership.Servers), 1},
		{"Ensemble (one server, standaloneEnabled)", cfg.Ensemble(), false},
	})
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// clientPortAddress defaults to every interface, as in ZooKeeper; without
// clientPort there is no plain client port at all.
func TestLoadClientPortDefaultsToAllInterfaces(t *testing.T) {
	cfg := mustLoad(t, "dataDir=/tmp/x\nclientPort=2181\n")
	if cfg.ClientAddr != "0.0.0.0:2181" || !cfg.HasClientPort() {
		t.Fatalf("ClientAddr = %q, want ZooKeeper's 0.0.0.0:2181", cfg.ClientAddr)
	}
	cfg = mustLoad(t, "dataDir=/tmp/x\n")
	if cfg.ClientAddr != "" || cfg.HasClientPort() {
		t.Fatalf("no clientPort: ClientAddr = %q, want none (ZooKeeper 3.8 opens no client port)", cfg.ClientAddr)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("no clientPort is a valid configuration: %v", err)
	}
	cfg = mustLoad(t, "dataDir=/tmp/x\nclientPort=0\n")
	if cfg.HasClientPort() {
		t.Fatalf("clientPort=0: ClientAddr = %q, want none (ZooKeeper reads 0 as not set)", cfg.ClientAddr)
	}
	cfg = mustLoad(t, "dataDir=/tmp/x\nclientPort=2181\nclientPortAddress=::1\n")
	if cfg.ClientAddr != "[::1]:2181" {
		t.Fatalf("IPv6 clientPortAddress: ClientAddr = %q", cfg.ClientAddr)
	}
}

func TestLoadRejectsBadValuesNamingFileLineAndKey(t *testing.T) {
	cases := []struct{ body, key string }{
		{"tickTime=2000\nclientPort=abc\n", "clientPort"},
		{"clientPort=99999\n", "clientPort"},
		{"tickTime=-5\n", "tickTime"},
		{"maxClientCnxns=many\n", "maxClientCnxns"},
		{"jute.maxbuffer=0\n", "jute.maxbuffer"},
		{"minSessionTimeout=ten\n", "minSessionTimeout"},
		{"znode.container.maxPerMinute=0\n", "znode.container.maxPerMinute"},
	}
	for _, c := range cases {
		p := writeCfg(t, c.body)
		_, err := Load(p)
		if err == nil {
			t.Errorf("%q: no error", c.body)
			continue
		}
		line := strings.Count(c.body[:strings.Index(c.body, c.key)], "\n") + 1
		for _, want := range []string{p, ":" + string(rune('0'+line)) + ":", c.key} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error %q does not name %q", c.body, err, want)
			}
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.cfg")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestValidateRejectsInconsistentTimeouts(t *testing.T) {
	cfg := Default()
	cfg.MinSessionTimeout, cfg.MaxSessionTimeout = 10*time.Second, 5*time.Second
	if err := cfg.Validate(); err == nil {
		t.Fatal("min > max accepted")
	}
	// As in ZooKeeper, the bounds are compared after the tick-derived defaults
	// are filled in: 100 s is above 20 ticks of 3 s.
	cfg = Default()
	cfg.MinSessionTimeout = 100 * time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "minSessionTimeout") {
		t.Fatalf("min above the derived max: err = %v", err)
	}
	d := Default()
	if lo, hi := d.SessionTimeouts(); lo != 6*time.Second || hi != time.Minute {
		t.Fatalf("SessionTimeouts of the defaults = %v, %v; want 2 and 20 ticks of 3 s", lo, hi)
	}
}

func TestSystemPropertiesFromArgsAndJVMFlags(t *testing.T) {
	env := map[string]string{
		"SERVER_JVMFLAGS": "-Xmx1g -Dzookeeper.extendedTypesEnabled=true -Dlog4j.configuration=x",
		"JVMFLAGS":        "-Djute.maxbuffer=4194304",
	}
	props, rest := SystemProperties([]string{"-Dzookeeper.DigestAuthenticationProvider.superDigest=super:abc", "-addr", "127.0.0.1:0", "zoo.cfg"},
		func(k string) string { return env[k] })
	if strings.Join(rest, " ") != "-addr 127.0.0.1:0 zoo.cfg" {
		t.Fatalf("rest = %q", rest)
	}
	cfg := Default()
	if err := cfg.ApplySystemProperties(props); err != nil {
		t.Fatal(err)
	}
	if !cfg.ExtendedTypes || cfg.MaxBuffer != 4194304 || cfg.SuperDigest != "super:abc" {
		t.Fatalf("properties not applied: extended=%v maxbuffer=%d super=%q", cfg.ExtendedTypes, cfg.MaxBuffer, cfg.SuperDigest)
	}
	if cfg.SystemProperties["log4j.configuration"] != "x" {
		t.Errorf("an unknown -D property is not listed in system_properties")
	}
	if err := cfg.ApplySystemProperties([]string{"-Djute.maxbuffer=lots"}); err == nil || !strings.Contains(err.Error(), "jute.maxbuffer") {
		t.Fatalf("bad property: err = %v", err)
	}
	// Keys ZooKeeper only takes from zoo.cfg have no system property.
	cfg = Default()
	if err := cfg.ApplySystemProperties([]string{"-DtickTime=1", "-DdataDir=/elsewhere"}); err != nil {
		t.Fatal(err)
	}
	if cfg.TickTime != 3*time.Second || cfg.DataDir != "zkd-data" {
		t.Errorf("-DtickTime / -DdataDir took effect: tick=%v dataDir=%q", cfg.TickTime, cfg.DataDir)
	}
}

// A config file must name dataDir: ZooKeeper refuses to start without it rather
// than serve from a directory nobody chose.
func TestLoadWithoutDataDirIsAnError(t *testing.T) {
	p := writeCfg(t, "tickTime=2000\nclientPort=2181\n")
	_, err := Load(p)
	if !errors.Is(err, ErrNoDataDir) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want ErrNoDataDir naming %s", err, p)
	}
	// The bare zkd keeps its own default.
	if d := Default(); d.DataDir != "zkd-data" || d.ClientAddr != "127.0.0.1:2181" {
		t.Fatalf("Default: DataDir=%q ClientAddr=%q", d.DataDir, d.ClientAddr)
	}
	if d := Default(); d.Validate() != nil {
		t.Fatalf("Default does not validate: %v", d.Validate())
	}
	c := Default()
	c.DataDir = ""
	if err := c.Validate(); !errors.Is(err, ErrNoDataDir) {
		t.Fatalf("Validate with no dataDir: %v", err)
	}
}

// ZooKeeper's other refusals of a single file.
func TestLoadRefusals(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"clientPortAddress without clientPort", "dataDir=/tmp/x\nclientPortAddress=127.0.0.1\n",
			":2: clientPortAddress is set but clientPort is not set"},
		{"strict boolean", "dataDir=/tmp/x\nlocalSessionsEnabled=yes\n", ":2: localSessionsEnabled"},
		{"strict boolean (quorumListenOnAllIPs)", "dataDir=/tmp/x\nquorumListenOnAllIPs=1\n", ":2: quorumListenOnAllIPs"},
		{"strict boolean (multiAddress.enabled)", "dataDir=/tmp/x\nmultiAddress.enabled=on\n", ":2: multiAddress.enabled"},
		{"negative cnxTimeout", "dataDir=/tmp/x\ncnxTimeout=-1\n", ":2: cnxTimeout"},
		{"not key=value", "dataDir=/tmp/x\n=oops\n", ":2:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeCfg(t, c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// A key given twice keeps its last value, and errors name the line of that value,
// as java.util.Properties keeps the last.
func TestLoadRepeatedKeyTakesTheLastValue(t *testing.T) {
	cfg := mustLoad(t, "dataDir=/tmp/x\nadmin.enableServer=false\ntickTime=100\nadmin.enableServer=true\n")
	if !cfg.Admin.Enabled || cfg.TickTime != 100*time.Millisecond {
		t.Fatalf("Admin.Enabled=%v TickTime=%v", cfg.Admin.Enabled, cfg.TickTime)
	}
	_, err := Load(writeCfg(t, "dataDir=/tmp/x\ntickTime=bad\ntickTime=worse\n"))
	if err == nil || !strings.Contains(err.Error(), ":3: tickTime") {
		t.Fatalf("err = %v, want the line of the last value (3)", err)
	}
}

// Every key is accepted from zoo.cfg under its zoo.cfg name and under the system
// property name ZooKeeper reads it from; zkd applies both forms.
func TestLoadAcceptsPropertyNames(t *testing.T) {
	cfg := mustLoad(t, "dataDir=/tmp/x\nzookeeper.snapCount=500\nreadonlymode.enabled=true\nznode.container.checkIntervalMs=250\n")
	runChecks(t, []check{
		{"SnapCount", cfg.SnapCount, 500},
		{"ReadOnlyMode", cfg.ReadOnlyMode, true},
		{"ContainerCheckInterval", cfg.ContainerCheckInterval, 250 * time.Millisecond},
		{"property recorded as ZooKeeper would", cfg.SystemProperties["zookeeper.zookeeper.snapCount"], "500"},
		{"warnings", len(cfg.Warnings), 0},
	})
}

// The connection throttle's keys read as ZooKeeper reads its properties: an
// integer that does not parse keeps the default (with a warning here), a
// number that does not parse is refused, and the session weights are
// corrected as BlueThrottle corrects them.
func TestConnectionThrottleKeys(t *testing.T) {
	if d := Default().ConnThrottle; d != (ConnThrottleSettings{FillTimeMs: 1, FillCount: 1, FreezeTimeMs: -1, DropIncrease: 0.02,
		DropDecrease: 0.002, GlobalWeight: 3, LocalWeight: 1, RenewWeight: 2}) {
		t.Fatalf("defaults %+v", d)
	}
	cfg, err := Load(writeCfg(t, "dataDir=/tmp/x\nclientPort=2181\nconnection_throttle_tokens=0x10\n"+
		"connection_throttle_fill_time=soon\nconnection_throttle_fill_count=5\nconnection_throttle_freeze_time=30\n"+
		"connection_throttle_drop_increase=0.1\nconnection_throttle_weight_enabled=TRUE\n"+
		"connection_throttle_global_session_weight=0\nconnection_throttle_local_session_weight=4\n"+
		"connection_throttle_renew_session_weight=3\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := ConnThrottleSettings{Tokens: 16, FillTimeMs: 1, FillCount: 5, FreezeTimeMs: 30, DropIncrease: 0.1,
		DropDecrease: 0.002, Weighted: true, GlobalWeight: 3, LocalWeight: 4, RenewWeight: 4}
	if cfg.ConnThrottle != want {
		t.Fatalf("got %+v\nwant %+v", cfg.ConnThrottle, want)
	}
	var warned []string
	for _, w := range cfg.Warnings {
		warned = append(warned, w.Key)
	}
	if got := strings.Join(warned, " "); got != "connection_throttle_fill_time connection_throttle_global_session_weight connection_throttle_renew_session_weight" {
		t.Errorf("warnings for %s", got)
	}
	if _, err := Load(writeCfg(t, "dataDir=/tmp/x\nconnection_throttle_drop_decrease=lots\n")); err == nil ||
		!strings.Contains(err.Error(), ":2: connection_throttle_drop_decrease") {
		t.Fatalf("a drop decrease that is not a number: %v", err)
	}
}
