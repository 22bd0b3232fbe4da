package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
	"zkd/zoocfg"
)

// startEnsemble starts n in-process members from zoo.cfg text, as an operator's
// three zoo.cfg files would describe them (tick of 100 ms).
func startEnsemble(t *testing.T, n int) []*Server {
	t.Helper()
	var lines []string
	clients := make([]int, n)
	for i := range n {
		clients[i] = testutil.FreePort(t)
		lines = append(lines, fmt.Sprintf("server.%d=127.0.0.1:%d:%d;127.0.0.1:%d", i+1,
			testutil.FreePort(t), testutil.FreePort(t), clients[i]))
	}
	servers := make([]*Server, n)
	errs := make(chan error, n)
	for i := range n {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "myid"), fmt.Appendf(nil, "%d\n", i+1), 0o644); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("tickTime=100\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nadmin.enableServer=false\npreAllocSize=1024\n%s\n",
			dir, strings.Join(lines, "\n"))
		cfg, err := zoocfg.Parse(filepath.Join(dir, "zoo.cfg"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			s, err := Start(context.Background(), cfg, Options{Version: "test", Logger: quiet})
			servers[i] = s
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if s != nil {
				_ = s.Stop()
			}
		}
	})
	return servers
}

// leaderOf waits until one of servers leads and every other one serves (a
// follower that has not heard from the new leader yet refuses clients), and
// returns the leader's index.
func leaderOf(t *testing.T, servers []*Server) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		lead, serving := -1, true
		for i, s := range servers {
			switch {
			case s == nil:
			case s.Replica().Mode() == "leader":
				lead = i
			case !s.Replica().Serving():
				serving = false
			}
		}
		if lead >= 0 && serving {
			return lead
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return -1
}

func TestThreeMembersServeAndSurviveTheLeadersLoss(t *testing.T) {
	servers := startEnsemble(t, 3)
	lead := leaderOf(t, servers)
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.Addr().String())
	}
	follower := (lead + 1) % 3
	conn, _, err := zk.Connect([]string{addrs[follower]}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Create("/through-follower", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	eph, err := conn.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		if got := s.Replica().Mode(); i != lead && got != "follower" {
			t.Fatalf("member %d reports mode %q", i+1, got)
		}
	}
	// Every member serves the write after a sync.
	for _, a := range addrs {
		c, _, err := zk.Connect([]string{a}, 10*time.Second, zk.WithLogger(nopLogger{}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Sync("/through-follower"); err != nil {
			t.Fatal(err)
		}
		if data, _, err := c.Get("/through-follower"); err != nil || string(data) != "x" {
			t.Fatalf("%s: %q %v", a, data, err)
		}
		c.Close()
	}

	// The leader goes away; the others elect a new one and keep the session and
	// its ephemeral.
	if err := servers[lead].Stop(); err != nil {
		t.Fatal(err)
	}
	servers[lead] = nil
	next := leaderOf(t, servers)
	if next == lead {
		t.Fatal("the stopped member still leads")
	}
	c, _, err := zk.Connect([]string{addrs[(lead+1)%3], addrs[(lead+2)%3]}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Create("/after", nil, 0, zk.WorldACL(zk.PermAll))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write accepted after the leader's loss: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ok, _, err := c.Exists(eph); err != nil || !ok {
		t.Fatalf("the session's ephemeral %s did not survive the leader's loss: %v %v", eph, ok, err)
	}
}

// A member restarted with a log holds committed entries it must apply before it
// serves; nothing but its own raft loop can hand them over, since its peers'
// messages are not delivered until it has started.
func TestMemberRestartsWithItsLog(t *testing.T) {
	servers := startEnsemble(t, 3)
	lead := leaderOf(t, servers)
	conn, _, err := zk.Connect([]string{servers[lead].Addr().String()}, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := conn.Create(fmt.Sprintf("/n%d", i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	for i, s := range servers {
		cfg := s.Config()
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		restarted, err := Start(context.Background(), cfg, Options{Version: "test", Logger: quiet})
		if err != nil {
			t.Fatalf("restart of member %d: %v", i+1, err)
		}
		servers[i] = restarted
		if _, code := restarted.Replica().Tree().Exists("/n19", nil, nil); code != 0 {
			t.Fatalf("member %d restarted without the entries it had: %v", i+1, code)
		}
	}
	leaderOf(t, servers)
}
