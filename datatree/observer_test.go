package datatree

import (
	"reflect"
	"testing"

	"zkd/jute"
)

// figures records what a tree tells its Observer.
type figures struct {
	read, written map[string][]int64
	refused       map[string]int
	fired         int
}

func newFigures() *figures {
	return &figures{read: map[string][]int64{}, written: map[string][]int64{}, refused: map[string]int{}}
}

func (f *figures) WatchesFired(jute.EventType, int)     { f.fired++ }
func (f *figures) NamespaceRead(ns string, bytes int64) { f.read[ns] = append(f.read[ns], bytes) }
func (f *figures) NamespaceWritten(ns string, bytes int64) {
	f.written[ns] = append(f.written[ns], bytes)
}
func (f *figures) QuotaExceeded(ns string) { f.refused[ns]++ }

// The tree counts reads and writes per top-level namespace in ZooKeeper's bytes
// (DataTree.updateReadStat/updateWriteStat): a read is the path, the data or
// child names and a Stat's 68 bytes; a write the path and the new data. A
// failed read, a read of the root and a failed multi count nothing.
func TestObserverCountsNamespaceTrafficAsZooKeeper(t *testing.T) {
	h := newHarness(t, Config{})
	f := newFigures()
	h.tree.Observe(f)
	h.mustCreate("/app", "x", 0)     // 4+1
	h.mustCreate("/app/c", "", 0)    // 6
	h.setData("/app/c", "hello", -1) // 6+5
	h.mustCreate("/other", "", 0)    // 6
	h.delete("/other", -1)           // 6
	h.multi(opCreate("/app/m", "zz", 0), opCheck("/app", 99))
	if !reflect.DeepEqual(f.written, map[string][]int64{"app": {5, 6, 11}, "other": {6, 6}}) {
		t.Errorf("writes %v", f.written)
	}
	h.tree.GetData("/app", nil, nil)          // 4+1+68
	h.tree.Exists("/app/c", nil, nil)         // 6+68
	h.tree.GetChildren("/app", nil, nil, nil) // 4+1+68 (child "c")
	h.tree.GetData("/", nil, nil)             // the root: no namespace
	h.tree.GetData("/app/none", nil, nil)     // absent
	h.tree.Exists("/none", nil, nil)          // absent
	h.mustCreateACL("/locked", acl(jute.PermAdmin, "digest", "u:p"))
	h.tree.GetData("/locked", nil, Identity{}) // refused
	if !reflect.DeepEqual(f.read, map[string][]int64{"app": {73, 74, 73}}) {
		t.Errorf("reads %v", f.read)
	}
}

// A write refused for a hard quota is told with its namespace; the gauges
// report each namespace's limits (hard over soft) and usage as ZooKeeper's
// QuotaMetricsUtils sums them.
func TestQuotaFiguresAndRefusals(t *testing.T) {
	h := newHarness(t, Config{})
	f := newFigures()
	h.tree.Observe(f)
	if q := h.tree.QuotaFigures(); q != nil {
		t.Fatalf("quota figures without a quota: %v", q)
	}
	h.mustCreate("/q", "ab", 0)
	h.mustCreate("/q/sub", "", 0)
	h.setQuota("/q", "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3")
	h.setQuota("/q/sub", "count=5,bytes=50")
	want := []NamespaceQuota{{Namespace: "q", CountLimit: 3 + 5, BytesLimit: 10 + 50, CountUsage: 2 + 1, BytesUsage: 2}} // /q holds /q and /q/sub
	if got := h.tree.QuotaFigures(); !reflect.DeepEqual(got, want) {
		t.Fatalf("quota figures %+v, want %+v", got, want)
	}
	create := func(path string) jute.Code {
		return h.applyTxn(Txn{Kind: KindRequest, Session: h.sid, Op: jute.OpCreate, EnforceQuota: true,
			Body: (&jute.CreateRequest{Path: path, ACL: jute.OpenACLUnsafe}).Append(nil)}).Err
	}
	if code := create("/q/a"); code != jute.CodeOK {
		t.Fatal(code)
	}
	if code := create("/q/b"); code != jute.CodeQuotaExceeded {
		t.Fatalf("a fourth znode under a count limit of 3: %v", code)
	}
	if !reflect.DeepEqual(f.refused, map[string]int{"q": 1}) {
		t.Errorf("refusals %v", f.refused)
	}
}
