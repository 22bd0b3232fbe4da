package datatree

import (
	"bytes"
	"hash/crc32"
	"os"
	"testing"

	"zkd/jute"
)

func TestNodeDigestExcludesZookeeperSubtreeAndAliasesRoot(t *testing.T) {
	n := NodeImage{Path: "/zookeeper/quota", Data: []byte("x"), Czxid: 5}
	if d := NodeDigest(&n); d != 0 {
		t.Fatalf("digest of %s = %d, want 0", n.Path, d)
	}
	zk := NodeImage{Path: "/zookeeper"}
	if NodeDigest(&zk) == 0 {
		t.Fatal("/zookeeper itself must be digested")
	}
	root := NodeImage{Path: "/", Czxid: 1}
	empty := NodeImage{Path: "", Czxid: 1}
	if NodeDigest(&root) != NodeDigest(&empty) {
		t.Fatal(`"/" and "" must digest alike`)
	}
}

func TestNodeDigestReusesItsBuffers(t *testing.T) {
	n := NodeImage{Path: "/p123/n4567", Data: make([]byte, 100), Czxid: 5}
	want := NodeDigest(&n)
	allocs := testing.AllocsPerRun(100, func() {
		if NodeDigest(&n) != want {
			t.Fatal("digest changed between calls")
		}
	})
	// sync.Pool drops items at random under the race detector.
	if allocs > 0 && !raceEnabled {
		t.Errorf("NodeDigest allocates %v times a call, want 0", allocs)
	}
}

func TestNodeDigestCoversPathDataAndStatLayout(t *testing.T) {
	n := NodeImage{Path: "/a", Data: []byte("hi"), Czxid: 1, Mzxid: 2, Pzxid: 3, Ctime: 4, Mtime: 5,
		Version: 6, Cversion: 7, Aversion: 8, Owner: 9}
	// The 60-byte block, written out by hand in ZooKeeper's field order.
	block := []byte{
		0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
		0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5,
		0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8,
		0, 0, 0, 0, 0, 0, 0, 9,
	}
	want := uint64(crc32.ChecksumIEEE(append([]byte("/ahi"), block...)))
	if got := NodeDigest(&n); got != want {
		t.Fatalf("NodeDigest = %d, want %d", got, want)
	}
}

// Data from inPlaceDigestData up is checksummed where it is, not copied: the
// digest is the same as over one run of path, data and stat.
func TestNodeDigestOfLargeDataIsTheSame(t *testing.T) {
	for _, size := range []int{inPlaceDigestData - 1, inPlaceDigestData, 1 << 20} {
		data := bytes.Repeat([]byte{0x5a}, size)
		n := NodeImage{Path: "/big", Data: data, Czxid: 1, Mzxid: 2, Version: 3, Owner: 4}
		st := persisted{czxid: 1, mzxid: 2, version: 3, owner: 4}
		want := uint64(crc32.ChecksumIEEE(appendStat(append([]byte("/big"), data...), &st)))
		if got := NodeDigest(&n); got != want {
			t.Fatalf("%d bytes of data: NodeDigest = %d, want %d", size, got, want)
		}
	}
}

// TestDigestMatchesZooKeeperSnapshot: the sum of NodeDigest over the nodes of a
// snapshot written by ZooKeeper 3.8.0 equals the tree digest it stored beside them
// (testdata/zk-3.8.0-snapshot.11a, from fixtures/zk-3.8.0/datadir: 53 nodes with
// containers, TTL and ephemeral nodes, quota nodes, and the digest of zxid 0x11a).
func TestDigestMatchesZooKeeperSnapshot(t *testing.T) {
	raw, err := os.ReadFile("testdata/zk-3.8.0-snapshot.11a")
	if err != nil {
		t.Fatal(err)
	}
	d := jute.NewDecoder(raw)
	if magic, version := d.Int(), d.Int(); magic != 0x5a4b534e || version != 2 {
		t.Fatalf("header %#x %d", magic, version)
	}
	d.Long() // dbid
	for n := d.Int(); n > 0; n-- {
		d.Long() // session id
		d.Int()  // timeout
	}
	acls := map[int64][]jute.ACL{}
	for n := d.Int(); n > 0; n-- {
		idx := d.Long()
		var l []jute.ACL
		for k := d.Int(); k > 0; k-- {
			l = append(l, jute.ACL{Perms: d.Int(), ID: jute.Id{Scheme: d.String(), ID: d.String()}})
		}
		acls[idx] = l
	}
	var sum uint64
	nodes := 0
	for {
		path := d.String()
		if path == "/" { // end of the nodes; then a checksum and "/" close the tree
			if d.Long(); d.String() != "/" {
				t.Fatalf("after %d nodes: no end of tree", nodes)
			}
			break
		}
		img := NodeImage{Path: path, Data: d.Buffer()}
		img.ACL = acls[d.Long()]
		img.Czxid, img.Mzxid, img.Ctime, img.Mtime = d.Long(), d.Long(), d.Long(), d.Long()
		img.Version, img.Cversion, img.Aversion = d.Int(), d.Int(), d.Int()
		img.Owner, img.Pzxid = d.Long(), d.Long()
		if d.Err() != nil {
			t.Fatalf("node %d: %v", nodes, d.Err())
		}
		sum += NodeDigest(&img)
		nodes++
	}
	zxid, version, want := d.Long(), d.Int(), uint64(d.Long())
	if d.Err() != nil || zxid != 0x11a || version != DigestVersion || nodes != 53 {
		t.Fatalf("digest section: zxid %#x version %d after %d nodes: %v", zxid, version, nodes, d.Err())
	}
	if sum != want {
		t.Fatalf("sum of NodeDigest over %d nodes = %#x, ZooKeeper stored %#x", nodes, sum, want)
	}
}

// imageDigest sums NodeDigest over a frozen image of tr and restores a second tree
// from the same image.
func imageDigest(t *testing.T, tr *Tree) (sum uint64, restored *Tree) {
	t.Helper()
	im, err := tr.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	defer im.Release()
	var imgs []NodeImage
	if err := im.Nodes(func(n *NodeImage) error {
		sum += NodeDigest(n)
		imgs = append(imgs, *n)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	i := 0
	restored, err = Restore(tr.cfg, tr.LastZxid(), im.Sessions(), func() (*NodeImage, error) {
		if i == len(imgs) {
			return nil, nil
		}
		i++
		return &imgs[i-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum, restored
}

// TestDigestFollowsEveryChange: after every kind of entry, the running digest equals
// the sum of NodeDigest over a snapshot image, and a tree restored from that image
// computes the same digest.
func TestDigestFollowsEveryChange(t *testing.T) {
	h := newHarness(t, Config{ExtendedTypes: true})
	const other jute.SessionID = 0x0100000000020000
	steps := []struct {
		name string
		do   func()
	}{
		{"create", func() { h.mustCreate("/a", "data", 0) }},
		{"create null data", func() { h.createFull(jute.OpCreate2, "/a/null", nil, jute.OpenACLUnsafe, 0, 0) }},
		{"sequential", func() { h.mustCreate("/a/s-", "x", 2) }},
		{"setData", func() { h.setData("/a", "longer data", -1) }},
		{"setData root", func() { h.setData("/", "r", -1) }},
		{"setACL", func() { h.mustCreate("/ro", "", 0); h.setACL("/ro", jute.ReadACLUnsafe, -1) }},
		{"failed setData", func() { h.setData("/a", "no", 42) }},
		{"multi", func() { h.multi(opCreate("/m", "1", 0), opSetData("/m", "2", -1), opDelete("/a/null", -1)) }},
		{"failed multi", func() { h.multi(opCreate("/m2", "1", 0), opDelete("/a/null", -1), opCheck("/m", 7)) }},
		{"ephemeral", func() {
			h.openSession(other)
			h.sid = other
			h.mustCreate("/e", "", 1)
			h.mustCreate("/m/e", "", 3)
			h.sid = testSession
		}},
		{"closeSession", func() { h.closeSession(other) }},
		{"container", func() {
			h.createFull(jute.OpCreateContainer, "/c", nil, jute.OpenACLUnsafe, 4, 0)
			h.mustCreate("/c/x", "", 0)
			h.delete("/c/x", -1)
		}},
		{"reap", func() { h.reap("/c", h.now) }},
		{"ttl", func() { h.createFull(jute.OpCreateTTL, "/t", []byte("t"), jute.OpenACLUnsafe, 5, 10) }},
		{"quota", func() {
			h.setQuota("/a", "count=5,bytes=-1")
			h.mustCreate("/a/q", "quoted", 0)
		}},
		{"delete", func() { h.delete("/a/q", -1) }},
	}
	for _, st := range steps {
		st.do()
		sum, restored := imageDigest(t, h.tree)
		if got := h.tree.Digest(); got != sum {
			t.Fatalf("after %s: running digest %#x, image sums to %#x", st.name, got, sum)
		}
		if got := restored.Digest(); got != sum {
			t.Fatalf("after %s: restored tree's digest %#x, want %#x", st.name, got, sum)
		}
		if diff := diffDumps(dumpTree(h.tree), dumpTree(restored)); diff != "" {
			t.Fatalf("after %s: restored tree differs:%s", st.name, diff)
		}
	}
}
