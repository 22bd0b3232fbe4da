package replica_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"

	"zkd/replica/replicatest"
)

// recordedLog keeps the log records of a test cluster's members, for tests that
// check what the replica logs.
type recordedLog struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *recordedLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *recordedLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *recordedLog) WithGroup(string) slog.Handler            { return l }
func (l *recordedLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}

// take returns the records logged since the last take.
func (l *recordedLog) take() []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.records
	l.records = nil
	return out
}

// attr returns the value of r's attribute key, "" when it has none.
func attr(r slog.Record, key string) string {
	v := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// followerReports returns the leader's reports on its followers since the last
// take, as "msg member".
func followerReports(l *recordedLog) []string {
	var out []string
	for _, r := range l.take() {
		if r.Message == "follower not responding" || r.Message == "follower caught up" {
			out = append(out, r.Message+" "+attr(r, "member"))
		}
	}
	return out
}

// The leader calls a follower silent only once it has not heard from it for an
// election timeout, and says when it answers again; followers that answer are
// never reported, though raft clears their activity at every quorum check.
func TestLeaderReportsOnlyFollowersThatStopAnswering(t *testing.T) {
	logs := &recordedLog{}
	c := replicatest.NewCluster(t, replicatest.ClusterOptions{Seed: 33, Voters: 3, Logger: slog.New(logs)})
	lead := c.WaitLeader(steps)
	c.Run(2000) // 80 ticks: eight quorum checks
	if got := followerReports(logs); len(got) > 0 {
		t.Fatalf("reports on followers that answer every heartbeat: %q", got)
	}
	cut := others(c, lead)[0]
	c.Partition([]uint64{cut}, others(c, cut))
	want := "follower not responding " + strconv.FormatUint(cut, 10)
	var got []string
	c.RunUntil("the leader reports the cut-off follower", steps, func() bool {
		got = append(got, followerReports(logs)...)
		return len(got) > 0
	})
	if c.Leader() != lead || got[0] != want {
		t.Fatalf("leader %d (was %d), reports %q, want %q", c.Leader(), lead, got, want)
	}
	c.Heal()
	c.RunUntil("the leader reports the follower back", steps, func() bool {
		got = append(got, followerReports(logs)...)
		return len(got) > 1
	})
	if want := "follower caught up " + strconv.FormatUint(cut, 10); got[1] != want || len(got) != 2 {
		t.Fatalf("reports %q, want the second to be %q", got, want)
	}
}
