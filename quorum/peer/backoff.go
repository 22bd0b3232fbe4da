package peer

import (
	"math/rand/v2"
	"time"
)

// backoff is the delay before each redial: it doubles from min after every
// failure up to max, and a successful handshake resets it. The delay drawn is
// uniform in [d/2, d] ("equal jitter"), so members that lost the same peer at
// the same instant do not redial in lockstep, yet never wait longer than d.
// Owned by one goroutine.
type backoff struct {
	min, max time.Duration
	cur      time.Duration // 0 after reset
	rng      *rand.Rand
}

func newBackoff(lo, hi time.Duration, seed, stream uint64) *backoff {
	return &backoff{min: lo, max: hi, rng: rand.New(rand.NewPCG(seed, stream))}
}

// next returns the delay before the next attempt and doubles the bound.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return b.cur - half + time.Duration(b.rng.Int64N(int64(half)+1))
}

func (b *backoff) reset() { b.cur = 0 }
