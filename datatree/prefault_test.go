package datatree

import (
	"bytes"
	"testing"
)

// A prefaulter hands out zeroed, distinct values while it runs and after it
// stops, and a nil one allocates.
func TestPrefaulterValues(t *testing.T) {
	type page [3 * pageSize]byte
	p := prefault[page](4)
	seen := map[*page]bool{}
	for i := range 64 {
		v := p.get()
		if seen[v] {
			t.Fatalf("value %d handed out twice", i)
		}
		seen[v] = true
		if !bytes.Equal(v[:], make([]byte, len(v))) {
			t.Fatalf("value %d is not zeroed", i)
		}
		v[0], v[len(v)-1] = 1, 1
	}
	p.close()
	if v := p.get(); v == nil || seen[v] {
		t.Fatal("get after close did not allocate a new value")
	}
	var none *prefaulter[page]
	if none.get() == nil {
		t.Fatal("a nil prefaulter returned nil")
	}
}

// Blobs from a prefaulting arena are disjoint, across chunk boundaries and
// after the prefaulter stops.
func TestBlobArenaPrefault(t *testing.T) {
	var a BlobArena
	stop := a.Prefault()
	var blobs [][]byte
	for i := range 3 * arenaChunk / 100 {
		b := a.alloc(100)
		for j := range b {
			b[j] = byte(i)
		}
		blobs = append(blobs, b)
		if i == arenaChunk/100 {
			stop()
		}
	}
	for i, b := range blobs {
		if !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Fatalf("blob %d was overwritten", i)
		}
	}
}
