package session_test

import (
	"testing"

	"zkd/jute"
	"zkd/replica/replicatest"
)

// BenchmarkSetData is one client's setData of 100 bytes through a standalone
// server's whole write path (session, replica, raft, the log on disk with its
// fdatasync, the tree), one request at a time. Its B/op and allocs/op are the
// garbage a write makes; its time is mostly the sync and goroutine hand-offs.
func BenchmarkSetData(b *testing.B) {
	h := newHarnessWith(b, replicatest.StandaloneOptions{Logger: quiet, Dir: b.TempDir()}, nil)
	cl := h.connect()
	cl.create("/b", nil, 0, jute.OpenACLUnsafe)
	req := &jute.SetDataRequest{Path: "/b", Data: make([]byte, 100), Version: -1}
	b.ReportAllocs()
	for b.Loop() {
		if r := cl.call(jute.OpSetData, req); r.hdr.Err != jute.CodeOK {
			b.Fatalf("setData: %v", r)
		}
	}
}
