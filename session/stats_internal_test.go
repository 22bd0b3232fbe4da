package session

import "testing"

// ZooKeeper counts a four-letter word's reply as one sent packet per 8192
// characters its writer flushes, and none for an empty reply.
func TestFourLetterPackets(t *testing.T) {
	f := func(n int, want int64) {
		t.Helper()
		if got := fourLetterPackets(n); got != want {
			t.Errorf("fourLetterPackets(%d) = %d, want %d", n, got, want)
		}
	}
	f(0, 0)
	f(1, 1)
	f(8192, 1)
	f(8193, 2)
	f(3*8192, 3)
}
