package datatree

import (
	"hash/crc32"
	"testing"
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
