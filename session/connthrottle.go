package session

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// ConnThrottleConfig is ZooKeeper's connection throttle (its BlueThrottle,
// the zookeeper.connection_throttle_* properties): a token bucket that new
// sessions and reconnections draw from, and optionally a BLUE drop
// probability that spreads refusals over arrivals instead of refusing all
// that come once the bucket is empty. The zero value throttles nothing.
type ConnThrottleConfig struct {
	// Tokens is the bucket's size (connection_throttle_tokens); 0 disables the
	// throttle.
	Tokens int
	// FillCount tokens come back every FillTime (connection_throttle_fill_count,
	// connection_throttle_fill_time ms).
	FillTime  time.Duration
	FillCount int
	// FreezeTime is how often the drop probability may change
	// (connection_throttle_freeze_time ms); negative disables BLUE dropping.
	FreezeTime time.Duration
	// DropIncrease and DropDecrease move the drop probability when the bucket
	// is empty, and when its deficit is at most DecreaseRatio of Tokens.
	DropIncrease, DropDecrease, DecreaseRatio float64
	// Weighted (connection_throttle_weight_enabled) has a connection draw
	// GlobalWeight tokens for a new global session, LocalWeight for a new local
	// one and RenewWeight for a reconnection; otherwise one each. Tokens and
	// FillCount count global sessions then (ZooKeeper multiplies them by
	// GlobalWeight).
	Weighted                               bool
	GlobalWeight, LocalWeight, RenewWeight int
}

// connThrottle is the bucket and the drop probability. Its clock is
// milliseconds on any monotonic scale, as ZooKeeper's Time.currentElapsedTime.
type connThrottle struct {
	cfg ConnThrottleConfig
	now func() int64 // ms

	// max and fillCount are the bucket's size and refill in tokens (weighted,
	// when asked); fixed at construction, so read without the lock.
	max, fillCount int

	mu         sync.Mutex
	tokens     int        // guarded by mu
	lastFill   int64      // guarded by mu
	lastFreeze int64      // guarded by mu
	drop       float64    // guarded by mu
	rng        *rand.Rand // guarded by mu
}

func newConnThrottle(cfg ConnThrottleConfig, now func() int64, seed uint64) *connThrottle {
	t := &connThrottle{cfg: cfg, now: now, max: cfg.Tokens, fillCount: cfg.FillCount,
		rng: rand.New(rand.NewPCG(seed, 0x626c7565))}
	if cfg.Weighted {
		t.max, t.fillCount = cfg.GlobalWeight*cfg.Tokens, cfg.GlobalWeight*cfg.FillCount
	}
	t.tokens = t.max
	t.lastFill, t.lastFreeze = now(), now()
	return t
}

// need returns the tokens a ConnectRequest draws: for a new session (global
// or local) or a reconnection.
func (t *connThrottle) need(reconnect, local bool) int {
	switch {
	case !t.cfg.Weighted:
		return 1
	case reconnect:
		return t.cfg.RenewWeight
	case local:
		return t.cfg.LocalWeight
	}
	return t.cfg.GlobalWeight
}

// allow draws need tokens, after the bucket's refill and the BLUE check, as
// ZooKeeper's BlueThrottle.checkLimit does; false refuses the connection.
// deficit is how many tokens the bucket lacks afterwards (mntr's
// connection_token_deficit).
func (t *connThrottle) allow(need int) (ok bool, deficit int) {
	if t.max == 0 {
		return true, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	fillMs := max(t.cfg.FillTime.Milliseconds(), 1)
	if diff := now - t.lastFill; diff > fillMs {
		refill := diff * int64(t.fillCount) / fillMs
		t.tokens = int(min(int64(t.tokens)+refill, int64(t.max)))
		t.lastFill = now
	}
	if (t.cfg.FreezeTime >= 0 && !t.blue(now)) || t.tokens < need {
		return false, t.max - t.tokens
	}
	t.tokens -= need
	return true, t.max - t.tokens
}

// blue moves the drop probability at most once a FreezeTime (up while the
// bucket is empty, down while its deficit is small) and draws against it.
// REQUIRES: t.mu held.
func (t *connThrottle) blue(now int64) bool {
	deficit := t.max - t.tokens
	threshold := int(math.Round(float64(t.max) * t.cfg.DecreaseRatio))
	if now-t.lastFreeze > t.cfg.FreezeTime.Milliseconds() {
		switch {
		case deficit == t.max && t.drop < 1:
			t.drop = min(t.drop+t.cfg.DropIncrease, 1)
		case deficit <= threshold && t.drop > 0:
			t.drop = max(t.drop-t.cfg.DropDecrease, 0)
		}
		t.lastFreeze = now
	}
	return t.rng.Float64() >= t.drop
}

// dropChance returns the BLUE drop probability.
func (t *connThrottle) dropChance() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.drop
}
