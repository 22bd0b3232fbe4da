package replica_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"zkd/internal/vfs"
	"zkd/replica/replicatest"
)

// electionLines returns, by member, the lines that ended an election since the
// last take, as "msg election_ms=N".
func electionLines(l *recordedLog) map[string][]string {
	out := make(map[string][]string)
	for _, r := range l.take() {
		if took := attr(r, "election_ms"); took != "" {
			self := attr(r, "self")
			out[self] = append(out[self], r.Message+" election_ms="+took)
		}
	}
	return out
}

// An election's end is logged in ZooKeeper's words on the new leader and its
// followers ("LEADING - LEADER ELECTION TOOK - 23 MS", which operators look for),
// at start-up and after losing a leader; an observer, which ZooKeeper's do not
// word so, says "leader elected".
func TestElectionIsLoggedInZooKeepersWords(t *testing.T) {
	logs := &recordedLog{}
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 21, Voters: 3, Learners: 1, Logger: slog.New(logs)})
	ids := c.IDs()
	voters, observer := ids[:3], ids[3]
	check := func(when string, lead uint64, voters []uint64) {
		t.Helper()
		c.Run(200) // every member learns of the leader
		got := electionLines(logs)
		for _, id := range append(slices.Clone(voters), observer) {
			lines := got[fmt.Sprint(id)]
			if len(lines) != 1 {
				t.Errorf("%s: member %d logged %q, want one line ending the election", when, id, lines)
				continue
			}
			msg, took, _ := strings.Cut(lines[0], " election_ms=")
			want := "FOLLOWING - LEADER ELECTION TOOK - " + took + " MS"
			switch id {
			case lead:
				want = "LEADING - LEADER ELECTION TOOK - " + took + " MS"
			case observer:
				want = "leader elected"
			}
			if msg != want {
				t.Errorf("%s: member %d logged %q, want %q", when, id, msg, want)
			}
		}
	}
	lead := c.WaitLeader(steps)
	check("start-up", lead, voters)

	c.Crash(lead, vfs.CrashOptions{Unsynced: vfs.DropUnsynced})
	next := c.WaitLeader(steps)
	check("after the leader's crash", next, others(c, lead)[:2])
}
