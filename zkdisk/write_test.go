package zkdisk

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/snapshot"
)

// randomTree makes a tree of n nodes with every kind of owner, null, empty and
// binary data, and a few ACL lists, from seed.
func randomTree(seed uint64, n int) ([]datatree.SessionImage, []datatree.NodeImage) {
	rng := rand.New(rand.NewPCG(seed, 0))
	acls := [][]jute.ACL{jute.OpenACLUnsafe, jute.ReadACLUnsafe,
		{{Perms: 31, ID: jute.Id{Scheme: "digest", ID: "alice:UQ2dWeCpd7s2mJ3cAB0T5uBxRXc="}}, {Perms: 1, ID: jute.Id{Scheme: "world", ID: "anyone"}}},
		{{Perms: 3, ID: jute.Id{Scheme: "ip", ID: "10.0.0.0/8"}}}}
	sessions := []datatree.SessionImage{{ID: 0x1000001, Timeout: 30000}, {ID: 0x1000002, Timeout: 4000}}
	nodes := baseNodes()
	paths := []string{"/"}
	for i := 0; len(nodes) < n; i++ {
		parent := paths[rng.IntN(len(paths))]
		if parent == "/zookeeper" || parent == "/zookeeper/config" {
			continue
		}
		p := childPath(parent, fmt.Sprintf("n%d", i))
		var data []byte
		switch rng.IntN(4) {
		case 0:
		case 1:
			data = []byte{}
		default:
			data = make([]byte, rng.IntN(200))
			for j := range data {
				data[j] = byte(rng.IntN(256))
			}
		}
		var owner int64
		switch rng.IntN(6) {
		case 0:
			owner = int64(sessions[rng.IntN(2)].ID)
		case 1:
			owner = containerOwner
		case 2:
			owner = ttlMask | int64(1+rng.IntN(1000000))
		}
		z := int64(i + 10)
		nodes = append(nodes, datatree.NodeImage{Path: p, Data: data, ACL: acls[rng.IntN(len(acls))],
			Czxid: z, Mzxid: z + int64(rng.IntN(5)), Pzxid: z, Ctime: z * 7, Mtime: z * 9,
			Version: int32(rng.IntN(5)), Cversion: int32(rng.IntN(5)), Aversion: int32(rng.IntN(3)), Owner: owner})
		if owner == 0 || owner == containerOwner || isTTLOwner(owner) {
			paths = append(paths, p)
		}
	}
	return sessions, nodes
}

// TestWriteSnapshotReadsBack writes snapshots in every codec and reads them back:
// the same sessions, nodes and ACLs, every seal right, and the digest section
// holding the digest of the nodes.
func TestWriteSnapshotReadsBack(t *testing.T) {
	sessions, nodes := randomTree(1, 3000)
	want := map[string]datatree.NodeImage{}
	for _, n := range nodes {
		want[n.Path] = n
	}
	for _, c := range []Codec{CodecPlain, CodecGzip, CodecSnappy} {
		t.Run("codec="+c.String(), func(t *testing.T) {
			var buf bytes.Buffer
			info, err := WriteSnapshot(&buf, c, 0x500000123, sessions, slices.Clone(nodes), nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Nodes != int64(len(nodes)) || info.Digest != digestOf(nodes) {
				t.Fatalf("info %+v", info)
			}
			seen := map[string]bool{}
			got, err := ReadSnapshot(&buf, c, "written", ReadOptions{}, func(n *SnapNode) error {
				p := n.Path
				if p == "" {
					p = "/"
				} else if parent, _ := splitPath(p); !seen[parent] {
					return fmt.Errorf("%s before its parent", p)
				}
				seen[p] = true
				w := want[p]
				st := n.Stat
				img := datatree.NodeImage{Path: p, Data: n.Data, ACL: n.ACL, Czxid: st.Czxid, Mzxid: st.Mzxid, Ctime: st.Ctime, Mtime: st.Mtime,
					Version: st.Version, Cversion: st.Cversion, Aversion: st.Aversion, Owner: st.EphemeralOwner, Pzxid: st.Pzxid}
				if (img.Data == nil) != (w.Data == nil) || !bytes.Equal(img.Data, w.Data) || !slices.Equal(img.ACL, w.ACL) {
					return fmt.Errorf("%s: data or ACL differ", p)
				}
				img.Data, img.ACL, w.Data, w.ACL = nil, nil, nil, nil
				if fmt.Sprint(img) != fmt.Sprint(w) {
					return fmt.Errorf("%s: %+v, want %+v", p, img, w)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Nodes != int64(len(nodes)) || !slices.Equal(got.Sessions, sessions) || got.Digest == nil ||
				got.Digest.Zxid != 0x500000123 || got.Digest.Digest != info.Digest || got.DBID != -1 {
				t.Fatalf("read back %+v", got)
			}
		})
	}
}

// TestWriteSnapshotRefusesNonTrees checks the writer's input validation.
func TestWriteSnapshotRefusesNonTrees(t *testing.T) {
	for name, nodes := range map[string][]datatree.NodeImage{
		"no root":   {{Path: "/a"}},
		"duplicate": baseNodes(datatree.NodeImage{Path: "/a"}, datatree.NodeImage{Path: "/a"}),
		"bad path":  baseNodes(datatree.NodeImage{Path: "/a/"}),
	} {
		if _, err := WriteSnapshot(&bytes.Buffer{}, CodecPlain, 1, nil, nodes, nil); !errors.Is(err, ErrBadTree) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestExportThenLoad exports a zkd tree as a ZooKeeper data directory and loads it
// back: the same tree, sessions and zxid, the epoch files saying the zxid's epoch.
func TestExportThenLoad(t *testing.T) {
	sessions, nodes := randomTree(2, 2000)
	const zxid = 0x300000042
	tree, err := datatree.Restore(datatree.Config{ExtendedTypes: true}, zxid, sessions, sliceNodes(nodes))
	if err != nil {
		t.Fatal(err)
	}
	want := treeState(t, tree)
	dir := filepath.Join(t.TempDir(), "zk")
	sum, err := Export(tree, ExportOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Znodes != int64(len(nodes)) || sum.LastZxid != zxid || sum.Sessions != 2 {
		t.Fatalf("summary %+v", sum)
	}
	for _, f := range []string{"acceptedEpoch", "currentEpoch"} {
		if b, err := os.ReadFile(filepath.Join(dir, VersionDir, f)); err != nil || string(b) != "3" {
			t.Errorf("%s = %q, %v", f, b, err)
		}
	}
	back, lsum := loadTree(t, LoadOptions{DataDir: dir})
	compareTrees(t, want, treeState(t, back))
	if lsum.LastZxid != zxid || lsum.DigestChecks != 1 || lsum.Sessions != 2 {
		t.Errorf("loaded %+v", lsum)
	}
	// A second export to the same place is refused and changes nothing.
	if _, err := Export(tree, ExportOptions{Dir: dir}); !errors.Is(err, ErrTargetExists) {
		t.Errorf("second export: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("export dir holds %v", ents)
	}
}

// TestWriteZkdDataDir writes an imported tree as a zkd data directory: zkd's own
// snapshot loader must find it, at index = the imported zxid, term 1, no voters.
func TestWriteZkdDataDir(t *testing.T) {
	tree, sum := loadTree(t, LoadOptions{DataDir: fixtureDir})
	want := treeState(t, tree)
	to := t.TempDir()
	info, err := WriteZkdDataDir(to, "", tree, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Index != uint64(sum.LastZxid) || info.Nodes != sum.Znodes {
		t.Fatalf("info %+v", info)
	}
	back, meta, err := snapshot.Load(vfs.OS(), ZkdLayout(to, "").Snapshots, datatree.Config{ExtendedTypes: true}, quietLog())
	if err != nil || back == nil {
		t.Fatalf("snapshot.Load: %v", err)
	}
	if meta.Index != uint64(sum.LastZxid) || meta.Term != 1 || len(meta.Voters) != 0 {
		t.Errorf("meta %+v", meta)
	}
	compareTrees(t, want, treeState(t, back))
	if ents, _ := os.ReadDir(to); len(ents) != 1 || ents[0].Name() != "zkd" {
		t.Errorf("target holds %v", ents)
	}
	// A separate log directory is checked too.
	logDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(logDir, "zkd", "log", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckZkdTarget(t.TempDir(), logDir); !errors.Is(err, ErrTargetExists) {
		t.Errorf("busy log dir: %v", err)
	}
}

func sliceNodes(nodes []datatree.NodeImage) func() (*datatree.NodeImage, error) {
	i := 0
	return func() (*datatree.NodeImage, error) {
		if i == len(nodes) {
			return nil, nil
		}
		i++
		return &nodes[i-1], nil
	}
}

// TestSnappyFraming checks the snappy-java stream writer and reader against each
// other over several blocks, and the reader on concatenated streams.
func TestSnappyFraming(t *testing.T) {
	src := make([]byte, 200_000)
	rng := rand.New(rand.NewPCG(3, 0))
	for i := range src {
		src[i] = byte(rng.IntN(16))
	}
	var buf bytes.Buffer
	w := newSnappyWriter(&buf)
	for off := 0; off < len(src); off += 7777 {
		if _, err := w.Write(src[off:min(off+7777, len(src))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	one := bytes.Clone(buf.Bytes())
	if !bytes.HasPrefix(one, append(bytes.Clone(snappyMagic), 0, 0, 0, 1, 0, 0, 0, 1)) {
		t.Fatalf("header % x", one[:16])
	}
	two := append(bytes.Clone(one), one...)
	for name, in := range map[string][]byte{"one": one, "concatenated": two} {
		got, err := readAllSnappy(in)
		want := src
		if name == "concatenated" {
			want = append(bytes.Clone(src), src...)
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	if _, err := readAllSnappy(one[:len(one)-3]); err == nil {
		t.Error("a cut stream read whole")
	}
}

func readAllSnappy(b []byte) ([]byte, error) {
	var out bytes.Buffer
	_, err := out.ReadFrom(newSnappyReader(bytes.NewReader(b)))
	return out.Bytes(), err
}
