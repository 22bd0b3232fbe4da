package zkdisk

import (
	"encoding/binary"
	"hash/adler32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestZooKeeperLoadsExports exports the fixture's tree in each codec and starts
// Apache ZooKeeper 3.8 on it: it must serve the tree the fixture's server served
// and find the digest section right; a digest altered by one (its seal fixed up)
// must be the one ZooKeeper counts as a mismatch, so the check above is real.
func TestZooKeeperLoadsExports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Apache ZooKeeper")
	}
	zooKeeperCmd(t)
	_, want := expectedTree(t, filepath.Join(fixtureDir, "expected-tree.json"))
	cases := []struct {
		name       string
		codec      Codec
		badDigest  bool
		mismatches string
	}{
		{"codec=gz", CodecGzip, false, "0"},
		{"codec=snappy", CodecSnappy, false, "0"},
		{"digest=wrong", CodecPlain, true, "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree, _ := loadTree(t, LoadOptions{DataDir: fixtureDir})
			dir := filepath.Join(t.TempDir(), "zk")
			sum, err := Export(tree, ExportOptions{Dir: dir, Codec: c.codec})
			if err != nil {
				t.Fatal(err)
			}
			if c.badDigest {
				breakDigest(t, sum.Output)
			}
			srv := startZooKeeper(t, dir, "")
			conn := connect(t, srv.addr, 30*time.Second)
			if err := conn.AddAuth("digest", []byte("bob:secret")); err != nil {
				t.Fatal(err)
			}
			compareTrees(t, want, servedTree(t, conn))
			if v := mntrValue(t, srv.addr, "zk_digest_mismatches_count"); v != c.mismatches {
				t.Errorf("zk_digest_mismatches_count = %s, want %s", v, c.mismatches)
			}
		})
	}
}

// breakDigest adds one to the digest of a plain snapshot's digest section and
// recomputes seal 2, so that only the digest is wrong.
//
//	... | zxid 8 | version 4 | digest 8 | seal 8 | "/" 5 |
func breakDigest(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := len(b) - 13 - 8
	binary.BigEndian.PutUint64(b[at:], binary.BigEndian.Uint64(b[at:])+1)
	binary.BigEndian.PutUint64(b[len(b)-13:], uint64(adler32.Checksum(b[:len(b)-13])))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Our own reader agrees the file is sound but the digest is not.
	if _, err := Load(LoadOptions{DataDir: filepath.Dir(filepath.Dir(path))}); err == nil {
		t.Fatal("Load accepted a snapshot whose digest is wrong")
	}
}
