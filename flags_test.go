package main

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/admin"
	"zkd/zoocfg"
)

func writeCfg(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zoo.cfg")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
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
	// -D properties apply on top of the file, explicit flags on top of both.
	p = writeCfg(t, "dataDir=/tmp/x\nclientPort=2191\njute.maxbuffer=1000\n4lw.commands.whitelist=ruok\n")
	cfg, _, err = parseFlagsEnv([]string{"-Djute.maxbuffer=2000", "-Dzookeeper.4lw.commands.whitelist=stat", "-4lw", "mntr, srvr", "-log-level", "warn", p},
		func(k string) string { return map[string]string{"SERVER_JVMFLAGS": "-Dzookeeper.snapCount=77"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBuffer != 2000 || strings.Join(cfg.FourLetterWords, ",") != "mntr,srvr" || cfg.SnapCount != 77 ||
		cfg.LogLevel != slog.LevelWarn || cfg.ConfigFile != p {
		t.Fatalf("MaxBuffer=%d 4lw=%v SnapCount=%d LogLevel=%v ConfigFile=%q", cfg.MaxBuffer, cfg.FourLetterWords,
			cfg.SnapCount, cfg.LogLevel, cfg.ConfigFile)
	}
	// A config file without dataDir is refused, as ZooKeeper refuses it.
	if _, _, err := parseFlags([]string{writeCfg(t, "clientPort=2191\n")}); !errors.Is(err, zoocfg.ErrNoDataDir) {
		t.Fatalf("no dataDir: err = %v", err)
	}
}

// Without a config file, the official image's ZOO_* variables configure zkd;
// without them, the bare defaults apply.
func TestParseFlagsDockerEnvironment(t *testing.T) {
	dataDir := t.TempDir()
	env := map[string]string{"ZOO_DATA_DIR": dataDir, "ZOO_TICK_TIME": "1000", "ZOO_CONF_DIR": t.TempDir()}
	cfg, _, err := parseFlagsEnv(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != dataDir || cfg.ClientAddr != "0.0.0.0:2181" || cfg.TickTime != time.Second || cfg.Quorum.MyID != 1 {
		t.Errorf("ZOO_*: DataDir=%q ClientAddr=%q TickTime=%v MyID=%d", cfg.DataDir, cfg.ClientAddr, cfg.TickTime, cfg.Quorum.MyID)
	}
	cfg, _, err = parseFlagsEnv(nil, func(string) string { return "" })
	if err != nil || cfg.ClientAddr != "127.0.0.1:2181" || cfg.DataDir != "zkd-data" || cfg.AdminAddr() != "127.0.0.1:8080" {
		t.Errorf("bare: ClientAddr=%q DataDir=%q admin=%s err=%v", cfg.ClientAddr, cfg.DataDir, cfg.AdminAddr(), err)
	}
}

// A config file without clientPort opens no client port (ZooKeeper 3.8); the
// server that starts from it is tested in tests/ (TestStartWithoutClientPort).
func TestParseFlagsWithoutClientPort(t *testing.T) {
	p := writeCfg(t, "dataDir="+t.TempDir()+"\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=0\n")
	cfg, _, err := parseFlagsEnv([]string{p}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HasClientPort() {
		t.Fatalf("ClientAddr = %q without clientPort", cfg.ClientAddr)
	}
	if cfg.AdminAddr() != "127.0.0.1:0" {
		t.Fatalf("AdminServer at %q, want 127.0.0.1:0", cfg.AdminAddr())
	}
}

// zoocfg names the Prometheus provider class the admin package serves.
func TestPrometheusProviderClassAgrees(t *testing.T) {
	if zoocfg.PrometheusMetricsProvider != admin.PrometheusProvider {
		t.Fatalf("zoocfg %q, admin %q", zoocfg.PrometheusMetricsProvider, admin.PrometheusProvider)
	}
}
