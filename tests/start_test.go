package tests

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zkd/internal/zktest"
	"zkd/zoocfg"
)

// A config file without clientPort opens no client port (ZooKeeper 3.8): the
// server starts, with its AdminServer, and listens for no clients.
func TestStartWithoutClientPort(t *testing.T) {
	p := filepath.Join(t.TempDir(), "zoo.cfg")
	if err := os.WriteFile(p, []byte("dataDir="+t.TempDir()+"\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := zoocfg.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HasClientPort() {
		t.Fatalf("ClientAddr = %q without clientPort", cfg.ClientAddr)
	}
	sink := &zktest.LogBuffer{}
	in, err := zktest.Start(cfg, slog.New(slog.NewTextHandler(sink, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := in.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if in.Addr() != nil || in.AdminAddr() == nil {
		t.Fatalf("client listener %v, AdminServer %v", in.Addr(), in.AdminAddr())
	}
	for _, want := range []string{"clientPort is not set", "created server", "clientAddress=none", "tickTime=3000"} {
		if !strings.Contains(sink.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, sink.String())
		}
	}
	if got := httpGet(t, "http://"+in.AdminAddr().String()+"/commands/ruok"); !strings.Contains(got, `"error" : null`) {
		t.Errorf("AdminServer ruok: %s", got)
	}
}
