package replica_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/replica"
	"zkd/replica/replicatest"
	"zkd/snapshot"
)

// writer proposes one session's writes to a standalone replica and waits for
// each to apply.
type writer struct {
	rep  *replicatest.Standalone
	sid  jute.SessionID
	conn uint64
	seq  uint64
}

func (w *writer) propose(txn *datatree.Txn) (jute.Zxid, error) {
	type out struct {
		zxid jute.Zxid
		err  error
	}
	done := make(chan out, 1)
	err := w.rep.Propose(*txn, nil, func(zxid jute.Zxid, res datatree.Result, err error) {
		if err == nil && res.Err != jute.CodeOK {
			err = fmt.Errorf("apply: %v", res.Err)
		}
		done <- out{zxid, err}
	})
	if err != nil {
		return 0, err
	}
	select {
	case o := <-done:
		return o.zxid, o.err
	case <-time.After(10 * time.Second):
		return 0, errors.New("write not applied within 10s")
	}
}

func newWriter(t *testing.T, rep *replicatest.Standalone) *writer {
	t.Helper()
	w := &writer{rep: rep, sid: rep.NewSessionID(), conn: 7}
	// The writer never touches its session: an hour outlasts any run, however
	// slow the machine (30 s did not, under -race on a loaded one).
	if _, err := w.propose(&datatree.Txn{Kind: datatree.KindCreateSession, Session: w.sid, Timeout: 3_600_000, Conn: w.conn}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *writer) create(path string) (jute.Zxid, error) {
	w.seq++
	body := (&jute.CreateRequest{Path: path, Data: []byte(path), ACL: jute.OpenACLUnsafe}).Append(nil)
	return w.propose(&datatree.Txn{Kind: datatree.KindRequest, Session: w.sid, Op: jute.OpCreate, Body: body,
		Conn: w.conn, ConnSeq: w.seq, Time: time.Now().UnixMilli()})
}

// load reads an opened snapshot back.
func load(t *testing.T, s replica.OpenedSnapshot) (*datatree.Tree, snapshot.Meta) {
	t.Helper()
	b, err := io.ReadAll(s.File)
	s.File.Close()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != s.Size {
		t.Fatalf("read %d bytes of a %d-byte snapshot", len(b), s.Size)
	}
	tree, meta, err := snapshot.Decode(b, datatree.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Index != s.Index {
		t.Fatalf("snapshot of %d holds %d", s.Index, meta.Index)
	}
	return tree, meta
}

// A snapshot taken on demand holds every write acknowledged before the call,
// and exactly the tree at its index, while writes keep being applied: each node
// is in it if and only if its create's zxid is at or below the snapshot's.
// Scheduled snapshots every few entries are often in flight when one is asked
// for: the answer must then be that one only if it is recent enough.
func TestSnapshotNowIsConsistentWhileWritesGoOn(t *testing.T) {
	rep := replicatest.NewStandalone(t, replicatest.StandaloneOptions{
		Mutate: func(c *replica.Config) { c.SnapCount = 8 }})
	w := newWriter(t, rep)
	if _, err := w.create("/w"); err != nil {
		t.Fatal(err)
	}
	const writes = 400
	zxids := make([]jute.Zxid, writes) // written by the writer goroutine; read after <-done
	done := make(chan error, 1)
	acked := make(chan jute.Zxid, writes)
	go func() {
		for i := range writes {
			z, err := w.create(fmt.Sprintf("/w/n%03d", i))
			if err != nil {
				done <- err
				return
			}
			zxids[i] = z
			acked <- z
		}
		done <- nil
	}()
	type taken struct {
		need jute.Zxid
		tree *datatree.Tree
		meta snapshot.Meta
	}
	var snaps []taken
	for len(snaps) < 5 {
		// Wait for some progress, then snapshot; every write acknowledged so far must be in it.
		var last jute.Zxid
		for range writes / 8 {
			select {
			case last = <-acked:
			case err := <-done:
				t.Fatalf("the writer stopped after %d snapshots: %v", len(snaps), err)
			}
		}
		s, err := rep.SnapshotNow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tree, meta := load(t, s)
		snaps = append(snaps, taken{need: last, tree: tree, meta: meta})
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if jute.Zxid(s.meta.Index) < s.need {
			t.Errorf("snapshot at %d lacks the write acknowledged at %v", s.meta.Index, s.need)
		}
		for i, z := range zxids {
			_, code := s.tree.Exists(fmt.Sprintf("/w/n%03d", i), nil, nil)
			if in := code == jute.CodeOK; in != (uint64(z) <= s.meta.Index) {
				t.Errorf("snapshot at %d: node %d written at %v present=%v", s.meta.Index, i, z, in)
			}
		}
	}
	// With nothing applied since, the last one is the live tree.
	s, err := rep.SnapshotNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tree, meta := load(t, s)
	if live := rep.Tree(); jute.Zxid(meta.Index) != live.LastZxid() || tree.Digest() != live.Digest() {
		t.Errorf("snapshot 0x%x digest %d; live tree %v digest %d", meta.Index, tree.Digest(), live.LastZxid(), live.Digest())
	}
}

// Without a snapshot directory there is nothing to take.
func TestSnapshotNowWithoutSnapshots(t *testing.T) {
	rep := replicatest.NewStandalone(t, replicatest.StandaloneOptions{
		Mutate: func(c *replica.Config) { c.SnapshotDir = "" }})
	if _, err := rep.SnapshotNow(context.Background()); !errors.Is(err, replica.ErrNoSnapshots) {
		t.Fatalf("got %v, want ErrNoSnapshots", err)
	}
}
