package zkdisk

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/internal/testutil"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/snapshot"
)

// millionZK writes, once per test binary, a ZooKeeper data directory holding a
// 1,000,000-znode snapshot (1,000 parents of 999 children, 100 bytes of data
// each, as zkd's own snapshot benchmarks use) and, if txns > 0, a log of txns
// setData txns after it, each with its digest.
func millionZK(b *testing.B, txns int) string {
	b.Helper()
	key := fmt.Sprint(txns)
	millionMu.Lock()
	defer millionMu.Unlock()
	if dir, ok := millionDirs[key]; ok {
		return dir
	}
	dir, err := os.MkdirTemp("", "zkdisk-bench-")
	if err != nil {
		b.Fatal(err)
	}
	v2 := filepath.Join(dir, VersionDir)
	if err := os.MkdirAll(v2, 0o755); err != nil {
		b.Fatal(err)
	}
	data := []byte(strings.Repeat("0123456789", 10))
	nodes := baseNodes()
	nodes[0].Cversion = 1000
	zxid := int64(1)
	for p := 0; p < 1000; p++ {
		parent := fmt.Sprintf("/p%03d", p)
		zxid++
		nodes = append(nodes, datatree.NodeImage{Path: parent, Data: []byte{}, ACL: jute.OpenACLUnsafe,
			Czxid: zxid, Mzxid: zxid, Pzxid: zxid + 999, Ctime: zxid, Mtime: zxid, Cversion: 999})
		for i := 0; i < 999; i++ {
			zxid++
			nodes = append(nodes, datatree.NodeImage{Path: fmt.Sprintf("%s/n%03d", parent, i), Data: data, ACL: jute.OpenACLUnsafe,
				Czxid: zxid, Mzxid: zxid, Pzxid: zxid, Ctime: zxid, Mtime: zxid})
		}
	}
	f, err := os.Create(filepath.Join(v2, SnapshotName(zxid, CodecPlain)))
	if err != nil {
		b.Fatal(err)
	}
	sessions := []datatree.SessionImage{{ID: 0x100000000000001, Timeout: 30000}}
	if _, err := WriteSnapshot(f, CodecPlain, zxid, sessions, nodes, nil); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if txns > 0 {
		// The digests come from replaying the same txns on the loaded tree.
		tr := newZkTree()
		for i := range nodes {
			img := nodes[i]
			tr.insert(&znode{img: img})
		}
		log := AppendLogHeader(nil)
		for i := 0; i < txns; i++ {
			zxid++
			x := &Txn{Header: TxnHeader{ClientID: 0x100000000000001, Cxid: int32(i), Zxid: zxid, Time: zxid, Type: jute.OpSetData},
				Body: &SetDataTxn{Path: fmt.Sprintf("/p%03d/n%03d", i%1000, i/1000%999), Data: []byte(fmt.Sprint(i)), Version: 1 + int32(i/999000)}}
			if _, err := tr.apply(x); err != nil {
				b.Fatal(err)
			}
			x.Digest = &TxnDigest{Version: 2, TreeDigest: tr.digest}
			log = AppendLogRecord(log, AppendTxn(nil, x))
		}
		if err := os.WriteFile(filepath.Join(v2, LogName(zxid-int64(txns)+1)), log, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	millionDirs[key] = dir
	return dir
}

// millionDirs outlive each benchmark run (a benchmark function runs several
// times); TestMain removes them.
var (
	millionMu   sync.Mutex
	millionDirs = map[string]string{}
)

func removeMillionDirs() {
	millionMu.Lock()
	defer millionMu.Unlock()
	for _, d := range millionDirs {
		os.RemoveAll(d)
	}
}

// peakHeap samples HeapInuse until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); sample(); return peak }
}

// memProbe measures a 1M-znode benchmark's loop: CPU time, peak heap in use
// and RSS before and at its peak.
type memProbe struct {
	rssBefore float64
	stopHeap  func() uint64
	cpu0      time.Duration
}

// startMemProbe starts measuring, after returning the set-up's garbage to the
// OS (it must not count as the loop's), and resets the benchmark timer.
func startMemProbe(b *testing.B) *memProbe {
	debug.FreeOSMemory()
	p := &memProbe{rssBefore: testutil.ProcStatusMB("VmRSS:")}
	testutil.ResetPeakRSS()
	p.stopHeap = peakHeap()
	p.cpu0 = testutil.ProcessCPU()
	b.ResetTimer()
	return p
}

// report stops the timer and reports znodes/s for znodes per op with the
// probe's figures.
func (p *memProbe) report(b *testing.B, znodes int64) {
	b.StopTimer()
	cpu := (testutil.ProcessCPU() - p.cpu0).Seconds() / float64(b.N)
	peak := p.stopHeap()
	secs := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(znodes)/secs, "znodes/s")
	b.ReportMetric(cpu, "cpu-s/op")
	b.ReportMetric(float64(peak)/1e6, "peak-heap-inuse-MB")
	b.ReportMetric(p.rssBefore, "rss-before-MB")
	b.ReportMetric(testutil.ProcStatusMB("VmHWM:"), "peak-rss-MB")
}

// BenchmarkImport1M imports a 1M-znode ZooKeeper snapshot (and, for txns>0, a log
// replayed after it) into a new zkd data directory, as `zkd import` does: read and
// check, replay, build zkd's tree, write and fsync zkd's snapshot. Run each
// sub-benchmark in its own process (-bench 'Import1M/txns=0$') for a clean peak RSS.
func BenchmarkImport1M(b *testing.B) {
	for _, txns := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("txns=%d", txns), func(b *testing.B) {
			src := millionZK(b, txns)
			var size int64
			snaps, _ := ListSnapshots(filepath.Join(src, VersionDir))
			logs, _ := ListLogs(filepath.Join(src, VersionDir))
			size = snaps[0].Size
			for _, l := range logs {
				size += l.Size
			}
			probe := startMemProbe(b)
			var sum *Summary
			for i := 0; i < b.N; i++ {
				var err error
				sum, err = Import(ImportOptions{From: LoadOptions{DataDir: src}, To: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
			}
			probe.report(b, sum.Znodes)
			if sum.Znodes != 1_000_004 || sum.Txns != int64(txns) || sum.DigestChecks != txns+1 {
				b.Fatalf("summary %+v", sum)
			}
			b.SetBytes(size)
		})
	}
}

// BenchmarkExport1M exports a stopped 1M-znode zkd data directory as a ZooKeeper
// 3.8 data directory, as `zkd export` does: load zkd's snapshot, collect and sort
// the nodes, write the ZooKeeper snapshot with its digest, fsync, rename.
func BenchmarkExport1M(b *testing.B) {
	src := millionZK(b, 0)
	zkdDir := b.TempDir()
	if _, err := Import(ImportOptions{From: LoadOptions{DataDir: src}, To: zkdDir}); err != nil {
		b.Fatal(err)
	}
	probe := startMemProbe(b)
	var sum *Summary
	for i := 0; i < b.N; i++ {
		tree, _, err := snapshot.Load(vfs.OS(), ZkdLayout(zkdDir, "").Snapshots, datatree.Config{}, quietLog())
		if err != nil {
			b.Fatal(err)
		}
		sum, err = Export(tree, ExportOptions{Dir: filepath.Join(b.TempDir(), "zk")})
		if err != nil {
			b.Fatal(err)
		}
	}
	probe.report(b, sum.Znodes)
	if sum.Znodes != 1_000_004 {
		b.Fatalf("summary %+v", sum)
	}
	b.SetBytes(sum.OutputBytes)
}

// BenchmarkExportOnline1M exports a 1M-znode tree as `zkd export --server` does:
// the stream a server's snapshot command sends (its zkd snapshot file, served
// here over loopback HTTP with the command's headers) downloaded to a temporary
// file, checked and built into a tree, then written as ZooKeeper's files. The
// server's own part, writing that snapshot, is not counted here: it is a
// scheduled snapshot's write (snapshot's BenchmarkSnapshotWrite1M).
func BenchmarkExportOnline1M(b *testing.B) {
	src := millionZK(b, 0)
	zkdDir := b.TempDir()
	if _, err := Import(ImportOptions{From: LoadOptions{DataDir: src}, To: zkdDir}); err != nil {
		b.Fatal(err)
	}
	infos, err := snapshot.List(vfs.OS(), ZkdLayout(zkdDir, "").Snapshots)
	if err != nil || len(infos) != 1 {
		b.Fatalf("snapshots %v, %v", infos, err)
	}
	file := filepath.Join(ZkdLayout(zkdDir, "").Snapshots, infos[0].Name)
	st, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["last_zxid"] = []string{"0x" + strconv.FormatUint(infos[0].Index, 16)}
		w.Header()["snapshot_size"] = []string{strconv.FormatInt(st.Size(), 10)}
		w.Header().Set("Content-Type", "application/octet-stream")
		f, err := os.Open(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		_, _ = io.Copy(w, f)
	}))
	defer ts.Close()
	probe := startMemProbe(b)
	var sum *Summary
	for i := 0; i < b.N; i++ {
		sum, err = ExportOnline(context.Background(), FetchOptions{Server: ts.URL, Auth: "ip"},
			ExportOptions{Dir: filepath.Join(b.TempDir(), "zk")})
		if err != nil {
			b.Fatal(err)
		}
	}
	probe.report(b, sum.Znodes)
	if sum.Znodes != 1_000_004 || sum.SourceBytes != st.Size() {
		b.Fatalf("summary %+v", sum)
	}
	b.SetBytes(sum.SourceBytes)
}
