package session

import (
	"testing"
	"time"
)

// pass reports whether a connection needing need tokens gets through.
func (t *connThrottle) pass(need int) bool {
	ok, _ := t.allow(need)
	return ok
}

// deficit returns how many tokens the bucket lacks.
func (t *connThrottle) deficit() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.max - t.tokens
}

// throttleAt returns a throttle on a clock the test moves (ms).
func throttleAt(cfg ConnThrottleConfig) (*connThrottle, *int64) {
	now := new(int64)
	return newConnThrottle(cfg, func() int64 { return *now }, 1), now
}

// The bucket gives out its tokens, refuses past them, and refills FillCount
// every FillTime, never past its size, as ZooKeeper's BlueThrottle.
func TestConnThrottleBucket(t *testing.T) {
	th, now := throttleAt(ConnThrottleConfig{Tokens: 3, FillTime: 100 * time.Millisecond, FillCount: 1, FreezeTime: -1})
	for i := range 3 {
		if !th.pass(1) {
			t.Fatalf("connection %d refused with tokens left", i+1)
		}
	}
	if th.pass(1) || th.deficit() != 3 {
		t.Fatalf("an empty bucket let a connection through (deficit %d)", th.deficit())
	}
	*now = 100 // not past FillTime yet
	if th.pass(1) {
		t.Fatal("refilled before FillTime passed")
	}
	*now = 250 // 250 ms since the last fill: 2 tokens
	if got := []bool{th.pass(1), th.pass(1), th.pass(1)}; !got[0] || !got[1] || got[2] {
		t.Fatalf("after 250 ms: %v, want two connections let through", got)
	}
	*now = 100_000
	if th.pass(4) || !th.pass(3) {
		t.Fatal("a refill went past the bucket's size, or a need of 3 was refused on a full bucket")
	}
}

// Weighted, the bucket counts global sessions: a new global session takes
// GlobalWeight tokens, a local one LocalWeight, a reconnection RenewWeight.
func TestConnThrottleWeights(t *testing.T) {
	cfg := ConnThrottleConfig{Tokens: 2, FillTime: time.Hour, FillCount: 1, FreezeTime: -1, Weighted: true,
		GlobalWeight: 3, LocalWeight: 1, RenewWeight: 2}
	th, _ := throttleAt(cfg)
	if g, l, r := th.need(false, false), th.need(false, true), th.need(true, false); g != 3 || l != 1 || r != 2 {
		t.Fatalf("needs global %d local %d renew %d", g, l, r)
	}
	// 6 tokens: a global session (3), a reconnection (2), a local one (1).
	if !th.pass(3) || !th.pass(2) || !th.pass(1) || th.pass(1) {
		t.Fatal("a bucket of two global sessions' worth")
	}
	cfg.Weighted = false
	if th, _ := throttleAt(cfg); th.need(true, false) != 1 || th.need(false, false) != 1 {
		t.Fatal("unweighted, every connection needs one token")
	}
}

// BLUE: once per FreezeTime the drop probability rises while the bucket is
// empty and falls while its deficit is at most DecreaseRatio of its size.
func TestConnThrottleBlue(t *testing.T) {
	th, now := throttleAt(ConnThrottleConfig{Tokens: 2, FillTime: time.Hour, FillCount: 2, FreezeTime: 10 * time.Millisecond,
		DropIncrease: 0.5, DropDecrease: 0.25, DecreaseRatio: 0.5})
	th.pass(1)
	th.pass(1)
	for _, step := range []struct {
		at   int64
		drop float64
	}{{5, 0}, {11, 0.5}, {15, 0.5}, {22, 1}, {40, 1}} {
		*now = step.at
		th.pass(1)
		if got := th.dropChance(); got != step.drop {
			t.Fatalf("at %d ms: drop %v, want %v", step.at, got, step.drop)
		}
	}
	// The bucket refills whole: the probability starts down, a step per
	// FreezeTime, however many connections come meanwhile.
	*now = 4_000_000
	for range 10 {
		th.pass(0)
	}
	if got := th.dropChance(); got != 0.75 {
		t.Fatalf("drop %v after a full refill, want 0.75", got)
	}
	*now += 11
	th.pass(0)
	if got := th.dropChance(); got != 0.5 {
		t.Fatalf("drop %v a FreezeTime later, want 0.5", got)
	}
}

// Tokens 0 (ZooKeeper's default) throttles nothing.
func TestConnThrottleOff(t *testing.T) {
	th, _ := throttleAt(ConnThrottleConfig{FreezeTime: -1})
	for range 1000 {
		if !th.pass(3) {
			t.Fatal("the throttle is off and refused a connection")
		}
	}
	if th.deficit() != 0 || th.dropChance() != 0 {
		t.Fatal("deficit or drop chance while off")
	}
}
