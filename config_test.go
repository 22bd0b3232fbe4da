package main

import (
	"io"
	"log/slog"
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

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestLoadZooCfgAppliesZooKeeperKeys(t *testing.T) {
	p := writeCfg(t, `# sample
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
	cfg := DefaultConfig()
	if err := cfg.LoadZooCfg(p, quietLog); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
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
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestLoadZooCfgDefaultsToAllInterfaces(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.LoadZooCfg(writeCfg(t, "dataDir=/tmp/x\n"), quietLog); err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAddr != "0.0.0.0:2181" {
		t.Fatalf("ClientAddr = %q, want ZooKeeper's 0.0.0.0:2181", cfg.ClientAddr)
	}
}

func TestLoadZooCfgRejectsBadValuesNamingFileLineAndKey(t *testing.T) {
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
		cfg := DefaultConfig()
		err := cfg.LoadZooCfg(p, quietLog)
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
	cfg := DefaultConfig()
	if err := cfg.LoadZooCfg(filepath.Join(t.TempDir(), "missing.cfg"), quietLog); err == nil {
		t.Error("missing file: no error")
	}
}

func TestValidateRejectsInconsistentTimeouts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinSessionTimeout, cfg.MaxSessionTimeout = 10*time.Second, 5*time.Second
	if err := cfg.Validate(); err == nil {
		t.Fatal("min > max accepted")
	}
}

func TestSystemPropertiesFromArgsAndJVMFlags(t *testing.T) {
	env := map[string]string{
		"SERVER_JVMFLAGS": "-Xmx1g -Dzookeeper.extendedTypesEnabled=true -Dlog4j.configuration=x",
		"JVMFLAGS":        "-Djute.maxbuffer=4194304",
	}
	props, rest := systemProperties([]string{"-Dzookeeper.DigestAuthenticationProvider.superDigest=super:abc", "-addr", "127.0.0.1:0", "zoo.cfg"},
		func(k string) string { return env[k] })
	if strings.Join(rest, " ") != "-addr 127.0.0.1:0 zoo.cfg" {
		t.Fatalf("rest = %q", rest)
	}
	cfg := DefaultConfig()
	if err := cfg.ApplySystemProperties(props); err != nil {
		t.Fatal(err)
	}
	if !cfg.ExtendedTypes || cfg.MaxBuffer != 4194304 || cfg.SuperDigest != "super:abc" {
		t.Fatalf("properties not applied: extended=%v maxbuffer=%d super=%q", cfg.ExtendedTypes, cfg.MaxBuffer, cfg.SuperDigest)
	}
	if err := cfg.ApplySystemProperties([]string{"-Djute.maxbuffer=lots"}); err == nil || !strings.Contains(err.Error(), "jute.maxbuffer") {
		t.Fatalf("bad property: err = %v", err)
	}
}

func TestParseFlagsOverridesConfigFile(t *testing.T) {
	p := writeCfg(t, "clientPort=2191\nclientPortAddress=127.0.0.1\ndataDir=/tmp/from-file\n")
	cfg, _, err := parseFlags([]string{"-data-dir", "/tmp/from-flag", p})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/tmp/from-flag" || cfg.ClientAddr != "127.0.0.1:2191" {
		t.Fatalf("DataDir=%q ClientAddr=%q", cfg.DataDir, cfg.ClientAddr)
	}
}
