package netloop

import (
	"testing"
	"time"
)

// The queue hands out exactly the connections whose deadline has passed, oldest
// first, on a simulated clock, and gives back the memory of a burst.
func TestHandshakeQueueDueOnSimulatedClock(t *testing.T) {
	const timeout = 10 * time.Second
	t0 := time.Unix(1_000_000, 0)
	var q handshakeQueue
	conns := make([]*conn, 1000)
	for i := range conns {
		conns[i] = &conn{}
		q.add(conns[i], t0.Add(time.Duration(i)*time.Millisecond+timeout)) // one accept per ms
	}
	for _, tc := range []struct {
		now  time.Duration // since t0
		want int           // index of the first connection not yet due
	}{
		{0, 0},
		{timeout - time.Nanosecond, 0},
		{timeout, 1}, // a deadline equal to now is due
		{timeout + 499*time.Millisecond, 500},
		{timeout + 499*time.Millisecond, 500}, // nothing new
		{timeout + 999*time.Millisecond + time.Nanosecond, 1000},
	} {
		before := 1000 - q.len()
		got := q.due(t0.Add(tc.now), nil)
		if len(got) != tc.want-before {
			t.Fatalf("now=t0+%v: %d due, want %d", tc.now, len(got), tc.want-before)
		}
		for k, c := range got {
			if c != conns[before+k] {
				t.Fatalf("now=t0+%v: due[%d] is not connection %d", tc.now, k, before+k)
			}
		}
	}
	if n := q.len(); n != 0 {
		t.Fatalf("%d left after every deadline passed", n)
	}
	if c := cap(q.mu.q); c > 64 {
		t.Errorf("the emptied queue keeps %d slots", c)
	}
}

func TestSweepEveryBounds(t *testing.T) {
	for _, tc := range []struct{ timeout, want time.Duration }{
		{10 * time.Second, time.Second},
		{time.Second, 125 * time.Millisecond},
		{10 * time.Millisecond, 5 * time.Millisecond},
		{time.Hour, time.Second},
	} {
		if got := sweepEvery(tc.timeout); got != tc.want {
			t.Errorf("sweepEvery(%v) = %v, want %v", tc.timeout, got, tc.want)
		}
	}
}
