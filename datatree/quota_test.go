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
	h.setQuota("/q", "count=5,bytes=-1")
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

// With the entry enforcing quotas (zookeeper.enforceQuota), a create or setData
// that takes the subtree past a hard limit is refused QUOTAEXCEEDED and
// changes nothing; soft limits and entries that do not enforce never refuse
// (ZooKeeperServer.checkQuota; spec/semantics.md §13).
func TestHardQuotaLimitsAreEnforced(t *testing.T) {
	h := newHarness(t, Config{})
	h.mustCreate("/q", "ab", 0)
	h.mustCreate("/soft", "", 0)
	h.setQuota("/q", "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3")
	h.setQuota("/soft", "count=1,bytes=1")

	enforced := func(op jute.OpCode, rec jute.Record) jute.Code {
		t.Helper()
		return h.applyTxn(Txn{Kind: KindRequest, Session: h.sid, Op: op, Body: rec.Append(nil), EnforceQuota: true}).Err
	}
	create := func(path, data string) jute.Code {
		return enforced(jute.OpCreate, &jute.CreateRequest{Path: path, Data: []byte(data), ACL: jute.OpenACLUnsafe})
	}
	setData := func(path, data string) jute.Code {
		return enforced(jute.OpSetData, &jute.SetDataRequest{Path: path, Data: []byte(data), Version: -1})
	}
	for _, step := range []struct {
		what string
		code jute.Code
		want jute.Code
	}{
		{"second znode", create("/q/a", "123"), jute.CodeOK}, // count 2, bytes 5
		{"third znode", create("/q/b", ""), jute.CodeOK},     // count 3
		{"fourth znode", create("/q/c", ""), jute.CodeQuotaExceeded},
		{"data past the byte limit", setData("/q/a", "123456789"), jute.CodeQuotaExceeded}, // bytes 11
		{"data within the byte limit", setData("/q/a", "1234567"), jute.CodeOK},            // bytes 9
		{"sequential child counted", enforced(jute.OpCreate, &jute.CreateRequest{Path: "/q/b/s", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentSequential)}), jute.CodeQuotaExceeded},
		{"soft limits only warn", create("/soft/x", "xyz"), jute.CodeOK},
		{"outside any quota", create("/free", "anything at all"), jute.CodeOK},
	} {
		if step.code != step.want {
			t.Errorf("%s: %v, want %v", step.what, step.code, step.want)
		}
	}
	if h.exists("/q/c") || h.data("/q/a") != "1234567" {
		t.Fatalf("a refused write changed the tree: /q/c %v, /q/a %q", h.exists("/q/c"), h.data("/q/a"))
	}
	data, _, _ := h.tree.GetData("/zookeeper/quota/q/zookeeper_stats", nil, nil)
	if string(data) != "count=3,bytes=9" {
		t.Fatalf("stats %q, want count=3,bytes=9", data)
	}
	// The same create, from a server that does not enforce quotas, succeeds.
	if _, code := h.create("/q/c", "", 0); code != jute.CodeOK {
		t.Fatalf("create past a hard limit without enforcement: %v", code)
	}
}
