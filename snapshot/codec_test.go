package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/jute"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// workload applies a seeded mix of writes to tree, starting at zxid from, and
// returns the next zxid.
type workload struct {
	rng  *rand.Rand
	zxid jute.Zxid
	sid  jute.SessionID
}

func (w *workload) apply(t *testing.T, tree *datatree.Tree, txn datatree.Txn) datatree.Result {
	t.Helper()
	w.zxid++
	txn.Time = int64(w.zxid) * 1000
	return tree.Apply(w.zxid, txn.Append(nil))
}

func (w *workload) request(t *testing.T, tree *datatree.Tree, op jute.OpCode, rec jute.Record) datatree.Result {
	t.Helper()
	return w.apply(t, tree, datatree.Txn{Kind: datatree.KindRequest, Session: w.sid, Op: op, Body: rec.Append(nil)})
}

func (w *workload) step(t *testing.T, tree *datatree.Tree) {
	t.Helper()
	path := fmt.Sprintf("/n%d", w.rng.IntN(40))
	if w.rng.IntN(3) == 0 {
		path += fmt.Sprintf("/c%d", w.rng.IntN(5))
	}
	switch w.rng.IntN(6) {
	case 0, 1:
		mode := []jute.CreateMode{jute.ModePersistent, jute.ModeEphemeral, jute.ModePersistentSequential, jute.ModeContainer}[w.rng.IntN(4)]
		op := jute.OpCreate
		if mode == jute.ModeContainer {
			op = jute.OpCreateContainer
		}
		acl := jute.OpenACLUnsafe
		if w.rng.IntN(4) == 0 {
			acl = []jute.ACL{{Perms: jute.PermRead, ID: jute.Id{Scheme: "world", ID: "anyone"}}, {Perms: jute.PermAll, ID: jute.Id{Scheme: "ip", ID: "127.0.0.1"}}}
		}
		w.request(t, tree, op, &jute.CreateRequest{Path: path, Data: []byte(path), ACL: acl, Flags: int32(mode)})
	case 2:
		w.request(t, tree, jute.OpDelete, &jute.PathVersionRequest{Path: path, Version: -1})
	case 3, 4:
		w.request(t, tree, jute.OpSetData, &jute.SetDataRequest{Path: path, Data: []byte(fmt.Sprint(w.rng.Int())), Version: -1})
	case 5:
		w.request(t, tree, jute.OpSetACL, &jute.SetACLRequest{Path: path, ACL: jute.ReadACLUnsafe, Version: -1})
	}
}

func newWorkload(t *testing.T, tree *datatree.Tree, seed uint64) *workload {
	t.Helper()
	w := &workload{rng: rand.New(rand.NewPCG(seed, 1)), sid: 0x100}
	w.apply(t, tree, datatree.Txn{Kind: datatree.KindCreateSession, Session: w.sid, Timeout: 30000})
	return w
}

// dump renders every node of an image, sorted, for comparison.
func dump(t *testing.T, im *datatree.Image) []string {
	t.Helper()
	var out []string
	if err := im.Nodes(func(n *datatree.NodeImage) error {
		out = append(out, fmt.Sprintf("%+v", *n))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestEncodeDecodeRoundTripsTree(t *testing.T) {
	// Past datatree.PrefaultFrom nodes the decoder and the builder take their
	// memory from prefaulting goroutines: both ways must give the same tree.
	for _, bulk := range []int{0, datatree.PrefaultFrom + 3*1024} {
		t.Run(fmt.Sprintf("bulk=%d", bulk), func(t *testing.T) { testEncodeDecodeRoundTrip(t, bulk) })
	}
}

func testEncodeDecodeRoundTrip(t *testing.T, bulk int) {
	tree := datatree.New(datatree.Config{})
	w := newWorkload(t, tree, 1)
	if bulk > 0 {
		w.request(t, tree, jute.OpCreate, &jute.CreateRequest{Path: "/bulk", ACL: jute.OpenACLUnsafe})
	}
	for i := range bulk {
		path := fmt.Sprintf("/bulk/n%d", i)
		w.request(t, tree, jute.OpCreate, &jute.CreateRequest{Path: path, Data: []byte(path), ACL: jute.OpenACLUnsafe})
	}
	for i := 0; i < 500; i++ {
		w.step(t, tree)
	}
	im, err := tree.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	meta := Meta{Index: uint64(im.Zxid()), Term: 3, Membership: []byte("opaque membership")}
	n, err := Encode(&buf, meta, im)
	if err != nil {
		t.Fatal(err)
	}
	im.Release()
	if n != tree.NodeCount() {
		t.Fatalf("encoded %d nodes, tree has %d", n, tree.NodeCount())
	}
	got, gotMeta, err := Decode(buf.Bytes(), datatree.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if gotMeta.Index != meta.Index || gotMeta.Term != 3 || string(gotMeta.Membership) != "opaque membership" {
		t.Fatalf("meta = %+v, want %+v", gotMeta, meta)
	}
	a, _ := tree.Freeze()
	b, _ := got.Freeze()
	want, have := dump(t, a), dump(t, b)
	if fmt.Sprint(want) != fmt.Sprint(have) {
		t.Fatalf("restored tree differs:\nwant %v\nhave %v", want, have)
	}
	if got.Digest() != tree.Digest() {
		t.Fatalf("restored digest %#x, tree's %#x", got.Digest(), tree.Digest())
	}
	if got.LastZxid() != tree.LastZxid() || got.EphemeralCount() != tree.EphemeralCount() {
		t.Fatalf("zxid %v/%v ephemerals %d/%d", got.LastZxid(), tree.LastZxid(), got.EphemeralCount(), tree.EphemeralCount())
	}
	// The restored tree keeps working: sequence numbers continue from the image.
	seq := w.request(t, got, jute.OpCreate, &jute.CreateRequest{Path: "/seq-", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentSequential)})
	seqOrig := w.request(t, tree, jute.OpCreate, &jute.CreateRequest{Path: "/seq-", ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistentSequential)})
	if !bytes.Equal(seq.Body, seqOrig.Body) {
		t.Fatalf("sequential create after restore = %q, original tree gives %q", seq.Body, seqOrig.Body)
	}
}

// The image must reflect the freeze point exactly, however the tree changes while
// it is being read.
func TestImageIsConsistentWhileTreeChanges(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		live := datatree.New(datatree.Config{})
		ref := datatree.New(datatree.Config{})
		wl := newWorkload(t, live, seed)
		wr := newWorkload(t, ref, seed)
		for i := 0; i < 300; i++ {
			wl.step(t, live)
			wr.step(t, ref)
		}
		im, err := live.Freeze()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 300; i++ {
			wl.step(t, live)
		}
		refIm, _ := ref.Freeze()
		want, got := dump(t, refIm), dump(t, im)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("seed %d: image differs from the state at the freeze:\nwant %d nodes\ngot  %d nodes", seed, len(want), len(got))
		}
		im.Release()
	}
}

func TestDecodeRejectsCorruption(t *testing.T) {
	tree := datatree.New(datatree.Config{})
	w := newWorkload(t, tree, 7)
	for i := 0; i < 100; i++ {
		w.step(t, tree)
	}
	im, _ := tree.Freeze()
	var buf bytes.Buffer
	if _, err := Encode(&buf, Meta{Index: 1}, im); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, off := range []int{0, 10, 20, len(good) / 2, len(good) - 5} {
		bad := bytes.Clone(good)
		bad[off] ^= 0x40
		if _, _, err := Decode(bad, datatree.Config{}); !errors.Is(err, ErrCorrupt) && !errors.Is(err, datatree.ErrBadImage) {
			t.Errorf("flip at %d of %d: err = %v, want ErrCorrupt", off, len(good), err)
		}
	}
	if _, _, err := Decode(good[:len(good)-1], datatree.Config{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated: err = %v, want ErrCorrupt", err)
	}
}

func TestWriteLoadPurgeOnCrashableFS(t *testing.T) {
	fs := vfs.NewMem()
	tree := datatree.New(datatree.Config{})
	w := newWorkload(t, tree, 11)
	var written []uint64
	for round := 0; round < 4; round++ {
		for i := 0; i < 50; i++ {
			w.step(t, tree)
		}
		im, err := tree.Freeze()
		if err != nil {
			t.Fatal(err)
		}
		info, err := Write(fs, "/data/snap", Meta{Index: uint64(im.Zxid()), Term: 1}, im)
		im.Release()
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, info.Index)
	}
	// Only durable state survives: everything was synced, so all four are there.
	crashed := fs.CrashClone(vfs.CrashOptions{})
	got, meta, err := Load(crashed, "/data/snap", datatree.Config{}, quietLog)
	if err != nil || got == nil {
		t.Fatalf("Load: tree=%v err=%v", got != nil, err)
	}
	if meta.Index != written[3] {
		t.Fatalf("loaded index %d, want newest %d", meta.Index, written[3])
	}
	// A damaged newest snapshot falls back to the one before.
	f, err := crashed.OpenReadWrite("/data/snap/" + fileName(written[3]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, 40); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, meta, err = Load(crashed, "/data/snap", datatree.Config{}, quietLog)
	if err != nil || meta.Index != written[2] {
		t.Fatalf("after damage: index %d err %v, want fallback to %d", meta.Index, err, written[2])
	}
	oldest, err := Purge(crashed, "/data/snap", 2)
	if err != nil {
		t.Fatal(err)
	}
	if oldest != written[2] {
		t.Fatalf("Purge kept oldest %d, want %d", oldest, written[2])
	}
	infos, _ := List(crashed, "/data/snap")
	if len(infos) != 2 {
		t.Fatalf("%d snapshots after purge, want 2", len(infos))
	}
}

func TestLoadWithoutSnapshotsReturnsNilTree(t *testing.T) {
	tree, _, err := Load(vfs.NewMem(), "/nothing", datatree.Config{}, quietLog)
	if tree != nil || err != nil {
		t.Fatalf("tree=%v err=%v", tree != nil, err)
	}
}

// A crash in the middle of Write never leaves a file under a snapshot name that
// fails to load.
func TestCrashDuringWriteLeavesOldSnapshotUsable(t *testing.T) {
	fs := vfs.NewMem()
	tree := datatree.New(datatree.Config{})
	w := newWorkload(t, tree, 5)
	for i := 0; i < 80; i++ {
		w.step(t, tree)
	}
	im, _ := tree.Freeze()
	first, err := Write(fs, "/s", Meta{Index: uint64(im.Zxid())}, im)
	im.Release()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 80; i++ {
		w.step(t, tree)
	}
	im, _ = tree.Freeze()
	if _, err := Write(fs, "/s", Meta{Index: uint64(im.Zxid())}, im); err != nil {
		t.Fatal(err)
	}
	im.Release()
	for _, p := range fs.CrashPoints() {
		crashed := fs.CrashCloneAt(p, vfs.CrashOptions{})
		got, meta, err := Load(crashed, "/s", datatree.Config{}, quietLog)
		if err != nil {
			t.Fatalf("crash at %+v: %v", p, err)
		}
		if got != nil && meta.Index < first.Index {
			t.Fatalf("crash at %+v: loaded index %d older than the first durable snapshot %d", p, meta.Index, first.Index)
		}
	}
}

// handMade writes a snapshot file of the given paths (each with its path as data)
// in the format of doc.go, with a correct count and checksum: as version 3
// writes it (an S2 body), or as version 2 did (zstd), which version 3 still
// reads.
func handMade(t *testing.T, paths []string, version2 bool) []byte {
	t.Helper()
	body := jute.AppendInt(nil, 0) // no sessions
	body = append(body, tagACL)
	body = jute.AppendACLs(body, jute.OpenACLUnsafe)
	var prev nodeCoder
	for i, p := range paths {
		body = append(body, tagNode)
		if !version2 {
			n := datatree.NodeImage{Path: p, Data: []byte(p), Czxid: int64(i), Mzxid: int64(i),
				Ctime: int64(i), Mtime: int64(i), Pzxid: int64(i)}
			body = prev.append(body, &n, 0)
			continue
		}
		body = jute.AppendString(body, p)
		body = jute.AppendBuffer(body, []byte(p))
		body = jute.AppendInt(body, 0)
		for range 4 {
			body = jute.AppendLong(body, int64(i))
		}
		body = jute.AppendInt(body, 0)
		body = jute.AppendInt(body, 0)
		body = jute.AppendInt(body, 0)
		body = jute.AppendLong(body, 0)
		body = jute.AppendLong(body, int64(i))
	}
	body = append(body, tagEnd)
	hdr := make([]byte, 20) // index 0, term 0, no voters
	magic := fileMagic
	if version2 {
		magic = fileMagicV2
	}
	out := append(magic[:], 0, 0, 0, 20)
	out = append(out, hdr...)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(hdr, castagnoli))
	var z bytes.Buffer
	var zw io.WriteCloser = s2.NewWriter(&z)
	if version2 {
		var err error
		if zw, err = zstd.NewWriter(&z); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := zw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out = append(out, z.Bytes()...)
	out = append(out, trailerMagic[:]...)
	out = binary.BigEndian.AppendUint64(out, uint64(len(paths)))
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
}

// TestDecodeStopsParserWhenBuildFails: when Restore rejects a node while the parser
// still has batches in flight, decode returns the error and the parser goroutine
// ends (it must not outlive the decompressor it reads). Both the current
// format and version 2's zstd body.
func TestDecodeStopsParserWhenBuildFails(t *testing.T) {
	for _, version2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("version2=%v", version2), func(t *testing.T) { testDecodeStopsParser(t, version2) })
	}
}

func testDecodeStopsParser(t *testing.T, version2 bool) {
	paths := []string{"/", "/zookeeper"}
	for i := range 20000 {
		paths = append(paths, fmt.Sprintf("/n%05d", i))
	}
	good := handMade(t, paths, version2)
	if tree, _, err := Decode(good, datatree.Config{}); err != nil || tree.NodeCount() != int64(len(paths)) {
		t.Fatalf("hand-made snapshot: %v", err)
	}
	before := runtime.NumGoroutine()
	paths[3000] = paths[2999] // a duplicate, early in the stream
	bad := handMade(t, paths, version2)
	for range 20 {
		if _, _, err := Decode(bad, datatree.Config{}); !errors.Is(err, datatree.ErrBadImage) {
			t.Fatalf("duplicate node: err = %v, want ErrBadImage", err)
		}
	}
	// Each failed decode waited for its parser; allow for unrelated runtime goroutines.
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines: %d before, %d after 20 failed decodes", before, after)
	}
}

// A session's connection and write sequence are replicated state: every replica
// must decide the next write of the session alike after loading a snapshot.
func TestSessionConnectionStateSurvivesASnapshot(t *testing.T) {
	tree := datatree.New(datatree.Config{})
	create := datatree.Txn{Kind: datatree.KindCreateSession, Session: 7, Timeout: 5000, Conn: 99}
	tree.Apply(2, create.Append(nil))
	write := datatree.Txn{Kind: datatree.KindRequest, Session: 7, Op: jute.OpCreate, Conn: 99, ConnSeq: 1,
		Body: (&jute.CreateRequest{Path: "/a", ACL: jute.OpenACLUnsafe}).Append(nil)}
	if res := tree.Apply(3, write.Append(nil)); res.Err != jute.CodeOK {
		t.Fatalf("first write: %v", res.Err)
	}
	im, err := tree.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Encode(&buf, Meta{Index: 3, Term: 1}, im); err != nil {
		t.Fatal(err)
	}
	im.Release()
	got, _, err := Decode(buf.Bytes(), datatree.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*datatree.Tree{tree, got} {
		skip := write
		skip.ConnSeq = 3
		if res := tr.Apply(4, skip.Append(nil)); res.Err != datatree.CodeOutOfOrder {
			t.Fatalf("write 3 after write 1: %v, want out of order", res.Err)
		}
		next := write
		next.ConnSeq = 2
		next.Body = (&jute.CreateRequest{Path: "/b", ACL: jute.OpenACLUnsafe}).Append(nil)
		if res := tr.Apply(5, next.Append(nil)); res.Err != jute.CodeOK {
			t.Fatalf("write 2: %v", res.Err)
		}
	}
}

// Snapshots written before version 2 (voters in the header, sessions without
// their connection) still load.
func TestDecodeReadsVersion1Snapshots(t *testing.T) {
	hdr := binary.BigEndian.AppendUint64(nil, 9)
	hdr = binary.BigEndian.AppendUint64(hdr, 2)
	hdr = binary.BigEndian.AppendUint32(hdr, 1)
	hdr = binary.BigEndian.AppendUint64(hdr, 1)
	file := append(fileMagicV1[:], binary.BigEndian.AppendUint32(nil, uint32(len(hdr)))...)
	file = append(file, hdr...)
	file = binary.BigEndian.AppendUint32(file, crc32.Checksum(hdr, castagnoli))
	var body []byte
	body = jute.AppendInt(body, 1)
	body = jute.AppendLong(body, 0x0100000000000005)
	body = jute.AppendInt(body, 6000)
	body = append(body, tagACL)
	body = jute.AppendACLs(body, jute.OpenACLUnsafe)
	for _, p := range []string{"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/x"} {
		body = append(body, tagNode)
		body = jute.AppendString(body, p)
		body = jute.AppendBuffer(body, []byte{})
		body = jute.AppendInt(body, 0)
		for range 4 {
			body = jute.AppendLong(body, 0)
		}
		body = jute.AppendInt(body, 0)
		body = jute.AppendInt(body, 0)
		body = jute.AppendInt(body, 0)
		body = jute.AppendLong(body, 0)
		body = jute.AppendLong(body, 0)
	}
	body = append(body, tagEnd)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	file = append(file, enc.EncodeAll(body, nil)...)
	file = append(file, trailerMagic[:]...)
	file = binary.BigEndian.AppendUint64(file, 5)
	file = binary.BigEndian.AppendUint32(file, crc32.Checksum(body, castagnoli))
	tree, meta, err := Decode(file, datatree.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Index != 9 || fmt.Sprint(meta.Voters) != "[1]" || tree.NodeCount() != 5 {
		t.Fatalf("meta %+v, %d nodes", meta, tree.NodeCount())
	}
	if timeout, ok := tree.Session(0x0100000000000005); !ok || timeout != 6000 {
		t.Fatalf("session: %d %v", timeout, ok)
	}
}

// The writer copies the tree a chunk of node ids at a time while the applier goes
// on between chunks: every kind of change, to nodes the writer has and has not
// reached yet, with ids freed before and after the freeze handed out again, must
// leave the image exactly the tree at the freeze.
func TestImageIsConsistentWhileChangesInterleaveWithTheCopy(t *testing.T) {
	const keys = 2500 // several chunks of ids
	for seed := uint64(1); seed <= 3; seed++ {
		live := datatree.New(datatree.Config{})
		ref := datatree.New(datatree.Config{})
		wl, wr := newWorkload(t, live, seed), newWorkload(t, ref, seed)
		rng := rand.New(rand.NewPCG(seed, 2))
		// extra weighs creates: after the freeze they must often succeed, on ids
		// freed before it as well as after.
		step := func(w *workload, tree *datatree.Tree, r *rand.Rand, extra int) {
			path := fmt.Sprintf("/b%d", r.IntN(keys))
			switch op := r.IntN(8 + extra); op {
			case 0, 1, 2:
				w.request(t, tree, jute.OpCreate, &jute.CreateRequest{Path: path, Data: []byte(path), ACL: jute.OpenACLUnsafe})
			case 3, 4:
				w.request(t, tree, jute.OpDelete, &jute.PathVersionRequest{Path: path, Version: -1})
			case 5, 6:
				w.request(t, tree, jute.OpSetData, &jute.SetDataRequest{Path: path, Data: []byte(fmt.Sprint(r.Int())), Version: -1})
			case 7:
				w.request(t, tree, jute.OpSetACL, &jute.SetACLRequest{Path: path, ACL: jute.ReadACLUnsafe, Version: -1})
			default:
				w.request(t, tree, jute.OpCreate, &jute.CreateRequest{Path: path, Data: []byte("again"), ACL: jute.OpenACLUnsafe})
			}
		}
		// The same history on both trees: every key created, then a mix that frees
		// ids and hands some out again.
		for i := range keys {
			for _, x := range []struct {
				w    *workload
				tree *datatree.Tree
			}{{wl, live}, {wr, ref}} {
				x.w.request(t, x.tree, jute.OpCreate, &jute.CreateRequest{Path: fmt.Sprintf("/b%d", i), ACL: jute.OpenACLUnsafe})
			}
		}
		before := rand.New(rand.NewPCG(seed, 3))
		for range keys {
			s := before.Uint64()
			step(wl, live, rand.New(rand.NewPCG(s, 0)), 0)
			step(wr, ref, rand.New(rand.NewPCG(s, 0)), 0)
		}
		im, err := live.Freeze()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := im.Nodes(func(n *datatree.NodeImage) error {
			got = append(got, fmt.Sprintf("%+v", *n))
			for range rng.IntN(4) { // the applier moves on between (and within) chunks
				step(wl, live, rng, 8)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		im.Release()
		sort.Strings(got)
		refIm, _ := ref.Freeze()
		want := dump(t, refIm)
		refIm.Release()
		if len(want) < 1500 {
			t.Fatalf("seed %d: only %d nodes at the freeze: the test needs several chunks", seed, len(want))
		}
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Fatalf("seed %d: image differs from the state at the freeze: want %d nodes, got %d", seed, len(want), len(got))
		}
	}
}

// A snapshot of a later format is refused with a message that says so, not as
// corruption: an operator who downgraded must learn why.
func TestDecodeNamesANewerFormat(t *testing.T) {
	file := handMade(t, []string{"/", "/zookeeper"}, false)
	file[7] = fileMagic[7] + 1
	_, _, err := Decode(file, datatree.Config{})
	if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "newer than this zkd reads") {
		t.Fatalf("err = %v, want a newer-format error", err)
	}
	file[7] = 'X'
	if _, _, err := Decode(file, datatree.Config{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad magic: err = %v, want ErrCorrupt", err)
	}
}
