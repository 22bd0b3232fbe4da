package replica

import (
	"testing"
	"time"
)

// TestWaiterRegisteredAfterItsFireCompletes covers the window in which the apply
// goroutine stores and fires an index between a caller's check of applied and the
// registration of its waiter: nothing fires that index again, so a server that
// waited for its log at start-up (and then received no writes) never began to serve.
func TestWaiterRegisteredAfterItsFireCompletes(t *testing.T) {
	var r Replica
	// The apply goroutine's order: store, then fire, here before the waiter exists.
	r.applied.Store(7)
	r.applyWaiters.fire(7)

	calls := 0
	r.whenApplied(7, time.Time{}, func(err error) {
		if err != nil {
			t.Errorf("waiter at an applied index failed: %v", err)
		}
		calls++
	})
	if calls != 1 {
		t.Fatalf("waiter at an applied index completed %d times, want 1", calls)
	}
	r.whenApplied(8, time.Time{}, func(error) { calls++ })
	if calls != 1 {
		t.Fatal("waiter above the applied index completed before it was applied")
	}
	r.applied.Store(8)
	r.applyWaiters.fire(8)
	r.applyWaiters.fire(8)
	if calls != 2 {
		t.Fatalf("after index 8 was applied and fired twice: %d completions, want 2", calls)
	}
}
