package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/bench"
	"zkd/internal/zktest"
)

// idleFigures are the mntr figures that count what clients hold on a member.
var idleFigures = []string{"num_alive_connections", "global_sessions", "ephemerals_count",
	"watch_count", "znode_count", "open_file_descriptor_count"}

// mntrFigures reads idleFigures from member addr's mntr.
func mntrFigures(addr string) (map[string]int64, error) {
	m, err := readMntr(addr)
	if err != nil {
		return nil, err
	}
	got := map[string]int64{}
	for _, k := range idleFigures {
		n, err := strconv.ParseInt(strings.TrimSpace(m[k]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: mntr's %s: %w", addr, k, err)
		}
		got[k] = n
	}
	return got, nil
}

// An ensemble that has served churning clients, some of them cut off by a
// follower's kill -9, gives back everything they held once they are gone: each
// member ends with the connections, sessions, ephemerals, watches, znodes and
// descriptors it had before, so that a long-running ensemble does not grow with
// the clients it has seen.
func TestEnsembleGivesBackWhatClientsHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three zkd processes")
	}
	c := zktest.StartProcessCluster(t, 3, zktest.ProcessOptions{Extra: "4lw.commands.whitelist=*"})
	lead := c.Leader()
	victim := (lead + 1) % c.N()
	before := make([]map[string]int64, c.N())
	for i := range c.N() {
		// A follower answers mntr only once it has joined the leader.
		zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() (err error) {
			before[i], err = mntrFigures(c.Member(i).ConnectString())
			return err
		})
	}

	// Sessions of the member about to die, each with an ephemeral and watches:
	// nobody closes them, so they must expire on the others.
	setup, _ := zktest.ConnectZK(t, c.ConnectString(), 10*time.Second)
	if _, err := setup.Create("/idle", nil, 0, openACL); err != nil {
		t.Fatal(err)
	}
	var orphans []*zk.Conn
	for i := range 8 {
		o, _ := zktest.ConnectZK(t, c.Member(victim).ConnectString(), 2*time.Second)
		if _, err := o.Create(fmt.Sprintf("/idle/e%d", i), nil, zk.FlagEphemeral, openACL); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := o.ChildrenW("/idle"); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := o.GetW("/idle"); err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, o)
	}
	c.Member(victim).Kill()
	for _, o := range orphans {
		o.Close() // cannot reach its server: no closeSession is sent
	}
	if err := setup.Delete("/idle", -1); !errors.Is(err, zk.ErrNotEmpty) {
		t.Fatalf("delete /idle while its ephemerals' sessions live: %v, want ErrNotEmpty", err)
	}
	c.Member(victim).Restart()
	c.Leader()

	// Clients that come and go, over all three members.
	cfg := zktest.BenchConfig(c.ConnectString())
	cfg.ServerPID = 0
	for _, name := range []string{"storm", "fanout", "lock", "sessions-16", "kafka", "watch-500", "createseq-32x8", "multi100"} {
		if _, err := bench.RunWorkload(context.Background(), cfg, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	zktest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if _, err := setup.Sync("/idle"); err != nil {
			return err
		}
		kids, _, err := setup.Children("/idle")
		if err != nil || len(kids) > 0 {
			return fmt.Errorf("/idle children %q (%v): the orphans' sessions have not expired", kids, err)
		}
		return nil
	})
	if err := setup.Delete("/idle", -1); err != nil {
		t.Fatal(err)
	}
	setup.Close()

	zktest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		for i := range c.N() {
			now, err := mntrFigures(c.Member(i).ConnectString())
			if err != nil {
				return err
			}
			for _, k := range idleFigures {
				// A member holds the same descriptors idle; the slack covers a log
				// segment opened ahead, not one per session seen.
				slack := int64(0)
				if k == "open_file_descriptor_count" {
					slack = 2
				}
				if now[k] > before[i][k]+slack {
					return fmt.Errorf("member %d: %s is %d, %d before the clients came", i, k, now[k], before[i][k])
				}
			}
		}
		return nil
	})
}
