package datatree

import (
	"testing"

	"zkd/jute"
)

const cfgText = "server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\nversion="

// The bootstrap sets /zookeeper/config as ZooKeeper's initConfigInZKDatabase does.
func TestSetConfigStat(t *testing.T) {
	tr := New(Config{})
	before := tr.ApproximateDataSize()
	tr.SetConfig([]byte(cfgText+"0"), 0, 0)
	data, st := tr.Config()
	if string(data) != cfgText+"0" {
		t.Fatalf("data %q", data)
	}
	if st.Version != -1 || st.Mzxid != 0 || st.Aversion != -1 || st.DataLength != int32(len(cfgText)+1) {
		t.Fatalf("stat %+v", st)
	}
	if got := tr.ApproximateDataSize() - before; got != int64(len(cfgText)+1) {
		t.Fatalf("data size grew by %d", got)
	}
	if acl := tr.ConfigACL(); len(acl) != 1 || acl[0].Perms != jute.PermRead {
		t.Fatalf("acl %v", acl)
	}
}

// A reconfig sets the node with ZooKeeper's Stat rules, fires NodeDataChanged to
// a watcher of the node, answers with the GetDataResponse, and keeps its place
// among the connection's writes.
func TestApplyReconfig(t *testing.T) {
	h := newHarness(t, Config{})
	const sid jute.SessionID = 0x0200000000000001
	const conn = 77
	if r := h.applyTxn(Txn{Kind: KindCreateSession, Session: sid, Timeout: 30000, Conn: conn}); r.Err != jute.CodeOK {
		t.Fatal(r.Err)
	}
	w := newWatcher("w", nil)
	if _, _, code := h.tree.GetData(ConfigPath, w, nil); code != jute.CodeOK {
		t.Fatal(code)
	}
	txn := Txn{Kind: KindRequest, Session: sid, Op: jute.OpReconfig, Time: 1234, Conn: conn, ConnSeq: 1}
	h.zxid++
	res := h.tree.ApplyReconfig(h.zxid, &txn, []byte(cfgText+"4"))
	if res.Err != jute.CodeOK {
		t.Fatal(res.Err)
	}
	d := jute.NewDecoder(res.Body)
	data := d.Buffer()
	var st jute.Stat
	st.Decode(&d)
	mustDecoded(t, &d)
	if string(data) != cfgText+"4" || st.Version != -1 || st.Mzxid != int64(h.zxid) || st.Mtime != 1234 {
		t.Fatalf("reply %q %+v", data, st)
	}
	got := expectEvents(t, w, ev(jute.EventNodeDataChanged, ConfigPath))
	if got[0].Zxid != h.zxid {
		t.Fatalf("event zxid %v, want %v", got[0].Zxid, h.zxid)
	}
	if c, seq, ok := h.tree.ConnState(sid); !ok || c != conn || seq != 1 {
		t.Fatalf("conn state %d %d %v", c, seq, ok)
	}

	// Out of its connection's order: the membership changed anyway (the node
	// follows it), but the client is not told it succeeded.
	txn.ConnSeq = 3
	h.zxid++
	res = h.tree.ApplyReconfig(h.zxid, &txn, []byte(cfgText+"6"))
	if res.Err != CodeOutOfOrder || res.Body != nil {
		t.Fatalf("out of order: %v %q", res.Err, res.Body)
	}
	if data, st := h.tree.Config(); string(data) != cfgText+"6" || st.Mzxid != int64(h.zxid) {
		t.Fatalf("node %q %+v", data, st)
	}

	// A refusal takes the next number of the connection and carries its code.
	txn.ConnSeq = 2
	h.zxid++
	if res := h.tree.ApplyRefused(h.zxid, &txn, jute.CodeBadVersion); res.Err != jute.CodeBadVersion {
		t.Fatal(res.Err)
	}
	txn.ConnSeq = 2
	h.zxid++
	if res := h.tree.ApplyRefused(h.zxid, &txn, jute.CodeBadVersion); res.Err != CodeOutOfOrder {
		t.Fatalf("repeated refusal: %v", res.Err)
	}
	if h.tree.LastZxid() != h.zxid {
		t.Fatalf("last zxid %v", h.tree.LastZxid())
	}
}
