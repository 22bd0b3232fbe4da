//go:build !race

package datatree

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zkd/jute"
)

// TestReadAllocs: the read hot paths allocate nothing (STYLE.md rule 37).
func TestReadAllocs(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCreate("/a", "data", 0)
	h.mustCreate("/a/b", "", 0)
	w := newWatcher("w", nil)
	h.tree.GetData("/a", w, nil)
	dst := make([]string, 0, 8)
	open := h.tree.aclOf(nodeOf(h.tree, "/a"))
	cases := []struct {
		name string
		f    func()
	}{
		{"GetData", func() { h.tree.GetData("/a", nil, bobID) }},
		{"GetData missing", func() { h.tree.GetData("/nope", nil, bobID) }},
		{"Exists", func() { h.tree.Exists("/a", nil, bobID) }},
		{"GetChildren", func() { h.tree.GetChildren("/a", nil, bobID, dst[:0]) }},
		{"GetData rewatch", func() { h.tree.GetData("/a", w, nil) }},
		{"CheckACL", func() { h.tree.CheckACL(open, bobID, jute.PermRead) }},
		{"GetACL admin", func() { h.tree.GetACL("/a", bobID) }},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(100, c.f); n != 0 {
			t.Errorf("%s: %v allocs per run", c.name, n)
		}
	}
}

// The benchmarks share one tree of 1M znodes under 1000 parents (100-byte data),
// built on first use by the first benchmark that needs it; plain `go test` never
// builds it.
const (
	benchParents  = 1000
	benchChildren = 1000
	benchData     = 100
)

var bench struct {
	once  sync.Once
	tree  *Tree
	zxid  atomic.Int64 // last zxid applied; Apply's caller is one goroutine at a time
	paths []string     // every preloaded leaf
	seq   atomic.Int64 // names for BenchmarkCreate
}

func benchPath(dst []byte, parent, child int) []byte {
	dst = append(dst, "/p"...)
	dst = appendPadded(dst, parent, 3)
	if child < 0 {
		return dst
	}
	dst = append(dst, "/n"...)
	return appendPadded(dst, child, 4)
}

func appendPadded(dst []byte, v, width int) []byte {
	var buf [20]byte
	s := strconv.AppendInt(buf[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// appendCreateEntry appends a whole create entry for path without allocating.
func appendCreateEntry(dst, body, path, data []byte) ([]byte, []byte) {
	body = jute.AppendInt(body[:0], int32(len(path)))
	body = append(body, path...)
	body = jute.AppendBuffer(body, data)
	body = jute.AppendACLs(body, jute.OpenACLUnsafe)
	body = jute.AppendInt(body, 0)
	txn := Txn{Kind: KindRequest, Session: testSession, Time: 1_700_000_000_000, Op: jute.OpCreate, Body: body}
	return txn.Append(dst), body
}

func benchTree(b *testing.B) *Tree {
	bench.once.Do(func() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()

		tree := New(Config{})
		var zxid int64 = 1
		tree.Apply(jute.Zxid(zxid), (&Txn{Kind: KindCreateSession, Session: testSession, Timeout: 30000}).Append(nil))
		data := bytes.Repeat([]byte{'x'}, benchData)
		var entry, body, path []byte
		apply := func() {
			zxid++
			if r := tree.Apply(jute.Zxid(zxid), entry); r.Err != jute.CodeOK {
				panic(fmt.Sprintf("preload %s: %v", path, r.Err))
			}
		}
		for p := range benchParents {
			path = benchPath(path[:0], p, -1)
			entry, body = appendCreateEntry(entry[:0], body, path, nil)
			apply()
			for c := range benchChildren {
				path = benchPath(path[:0], p, c)
				entry, body = appendCreateEntry(entry[:0], body, path, data)
				apply()
			}
		}
		elapsed := time.Since(start)
		runtime.GC()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		b.Logf("preloaded %d znodes in %v: heap %.0f MiB (%d B/znode), HeapSys %.0f MiB, %s",
			tree.NodeCount(), elapsed.Round(time.Millisecond), float64(heap)/(1<<20), heap/tree.NodeCount(),
			float64(after.HeapSys)/(1<<20), vmRSS())

		bench.paths = make([]string, 0, benchParents*benchChildren)
		for p := range benchParents {
			for c := range benchChildren {
				bench.paths = append(bench.paths, string(benchPath(nil, p, c)))
			}
		}
		bench.zxid.Store(zxid)
		bench.tree = tree
	})
	if bench.tree == nil {
		b.Fatal("preload failed")
	}
	return bench.tree
}

// vmRSS reports the process's resident set from /proc (Linux), or "".
func vmRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("VmRSS:")) {
			return "RSS " + string(bytes.Join(bytes.Fields(line[6:]), []byte(" ")))
		}
	}
	return ""
}

// cpuTimer reports a benchmark's CPU time per op on its own thread, beside the
// wall time: on a machine shared with other work the wall time of a single-threaded
// loop measures the scheduler as much as the code, its thread's CPU time far less.
type cpuTimer struct {
	b     *testing.B
	start time.Duration
}

func startCPU(b *testing.B) *cpuTimer {
	runtime.LockOSThread()
	b.ResetTimer()
	return &cpuTimer{b: b, start: threadCPU()}
}

func (c *cpuTimer) stop() {
	used := threadCPU() - c.start
	c.b.StopTimer()
	runtime.UnlockOSThread()
	c.b.ReportMetric(float64(used.Nanoseconds())/float64(c.b.N), "cpu-ns/op")
}

// pick returns the i-th path of a walk that visits every preloaded node in an order
// unrelated to insertion (a stride coprime to 1e6), so that reads miss the caches as
// a real workload does.
func pick(i int) string {
	const stride = 7_919 * 13 // coprime to 1e6
	return bench.paths[(i*stride)%len(bench.paths)]
}

func BenchmarkGetData(b *testing.B) {
	tree := benchTree(b)
	b.ReportAllocs()
	b.SetBytes(benchData)
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, _, code := tree.GetData(pick(i), nil, anonID); code != jute.CodeOK {
			b.Fatal(code)
		}
	}
	cpu.stop()
}

func BenchmarkGetDataParallel(b *testing.B) {
	tree := benchTree(b)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetBytes(benchData)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 104_729
		for pb.Next() {
			if _, _, code := tree.GetData(pick(i), nil, anonID); code != jute.CodeOK {
				b.Error(code)
				return
			}
			i++
		}
	})
}

func BenchmarkExists(b *testing.B) {
	tree := benchTree(b)
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, code := tree.Exists(pick(i), nil, anonID); code != jute.CodeOK {
			b.Fatal(code)
		}
	}
	cpu.stop()
}

// BenchmarkSetData applies setData entries (100 bytes, any version) to nodes spread
// over the whole tree; the entries are encoded beforehand, as raft hands them over.
func BenchmarkSetData(b *testing.B) {
	tree := benchTree(b)
	const ring = 4096
	entries := make([][]byte, ring)
	data := bytes.Repeat([]byte{'y'}, benchData)
	for i := range entries {
		body := (&jute.SetDataRequest{Path: pick(i * 31), Data: data, Version: -1}).Append(nil)
		entries[i] = (&Txn{Kind: KindRequest, Session: testSession, Time: 1_700_000_000_001, Op: jute.OpSetData, Body: body}).Append(nil)
	}
	b.ReportAllocs()
	b.SetBytes(benchData)
	zxid := bench.zxid.Load()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		zxid++
		if r := tree.Apply(jute.Zxid(zxid), entries[i%ring]); r.Err != jute.CodeOK {
			b.Fatal(r.Err)
		}
	}
	cpu.stop()
	bench.zxid.Store(zxid)
}

// BenchmarkCreate applies creates of new 100-byte nodes spread over the 1000 parents.
// Encoding the entry (into reused buffers) is part of the loop but does not allocate.
func BenchmarkCreate(b *testing.B) {
	tree := benchTree(b)
	data := bytes.Repeat([]byte{'z'}, benchData)
	var entry, body, path []byte
	b.ReportAllocs()
	b.SetBytes(benchData)
	zxid := bench.zxid.Load()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		n := bench.seq.Add(1)
		path = benchPath(path[:0], int(n%benchParents), -1)
		path = append(path, "/b"...)
		path = strconv.AppendInt(path, n, 10)
		entry, body = appendCreateEntry(entry[:0], body, path, data)
		zxid++
		if r := tree.Apply(jute.Zxid(zxid), entry); r.Err != jute.CodeOK {
			b.Fatal(r.Err)
		}
	}
	cpu.stop()
	bench.zxid.Store(zxid)
}

// BenchmarkNodeDigest is the cost of one node digest (100-byte data, the preload's
// path shape). The applier computes two per setData and three per create or delete
// (the node, and its parent before and after).
func BenchmarkNodeDigest(b *testing.B) {
	var d digester
	n := node{czxid: 5, mzxid: 6, pzxid: 7, ctime: 8, mtime: 9}
	n.setBlob("/p123/n4567", bytes.Repeat([]byte{'x'}, benchData))
	b.ReportAllocs()
	b.SetBytes(int64(n.blen) + 60)
	var sum uint64
	for i := 0; i < b.N; i++ {
		sum += d.node(&n)
	}
	if sum == 0 && b.N > 0 {
		b.Fatal("zero digests")
	}
}
