package quorum

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/snapshot"
	"zkd/txnlog"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// server is a durable node over a tree on fs, as main wires it.
type server struct {
	tree *datatree.Tree
	node *Node
	log  *txnlog.Log
}

func openServer(t *testing.T, fs vfs.FS, snapCount int) *server {
	t.Helper()
	tree, meta, err := snapshot.Load(fs, "/data/snap", datatree.Config{}, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	if tree == nil {
		tree = datatree.New(datatree.Config{})
	}
	l, err := txnlog.Open(fs, "/data/log", txnlog.Options{SegmentSize: 4096, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Logger = quietLog
	cfg.Log, cfg.Restored, cfg.FS, cfg.SnapshotDir, cfg.SnapCount = l, meta, fs, "/data/snap", snapCount
	n, err := Start(cfg, tree)
	if err != nil {
		t.Fatal(err)
	}
	return &server{tree: tree, node: n, log: l}
}

func (s *server) close() {
	s.node.Stop()
	s.log.Close()
}

// propose submits one txn and waits for its result.
func (s *server) propose(t *testing.T, txn datatree.Txn) (jute.Zxid, datatree.Result, error) {
	t.Helper()
	type out struct {
		z   jute.Zxid
		res datatree.Result
		err error
	}
	c := make(chan out, 1)
	txn.Time = time.Now().UnixMilli()
	if err := s.node.Propose(txn.Append(EntryBuffer(64)), func(z jute.Zxid, r datatree.Result, err error) { c <- out{z, r, err} }); err != nil {
		return 0, datatree.Result{}, err
	}
	o := <-c
	return o.z, o.res, o.err
}

func create(path string, mode jute.CreateMode) datatree.Txn {
	body := (&jute.CreateRequest{Path: path, Data: []byte(path), ACL: jute.OpenACLUnsafe, Flags: int32(mode)}).Append(nil)
	return datatree.Txn{Kind: datatree.KindRequest, Session: 7, Op: jute.OpCreate, Body: body}
}

func setData(path string, v int) datatree.Txn {
	body := (&jute.SetDataRequest{Path: path, Data: []byte(fmt.Sprint(v)), Version: -1}).Append(nil)
	return datatree.Txn{Kind: datatree.KindRequest, Session: 7, Op: jute.OpSetData, Body: body}
}

// dump renders the tree for comparison.
func dump(t *testing.T, tree *datatree.Tree) string {
	t.Helper()
	// A background snapshot may hold the tree's one image for a moment.
	var im *datatree.Image
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if im, err = tree.Freeze(); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer im.Release()
	var lines []string
	if err := im.Nodes(func(n *datatree.NodeImage) error {
		lines = append(lines, fmt.Sprintf("%s=%q v%d cv%d pz%d", n.Path, n.Data, n.Version, n.Cversion, n.Pzxid))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return fmt.Sprint(lines)
}

func TestRestartRecoversTreeFromSnapshotsAndLog(t *testing.T) {
	fs := vfs.NewMem()
	s := openServer(t, fs, 20)
	if _, _, err := s.propose(t, datatree.Txn{Kind: datatree.KindCreateSession, Session: 7, Timeout: 30000}); err != nil {
		t.Fatal(err)
	}
	var lastSeq string
	for i := 0; i < 150; i++ {
		var txn datatree.Txn
		switch i % 3 {
		case 0:
			txn = create(fmt.Sprintf("/n%d", i), jute.ModePersistent)
		case 1:
			txn = create("/seq-", jute.ModePersistentSequential)
		default:
			txn = setData(fmt.Sprintf("/n%d", i-2), i)
		}
		_, res, err := s.propose(t, txn)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 1 {
			lastSeq = string(res.Body[4:])
		}
	}
	if _, _, err := s.propose(t, create("/eph", jute.ModeEphemeral)); err != nil {
		t.Fatal(err)
	}
	s.close()
	want, wantZxid := dump(t, s.tree), s.tree.LastZxid()
	infos, _ := snapshot.List(fs, "/data/snap")
	if len(infos) == 0 {
		t.Fatal("no snapshot was taken with snapCount 20 after 150 entries")
	}

	r := openServer(t, fs, 20)
	defer r.close()
	if got := dump(t, r.tree); got != want {
		t.Fatalf("restarted tree differs\nwant %s\ngot  %s", want, got)
	}
	if r.tree.LastZxid() < wantZxid {
		t.Fatalf("zxid went back: %v < %v", r.tree.LastZxid(), wantZxid)
	}
	if timeout, ok := r.tree.Session(7); !ok || timeout != 30000 {
		t.Fatalf("session lost over restart: ok=%v timeout=%d", ok, timeout)
	}
	// Sequence numbers and zxids continue; nothing is reused.
	z, res, err := r.propose(t, create("/seq-", jute.ModePersistentSequential))
	if err != nil {
		t.Fatal(err)
	}
	if next := string(res.Body[4:]); next <= lastSeq {
		t.Fatalf("sequence reused: %s after %s", next, lastSeq)
	}
	if z <= wantZxid {
		t.Fatalf("zxid reused: %v after %v", z, wantZxid)
	}
}

// A crash at any point of the log's and snapshots' writes recovers a prefix of the
// history that contains every acknowledged write.
func TestCrashAtEveryPointKeepsAcknowledgedWrites(t *testing.T) {
	fs := vfs.NewMem()
	s := openServer(t, fs, 8)
	if _, _, err := s.propose(t, datatree.Txn{Kind: datatree.KindCreateSession, Session: 7, Timeout: 30000}); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		ops  int64 // fs operations done when the ack was seen
		path string
		v    int
	}
	var mu sync.Mutex
	var acks []ack
	for i := 0; i < 40; i++ {
		path := fmt.Sprintf("/k%d", i%5)
		if i < 5 {
			if _, _, err := s.propose(t, create(path, jute.ModePersistent)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, _, err := s.propose(t, setData(path, i)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		acks = append(acks, ack{ops: fs.Ops(), path: path, v: i})
		mu.Unlock()
	}
	s.close()
	points := fs.CrashPoints()
	if len(points) == 0 {
		t.Fatal("no crash points recorded")
	}
	// Every point is covered by txnlog's own crash test; here a deterministic
	// stride over the whole history (ending on the last point) keeps the run short
	// while crossing every kind of write: entries, segment rolls and snapshots.
	stride := max(1, len(points)/1500)
	if testing.Short() {
		stride = max(1, len(points)/100)
	}
	for i := len(points) - 1; i >= 0; i -= stride {
		p := points[i]
		crashed := fs.CrashCloneAt(p, vfs.CrashOptions{})
		r := openServer(t, crashed, 8)
		for _, a := range acks {
			if a.ops > p.Op {
				break
			}
			data, _, code := r.tree.GetData(a.path, nil, nil)
			if code != jute.CodeOK {
				t.Fatalf("crash at op %d: acknowledged %s missing (%v)", p.Op, a.path, code)
			}
			var got int
			fmt.Sscan(string(data), &got)
			if got < a.v && a.path == fmt.Sprintf("/k%d", a.v%5) {
				// Only the last acknowledged value per path matters; later acks raise it.
				last := a.v
				for _, b := range acks {
					if b.ops <= p.Op && b.path == a.path {
						last = b.v
					}
				}
				if got < last {
					t.Fatalf("crash at op %d: %s = %d, acknowledged %d", p.Op, a.path, got, last)
				}
			}
		}
		r.close()
	}
}

// snapSizeLimitInKb: a snapshot is taken once enough entry bytes were applied,
// even far below snapCount.
func TestSnapshotBySize(t *testing.T) {
	fs := vfs.NewMem()
	l, err := txnlog.Open(fs, "/data/log", txnlog.Options{SegmentSize: 1 << 16, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Logger = quietLog
	cfg.Log, cfg.FS, cfg.SnapshotDir = l, fs, "/data/snap"
	cfg.SnapCount, cfg.SnapSizeBytes = 1_000_000, 8<<10
	tree := datatree.New(datatree.Config{})
	n, err := Start(cfg, tree)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{tree: tree, node: n, log: l}
	if _, _, err := s.propose(t, datatree.Txn{Kind: datatree.KindCreateSession, Session: 7, Timeout: 30000}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1024)
	for i := 0; i < 40; i++ {
		body := (&jute.CreateRequest{Path: fmt.Sprintf("/b%d", i), Data: big, ACL: jute.OpenACLUnsafe}).Append(nil)
		if _, _, err := s.propose(t, datatree.Txn{Kind: datatree.KindRequest, Session: 7, Op: jute.OpCreate, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	s.close()
	infos, err := snapshot.List(fs, "/data/snap")
	if err != nil || len(infos) == 0 {
		t.Fatalf("no snapshot after 40 KiB of entries with an 8 KiB size trigger (err %v)", err)
	}
}
