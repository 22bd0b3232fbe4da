package server_test

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/zktest"
)

// Three members started from zoo.cfg text with server.N lines and myid files
// (zktest.StartCluster, a 100 ms tick) serve writes through a follower, and after
// the leader stops the other two elect a new one and keep its sessions.
func TestThreeMembersServeAndSurviveTheLeadersLoss(t *testing.T) {
	c3 := zktest.StartCluster(t, 3, zktest.ClusterOptions{})
	lead := c3.Leader()
	var addrs []string
	for i := range c3.N() {
		addrs = append(addrs, c3.Addr(i))
	}
	follower := (lead + 1) % 3
	conn, _, err := zk.Connect([]string{addrs[follower]}, 10*time.Second, zk.WithLogger(zktest.NopLogger))
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
	for i := range c3.N() {
		if got := c3.Member(i).Replica().Mode(); i != lead && got != "follower" {
			t.Fatalf("member %d reports mode %q", i+1, got)
		}
	}
	// Every member serves the write after a sync.
	for _, a := range addrs {
		c, _, err := zk.Connect([]string{a}, 10*time.Second, zk.WithLogger(zktest.NopLogger))
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
	c3.Stop(lead)
	next := c3.Leader()
	if next == lead {
		t.Fatal("the stopped member still leads")
	}
	c, _, err := zk.Connect([]string{addrs[(lead+1)%3], addrs[(lead+2)%3]}, 10*time.Second, zk.WithLogger(zktest.NopLogger))
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
	// The new leader counts the election in mntr's election_time, as ZooKeeper's
	// leader does; every member counted its start once.
	mntr := map[string]any{}
	for _, st := range c3.Member(next).Sessions().Monitor() {
		mntr[st.Key] = st.Value
	}
	if n, _ := mntr["cnt_election_time"].(int64); n < 1 || mntr["cnt_dbinittime"] != int64(1) || mntr["cnt_startup_snap_load_time"] != int64(1) {
		t.Errorf("the new leader's mntr: cnt_election_time %v, cnt_dbinittime %v, cnt_startup_snap_load_time %v; want at least 1, 1, 1",
			mntr["cnt_election_time"], mntr["cnt_dbinittime"], mntr["cnt_startup_snap_load_time"])
	}
	// It timed its wait to lead and the quorum's acknowledgement of /after.
	for _, key := range []string{"cnt_leader_unavailable_time", "cnt_unavailable_time", "cnt_quorum_ack_latency", "cnt_propagation_latency"} {
		if n, _ := mntr[key].(int64); n < 1 {
			t.Errorf("the new leader's mntr: %s %v, want at least 1", key, mntr[key])
		}
	}
}

// Members whose server.N lines have two addresses each (multiAddress) listen on
// both and form an ensemble that replicates.
func TestMultiAddressMembersServe(t *testing.T) {
	c := zktest.StartCluster(t, 3, zktest.ClusterOptions{MultiAddress: true})
	lead := c.Leader()
	for i := range c.N() {
		cfg := c.Member(i).Config()
		self, err := cfg.Self()
		if err != nil {
			t.Fatal(err)
		}
		if len(self.Addrs) != 2 {
			t.Fatalf("member %d: %d addresses", i+1, len(self.Addrs))
		}
		for _, a := range self.Addrs {
			if _, err := zktest.ListenBacklog(a.QuorumPort); err != nil {
				t.Fatalf("member %d does not listen on %s: %v", i+1, a.QuorumAddr(), err)
			}
		}
	}
	conn, _, err := zk.Connect([]string{c.Addr((lead + 1) % 3)}, 10*time.Second, zk.WithLogger(zktest.NopLogger))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Create("/multi", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	other, _, err := zk.Connect([]string{c.Addr((lead + 2) % 3)}, 10*time.Second, zk.WithLogger(zktest.NopLogger))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Sync("/multi"); err != nil {
		t.Fatal(err)
	}
	if data, _, err := other.Get("/multi"); err != nil || string(data) != "x" {
		t.Fatalf("on the other follower: %q %v", data, err)
	}
}
