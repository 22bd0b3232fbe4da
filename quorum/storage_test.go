package quorum

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Raft entries of every type go to the log and come back alike, each with
// fields of its own, from a handful of allocations per batch.
func TestLogEntriesRoundTrip(t *testing.T) {
	var in []*pb.Entry
	types := []pb.EntryType{pb.EntryNormal, pb.EntryConfChange, pb.EntryConfChangeV2}
	for i := range 30 {
		typ := types[i%len(types)]
		in = append(in, &pb.Entry{Index: new(uint64(i + 1)), Term: new(uint64(i/10 + 1)), Type: typ.Enum(),
			Data: []byte{byte(i), 'x'}})
	}
	in = append(in, &pb.Entry{Index: new(uint64(31)), Term: new(uint64(4)), Type: pb.EntryNormal.Enum()}) // a leader's empty entry
	logged := toLog(nil, in)
	out := fromLog(logged)
	if len(out) != len(in) {
		t.Fatalf("%d entries back, want %d", len(out), len(in))
	}
	for i, e := range out {
		w := in[i]
		if e.GetIndex() != w.GetIndex() || e.GetTerm() != w.GetTerm() || e.GetType() != w.GetType() || !bytes.Equal(e.GetData(), w.GetData()) {
			t.Fatalf("entry %d came back as %v, want %v", i, e, w)
		}
	}
	*out[0].Index, *out[0].Term, *out[0].Type = 99, 99, pb.EntryConfChange
	if out[1].GetIndex() != 2 || out[1].GetTerm() != 1 || out[1].GetType() != pb.EntryConfChange || out[2].GetType() != pb.EntryConfChangeV2 {
		t.Fatal("entries share their fields")
	}
	if n := testing.AllocsPerRun(20, func() { fromLog(logged) }); n > 4 {
		t.Errorf("fromLog of %d entries allocates %v times, want 4", len(logged), n)
	}
}
