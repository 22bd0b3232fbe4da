package tests

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zkd/internal/testutil"
	"zkd/internal/zktest"
	"zkd/zoocfg"
)

// throttleCfg is a connection throttle of one token that refills once an hour,
// in zoo.cfg as ZooKeeper takes it (its zookeeper.connection_throttle_*
// properties, set from unknown zoo.cfg keys).
const throttleCfg = "connection_throttle_tokens=1\nconnection_throttle_fill_time=3600000\n4lw.commands.whitelist=*\n"

// The connection throttle set in zoo.cfg lets one session in and closes the
// next connection at its ConnectRequest without a reply, on zkd as on Apache
// ZooKeeper 3.8, and both count it alike in mntr.
func TestConnectionThrottleLikeZooKeeper(t *testing.T) {
	figures := func(t *testing.T, addr string) string {
		zktest.Connect(t, addr, 10000)
		if resp, err := zktest.Dial(t, addr).Raw().Handshake(10000, 0, nil); err == nil {
			t.Fatalf("a second connection got a session past a bucket of one token: %+v", resp)
		}
		mntr, err := zktest.FourLetterWord(addr, "mntr")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(mntr, "\n") {
			k, v, _ := strings.Cut(line, "\t")
			switch k {
			case "zk_connection_rejected", "zk_cnt_connection_token_deficit", "zk_max_connection_token_deficit",
				"zk_connection_drop_probability":
				out = append(out, k+"="+v)
			}
		}
		return strings.Join(out, " ")
	}
	zk := zktest.StartZooKeeper(t, zktest.ZooKeeperOptions{Extra: throttleCfg})
	want := figures(t, zk.Addr)
	if got := figures(t, startFromZooCfg(t, throttleCfg)); got != want {
		t.Fatalf("zkd's mntr: %s\nZooKeeper's: %s", got, want)
	}
	if !strings.Contains(want, "zk_connection_rejected=1") {
		t.Fatalf("ZooKeeper's mntr: %s", want)
	}
	t.Logf("both servers: %s", want)
}

// startFromZooCfg starts zkd in-process from a zoo.cfg of extra's lines, a data
// directory and a free loopback client port, as main would; it returns the
// client address.
func startFromZooCfg(t *testing.T, extra string) string {
	dir := t.TempDir()
	p := filepath.Join(dir, "zoo.cfg")
	text := fmt.Sprintf("dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n%s",
		filepath.Join(dir, "data"), testutil.FreePort(t), extra)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := zoocfg.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s, err := zktest.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s.Addr().String()
}
