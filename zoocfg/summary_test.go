package zoocfg

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// summaryMap flattens Summary's attributes to key -> printed value.
func summaryMap(c *Config) map[string]string {
	m := map[string]string{}
	for _, a := range c.Summary() {
		m[a.Key] = fmt.Sprint(a.Value.Any())
	}
	return m
}

// The start-up summary carries the effective settings, times in milliseconds as
// ZooKeeper's "Created server with tickTime 2000 ms minSessionTimeout 4000 ms ..."
// prints them, with the tick-derived session bounds filled in.
func TestSummaryStandalone(t *testing.T) {
	cfg := mustLoad(t, "dataDir=/var/lib/zk\ntickTime=2000\nclientPort=2181\nclientPortAddress=127.0.0.1\n"+
		"4lw.commands.whitelist=ruok,srvr\nadmin.serverPort=9090\n")
	got := summaryMap(&cfg)
	want := map[string]string{
		"tickTime": "2000", "minSessionTimeout": "4000", "maxSessionTimeout": "40000", "maxClientCnxns": "60",
		"clientPortListenBacklog": "-1", "dataDir": "/var/lib/zk", "dataLogDir": "/var/lib/zk",
		"4lw.commands.whitelist": "ruok,srvr", "clientAddress": "127.0.0.1:2181", "adminServer": "0.0.0.0:9090",
		"metrics": "disabled", "config": cfg.ConfigFile, "mode": "standalone",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["servers"]; ok {
		t.Errorf("a standalone summary lists servers: %v", got)
	}
	bare := Default()
	if got := summaryMap(&bare); got["clientAddress"] != "127.0.0.1:2181" || got["dataDir"] != "zkd-data" {
		t.Errorf("bare zkd summary: %v", got)
	}
	cfg = mustLoad(t, "dataDir=/tmp/x\n")
	if got := summaryMap(&cfg); got["clientAddress"] != "none" {
		t.Errorf("no clientPort: clientAddress = %q, want none", got["clientAddress"])
	}
}

func TestSummaryEnsemble(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, "dataDir="+dataDir+"\ninitLimit=10\nsyncLimit=5\n"+
		"server.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889;2182\nserver.3=127.0.0.1:2890:3890:observer\n"+
		"server.4=127.0.0.1:2891:3891\n")
	got := summaryMap(&cfg)
	want := map[string]string{
		"mode": "ensemble", "serverId": "2", "peerType": "participant", "initLimit": "10", "syncLimit": "5",
		"clientAddress": "0.0.0.0:2182", "configVersion": "0x0",
		"servers": "[server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181 " +
			"server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182 server.3=127.0.0.1:2890:3890:observer " +
			"server.4=127.0.0.1:2891:3891:participant]",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
