package datatree

import (
	"fmt"
	"sync"
	"testing"

	"zkd/jute"
)

// A snapshot writer releases its image on its own goroutine while the applier
// goes on changing nodes: a change that saw the image active just before the
// release must not write into the released image's preimage map (it did, and
// panicked with "assignment to entry in nil map", when snapshots were frequent
// under load). Bounded: 300 freezes, each released during 20 changes.
func TestReleaseDuringChangesDoesNotPanic(t *testing.T) {
	h := newHarness(t, Config{})
	for i := range 50 {
		h.mustCreate(fmt.Sprintf("/n%d", i), "x", 0)
	}
	for round := range 300 {
		im, err := h.tree.Freeze()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(im.Release)
		for k := range 20 {
			if _, code := h.setData(fmt.Sprintf("/n%d", (round+k)%50), "y", -1); code != jute.CodeOK {
				t.Fatalf("setData: %v", code)
			}
		}
		wg.Wait()
	}
}
