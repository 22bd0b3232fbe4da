package netloop

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// burstBytes is how much unread input makes a connection's close worth a memory
// release.
const burstBytes = 1 << 20

// Spacing of memory releases: the first comes releaseDelay after the close that
// asks for it (closes that follow meanwhile share it), and two are at least
// releaseGap apart, so that a client reconnecting to flood again and again costs
// the server at most one forced collection per releaseGap.
const (
	releaseDelay = time.Second
	releaseGap   = 10 * time.Second
)

// memoryRelease hands memory back to the OS after connections that buffered a
// lot have gone. The buffers they held are garbage at once, but the runtime only
// collects once the heap grows to twice what was live at the last collection
// (measured at the burst's peak) or after two idle minutes, and returns pages to
// the OS only after that; an idle server would keep a flood's peak RSS for
// minutes. debug.FreeOSMemory collects and returns them now.
type memoryRelease struct {
	mu struct {
		sync.Mutex
		pending bool      // guarded by mu; a release is scheduled
		last    time.Time // guarded by mu; when the last release ran
	}
}

// soon schedules a release unless one is already scheduled. Safe from any
// goroutine.
func (r *memoryRelease) soon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.pending {
		return
	}
	r.mu.pending = true
	delay := releaseDelay
	if next := time.Until(r.mu.last.Add(releaseGap)); next > delay {
		delay = next
	}
	time.AfterFunc(delay, func() {
		// NB: two collections: gnet keeps its buffers in sync.Pools, which the
		// first only moves to their victim caches.
		runtime.GC()
		debug.FreeOSMemory()
		r.mu.Lock()
		r.mu.pending, r.mu.last = false, time.Now()
		r.mu.Unlock()
	})
}
