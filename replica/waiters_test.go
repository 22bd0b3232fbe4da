package replica

import (
	"errors"
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

// A waiter registered after Stop failed the others is failed too: nothing
// applies or fires any more.
func TestWaiterRegisteredAfterStopFails(t *testing.T) {
	var r Replica
	r.stopped.Store(true)
	r.applyWaiters.failAll(ErrStopped) // Stop's last step, before the registration
	var got []error
	r.whenApplied(3, time.Time{}, func(err error) { got = append(got, err) })
	if len(got) != 1 || !errors.Is(got[0], ErrStopped) {
		t.Fatalf("waiter after Stop: %v, want one ErrStopped", got)
	}
}
