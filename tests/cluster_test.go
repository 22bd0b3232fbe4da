package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/zktest"
)

// An ensemble started from zoo.cfg text serves writes through a follower, elects
// a new leader when its leader stops, and takes the old leader back: restarted
// on its own data directory, it catches up on what was written without it.
func TestClusterSurvivesLeaderStopAndRejoinsItAfterRestart(t *testing.T) {
	c := zktest.StartCluster(t, 3, zktest.ClusterOptions{})
	lead := c.Leader()
	follower := (lead + 1) % c.N()
	fc, _ := zktest.ConnectZK(t, c.Addr(follower), 10*time.Second)
	mustCreate(t, fc, "/cluster", []byte("0"), 0)
	if got := c.Member(follower).Replica().Mode(); got != "follower" {
		t.Fatalf("member %d reports mode %q", follower, got)
	}

	c.Stop(lead)
	next := c.Leader()
	if next == lead {
		t.Fatal("the stopped member still leads")
	}
	rest, _ := zktest.ConnectZK(t, c.Addr(next), 10*time.Second)
	zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, err := rest.Set("/cluster", []byte("1"), -1)
		return err
	})
	for i := range 10 {
		mustCreate(t, rest, fmt.Sprintf("/cluster/n%d", i), nil, 0)
	}

	c.Restart(lead)
	back, _ := zktest.ConnectZK(t, c.Addr(lead), 10*time.Second)
	zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if _, err := back.Sync("/cluster"); err != nil {
			return err
		}
		data, st, err := back.Get("/cluster")
		switch {
		case err != nil:
			return err
		case string(data) != "1" || st.NumChildren != 10:
			return fmt.Errorf("restarted member reads %q with %d children", data, st.NumChildren)
		}
		return nil
	})
	if _, err := back.Create("/cluster/through-the-restarted", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("write through the restarted member: %v", err)
	}
	if _, err := rest.Sync("/cluster"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := rest.Exists("/cluster/through-the-restarted"); err != nil || !ok {
		t.Fatalf("write through the restarted member not seen elsewhere: %v %v", ok, err)
	}
}
