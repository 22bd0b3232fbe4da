package replica

import (
	"testing"

	"zkd/datatree"
	"zkd/jute"
)

// The leader looks at every write for a reconfig or a held connection; with
// none under way that look costs no allocation.
func TestInterceptFastPathDoesNotAllocate(t *testing.T) {
	r := &Replica{}
	r.coord.init()
	entry := encodeEntry(1, 2, &datatree.Txn{Kind: datatree.KindRequest, Op: jute.OpSetData, Conn: 7, ConnSeq: 1,
		Body: []byte("body")})
	if n := testing.AllocsPerRun(1000, func() {
		if r.intercept(entry, nil) {
			t.Fatal("intercepted a plain write")
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
	if conn, reconfig := entryConnOp(encodeEntry(1, 2, &datatree.Txn{Kind: datatree.KindRequest, Op: jute.OpReconfig,
		Conn: 9})); conn != 9 || !reconfig {
		t.Fatalf("entryConnOp of a reconfig: %d %v", conn, reconfig)
	}
}

func BenchmarkInterceptFastPath(b *testing.B) {
	r := &Replica{}
	r.coord.init()
	entry := encodeEntry(1, 2, &datatree.Txn{Kind: datatree.KindRequest, Op: jute.OpSetData, Conn: 7, ConnSeq: 1,
		Body: make([]byte, 128)})
	b.ReportAllocs()
	for b.Loop() {
		r.intercept(entry, nil)
	}
}
