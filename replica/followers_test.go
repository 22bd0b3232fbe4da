package replica_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"

	"zkd/replica/replicatest"
)

// followerLog records the leader's reports on its followers.
type followerLog struct {
	mu      sync.Mutex
	reports []string // "msg member"
}

func (l *followerLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *followerLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *followerLog) WithGroup(string) slog.Handler            { return l }
func (l *followerLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "follower not responding" && r.Message != "follower caught up" {
		return nil
	}
	member := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "member" {
			member = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.reports = append(l.reports, r.Message+" "+member)
	l.mu.Unlock()
	return nil
}

func (l *followerLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reports
	l.reports = nil
	return out
}

// The leader calls a follower silent only once it has not heard from it for an
// election timeout, and says when it answers again; followers that answer are
// never reported, though raft clears their activity at every quorum check.
func TestLeaderReportsOnlyFollowersThatStopAnswering(t *testing.T) {
	logs := &followerLog{}
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 33, Voters: 3, Logger: slog.New(logs)})
	lead := c.WaitLeader(steps)
	c.Run(2000) // 80 ticks: eight quorum checks
	if got := logs.take(); len(got) > 0 {
		t.Fatalf("reports on followers that answer every heartbeat: %q", got)
	}
	cut := others(c, lead)[0]
	c.Partition([]uint64{cut}, others(c, cut))
	want := "follower not responding " + strconv.FormatUint(cut, 10)
	var got []string
	c.RunUntil("the leader reports the cut-off follower", steps, func() bool {
		got = append(got, logs.take()...)
		return len(got) > 0
	})
	if c.Leader() != lead || got[0] != want {
		t.Fatalf("leader %d (was %d), reports %q, want %q", c.Leader(), lead, got, want)
	}
	c.Heal()
	c.RunUntil("the leader reports the follower back", steps, func() bool {
		got = append(got, logs.take()...)
		return len(got) > 1
	})
	if want := "follower caught up " + strconv.FormatUint(cut, 10); got[1] != want || len(got) != 2 {
		t.Fatalf("reports %q, want the second to be %q", got, want)
	}
}
