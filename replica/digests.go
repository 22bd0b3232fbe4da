package replica

import (
	"sync"

	"zkd/jute"
)

// Digest is the tree digest (ZooKeeper's, datatree.NodeDigest summed) after the
// entry at Zxid.
type Digest struct {
	Zxid   jute.Zxid
	Digest uint64
}

// digestEvery and digestsKept are ZooKeeper's: a digest is remembered each time
// the applied zxid is a multiple of 128, and the last 1024 are kept (the `hash`
// four-letter word prints them). Every member computes the same digest at the
// same zxid, so comparing them across servers checks the replicas agree.
const (
	digestEvery = 128
	digestsKept = 1024
)

// digestLog is the ring of remembered digests; the apply goroutine writes it.
type digestLog struct {
	mu   sync.Mutex
	ring []Digest // guarded by mu; oldest first
}

func (d *digestLog) note(zxid jute.Zxid, digest uint64) {
	if zxid%digestEvery != 0 {
		return
	}
	d.mu.Lock()
	if len(d.ring) == digestsKept {
		copy(d.ring, d.ring[1:])
		d.ring = d.ring[:digestsKept-1]
	}
	d.ring = append(d.ring, Digest{Zxid: zxid, Digest: digest})
	d.mu.Unlock()
}

// Digests returns the remembered digests, oldest first.
func (r *Replica) Digests() []Digest {
	r.digests.mu.Lock()
	defer r.digests.mu.Unlock()
	return append([]Digest(nil), r.digests.ring...)
}
