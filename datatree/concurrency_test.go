package datatree

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"zkd/jute"
)

// TestConcurrentReadersSeeWholeEntries runs readers against the applier (run with
// -race). Entry i is a multi that sets /a and then /b to version i (data "i"); every
// fifth entry also creates one child under /c and then one under /d.
//
// Two separate reads are not a snapshot, so a reader may see A at version i and B at
// a later version j > i: the reads straddle entries. What atomicity forbids is the
// opposite: if the first read (of A) already shows entry i, the entry was fully
// applied before the second read began (its stripe locks are released together,
// after all its ops), so B must show i or later. Hence, for a reader that reads A
// then B: version(B) >= version(A), and likewise len(children(/d)) >=
// len(children(/c)). A reader that reads B first may see B older than A; for it the
// same rule holds with the roles swapped (version(A) >= version(B)). A single read is
// a snapshot of its node, so its data always matches its Stat.
//
// A watch reader checks doc.go's "no lost events": once a read shows a version newer
// than the one seen when the watch was registered, the event has already been queued.
func TestConcurrentReadersSeeWholeEntries(t *testing.T) {
	const entries = 3000
	h := newHarness(t, Config{})
	for _, p := range []string{"/a", "/b", "/c", "/d"} {
		h.mustCreate(p, "0", 0)
	}

	var done atomic.Bool
	var failed atomic.Int32
	fail := func(format string, args ...any) {
		if failed.Add(1) <= 5 {
			t.Errorf(format, args...)
		}
	}
	read := func(path string) int32 {
		data, st, code := h.tree.GetData(path, nil, nil)
		if code != jute.CodeOK {
			fail("getData %s: %v", path, code)
			return 0
		}
		if string(data) != strconv.Itoa(int(st.Version)) {
			fail("%s: data %q with version %d: torn read", path, data, st.Version)
		}
		return st.Version
	}
	numChildren := func(path string) int {
		kids, st, code := h.tree.GetChildren(path, nil, nil, nil)
		if code != jute.CodeOK || len(kids) != int(st.NumChildren) {
			fail("getChildren %s: %d names, stat %d, %v", path, len(kids), st.NumChildren, code)
		}
		return len(kids)
	}

	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		wg.Go(func() { // A then B
			for !done.Load() {
				va := read("/a")
				vb := read("/b")
				if vb < va {
					fail("read /a at version %d, then /b at older version %d", va, vb)
				}
				nc := numChildren("/c")
				nd := numChildren("/d")
				if nd < nc {
					fail("read /c with %d children, then /d with fewer (%d)", nc, nd)
				}
				reads.Add(1)
			}
		})
	}
	wg.Go(func() { // B then A
		for !done.Load() {
			vb := read("/b")
			va := read("/a")
			if va < vb {
				fail("read /b at version %d, then /a at older version %d", vb, va)
			}
		}
	})
	wg.Go(func() { // no lost events
		w := newWatcher("reader", nil)
		for !done.Load() {
			before := w.count()
			_, st, _ := h.tree.GetData("/a", w, nil)
			for !done.Load() {
				_, now, _ := h.tree.GetData("/a", nil, nil)
				if now.Version > st.Version {
					if w.count() == before {
						fail("saw /a at version %d after watching it at %d, but no event was queued", now.Version, st.Version)
					}
					break
				}
			}
		}
	})
	wg.Go(func() { // every other read path, for the race detector
		w := newWatcher("misc", nil)
		for i := 0; !done.Load(); i++ {
			h.tree.Exists("/a", w, nil)
			h.tree.Exists("/c/missing", w, nil)
			h.tree.AllChildrenNumber("/", nil)
			h.tree.GetACL("/b", nil)
			h.tree.AddWatch("/c", jute.AddWatchPersistentRecursive, w)
			h.tree.RemoveWatches("/c", jute.WatcherAny, w, i%2 == 0)
			h.tree.SetWatches(&jute.SetWatches{RelativeZxid: int64(h.tree.LastZxid()), DataWatches: []string{"/b"},
				ChildWatches: []string{"/d"}, ExistWatches: []string{"/nope"}}, w)
			h.tree.WatchCounts()
			h.tree.WatchedPaths(w)
			h.tree.Ephemerals(testSession, "/")
			h.tree.ReapCandidates(0, 0, 10)
			h.tree.EphemeralCount()
			h.tree.NodeCount()
			if i%100 == 0 {
				h.tree.RemoveWatcher(w)
				w.take()
			}
		}
	})

	for i := 1; i <= entries; i++ {
		v := strconv.Itoa(i)
		h.multi(opSetData("/a", v, -1), opSetData("/b", v, -1))
		if i%5 == 0 {
			h.multi(opCreate("/c/"+v, "", 0), opCreate("/d/"+v, "", 0))
		}
	}
	done.Store(true)
	wg.Wait()
	if st := h.stat("/b"); st.Version != entries {
		t.Fatalf("/b version %d", st.Version)
	}
	t.Logf("%d A-then-B reads during %d entries", reads.Load(), entries)
}
