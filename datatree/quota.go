package datatree

import (
	"slices"
	"strconv"
	"strings"

	"zkd/jute"
)

// Quotas (spec/semantics.md §13). A quota on path P is the node
// /zookeeper/quota<P>/zookeeper_limits; clients create it and its sibling
// zookeeper_stats with ordinary creates. The tree then keeps the stats node's data
// ("count=<n>,bytes=<m>": znodes and data bytes of P's subtree, P included) up to
// date itself, on every replica and without a version change, as ZooKeeper's
// DataTree does: recomputed when the stats node is created, adjusted by each create,
// delete and setData below P. Limits are advisory unless the entry says
// otherwise (Txn.EnforceQuota, from zookeeper.enforceQuota): then a create or
// setData that would take the subtree past a hard limit is refused
// QUOTAEXCEEDED, as ZooKeeperServer.checkQuota refuses it.
const (
	quotaRoot  = "/zookeeper/quota"
	quotaLimit = "zookeeper_limits"
	quotaStats = "zookeeper_stats"
)

// quotaTable is the set of paths with a quota. Only the applier (and Restore)
// touch it.
type quotaTable map[string]struct{}

// maxQuotaPrefix returns the deepest path with a quota that is path or one of its
// ancestors, or "" (the root never counts, as in ZooKeeper's PathTrie lookup).
func (q quotaTable) maxQuotaPrefix(path string) string {
	if len(q) == 0 || strings.HasPrefix(path, "/zookeeper/") || path == "/zookeeper" {
		return ""
	}
	for p := path; p != "/"; p, _ = parentOf(p) {
		if _, ok := q[p]; ok {
			return p
		}
	}
	return ""
}

// quotaHook maintains the quota table and statistics after path (with dataLen
// bytes of data) was created (delta +1) or deleted (delta -1), and records undo.
func (c *applyCtx) quotaCreatedOrDeleted(path string, dataLen int, delta int) {
	t := c.t
	parentPath, name := parentOf(path)
	if strings.HasPrefix(parentPath, quotaRoot+"/") {
		quoted := parentPath[len(quotaRoot):]
		switch {
		case name == quotaLimit && delta > 0:
			if _, had := t.quotas[quoted]; !had {
				quoted = jute.Clone(quoted) // path may alias a node's blob
				t.quotas[quoted] = struct{}{}
				c.onUndo(func() { delete(t.quotas, quoted) })
			}
		case name == quotaLimit && delta < 0:
			if _, had := t.quotas[quoted]; had {
				delete(t.quotas, quoted)
				c.onUndo(func() { t.quotas[quoted] = struct{}{} })
			}
		case name == quotaStats && delta > 0:
			c.recountQuota(quoted)
		}
	}
	if p := t.quotas.maxQuotaPrefix(path); p != "" {
		c.adjustQuotaStats(p, int64(delta), int64(delta*dataLen))
	}
}

// quotaDataChanged adjusts the statistics after a setData from oldLen to newLen bytes.
func (c *applyCtx) quotaDataChanged(path string, oldLen, newLen int) {
	if p := c.t.quotas.maxQuotaPrefix(path); p != "" && oldLen != newLen {
		c.adjustQuotaStats(p, 0, int64(newLen-oldLen))
	}
}

// recountQuota sets the stats node of quoted from its subtree.
func (c *applyCtx) recountQuota(quoted string) {
	var count, bytes int64
	stack := []string{quoted}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		// The applier is the only writer, so it may read any stripe unlocked.
		_, n := c.t.lookupRaw(p)
		if n == nil {
			continue
		}
		count++
		bytes += int64(n.dataLen())
		for id := n.first; id != 0; {
			child := c.t.nodes.at(id)
			stack = append(stack, child.path())
			id = child.next
		}
	}
	c.setQuotaStats(quoted, func(int64, int64) (int64, int64) { return count, bytes })
}

func (c *applyCtx) adjustQuotaStats(quoted string, dCount, dBytes int64) {
	c.setQuotaStats(quoted, func(count, bytes int64) (int64, int64) { return count + dCount, bytes + dBytes })
}

// setQuotaStats rewrites the stats node's data in place: no version, mzxid or
// watch event, as ZooKeeper updates it outside the txn.
func (c *applyCtx) setQuotaStats(quoted string, update func(count, bytes int64) (int64, int64)) {
	t := c.t
	statPath := quotaRoot + quoted + "/" + quotaStats
	id, n := c.get(statPath)
	if n == nil {
		return
	}
	c.lockParentOf(statPath)
	count, bytes := parseQuotaStats(n.data())
	count, bytes = update(count, bytes)
	t.saveImage(id, n, false)
	oldBlob, oldBlen, oldPlen, oldLen := n.blob, n.blen, n.plen, n.dataLen()
	t.work -= t.dg.node(n)
	c.replaceData(id, n, []byte("count="+strconv.FormatInt(count, 10)+",bytes="+strconv.FormatInt(bytes, 10)))
	t.work += t.dg.node(n)
	t.dataBytes.Add(int64(n.dataLen() - oldLen))
	c.onUndo(func() {
		t.dataBytes.Add(int64(oldLen - n.dataLen()))
		c.restoreBlob(id, n, oldBlob, oldBlen, oldPlen)
	})
}

// parseQuotaStats reads "count=<n>,bytes=<m>" (anything after the bytes value,
// such as 3.7's "=;key=value" hard-limit suffix, is ignored).
func parseQuotaStats(data []byte) (count, bytes int64) {
	for _, kv := range strings.Split(string(data), ",") {
		k, v, _ := strings.Cut(kv, "=")
		v, _, _ = strings.Cut(v, "=")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch strings.TrimSpace(k) {
		case "count":
			count = n
		case "bytes":
			bytes = n
		}
	}
	return count, bytes
}

// quotaExceeded reports whether adding dCount znodes and dBytes data bytes
// under path breaks a hard limit of its quota (countHardLimit, byteHardLimit),
// when the entry enforces quotas. Soft limits (count, bytes) never refuse. The
// check is ZooKeeper's: against the stats node as it stands, which in a multi
// includes the ops before this one (ZooKeeper checks each op of a multi
// against the stats before the multi, a difference only a multi that crosses
// a limit can see).
func (c *applyCtx) quotaExceeded(path string, dBytes, dCount int64) bool {
	if !c.txn.EnforceQuota {
		return false
	}
	quoted := c.t.quotas.maxQuotaPrefix(path)
	if quoted == "" {
		return false
	}
	// The applier is the only writer, so it may read any stripe unlocked.
	_, ln := c.t.lookupRaw(quotaRoot + quoted + "/" + quotaLimit)
	_, sn := c.t.lookupRaw(quotaRoot + quoted + "/" + quotaStats)
	if ln == nil || sn == nil {
		return false
	}
	limits, current := parseStatsTrack(ln.data()), parseStatsTrack(sn.data())
	over := func(diff int64, key, hardKey string) bool {
		hard, ok := limits[hardKey]
		return diff != 0 && ok && hard > -1 && current.get(key)+diff > hard
	}
	if !over(dCount, "count", "countHardLimit") && !over(dBytes, "bytes", "byteHardLimit") {
		return false
	}
	if ns := TopNamespace(path); ns != "" && c.t.observer != nil {
		c.t.observer.QuotaExceeded(ns)
	}
	return true
}

// statsTrack is a quota node's data as ZooKeeper's StatsTrack reads it:
// key=value pairs separated by ',' or ';' (an empty value is -1).
type statsTrack map[string]int64

func (s statsTrack) get(key string) int64 {
	if v, ok := s[key]; ok {
		return v
	}
	return -1
}

func parseStatsTrack(data []byte) statsTrack {
	s := make(statsTrack)
	for _, kv := range strings.FieldsFunc(string(data), func(r rune) bool { return r == ',' || r == ';' }) {
		parts := strings.Split(kv, "=")
		if len(parts) < 2 {
			continue
		}
		if parts[1] == "" {
			s[parts[0]] = -1
		} else if v, err := strconv.ParseInt(parts[1], 10, 64); err == nil {
			s[parts[0]] = v
		}
	}
	return s
}

// onUndo records a rollback step when the entry is a multi.
func (c *applyCtx) onUndo(f func()) {
	if c.inMulti {
		c.undo = append(c.undo, f)
	}
}

// NamespaceQuota is what ZooKeeper's quota gauges report of one top-level
// namespace, summed over the quotas under it: the limits (a hard limit where
// one is set, else the soft one) and the usage the stats nodes record.
type NamespaceQuota struct {
	Namespace              string
	CountLimit, BytesLimit int64
	CountUsage, BytesUsage int64
}

// QuotaFigures walks the quota nodes as ZooKeeper's QuotaMetricsUtils does
// (quota_count_limit_per_namespace, ... quota_bytes_usage_per_namespace): each
// leaf zookeeper_limits or zookeeper_stats node under /zookeeper/quota counts
// for the namespace of its path below /zookeeper/quota. Sorted by namespace;
// nil when no quota is set.
func (t *Tree) QuotaFigures() []NamespaceQuota {
	byNS := map[string]*NamespaceQuota{}
	var names []string
	stack := []string{quotaRoot}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var data []byte
		names, data = t.childrenAndData(p, names[:0])
		if data == nil && len(names) == 0 {
			continue
		}
		for _, name := range names {
			stack = append(stack, p+"/"+name)
		}
		_, leaf := parentOf(p)
		if len(names) > 0 || leaf != quotaLimit && leaf != quotaStats {
			continue
		}
		ns := TopNamespace(p[len(quotaRoot):])
		if ns == "" {
			continue
		}
		q := byNS[ns]
		if q == nil {
			q = &NamespaceQuota{Namespace: ns}
			byNS[ns] = q
		}
		st := parseStatsTrack(data)
		if leaf == quotaLimit {
			q.CountLimit += hardOrSoft(st, "countHardLimit", "count")
			q.BytesLimit += hardOrSoft(st, "byteHardLimit", "bytes")
		} else {
			q.CountUsage += st.get("count")
			q.BytesUsage += st.get("bytes")
		}
	}
	if len(byNS) == 0 {
		return nil
	}
	out := make([]NamespaceQuota, 0, len(byNS))
	for _, q := range byNS {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b NamespaceQuota) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out
}

func hardOrSoft(st statsTrack, hard, soft string) int64 {
	if v := st.get(hard); v > -1 {
		return v
	}
	return st.get(soft)
}

// childrenAndData appends the child names of path to names and returns them
// with a copy of its data (non-nil when the node exists), without an ACL
// check: for the server's own figures.
func (t *Tree) childrenAndData(path string, names []string) ([]string, []byte) {
	s, n := t.rlock(path)
	if n == nil {
		return names, nil
	}
	defer s.mu.RUnlock()
	for c := n.first; c != 0; {
		child := t.nodes.at(c)
		names = append(names, strings.Clone(child.name()))
		c = child.next
	}
	return names, append([]byte{}, n.data()...)
}
