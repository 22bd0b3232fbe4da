package replica

import (
	"maps"
	"slices"
	"sync"
	"time"

	"zkd/datatree"
	"zkd/jute"
)

// waiters are the proposals of this member's clients waiting for their entries,
// by seq. Each completes exactly once: taken out under the lock, called outside.
type waiters struct {
	mu sync.Mutex
	m  map[uint64]waiter // guarded by mu
}

type waiter struct {
	applying func() // may be nil
	done     DoneFunc
	// deadline is the tick after which a forwarded write is given up on (0: a
	// write this member proposed itself, which raft answers one way or another).
	deadline uint64
}

func (w *waiters) init() { w.m = make(map[uint64]waiter) }

func (w *waiters) add(seq uint64, applying func(), done DoneFunc, deadline uint64) {
	w.mu.Lock()
	w.m[seq] = waiter{applying: applying, done: done, deadline: deadline}
	w.mu.Unlock()
}

// failForwarded fails the forwarded writes, in seq order.
func (w *waiters) failForwarded(err error) {
	w.failWhere(func(x waiter) bool { return x.deadline != 0 }, err)
}

// expire fails the forwarded writes whose deadline has passed.
func (w *waiters) expire(tick uint64, err error) {
	w.failWhere(func(x waiter) bool { return x.deadline != 0 && tick > x.deadline }, err)
}

func (w *waiters) failWhere(match func(waiter) bool, err error) {
	w.mu.Lock()
	var seqs []uint64
	for seq, x := range w.m {
		if match(x) {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	dead := make([]DoneFunc, len(seqs))
	for i, seq := range seqs {
		dead[i] = w.m[seq].done
		delete(w.m, seq)
	}
	w.mu.Unlock()
	for _, done := range dead {
		done(0, datatree.Result{}, err)
	}
}

// applying runs the waiter's applying hook, if any, before its entry applies.
func (w *waiters) applying(seq uint64) {
	w.mu.Lock()
	f := w.m[seq].applying
	w.mu.Unlock()
	if f != nil {
		f()
	}
}

func (w *waiters) take(seq uint64) DoneFunc {
	w.mu.Lock()
	done := w.m[seq].done
	delete(w.m, seq)
	w.mu.Unlock()
	return done
}

func (w *waiters) remove(seq uint64) { w.take(seq) }

func (w *waiters) complete(seq uint64, zxid jute.Zxid, res datatree.Result) {
	if done := w.take(seq); done != nil {
		done(zxid, res, nil)
	}
}

func (w *waiters) fail(seq uint64, err error) {
	if done := w.take(seq); done != nil {
		done(0, datatree.Result{}, err)
	}
}

func (w *waiters) failAll(err error) {
	w.mu.Lock()
	all := w.m
	w.m = make(map[uint64]waiter)
	w.mu.Unlock()
	// In seq order: the order the clients sent them.
	for _, seq := range slices.Sorted(maps.Keys(all)) {
		all[seq].done(0, datatree.Result{}, err)
	}
}

// applyWaiters wait for an index to be applied (syncs, reconnects, Open).
type applyWaiters struct {
	mu sync.Mutex
	// list is sorted by index; guarded by mu.
	list []applyWaiter
}

type applyWaiter struct {
	index    uint64
	deadline time.Time // zero: none
	done     func(error)
}

func (a *applyWaiters) add(index uint64, deadline time.Time, done func(error)) {
	a.mu.Lock()
	i, _ := slices.BinarySearchFunc(a.list, index, func(w applyWaiter, idx uint64) int {
		if w.index <= idx {
			return -1
		}
		return 1
	})
	a.list = slices.Insert(a.list, i, applyWaiter{index: index, deadline: deadline, done: done})
	a.mu.Unlock()
}

// fire completes every waiter at or below applied.
func (a *applyWaiters) fire(applied uint64) {
	a.mu.Lock()
	n := 0
	for n < len(a.list) && a.list[n].index <= applied {
		n++
	}
	if n == 0 {
		a.mu.Unlock()
		return
	}
	ready := slices.Clone(a.list[:n])
	a.list = slices.Delete(a.list, 0, n)
	a.mu.Unlock()
	for _, w := range ready {
		w.done(nil)
	}
}

// expire fails the waiters whose deadline has passed.
func (a *applyWaiters) expire(now time.Time, err error) {
	a.mu.Lock()
	var late []applyWaiter
	a.list = slices.DeleteFunc(a.list, func(w applyWaiter) bool {
		if !w.deadline.IsZero() && now.After(w.deadline) {
			late = append(late, w)
			return true
		}
		return false
	})
	a.mu.Unlock()
	for _, w := range late {
		w.done(err)
	}
}

func (a *applyWaiters) failAll(err error) {
	a.mu.Lock()
	all := a.list
	a.list = nil
	a.mu.Unlock()
	for _, w := range all {
		w.done(err)
	}
}
