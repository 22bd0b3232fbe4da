package snapshot

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zkd/datatree"
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
	rssBefore := procStatusMB("VmRSS:")
	resetPeakRSS()
	cpuBefore := processCPU()
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
	b.ReportMetric((processCPU()-cpuBefore).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(info.Size), "file-bytes")
	b.ReportMetric(float64(info.Nodes)/secs, "znodes/s")
	b.ReportMetric(float64(info.Size)/1e6/secs, "file-MB/s")
	// The peak while snapshotting, against the resident size of the tree before.
	b.ReportMetric(rssBefore, "rss-before-MB")
	b.ReportMetric(procStatusMB("VmHWM:"), "peak-rss-MB")
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatusMB reads a kB field of /proc/self/status in MB (0 where there is none).
func procStatusMB(field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, field), "kB")), &kb)
			return kb / 1024
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux 4.0+), so the peak that
// follows is the snapshot's own.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

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
	rssBefore := procStatusMB("VmRSS:")
	resetPeakRSS()
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
	b.ReportMetric(procStatusMB("VmHWM:")-rssBefore, "peak-rss-growth-MB")
	b.ReportMetric(float64(after.HeapSys)/1e6, "heap-sys-MB")
	runtime.KeepAlive(got)
}
