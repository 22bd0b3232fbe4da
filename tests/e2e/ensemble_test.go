package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/zktest"
)

var openACL = zk.WorldACL(zk.PermAll)

// readThrough checks, through a session on member addr, that path holds data
// once that member has caught up (sync, then read).
func readThrough(t *testing.T, addr, path, data string) {
	t.Helper()
	c, _ := zktest.ConnectZK(t, addr, 10*time.Second)
	zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if _, err := c.Sync(path); err != nil {
			return err
		}
		got, _, err := c.Get(path)
		if err != nil {
			return err
		}
		if string(got) != data {
			return fmt.Errorf("%s reads %s = %q, want %q", addr, path, got, data)
		}
		return nil
	})
}

// Three zkd processes from zoo.cfg files with server.N lines and myid files: a
// follower stalled with SIGSTOP does not stop the others from committing, and
// catches up after SIGCONT; the leader killed with SIGKILL is replaced, loses no
// acknowledged write, and catches up after a restart on its own data directory.
func TestEnsembleSurvivesAStalledFollowerAndAKilledLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three zkd processes")
	}
	c := zktest.StartProcessCluster(t, 3, zktest.ProcessOptions{})
	lead := c.Leader()
	stalled := (lead + 1) % c.N()
	w, _ := zktest.ConnectZK(t, c.Member(lead).ConnectString(), 10*time.Second)
	if _, err := w.Create("/e2e", []byte("0"), 0, openACL); err != nil {
		t.Fatal(err)
	}

	c.Member(stalled).Pause()
	for i := 1; i <= 20; i++ {
		if _, err := w.Set("/e2e", []byte(fmt.Sprint(i)), -1); err != nil {
			t.Fatalf("write %d with a follower stalled: %v", i, err)
		}
	}
	c.Member(stalled).Resume()
	readThrough(t, c.Member(stalled).ConnectString(), "/e2e", "20")

	c.Member(lead).Kill()
	next := c.Leader()
	if next == lead {
		t.Fatal("the killed member still leads")
	}
	n, _ := zktest.ConnectZK(t, c.Member(next).ConnectString(), 10*time.Second)
	if data, _, err := n.Get("/e2e"); err != nil || string(data) != "20" {
		t.Fatalf("after the leader's kill: /e2e = %q, %v; want every acknowledged write", data, err)
	}
	zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, err := n.Set("/e2e", []byte("after"), -1)
		return err
	})

	c.Member(lead).Restart()
	readThrough(t, c.Member(lead).ConnectString(), "/e2e", "after")
}
