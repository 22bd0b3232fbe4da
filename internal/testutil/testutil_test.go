package testutil

import "testing"

// FreePort never returns a port twice in one process, however quickly the
// kernel hands a closed port out again.
func TestFreePortIsNeverRepeated(t *testing.T) {
	seen := map[int]bool{}
	for range 500 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
	}
}
