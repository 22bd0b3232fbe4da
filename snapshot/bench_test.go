package snapshot

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"zkd/datatree"
	"zkd/internal/testutil"
	"zkd/internal/vfs"
	"zkd/jute"
)

var (
	bigOnce sync.Once
	bigTree *datatree.Tree
)

// millionTree builds 1,000,000 znodes with 100-byte data under 1,000 parents,
// once per test binary and only when a benchmark asks for it.
func millionTree(b *testing.B) *datatree.Tree {
	b.Helper()
	bigOnce.Do(func() {
		t := datatree.New(datatree.Config{})
		zxid := jute.Zxid(1)
		apply := func(txn datatree.Txn) {
			zxid++
			if res := t.Apply(zxid, txn.Append(nil)); res.Err != jute.CodeOK {
				panic(fmt.Sprintf("apply: %v", res.Err))
			}
		}
		apply(datatree.Txn{Kind: datatree.KindCreateSession, Session: 1, Timeout: 30000})
		data := make([]byte, 100)
		for p := 0; p < 1000; p++ {
			parent := fmt.Sprintf("/p%03d", p)
			apply(datatree.Txn{Kind: datatree.KindRequest, Session: 1, Op: jute.OpCreate,
				Body: (&jute.CreateRequest{Path: parent, ACL: jute.OpenACLUnsafe}).Append(nil)})
			for i := 0; i < 999; i++ {
				apply(datatree.Txn{Kind: datatree.KindRequest, Session: 1, Op: jute.OpCreate, Time: int64(i),
					Body: (&jute.CreateRequest{Path: fmt.Sprintf("%s/n%03d", parent, i), Data: data, ACL: jute.OpenACLUnsafe}).Append(nil)})
			}
		}
		bigTree = t
	})
	return bigTree
}

// BenchmarkSnapshotWrite1M writes a 1M-znode snapshot to disk with fsync (the
// whole Write: stream, zstd, tmp, fsync, rename, fsync dir).
func BenchmarkSnapshotWrite1M(b *testing.B) {
	tree := millionTree(b)
	dir := b.TempDir()
	var info Info
	rssBefore := testutil.ProcStatusMB("VmRSS:")
	testutil.ResetPeakRSS()
	cpuBefore := testutil.ProcessCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		im, err := tree.Freeze()
		if err != nil {
			b.Fatal(err)
		}
		info, err = Write(vfs.OS(), dir, Meta{Index: uint64(im.Zxid()) + uint64(i), Term: 1}, im)
		im.Release()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds() / float64(b.N)
	// A snapshot competes for the cores with the requests being served: its
	// CPU time, summed over the encoder's goroutines, is what they lose.
	b.ReportMetric((testutil.ProcessCPU()-cpuBefore).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(info.Size), "file-bytes")
	b.ReportMetric(float64(info.Nodes)/secs, "znodes/s")
	b.ReportMetric(float64(info.Size)/1e6/secs, "file-MB/s")
	// The peak while snapshotting, against the resident size of the tree before.
	b.ReportMetric(rssBefore, "rss-before-MB")
	b.ReportMetric(testutil.ProcStatusMB("VmHWM:"), "peak-rss-MB")
}

// BenchmarkSnapshotLoad1M reads a 1M-znode snapshot back into a tree.
func BenchmarkSnapshotLoad1M(b *testing.B) {
	tree := millionTree(b)
	dir := b.TempDir()
	im, err := tree.Freeze()
	if err != nil {
		b.Fatal(err)
	}
	info, err := Write(vfs.OS(), dir, Meta{Index: uint64(im.Zxid()), Term: 1}, im)
	im.Release()
	if err != nil {
		b.Fatal(err)
	}
	var got *datatree.Tree
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rssBefore := testutil.ProcStatusMB("VmRSS:")
	testutil.ResetPeakRSS()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got = nil
		got, _, err = Load(vfs.OS(), dir, datatree.Config{}, quietLog)
		if err != nil || got.NodeCount() != tree.NodeCount() {
			b.Fatalf("load: %v (%d znodes)", err, got.NodeCount())
		}
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(info.Nodes)/secs, "znodes/s")
	b.ReportMetric(float64(info.Size)/1e6/secs, "file-MB/s")
	// The loaded tree's own heap (the tree it was written from stays live), and
	// how far the load pushed the resident size above what was there before.
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(got.NodeCount()), "heap-B/znode")
	b.ReportMetric(testutil.ProcStatusMB("VmHWM:")-rssBefore, "peak-rss-growth-MB")
	b.ReportMetric(float64(after.HeapSys)/1e6, "heap-sys-MB")
	runtime.KeepAlive(got)
}
