package e2e

import (
	"fmt"
	"testing"
	"time"

	"zkd/internal/zktest"
)

// Three participants and an observer (server.4=...:observer, peerType=observer):
// the observer says so in srvr and mntr, takes writes and forwards them, serves
// reads of everyone's writes after a sync, and its loss costs the participants
// nothing: they keep committing with one of them down as well, since the
// observer never counted towards their quorum. While no leader is left, the
// observer stops serving.
func TestObserverServesReadsAndForwardsWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs four zkd processes")
	}
	opts := ensembleOptions("")
	opts.Observers = 1
	c := zktest.StartProcessCluster(t, 4, opts)
	lead := c.Leader()
	const obs = 3
	if lead == obs {
		t.Fatal("the observer leads")
	}
	waitServing(t, c, 0, 1, 2, obs)
	// Writes through the observer are forwarded and acknowledged, and visible on
	// the participants.
	o, _ := zktest.ConnectZK(t, c.Member(obs).ConnectString(), 10*time.Second)
	if _, err := o.Create("/obs", []byte("v0"), 0, openACL); err != nil {
		t.Fatalf("create through the observer: %v", err)
	}
	for i := 1; i <= 10; i++ {
		if _, err := o.Set("/obs", fmt.Appendf(nil, "v%d", i), -1); err != nil {
			t.Fatalf("set %d through the observer: %v", i, err)
		}
	}
	if data, _, err := o.Get("/obs"); err != nil || string(data) != "v10" {
		t.Fatalf("the observer reads its client's own write as %q, %v", data, err)
	}
	for m := range 3 {
		readThrough(t, c.Member(m).ConnectString(), "/obs", "v10")
	}

	// Once each member has applied a write, each says what it is.
	for m := range c.N() {
		want := "follower"
		switch m {
		case lead:
			want = "leader"
		case obs:
			want = "observer"
		}
		if got := zktest.Mode(c.Member(m).ConnectString()); got != want {
			t.Fatalf("member %d: srvr Mode %q, want %q", m, got, want)
		}
	}
	if got := mntr(t, c.Member(obs).ConnectString())["server_state"]; got != "observer" {
		t.Fatalf("observer: mntr zk_server_state %q", got)
	}
	if got := mntr(t, c.Member(lead).ConnectString())["quorum_size"]; got != "3" {
		t.Fatalf("leader: mntr zk_quorum_size %q, want 3 (the observer does not vote)", got)
	}

	// Writes through the leader reach the observer's readers after a sync.
	l, _ := zktest.ConnectZK(t, c.Member(lead).ConnectString(), 10*time.Second)
	for i := range 20 {
		if _, err := l.Create(fmt.Sprintf("/obs/n%d", i), []byte("x"), 0, openACL); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Sync("/obs"); err != nil {
		t.Fatalf("sync through the observer: %v", err)
	}
	if kids, _, err := o.Children("/obs"); err != nil || len(kids) != 20 {
		t.Fatalf("after sync the observer lists %d children of /obs (%v), want 20", len(kids), err)
	}

	// Without the observer and one follower, the two remaining participants are
	// still a quorum of three.
	c.Member(obs).Kill()
	follower := (lead + 1) % 3
	c.Member(follower).Kill()
	for i := range 20 {
		mustRetry(t, fmt.Sprintf("write %d with the observer and a follower down", i),
			setAny(l, "/obs", fmt.Appendf(nil, "after-%d", i)))
	}
	readThrough(t, c.Member(3-lead-follower).ConnectString(), "/obs", "after-19")

	// The observer catches up when it comes back.
	c.Member(obs).Restart()
	readThrough(t, c.Member(obs).ConnectString(), "/obs", "after-19")
	if got := zktest.Mode(c.Member(obs).ConnectString()); got != "observer" {
		t.Fatalf("the restarted observer's srvr Mode is %q", got)
	}

	// With the leader stalled (SIGSTOP: its connections stay open, nothing
	// comes through them), the last participant cannot elect another: the
	// observer, which hears from no leader any more, stops serving (srvr says
	// so) rather than answer from a log that no longer grows, and serves again
	// once the leader resumes.
	c.Member(lead).Pause()
	zktest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if got := zktest.Mode(c.Member(obs).ConnectString()); got != "" {
			return fmt.Errorf("the observer without a leader still serves as %q", got)
		}
		return nil
	})
	c.Member(lead).Resume()
	readThrough(t, c.Member(obs).ConnectString(), "/obs", "after-19")
}
