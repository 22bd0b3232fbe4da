package session_test

import (
	"testing"

	"zkd/jute"
	"zkd/session"
)

// zookeeper.enforceQuota on the server a client writes through decides whether
// a create past a hard quota limit is refused (spec/semantics.md §13).
func TestEnforceQuotaFollowsTheServersSetting(t *testing.T) {
	t.Parallel()
	for _, enforce := range []bool{false, true} {
		h := newHarness(t, func(c *session.Config) { c.EnforceQuota = enforce })
		cl := h.connect()
		for _, n := range []struct{ path, data string }{
			{"/q", ""}, {"/zookeeper/quota/q", ""},
			{"/zookeeper/quota/q/zookeeper_limits", "count=-1,bytes=-1=;countHardLimit=1"},
			{"/zookeeper/quota/q/zookeeper_stats", "count=0,bytes=0"},
		} {
			cl.create(n.path, []byte(n.data), 0, jute.OpenACLUnsafe)
		}
		want := jute.CodeOK
		if enforce {
			want = jute.CodeQuotaExceeded
		}
		if r := cl.call(jute.OpCreate, &jute.CreateRequest{Path: "/q/child", ACL: jute.OpenACLUnsafe}); r.hdr.Err != want {
			t.Errorf("enforceQuota=%v: create past countHardLimit: %v, want %v", enforce, r.hdr.Err, want)
		}
	}
}
