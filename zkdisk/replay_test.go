package zkdisk

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"zkd/datatree"
	"zkd/jute"
)

const sess = int64(0x100000000000001)

// hdr is a txn header of session sess at zxid (time = zxid * 1000).
func hdr(zxid int64, typ jute.OpCode) TxnHeader {
	return TxnHeader{ClientID: sess, Cxid: int32(zxid), Zxid: zxid, Time: zxid * 1000, Type: typ}
}

func create(zxid int64, path, data string, parentCV int32) *Txn {
	return &Txn{Header: hdr(zxid, jute.OpCreate), Body: &CreateTxn{Path: path, Data: []byte(data), ACL: jute.OpenACLUnsafe, ParentCVersion: parentCV}}
}

func del(zxid int64, path string) *Txn {
	return &Txn{Header: hdr(zxid, jute.OpDelete), Body: &DeleteTxn{Path: path}}
}

func setData(zxid int64, path, data string, version int32) *Txn {
	return &Txn{Header: hdr(zxid, jute.OpSetData), Body: &SetDataTxn{Path: path, Data: []byte(data), Version: version}}
}

// applyAll applies txns to t, failing on a malformed one.
func applyAll(t *testing.T, tr *zkTree, txns ...*Txn) {
	t.Helper()
	for _, x := range txns {
		if _, err := tr.apply(x); err != nil {
			t.Fatalf("apply %+v: %v", x.Header, err)
		}
	}
}

func nodeOf(t *testing.T, tr *zkTree, path string) datatree.NodeImage {
	t.Helper()
	n := tr.nodes[path]
	if n == nil {
		t.Fatalf("%s missing", path)
	}
	return n.img
}

// checkDigest recomputes the tree digest from scratch: the running one must agree.
func checkDigest(t *testing.T, tr *zkTree) {
	t.Helper()
	var sum uint64
	for _, n := range tr.nodes {
		sum += n.digest()
	}
	if sum != tr.digest {
		t.Fatalf("running digest %d, recomputed %d", tr.digest, sum)
	}
}

// TestReplayRules checks, txn by txn, the rules that make ZooKeeper's replay over
// a fuzzy snapshot converge (DataTree.processTxn), and that the running digest
// follows every change.
func TestReplayRules(t *testing.T) {
	t.Run("create of an existing node fixes the parent (create only)", func(t *testing.T) {
		tr := newEmptyZkTree()
		applyAll(t, tr, create(2, "/a", "x", 1), create(3, "/a/b", "", 1))
		// Replayed over a snapshot that has /a/b already: cversion goes to the
		// txn's, pzxid to its zxid, and the ACL is the txn's.
		acl := []jute.ACL{{Perms: jute.PermRead, ID: jute.Id{Scheme: "world", ID: "anyone"}}}
		x := create(5, "/a/b", "", 3)
		x.Body.(*CreateTxn).ACL = acl
		code, _ := tr.apply(x)
		a := nodeOf(t, tr, "/a")
		if code != jute.CodeNodeExists || a.Cversion != 3 || a.Pzxid != 5 || !slices.Equal(nodeOf(t, tr, "/a/b").ACL, acl) {
			t.Fatalf("code %v, /a cversion %d pzxid %d, acl %v", code, a.Cversion, a.Pzxid, nodeOf(t, tr, "/a/b").ACL)
		}
		// Never backwards.
		applyAll(t, tr, create(6, "/a/b", "", 2))
		if a := nodeOf(t, tr, "/a"); a.Cversion != 3 || a.Pzxid != 5 {
			t.Fatalf("older create moved /a to cversion %d pzxid %d", a.Cversion, a.Pzxid)
		}
		// create2 and the other kinds leave the parent alone.
		x = create(7, "/a/b", "", 9)
		x.Header.Type = jute.OpCreate2
		applyAll(t, tr, x)
		if a := nodeOf(t, tr, "/a"); a.Cversion != 3 {
			t.Fatalf("create2 replay moved cversion to %d", a.Cversion)
		}
		checkDigest(t, tr)
	})
	t.Run("delete of a missing node still moves the parent's pzxid", func(t *testing.T) {
		tr := newEmptyZkTree()
		applyAll(t, tr, create(2, "/a", "", 1), create(3, "/a/b", "", 1), del(4, "/a/b"))
		code, _ := tr.apply(del(9, "/a/b"))
		if a := nodeOf(t, tr, "/a"); code != jute.CodeNoNode || a.Pzxid != 9 {
			t.Fatalf("code %v pzxid %#x", code, a.Pzxid)
		}
		applyAll(t, tr, del(6, "/a/gone"))
		if a := nodeOf(t, tr, "/a"); a.Pzxid != 9 {
			t.Fatalf("an older delete moved pzxid back to %#x", a.Pzxid)
		}
		checkDigest(t, tr)
	})
	t.Run("legacy create without parentCVersion increments", func(t *testing.T) {
		tr := newEmptyZkTree()
		applyAll(t, tr, create(2, "/a", "", -1), create(3, "/b", "", -1))
		if r := nodeOf(t, tr, "/"); r.Cversion != 2 || r.Pzxid != 3 {
			t.Fatalf("root cversion %d pzxid %#x", r.Cversion, r.Pzxid)
		}
	})
	t.Run("setData and setACL carry the new versions", func(t *testing.T) {
		tr := newEmptyZkTree()
		applyAll(t, tr, create(2, "/a", "", 1), setData(3, "/a", "v7", 7),
			&Txn{Header: hdr(4, jute.OpSetACL), Body: &SetACLTxn{Path: "/a", ACL: jute.ReadACLUnsafe, Version: 4}})
		a := nodeOf(t, tr, "/a")
		if a.Version != 7 || string(a.Data) != "v7" || a.Mzxid != 3 || a.Mtime != 3000 || a.Aversion != 4 || !slices.Equal(a.ACL, jute.ReadACLUnsafe) {
			t.Fatalf("/a = %+v", a)
		}
		checkDigest(t, tr)
	})
	t.Run("closeSession deletes the listed paths and the session's others", func(t *testing.T) {
		tr := newEmptyZkTree()
		applyAll(t, tr, &Txn{Header: hdr(1, jute.OpCreateSession), Body: &CreateSessionTxn{Timeout: 5000}})
		for i, p := range []string{"/e1", "/e2", "/e3"} {
			x := create(int64(2+i), p, "", int32(1+i))
			x.Body.(*CreateTxn).Ephemeral = true
			applyAll(t, tr, x)
		}
		applyAll(t, tr, create(5, "/keep", "", 4))
		if tr.sessions[sess] != 5000 || len(tr.ephemerals[sess]) != 3 {
			t.Fatalf("sessions %v ephemerals %v", tr.sessions, tr.ephemerals)
		}
		applyAll(t, tr, &Txn{Header: hdr(6, jute.OpCloseSession), Body: &CloseSessionTxn{Paths: []string{"/e1"}}})
		for _, p := range []string{"/e1", "/e2", "/e3"} {
			if tr.nodes[p] != nil {
				t.Errorf("%s survived its session", p)
			}
		}
		if _, ok := tr.sessions[sess]; ok || tr.nodes["/keep"] == nil || nodeOf(t, tr, "/").Pzxid != 6 {
			t.Fatalf("after close: sessions %v, root %+v", tr.sessions, nodeOf(t, tr, "/"))
		}
		// The old form, without a body.
		applyAll(t, tr, &Txn{Header: hdr(7, jute.OpCreateSession), Body: &CreateSessionTxn{Timeout: 1}})
		x := create(8, "/e4", "", 5)
		x.Body.(*CreateTxn).Ephemeral = true
		applyAll(t, tr, x, &Txn{Header: hdr(9, jute.OpCloseSession)})
		if tr.nodes["/e4"] != nil {
			t.Error("body-less closeSession left the ephemeral")
		}
		checkDigest(t, tr)
	})
	t.Run("a failed multi changes nothing; a good one applies every op", func(t *testing.T) {
		tr := newEmptyZkTree()
		applyAll(t, tr, create(2, "/a", "x", 1))
		before := tr.digest
		sub := func(typ jute.OpCode, b Body) SubTxn { return SubTxn{Type: typ, Body: b} }
		failed := &Txn{Header: hdr(3, jute.OpMulti), Body: &MultiTxn{Txns: []SubTxn{
			sub(jute.OpCreate, &CreateTxn{Path: "/m", ACL: jute.OpenACLUnsafe, ParentCVersion: 2}),
			sub(jute.OpSetData, &SetDataTxn{Path: "/a", Data: []byte("y"), Version: 1}),
			sub(jute.OpError, &ErrorTxn{Err: int32(jute.CodeBadVersion)}),
			sub(jute.OpError, &ErrorTxn{Err: int32(jute.CodeRuntimeInconsistency)}),
		}}}
		if code, _ := tr.apply(failed); code != jute.CodeBadVersion || tr.nodes["/m"] != nil || tr.digest != before {
			t.Fatalf("failed multi: code %v, /m %v", code, tr.nodes["/m"])
		}
		good := &Txn{Header: hdr(4, jute.OpMulti), Body: &MultiTxn{Txns: []SubTxn{
			sub(jute.OpCreate, &CreateTxn{Path: "/m", ACL: jute.OpenACLUnsafe, ParentCVersion: 2}),
			sub(jute.OpSetData, &SetDataTxn{Path: "/a", Data: []byte("y"), Version: 1}),
			sub(jute.OpCheck, &CheckVersionTxn{Path: "/a", Version: 1}),
			sub(jute.OpDelete, &DeleteTxn{Path: "/m"}),
		}}}
		if code, _ := tr.apply(good); code != jute.CodeOK || tr.nodes["/m"] != nil || string(nodeOf(t, tr, "/a").Data) != "y" || nodeOf(t, tr, "/").Cversion != 2 {
			t.Fatalf("good multi: code %v", code)
		}
		checkDigest(t, tr)
	})
	t.Run("quota statistics follow the subtree", func(t *testing.T) {
		tr := newEmptyZkTree()
		applyAll(t, tr, create(2, "/q", "", 1), create(3, "/q/a", "12345", 1),
			create(4, "/zookeeper/quota/q", "", 1),
			create(5, "/zookeeper/quota/q/zookeeper_limits", "count=10,bytes=-1", 1),
			create(6, "/zookeeper/quota/q/zookeeper_stats", "count=0,bytes=0=;countHardLimit=3", 2))
		stats := func() string { return string(nodeOf(t, tr, "/zookeeper/quota/q/zookeeper_stats").Data) }
		if s := stats(); s != "count=2,bytes=5" {
			t.Fatalf("stats after creation %q", s)
		}
		applyAll(t, tr, create(7, "/q/b", "xy", 2), setData(8, "/q/a", "1", 1), del(9, "/q/b"))
		if s := stats(); s != "count=2,bytes=1" {
			t.Fatalf("stats %q", s)
		}
		// Deleting the limits node ends the quota.
		applyAll(t, tr, del(10, "/zookeeper/quota/q/zookeeper_limits"), create(11, "/q/c", "zzz", 3))
		if s := stats(); s != "count=2,bytes=1" {
			t.Fatalf("stats after the quota ended %q", s)
		}
		checkDigest(t, tr)
	})
	t.Run("txns no ZooKeeper writes are refused", func(t *testing.T) {
		tr := newEmptyZkTree()
		for _, x := range []*Txn{
			create(2, "relative", "", 1),
			{Header: hdr(3, jute.OpCreateTTL), Body: &CreateTTLTxn{Path: "/t", TTL: 0}},
			{Header: hdr(4, jute.OpCreateTTL), Body: &CreateTTLTxn{Path: "/t", TTL: maxTTL + 1}},
			del(5, "/"),
		} {
			if _, err := tr.apply(x); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%+v: %v", x.Body, err)
			}
		}
	})
}

func TestStatsTrackFormat(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"count=4,bytes=6", "count=4,bytes=6"},
		{"", "count=-1,bytes=-1"},
		{"count=1,bytes=2=;countHardLimit=10;byteHardLimit=-1", "count=1,bytes=2=;byteHardLimit=-1;countHardLimit=10"},
		{"bytes=7,count=3", "count=3,bytes=7"},
	} {
		st := parseStatsTrack([]byte(c.in))
		if got := string(st.bytes()); got != c.out {
			t.Errorf("%q -> %q, want %q", c.in, got, c.out)
		}
	}
}

func TestCheckNextZxid(t *testing.T) {
	for _, c := range []struct {
		prev, next int64
		want       error
	}{
		{5, 6, nil},
		{5, 7, ErrLogGap},
		{5, 5, ErrCorrupt},
		{5, 4, ErrCorrupt},
		{0x100000005, 0x200000001, nil},
		{0x100000005, 0x300000007, nil}, // a new epoch may start anywhere
		{0x200000001, 0x100000009, ErrCorrupt},
	} {
		if err := checkNext(c.prev, c.next); !errors.Is(err, c.want) && (err != nil || c.want != nil) {
			t.Errorf("checkNext(%#x, %#x) = %v, want %v", c.prev, c.next, err, c.want)
		}
	}
}

// TestTxnEncoding round-trips every body type through AppendTxn and DecodeTxn,
// and checks the fallbacks ZooKeeper's reader has for old records.
func TestTxnEncoding(t *testing.T) {
	acl := []jute.ACL{{Perms: 31, ID: jute.Id{Scheme: "digest", ID: "u:h"}}}
	bodies := map[jute.OpCode]Body{
		jute.OpCreateSession:   &CreateSessionTxn{Timeout: 30000},
		jute.OpCloseSession:    &CloseSessionTxn{Paths: []string{"/a", "/b"}},
		jute.OpCreate:          &CreateTxn{Path: "/a", Data: []byte("d"), ACL: acl, Ephemeral: true, ParentCVersion: 3},
		jute.OpCreate2:         &CreateTxn{Path: "/a", Data: nil, ACL: acl, ParentCVersion: 3},
		jute.OpCreateContainer: &CreateContainerTxn{Path: "/c", Data: []byte{}, ACL: acl, ParentCVersion: 1},
		jute.OpCreateTTL:       &CreateTTLTxn{Path: "/t", Data: []byte("t"), ACL: acl, ParentCVersion: 2, TTL: 1000},
		jute.OpDelete:          &DeleteTxn{Path: "/a"},
		jute.OpDeleteContainer: &DeleteTxn{Path: "/c"},
		jute.OpSetData:         &SetDataTxn{Path: "/a", Data: []byte("x"), Version: 2},
		jute.OpReconfig:        &SetDataTxn{Path: "/zookeeper/config", Data: []byte("server.1=h:1:2"), Version: -1},
		jute.OpSetACL:          &SetACLTxn{Path: "/a", ACL: acl, Version: 1},
		jute.OpError:           &ErrorTxn{Err: -101},
		jute.OpCheck:           &CheckVersionTxn{Path: "/a", Version: 1},
		jute.OpMulti: &MultiTxn{Txns: []SubTxn{
			{Type: jute.OpCreate, Body: &CreateTxn{Path: "/m", Data: []byte("m"), ACL: acl, ParentCVersion: 1}},
			{Type: jute.OpCheck, Body: &CheckVersionTxn{Path: "/m", Version: 0}},
			{Type: jute.OpError, Body: &ErrorTxn{Err: -2}},
		}},
	}
	for typ, body := range bodies {
		for _, digest := range []*TxnDigest{nil, {Version: 2, TreeDigest: 0xdeadbeef}} {
			in := &Txn{Header: hdr(0x1234, typ), Body: body, Digest: digest}
			b := AppendTxn(nil, in)
			out, err := DecodeTxn(b)
			if err != nil {
				t.Fatalf("%v: %v", typ, err)
			}
			if !bytes.Equal(AppendTxn(nil, out), b) || out.Header != in.Header || (out.Digest == nil) != (digest == nil) {
				t.Errorf("%v (digest %v): round trip differs: %+v", typ, digest, out)
			}
		}
	}
	// Pre-3.3 create: no parentCVersion, read as -1.
	v0 := AppendTxn(nil, &Txn{Header: hdr(1, jute.OpCreate), Body: &CreateTxn{Path: "/old", ACL: acl, V0: true}})
	if out, err := DecodeTxn(v0); err != nil || !out.Body.(*CreateTxn).V0 || out.Body.(*CreateTxn).ParentCVersion != -1 {
		t.Errorf("V0 create: %+v %v", out, err)
	}
	// closeSession without a CloseSessionTxn, a digest right after the header.
	bare := AppendTxn(nil, &Txn{Header: hdr(1, jute.OpCloseSession), Digest: &TxnDigest{Version: 2, TreeDigest: 0x7fffffff00000000}})
	if out, err := DecodeTxn(bare); err != nil || out.Body != nil || out.Digest == nil || out.Digest.TreeDigest != 0x7fffffff00000000 {
		t.Errorf("body-less closeSession: %+v %v", out, err)
	}
	for name, b := range map[string][]byte{
		"unknown type":    AppendTxn(nil, &Txn{Header: hdr(1, 99)}),
		"short header":    make([]byte, 20),
		"setACL in multi": AppendTxn(nil, &Txn{Header: hdr(1, jute.OpMulti), Body: &MultiTxn{Txns: []SubTxn{{Type: jute.OpSetACL, Body: &SetACLTxn{Path: "/a"}}}}}),
		"short setData":   AppendTxn(nil, &Txn{Header: hdr(1, jute.OpSetData), Body: &DeleteTxn{Path: "/a"}}),
	} {
		if _, err := DecodeTxn(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// zkDir writes a ZooKeeper data directory: a snapshot of nodes at snapZxid and one
// log file per txn list.
func zkDir(t *testing.T, snapZxid int64, sessions []datatree.SessionImage, nodes []datatree.NodeImage, digestAt func(int64, uint64) (int64, uint64), logs ...[]*Txn) string {
	t.Helper()
	dir := t.TempDir()
	v2 := filepath.Join(dir, VersionDir)
	if err := os.MkdirAll(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := WriteSnapshot(&buf, CodecPlain, snapZxid, sessions, slices.Clone(nodes), nil); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(v2, SnapshotName(snapZxid, CodecPlain))
	if err := os.WriteFile(snap, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if digestAt != nil {
		patchDigest(t, snap, digestAt)
	}
	for _, txns := range logs {
		b := AppendLogHeader(nil)
		for _, x := range txns {
			b = AppendLogRecord(b, AppendTxn(nil, x))
		}
		b = append(b, make([]byte, 100)...) // preallocated zeros
		if err := os.WriteFile(filepath.Join(v2, LogName(txns[0].Header.Zxid)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// patchDigest rewrites a plain snapshot's digest section (and seal 2):
//
//	... | zxid 8 | version 4 | digest 8 | seal 8 | "/" 5 |
func patchDigest(t *testing.T, path string, fn func(zxid int64, digest uint64) (int64, uint64)) {
	t.Helper()
	patchFile(t, path, func(b []byte) []byte {
		at := len(b) - 13 - 8
		z, d := fn(int64(be64(b[at-12:])), be64(b[at:]))
		putBE64(b[at-12:], uint64(z))
		putBE64(b[at:], d)
		putBE64(b[len(b)-13:], uint64(adler32Of(b[:len(b)-13])))
		return b
	})
}

// baseNodes is the special nodes of every tree, plus extra.
func baseNodes(extra ...datatree.NodeImage) []datatree.NodeImage {
	open, read := jute.OpenACLUnsafe, jute.ReadACLUnsafe
	out := []datatree.NodeImage{
		{Path: "/", Data: []byte{}, ACL: open, Cversion: 1, Pzxid: 2},
		{Path: "/zookeeper", Data: []byte{}, ACL: open},
		{Path: "/zookeeper/quota", Data: []byte{}, ACL: open},
		{Path: "/zookeeper/config", Data: []byte{}, ACL: read, Aversion: -1},
	}
	return append(out, extra...)
}

// digestOf is the tree digest of nodes.
func digestOf(nodes []datatree.NodeImage) uint64 {
	var d uint64
	for i := range nodes {
		d += datatree.NodeDigest(&nodes[i])
	}
	return d
}

// withDigest sets a txn's digest.
func withDigest(x *Txn, d uint64) *Txn {
	x.Digest = &TxnDigest{Version: 2, TreeDigest: d}
	return x
}

// TestFuzzySnapshotDigest covers a snapshot whose digest section is at its own
// zxid while its nodes already hold the next txn's change (ZooKeeper records the
// digest after writing the nodes): the next logged digest settles it; with none,
// the import refuses unless told not to verify.
func TestFuzzySnapshotDigest(t *testing.T) {
	open := jute.OpenACLUnsafe
	at2 := baseNodes(datatree.NodeImage{Path: "/a", Data: []byte("old"), ACL: open, Czxid: 2, Mzxid: 2, Pzxid: 2, Ctime: 2000, Mtime: 2000})
	at3 := slices.Clone(at2)
	at3[4].Data, at3[4].Version, at3[4].Mzxid, at3[4].Mtime = []byte("new"), 1, 3, 3000
	// The snapshot is named 0x2 and carries digest(0x2), but /a is as of 0x3.
	stale := func(int64, uint64) (int64, uint64) { return 2, digestOf(at2) }
	txn3 := func() *Txn { return setData(3, "/a", "new", 1) }
	at4 := slices.Clone(at3)
	at4[4].Data, at4[4].Version, at4[4].Mzxid, at4[4].Mtime = []byte("newer"), 2, 4, 4000

	t.Run("settled by the next txn", func(t *testing.T) {
		dir := zkDir(t, 2, nil, at3, stale, []*Txn{withDigest(txn3(), digestOf(at3)), withDigest(setData(4, "/a", "newer", 2), digestOf(at4))})
		db, err := Load(LoadOptions{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if db.Summary.DigestChecks != 2 || !strings.Contains(strings.Join(db.Summary.Warnings, " "), "was changing the nodes") {
			t.Fatalf("summary %+v", db.Summary)
		}
	})
	t.Run("fuzzy snapshot whose digest is later but still short of its nodes", func(t *testing.T) {
		// Named 0x1, digest section at 0x2, nodes as of 0x3: the digest is checked
		// when the replay reaches 0x2, and settled by 0x3's.
		dir := zkDir(t, 1, nil, at3, stale, []*Txn{withDigest(create(2, "/a", "old", 1), digestOf(at2)), withDigest(txn3(), digestOf(at3))})
		db, err := Load(LoadOptions{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if db.Summary.DigestChecks != 1 || db.Summary.Txns != 2 {
			t.Fatalf("summary %+v", db.Summary)
		}
	})
	t.Run("nothing to settle it", func(t *testing.T) {
		dir := zkDir(t, 2, nil, at3, stale, []*Txn{txn3()})
		if _, err := Load(LoadOptions{DataDir: dir}); !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("error %v", err)
		}
		db, err := Load(LoadOptions{DataDir: dir, NoVerifyDigest: true})
		if err != nil || db.Summary.DigestMismatches != 1 {
			t.Fatalf("with NoVerifyDigest: %v %+v", err, db)
		}
	})
	t.Run("a later txn digest that differs", func(t *testing.T) {
		dir := zkDir(t, 2, nil, at3, stale, []*Txn{withDigest(txn3(), digestOf(at3)+1)})
		_, err := Load(LoadOptions{DataDir: dir})
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "log.3 zxid 0x3") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestFuzzySnapshotReplay builds the snapshot states ZooKeeper can write while
// txns are applied and checks that the replay ends at the true tree.
func TestFuzzySnapshotReplay(t *testing.T) {
	open := jute.OpenACLUnsafe
	node := func(path, data string, czxid, mzxid, pzxid int64, cv int32) datatree.NodeImage {
		return datatree.NodeImage{Path: path, Data: []byte(data), ACL: open, Czxid: czxid, Mzxid: mzxid, Pzxid: pzxid,
			Ctime: czxid * 1000, Mtime: mzxid * 1000, Cversion: cv}
	}
	// The truth after 0x2..0x6: create /a, create /a/b, delete /a/b, delete /a,
	// create /a again.
	txns := []*Txn{create(2, "/a", "1", 2), create(3, "/a/b", "", 1), del(4, "/a/b"), del(5, "/a"), create(6, "/a", "2", 3)}
	want := baseNodes(node("/a", "2", 6, 6, 6, 0))
	want[0].Cversion, want[0].Pzxid = 3, 6
	for _, c := range []struct {
		name  string
		zxid  int64
		nodes []datatree.NodeImage
	}{
		// Snapshot started at 0x1 but caught /a and /a/b.
		{"creates in the snapshot", 1, baseNodes(node("/a", "1", 2, 2, 3, 1), node("/a/b", "", 3, 3, 3, 0))},
		// Started at 0x3 and caught the delete of /a/b only.
		{"delete in the snapshot", 3, baseNodes(node("/a", "1", 2, 2, 4, 1))},
		// Started at 0x4, caught everything.
		{"all in the snapshot", 4, want},
	} {
		t.Run(c.name, func(t *testing.T) {
			nodes := slices.Clone(c.nodes)
			if c.zxid == 1 || c.zxid == 3 {
				nodes[0].Cversion, nodes[0].Pzxid = 2, 2
			}
			var log []*Txn
			for _, x := range txns {
				if x.Header.Zxid > c.zxid {
					log = append(log, x)
				}
			}
			dir := zkDir(t, c.zxid, nil, nodes, nil, log)
			tree, sum := loadTree(t, LoadOptions{DataDir: dir})
			got := treeState(t, tree)
			a := got["/a"]
			if sum.LastZxid != 6 || len(got) != len(want) || string(a.Data) != "2" || a.Stat.Czxid != 6 || a.Stat.NumChildren != 0 {
				t.Fatalf("after replay: %v", got)
			}
			if r := got["/"]; r.Stat.Pzxid != 6 {
				t.Fatalf("root %+v", r.Stat)
			}
		})
	}
}
