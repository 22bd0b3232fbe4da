package session

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"zkd/datatree"
)

// maxLabels bounds a labelled set. ZooKeeper's sets grow with every top-level
// znode ever read or written; past this many labels zkd stops adding any, so
// that a tree with thousands of top-level znodes cannot turn mntr into a
// scrape of tens of thousands of lines or the sets into a leak.
const maxLabels = 1024

// labelSet is one of ZooKeeper's summary or counter sets: a figure per label
// (a top-level namespace), made on first use and kept. Looking a label up
// takes no lock (the map is replaced, never changed), so the read path of
// every event loop can count into it.
type labelSet[T any] struct {
	labels atomic.Pointer[map[string]*T]
	mu     sync.Mutex // serializes adding a label
	make   func() *T
}

// get returns the figure of label, made if new; nil when the set is full.
func (s *labelSet[T]) get(label string) *T {
	old := s.labels.Load()
	if old != nil {
		if v := (*old)[label]; v != nil {
			return v
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old = s.labels.Load()
	var next map[string]*T
	if old != nil {
		if v := (*old)[label]; v != nil {
			return v
		}
		if len(*old) >= maxLabels {
			return nil
		}
		next = make(map[string]*T, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	} else {
		next = make(map[string]*T, 1)
	}
	v := s.make()
	// label may alias a znode's path: keep a copy of its own.
	next[strings.Clone(label)] = v
	s.labels.Store(&next)
	return v
}

// each calls f for every label in order.
func (s *labelSet[T]) each(f func(label string, v *T)) {
	m := s.labels.Load()
	if m == nil {
		return
	}
	keys := make([]string, 0, len(*m))
	for k := range *m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f(k, (*m)[k])
	}
}

func newNamespaceHistogram() *Histogram { return NewHistogram(namespaceBytesBounds) }

// labelledSummary is one label's figures of a summary set: since the last srst
// and since start.
type labelledSummary struct {
	label  string
	window window
	since  HistogramSnapshot
}

// summaries returns the figures of every label of the sets, merged, in label
// order.
func summaries(sets ...*labelSet[Histogram]) []labelledSummary {
	byLabel := map[string]*labelledSummary{}
	for _, set := range sets {
		set.each(func(label string, h *Histogram) {
			ls := byLabel[label]
			if ls == nil {
				ls = &labelledSummary{label: label}
				byLabel[label] = ls
			}
			ls.window.merge(h.window())
			ls.since = mergeSnapshots(ls.since, h.Snapshot())
		})
	}
	out := make([]labelledSummary, 0, len(byLabel))
	for _, ls := range byLabel {
		out = append(out, *ls)
	}
	slices.SortFunc(out, func(a, b labelledSummary) int { return strings.Compare(a.label, b.label) })
	return out
}

// perCPU spreads a figure that every event loop updates over shards that
// goroutines on different cores rarely share. sync.Pool keeps a cache per P,
// so a shard taken and put back stays with its core, and its atomics stay in
// that core's cache instead of bouncing between cores on every update: one
// shared summary added 100-230 ns to a getData on two busy cores, sharded it
// adds 30-40 (BenchmarkGetDataCounted against BenchmarkGetDataUncounted).
// Every shard stays registered, because a pool drops its items at each
// collection; a shard two goroutines happen to hold at once is still counted
// right, since every update is atomic.
type perCPU[T any] struct {
	pool   sync.Pool
	mu     sync.Mutex // serializes making shards
	shards atomic.Pointer[[]*T]
	next   int // guarded by mu: the shard take hands out next, once all are made
	make   func() *T
}

// maxShards bounds perCPU's shards; past it, shards are handed out again.
var maxShards = 2 * runtime.GOMAXPROCS(0)

// get returns a shard for the caller's core; put it back when done.
func (p *perCPU[T]) get() *T {
	if v, ok := p.pool.Get().(*T); ok {
		return v
	}
	return p.take()
}

func (p *perCPU[T]) put(v *T) { p.pool.Put(v) }

// take returns a new shard, or once there are maxShards, the next existing one.
func (p *perCPU[T]) take() *T {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all []*T
	if cur := p.shards.Load(); cur != nil {
		all = *cur
	}
	if len(all) >= maxShards {
		v := all[p.next%len(all)]
		p.next++
		return v
	}
	v := p.make()
	all = append(slices.Clip(all), v)
	p.shards.Store(&all)
	return v
}

// all returns every shard made so far.
func (p *perCPU[T]) all() []*T {
	if cur := p.shards.Load(); cur != nil {
		return *cur
	}
	return nil
}

// namespaceBytesBounds bucket the bytes of one read or write: a path and its
// data, up to ZooKeeper's 1 MiB jute.maxbuffer and beyond.
var namespaceBytesBounds = []int64{64, 128, 256, 512, 1024, 4096, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

var _ datatree.Observer = (*Server)(nil)

// NamespaceRead implements datatree.Observer (read_per_namespace).
func (s *Server) NamespaceRead(ns string, bytes int64) {
	shards := &s.ops().readNS
	set := shards.get()
	if h := set.get(ns); h != nil {
		h.Observe(bytes)
	}
	shards.put(set)
}

// NamespaceWritten implements datatree.Observer (write_per_namespace).
func (s *Server) NamespaceWritten(ns string, bytes int64) {
	if h := s.ops().writeNS.get(ns); h != nil {
		h.Observe(bytes)
	}
}

// QuotaExceeded implements datatree.Observer (quota_exceeded_error_per_namespace).
func (s *Server) QuotaExceeded(ns string) {
	if c := s.ops().quotaExceeded.get(ns); c != nil {
		c.add(1)
	}
}
