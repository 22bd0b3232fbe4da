package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// With leaderServes=no the leader takes no clients, as ZooKeeper's: a client
// that reaches it is turned away and its four-letter words that need a serving
// server say it is not serving, while the followers serve; a follower that
// becomes leader drops the clients it had, and they go on elsewhere.
func TestLeaderServesNo(t *testing.T) {
	ms := newReconfigMembers(t, 3)
	for _, m := range ms {
		m.extra = "leaderServes=no\n"
		m.writeConfig(t, ms)
	}
	startMembers(t, ms)
	lead := leaderOf(t, []*Server{ms[0].srv, ms[1].srv, ms[2].srv})
	leader := ms[lead]
	if out := leader.srv.Sessions().FourLetterWord("srvr"); !strings.Contains(out, "not currently serving") {
		t.Fatalf("srvr on the leader: %q", out)
	}
	if out := leader.srv.Sessions().FourLetterWord("ruok"); out != "imok" {
		t.Fatalf("ruok on the leader: %q", out)
	}
	c, _, err := zk.Connect([]string{leader.srv.Addr().String()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Create("/via-the-leader", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err == nil {
		t.Fatal("the leader served a client")
	}
	c.Close()

	follower := ms[(lead+1)%3]
	fc := follower.client(t)
	if _, err := fc.Create("/via-a-follower", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create through a follower: %v", err)
	}
	// The leader goes; whichever follower takes over drops its clients, which
	// carry on through the other one.
	other := ms[(lead+2)%3]
	all, _, err := zk.Connect([]string{follower.srv.Addr().String(), other.srv.Addr().String()}, 10*time.Second,
		zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if _, err := all.Create("/before", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if err := leader.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	next := leaderOf(t, []*Server{nil, follower.srv, other.srv})
	newLeader := []*reconfigMember{nil, follower, other}[next]
	eventually(t, "the new leader drops its clients", func() error {
		if n := newLeader.srv.Sessions().ConnCount(); n != 0 {
			return fmt.Errorf("%d client connections", n)
		}
		return nil
	})
	eventually(t, "a write through the remaining follower", func() error {
		_, err := all.Create("/after", nil, 0, zk.WorldACL(zk.PermAll))
		if errors.Is(err, zk.ErrNodeExists) {
			return nil
		}
		return err
	})
}
