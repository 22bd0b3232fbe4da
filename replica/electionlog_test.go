package replica_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"zkd/internal/vfs"
	"zkd/replica/replicatest"
)

// electionLog records, by member, the lines that end an election.
type electionLog struct {
	mu    sync.Mutex
	lines map[string][]string // self -> "msg election_ms=N"
}

func (l *electionLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *electionLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *electionLog) WithGroup(string) slog.Handler            { return l }
func (l *electionLog) Handle(_ context.Context, r slog.Record) error {
	var self, took string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "self":
			self = a.Value.String()
		case "election_ms":
			took = a.Value.String()
		}
		return true
	})
	if took == "" {
		return nil
	}
	l.mu.Lock()
	if l.lines == nil {
		l.lines = make(map[string][]string)
	}
	l.lines[self] = append(l.lines[self], r.Message+" election_ms="+took)
	l.mu.Unlock()
	return nil
}

func (l *electionLog) take() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// An election's end is logged in ZooKeeper's words on the new leader and its
// followers ("LEADING - LEADER ELECTION TOOK - 23 MS", which operators look for),
// at start-up and after losing a leader; an observer, which ZooKeeper's do not
// word so, says "leader elected".
func TestElectionIsLoggedInZooKeepersWords(t *testing.T) {
	logs := &electionLog{}
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 21, Voters: 3, Learners: 1, Logger: slog.New(logs)})
	ids := c.IDs()
	voters, observer := ids[:3], ids[3]
	check := func(when string, lead uint64, voters []uint64) {
		t.Helper()
		c.Run(200) // every member learns of the leader
		got := logs.take()
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
