package admin_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"zkd/admin"
	"zkd/replica"
	"zkd/replica/replicatest"
	"zkd/session"
	"zkd/zoocfg"
)

// voting_view of an ensemble member is byte for byte what the leader (myid 3) of
// a 3-server ZooKeeper 3.8 ensemble printed (testdata/, captured from
// fixtures/zk-3.8.0/admin/ensemble-leader), from the same membership.
func TestVotingViewOfAnEnsemble(t *testing.T) {
	rep := replicatest.NewStandalone(t, replicatest.StandaloneOptions{Logger: quiet})
	cfg := session.DefaultConfig()
	cfg.Logger, cfg.ServerID, cfg.ClientAddr = quiet, 3, "127.0.0.1:25203"
	srv, err := session.NewServer(cfg, rep)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetOps(session.OpsConfig{DataDir: t.TempDir(), DataLogDir: t.TempDir(), ClientPort: 25203,
		Disk: session.NewDiskStats(time.Second, 0, quiet)})
	m, err := zoocfg.ParseMembership("server.1=127.0.0.1:25211:25221:participant\n" +
		"server.2=127.0.0.1:25212:25222:participant\nserver.3=127.0.0.1:25213:25223:participant\n" +
		"server.4=127.0.0.1:25214:25224:observer\nversion=0")
	if err != nil {
		t.Fatal(err)
	}
	base := startAdmin(t, srv, func(c *admin.Config) {
		c.Ensemble = func() replica.Ensemble { return replica.Ensemble{Members: m, Member: true} }
	})
	want, err := os.ReadFile(filepath.Join("testdata", "voting_view-ensemble-leader.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, base+"/commands/voting_view"); body != string(want) {
		t.Fatalf("voting_view:\n%s\nZooKeeper:\n%s", body, want)
	}
}
