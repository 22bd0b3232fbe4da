package zkdisk

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/adler32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"zkd/datatree"
	"zkd/jute"
)

// nodeState is what a client sees of one znode: the comparison unit of every
// tree test.
type nodeState struct {
	Path string
	Data []byte // nil: null data
	Stat jute.Stat
	ACL  []jute.ACL
}

func (n nodeState) String() string {
	data := "null"
	if n.Data != nil {
		data = strconv.Quote(string(n.Data))
	}
	return fmt.Sprintf("%s data=%s stat=%+v acl=%v", n.Path, data, n.Stat, n.ACL)
}

// superID reads every node whatever its ACL.
var superID = datatree.Identity{{Scheme: "super", ID: "test"}}

// treeState walks a zkd tree from the root and returns every node, by path.
func treeState(t *testing.T, tree *datatree.Tree) map[string]nodeState {
	t.Helper()
	out := make(map[string]nodeState)
	stack := []string{"/"}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		data, stat, code := tree.GetData(p, nil, superID)
		if code != jute.CodeOK {
			t.Fatalf("getData %s: %v", p, code)
		}
		acl, _, code := tree.GetACL(p, superID)
		if code != jute.CodeOK {
			t.Fatalf("getACL %s: %v", p, code)
		}
		kids, _, code := tree.GetChildren(p, nil, superID, nil)
		if code != jute.CodeOK {
			t.Fatalf("getChildren %s: %v", p, code)
		}
		out[p] = nodeState{Path: p, Data: bytes.Clone(data), Stat: stat, ACL: slices.Clone(acl)}
		for _, k := range kids {
			if p == "/" {
				stack = append(stack, "/"+k)
			} else {
				stack = append(stack, p+"/"+k)
			}
		}
	}
	return out
}

// compareTrees reports every difference between want and got, node by node.
func compareTrees(t *testing.T, want, got map[string]nodeState) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	bad := 0
	for _, p := range paths {
		w, inW := want[p]
		g, inG := got[p]
		var msg string
		switch {
		case !inW:
			msg = "unexpected node " + g.String()
		case !inG:
			msg = "missing node " + w.String()
		case !sameNode(w, g):
			msg = fmt.Sprintf("differs:\n    want %v\n    got  %v", w, g)
		default:
			continue
		}
		if bad++; bad <= 20 {
			t.Errorf("%s: %s", p, msg)
		}
	}
	if bad > 20 {
		t.Errorf("... and %d more differences", bad-20)
	}
}

func sameNode(a, b nodeState) bool {
	return (a.Data == nil) == (b.Data == nil) && bytes.Equal(a.Data, b.Data) && a.Stat == b.Stat && slices.Equal(a.ACL, b.ACL)
}

// expectedTree reads a fixture's expected-tree.json (what kazoo read from the
// live ZooKeeper) into node states.
func expectedTree(t *testing.T, path string) (lastZxid int64, nodes map[string]nodeState) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		LastZxid string `json:"last_zxid"`
		Nodes    []struct {
			Path    string  `json:"path"`
			DataB64 *string `json:"data_b64"`
			Stat    struct {
				Czxid, Mzxid, Pzxid, EphemeralOwner string
				Ctime, Mtime                        int64
				Version, Cversion, Aversion         int32
				DataLength, NumChildren             int32
			} `json:"stat"`
			ACL []struct {
				Perms  int32  `json:"perms"`
				Scheme string `json:"scheme"`
				ID     string `json:"id"`
			} `json:"acl"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	hex := func(s string) int64 {
		v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("bad hex %q", s)
		}
		return int64(v)
	}
	nodes = make(map[string]nodeState)
	for _, n := range doc.Nodes {
		var data []byte
		if n.DataB64 != nil {
			data, err = base64.StdEncoding.DecodeString(*n.DataB64)
			if err != nil {
				t.Fatal(err)
			}
			if data == nil {
				data = []byte{}
			}
		}
		s := n.Stat
		st := jute.Stat{Czxid: hex(s.Czxid), Mzxid: hex(s.Mzxid), Pzxid: hex(s.Pzxid), Ctime: s.Ctime, Mtime: s.Mtime,
			Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion, EphemeralOwner: hex(s.EphemeralOwner),
			DataLength: s.DataLength, NumChildren: s.NumChildren}
		var acl []jute.ACL
		for _, a := range n.ACL {
			acl = append(acl, jute.ACL{Perms: a.Perms, ID: jute.Id{Scheme: a.Scheme, ID: a.ID}})
		}
		nodes[n.Path] = nodeState{Path: n.Path, Data: data, Stat: st, ACL: acl}
	}
	return hex(doc.LastZxid), nodes
}

// copyDir copies the files of src (one level of subdirectories) to a new
// temporary directory, keeping only those keep accepts.
func copyDir(t *testing.T, src string, keep func(name string) bool) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if keep != nil && !keep(d.Name()) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// loadTree loads a ZooKeeper data directory and builds zkd's tree from it.
func loadTree(t *testing.T, opt LoadOptions) (*datatree.Tree, Summary) {
	t.Helper()
	db, err := Load(opt)
	if err != nil {
		t.Fatalf("Load(%s): %v", opt.DataDir, err)
	}
	sum := db.Summary
	tree, err := db.Restore(datatree.Config{ExtendedTypes: true}, nil)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return tree, sum
}

func adler32Of(b []byte) uint32 { return adler32.Checksum(b) }

func be64(b []byte) uint64       { return binary.BigEndian.Uint64(b) }
func putBE64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func childPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}
