package admin

import (
	"testing"
	"time"
)

// One request per window; the window reopens once more than the interval has
// passed since it last did (ZooKeeper's RateLimiter with a rate of 1). An
// interval of 0 lets everything through.
func TestRateLimiterWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	l := newRateLimiter(time.Minute, clock)
	steps := []struct {
		advance time.Duration
		want    bool
	}{
		{0, true}, {0, false}, {30 * time.Second, false}, {30 * time.Second, false},
		{time.Millisecond, true}, {time.Second, false}, {2 * time.Minute, true}, {0, false},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := l.allow(); got != s.want {
			t.Errorf("step %d (+%v): allow = %v, want %v", i, s.advance, got, s.want)
		}
	}
	open := newRateLimiter(0, clock)
	for i := range 5 {
		now = now.Add(time.Nanosecond)
		if !open.allow() {
			t.Errorf("interval 0: request %d refused", i)
		}
	}
}
