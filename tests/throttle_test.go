package tests

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"zkd/internal/testutil"
	"zkd/internal/zktest"
	"zkd/zoocfg"
)

// The connection throttle set in zoo.cfg, as ZooKeeper takes it: a bucket of one
// token that refills once an hour lets one session in and closes the next
// connection at its ConnectRequest without a reply.
func TestConnectionThrottleFromZooCfg(t *testing.T) {
	dir := t.TempDir()
	port := testutil.FreePort(t)
	p := filepath.Join(dir, "zoo.cfg")
	text := fmt.Sprintf("dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"+
		"connection_throttle_tokens=1\nconnection_throttle_fill_time=3600000\n", filepath.Join(dir, "data"), port)
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
	addr := s.Addr().String()
	zktest.Connect(t, addr, 10000)
	if resp, err := zktest.Dial(t, addr).Raw().Handshake(10000, 0, nil); err == nil {
		t.Fatalf("a second connection got a session past a bucket of one token: %+v", resp)
	}
}
