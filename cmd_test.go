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

	"zkd/internal/zktest"
	"zkd/jute"
	"zkd/zoocfg"
)

// zkd version prints each field on its own line; help lists every subcommand
// with one line each; --version and --help are aliases.
func TestVersionAndHelp(t *testing.T) {
	var b bytes.Buffer
	buildInfo{Version: "1.2.3", Commit: "abc123", Modified: true, Date: "2026-12-05T10:00:00Z",
		GoVersion: "go1.26.8", Platform: "linux/amd64"}.write(&b)
	want := "zkd 1.2.3\ncommit:      abc123 (modified)\nbuilt:       2026-12-05T10:00:00Z\n" +
		"go:          go1.26.8\nplatform:    linux/amd64\nclients see: 3.8.6-zkd-1.2.3\n"
	if b.String() != want {
		t.Errorf("version:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	buildInfo{Version: "dev", GoVersion: "go1.26.8", Platform: "linux/amd64"}.write(&b)
	if !strings.Contains(b.String(), "commit:      unknown\nbuilt:       unknown\n") {
		t.Errorf("version without build information:\n%s", b.String())
	}

	b.Reset()
	writeUsageHead(&b)
	for _, name := range []string{"bench", "import", "export", "probe", "version", "help"} {
		if !strings.Contains(b.String(), "\n  zkd "+name+" ") {
			t.Errorf("help does not list %s:\n%s", name, b.String())
		}
	}
	for alias, name := range map[string]string{"--version": "version", "-version": "version", "version": "version",
		"--help": "help", "help": "help", "probe": "probe", "bench": "bench", "import": "import", "export": "export"} {
		if c, ok := lookupCommand([]string{alias}); !ok || c.name != name {
			t.Errorf("lookupCommand(%q) = %q, %v; want %q", alias, c.name, ok, name)
		}
	}
	for _, notCmd := range []string{"zoo.cfg", "start-foreground", "-config"} {
		if c, ok := lookupCommand([]string{notCmd}); ok {
			t.Errorf("%q taken for the subcommand %q", notCmd, c.name)
		}
	}
}

// The build date given with -ldflags is srvr's "built on".
func TestBuildTimeFromLdflags(t *testing.T) {
	saved := buildDate
	t.Cleanup(func() { buildDate = saved })
	buildDate = "2026-11-21T09:05:00Z"
	if got := buildTime(); !got.Equal(time.Date(2026, 11, 21, 9, 5, 0, 0, time.UTC)) {
		t.Errorf("buildTime = %v", got)
	}
}

// Each probe mode says healthy against a serving zkd and unhealthy when it
// cannot be: nothing listening, or ruok off the whitelist.
func TestProbeModes(t *testing.T) {
	s := zktest.StartServer(t)
	deadline := func() time.Time { return time.Now().Add(10 * time.Second) }
	if msg, err := probeRuok(s.ConnectString(), deadline()); err != nil || msg != "imok" {
		t.Errorf("ruok: %q %v", msg, err)
	}
	if msg, err := probeSrvr(s.ConnectString(), deadline()); err != nil || msg != "Mode: standalone" {
		t.Errorf("srvr: %q %v", msg, err)
	}
	msg, err := probeSession(s.ConnectString(), deadline())
	if err != nil || !strings.HasPrefix(msg, "session 0x") {
		t.Fatalf("session: %q %v", msg, err)
	}
	// The probe's session is closed, not left to expire.
	zktest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := s.Sessions().SessionCount(); n != 0 {
			return fmt.Errorf("%d sessions left", n)
		}
		return nil
	})

	strict := zktest.StartServer(t, func(c *zoocfg.Config) { c.FourLetterWords = []string{"srvr"} })
	if _, err := probeRuok(strict.ConnectString(), deadline()); err == nil || !strings.Contains(err.Error(), "whitelist") {
		t.Errorf("ruok off the whitelist: %v", err)
	}
	if _, err := probeSrvr(strict.ConnectString(), deadline()); err != nil {
		t.Errorf("srvr is always on: %v", err)
	}
	closed := "127.0.0.1:1"
	for name, probe := range map[string]func(string, time.Time) (string, error){
		"ruok": probeRuok, "srvr": probeSrvr, "session": probeSession} {
		if _, err := probe(closed, deadline()); err == nil {
			t.Errorf("%s against a closed port: healthy", name)
		}
	}
	if code := probeMain([]string{"-mode", "nosuch"}); code != 2 {
		t.Errorf("bad -mode: exit %d, want 2", code)
	}
	if code := probeMain([]string{"-server", s.ConnectString(), "-mode", "srvr"}); code != 0 {
		t.Errorf("probe -mode srvr: exit %d", code)
	}
	if code := probeMain([]string{"-server", closed, "-timeout", "2s"}); code != 1 {
		t.Errorf("probe of a closed port: exit %d, want 1", code)
	}
}

// The image's entrypoint: with no zoo.cfg mounted, the ZOO_* configuration is
// written to $ZOO_CONF_DIR/zoo.cfg and <dataDir>/myid, in the lines the official
// docker-entrypoint.sh writes; a mounted zoo.cfg is used and left alone; a
// directory that is not there is not created.
func TestDockerEntrypointWritesConfig(t *testing.T) {
	dir := t.TempDir()
	conf, data, datalog := filepath.Join(dir, "conf"), filepath.Join(dir, "data"), filepath.Join(dir, "datalog")
	for _, d := range []string{conf, data, datalog} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"ZOO_CONF_DIR": conf, "ZOO_DATA_DIR": data, "ZOO_DATA_LOG_DIR": datalog,
		"ZOO_TICK_TIME": "2500", "ZOO_4LW_COMMANDS_WHITELIST": "srvr,ruok",
		"ZOO_SERVERS": "server.1=localhost:2888:3888;127.0.0.1:0", "ZOO_CFG_EXTRA": "admin.serverPort=0 snapCount=5000",
	}
	getenv := func(k string) string { return env[k] }
	cfg, _, err := parseFlagsEnv(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(filepath.Join(conf, "zoo.cfg"))
	if err != nil {
		t.Fatalf("no zoo.cfg written: %v", err)
	}
	// The official entrypoint's lines, in its order, with the image's defaults.
	want := "dataDir=" + data + "\ndataLogDir=" + datalog + "\ntickTime=2500\ninitLimit=5\nsyncLimit=2\n" +
		"autopurge.snapRetainCount=3\nautopurge.purgeInterval=0\nmaxClientCnxns=60\nstandaloneEnabled=true\n" +
		"admin.enableServer=true\nserver.1=localhost:2888:3888;127.0.0.1:0\n4lw.commands.whitelist=srvr,ruok\n" +
		"admin.serverPort=0\nsnapCount=5000\n"
	if string(written) != want {
		t.Errorf("zoo.cfg:\n%s\nwant:\n%s", written, want)
	}
	if b, err := os.ReadFile(filepath.Join(data, "myid")); err != nil || string(b) != "1\n" {
		t.Errorf("myid: %q %v", b, err)
	}
	if cfg.TickTime != 2500*time.Millisecond || cfg.DataDir != data || cfg.ConfigFile != "" {
		t.Errorf("configuration: tickTime %v dataDir %q file %q", cfg.TickTime, cfg.DataDir, cfg.ConfigFile)
	}

	// The next start reads the file, whatever the variables now say.
	env["ZOO_TICK_TIME"] = "4000"
	cfg, _, err = parseFlagsEnv(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(conf, "zoo.cfg")); !bytes.Equal(again, written) {
		t.Errorf("a zoo.cfg that exists was rewritten:\n%s", again)
	}
	if cfg.ConfigFile != filepath.Join(conf, "zoo.cfg") || cfg.TickTime != 2500*time.Millisecond {
		t.Errorf("second start: file %q tickTime %v", cfg.ConfigFile, cfg.TickTime)
	}

	// The written configuration runs: a server starts from it and answers the
	// image's health check.
	cfg.Admin.Enabled = false
	in, err := startInstance(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Stop() })
	if msg, err := probeSrvr(in.Addr().String(), time.Now().Add(10*time.Second)); err != nil {
		t.Errorf("health check of the container's server: %q %v", msg, err)
	}

	// Outside the image's layout nothing is written.
	elsewhere := map[string]string{"ZOO_CONF_DIR": filepath.Join(dir, "absent"), "ZOO_DATA_DIR": filepath.Join(dir, "absent-data"),
		"ZOO_SERVERS": "server.1=localhost:2888:3888;127.0.0.1:0"}
	if _, _, err := parseFlagsEnv(nil, func(k string) string { return elsewhere[k] }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "absent")); !os.IsNotExist(err) {
		t.Errorf("a missing ZOO_CONF_DIR was created: %v", err)
	}
}

// JSON logs carry session ids and zxids in hex and durations in milliseconds,
// as the text format and every other surface do.
func TestLogFormatHexIDsAndMilliseconds(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		log := slog.New(newLogHandler(&b, slog.LevelInfo, format))
		log.Info("Established session", "sessionid", jute.SessionID(0x10000490bcd0000), "zxid", jute.Zxid(0x13a),
			"took", 1500*time.Millisecond, "timeout_ms", 30000, "wait_ms", 2*time.Second)
		out := b.String()
		for _, want := range map[string][]string{
			"json": {`"sessionid":"0x10000490bcd0000"`, `"zxid":"0x13a"`, `"took_ms":1500`, `"timeout_ms":30000`, `"wait_ms":2000`},
			"text": {"sessionid=0x10000490bcd0000", "zxid=0x13a", "took_ms=1500", "timeout_ms=30000", "wait_ms=2000"},
		}[format] {
			if !strings.Contains(out, want) {
				t.Errorf("%s log lacks %s: %s", format, want, out)
			}
		}
	}
}
