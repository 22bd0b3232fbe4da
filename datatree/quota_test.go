package datatree

import (
	"testing"

	"zkd/jute"
)

// TestQuotaStatsFollowTheSubtree: once zkCli's setquota has created the limits and
// stats nodes of /q, the tree keeps the stats node's data equal to the subtree's
// znode count and data bytes, without touching its version (spec/semantics.md §13).
func TestQuotaStatsFollowTheSubtree(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCreate("/q", "ab", 0)
	h.mustCreate("/q/a", "abc", 0)
	h.mustCreate("/other", "zzzz", 0)
	h.mustCreate("/zookeeper/quota/q", "", 0)
	h.mustCreate("/zookeeper/quota/q/zookeeper_limits", "count=5,bytes=-1", 0)
	h.mustCreate("/zookeeper/quota/q/zookeeper_stats", "count=0,bytes=0", 0)
	stats := func() string {
		t.Helper()
		data, _, code := h.tree.GetData("/zookeeper/quota/q/zookeeper_stats", nil, nil)
		if code != jute.CodeOK {
			t.Fatal(code)
		}
		return string(data)
	}
	if got := stats(); got != "count=2,bytes=5" {
		t.Fatalf("after setquota: %q, want count=2,bytes=5", got)
	}
	h.mustCreate("/q/a/b", "1234", 0)
	h.mustCreate("/other/x", "y", 0) // outside the quota
	if got := stats(); got != "count=3,bytes=9" {
		t.Fatalf("after create: %q", got)
	}
	h.setData("/q/a", "a", -1)
	if got := stats(); got != "count=3,bytes=7" {
		t.Fatalf("after setData: %q", got)
	}
	h.delete("/q/a/b", -1)
	if got := stats(); got != "count=2,bytes=3" {
		t.Fatalf("after delete: %q", got)
	}
	if st := h.stat("/zookeeper/quota/q/zookeeper_stats"); st.Version != 0 {
		t.Fatalf("stats node version %d: updates must not go through setData", st.Version)
	}
	// A failed multi leaves the stats as they were.
	res := h.multi(opCreate("/q/new", "12345", 0), opDelete("/q/missing", -1))
	if res[1].Err != jute.CodeNoNode {
		t.Fatalf("multi results %+v", res)
	}
	if got := stats(); got != "count=2,bytes=3" {
		t.Fatalf("after a failed multi: %q", got)
	}
	// Removing the limits node ends the tracking.
	h.delete("/zookeeper/quota/q/zookeeper_limits", -1)
	h.mustCreate("/q/late", "xxxxxxxx", 0)
	if got := stats(); got != "count=2,bytes=3" {
		t.Fatalf("after delquota: %q", got)
	}
}

func TestParseQuotaStatsAcceptsHardLimitSuffix(t *testing.T) {
	c, b := parseQuotaStats([]byte("count=5,bytes=100=;byteHardLimit=1000;countHardLimit=10"))
	if c != 5 || b != 100 {
		t.Fatalf("got %d %d", c, b)
	}
}
