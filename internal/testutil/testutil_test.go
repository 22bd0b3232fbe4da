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

func TestSimSeeds(t *testing.T) {
	t.Setenv("ZKD_SIM_SEEDS", "")
	if got := SimSeeds(20, 3); len(got) != 3 || got[0] != 20 || got[2] != 22 {
		t.Fatalf("default seeds %v, want 20..22", got)
	}
	t.Setenv("ZKD_SIM_SEEDS", "4")
	if got := SimSeeds(20, 3); len(got) != 4 || got[0] != 20 || got[3] != 23 {
		t.Fatalf("ZKD_SIM_SEEDS=4: seeds %v, want 20..23", got)
	}
	t.Setenv("ZKD_SIM_SEED0", "5000")
	if got := SimSeeds(20, 3); len(got) != 4 || got[0] != 5000 || got[3] != 5003 {
		t.Fatalf("ZKD_SIM_SEEDS=4 ZKD_SIM_SEED0=5000: seeds %v, want 5000..5003", got)
	}
}
