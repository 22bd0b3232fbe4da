package replica_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/quorum"
	"zkd/replica"
	"zkd/txnlog"
)

// openOnDisk opens a standalone replica on dir of the real file system, as a
// server does, without snapshots.
func openOnDisk(tb testing.TB, dir string) (*replica.Replica, *txnlog.Log) {
	tb.Helper()
	logger := slog.New(slog.DiscardHandler)
	fs := vfs.OS()
	logDir, snapDir := filepath.Join(dir, "log"), filepath.Join(dir, "snapshots")
	for _, d := range []string{logDir, snapDir} {
		if err := fs.MkdirAll(d); err != nil {
			tb.Fatal(err)
		}
	}
	wal, err := txnlog.Open(fs, logDir, txnlog.Options{Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	cfg := replica.DefaultConfig()
	cfg.Standalone = true
	cfg.Quorum.Log, cfg.Quorum.Logger = wal, logger
	cfg.Bootstrap = quorum.Membership{Voters: []uint64{1}}
	cfg.FS, cfg.SnapshotDir, cfg.Logger = fs, snapDir, logger
	cfg.SnapCount = 1 << 40
	r, err := replica.Open(cfg)
	if err != nil {
		_ = wal.Close()
		tb.Fatal(err)
	}
	return r, wal
}

// BenchmarkReplay100k restarts a standalone replica whose log holds 100k
// creates of 100 bytes after its only snapshot (the bootstrap one): the time of
// one restart's replay, log open included.
func BenchmarkReplay100k(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	rep, wal := openOnDisk(b, dir)
	sid := rep.NewSessionID()
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	done := func(_ jute.Zxid, res datatree.Result, err error) {
		if err == nil && res.Err != jute.CodeOK {
			err = fmt.Errorf("apply: %v", res.Err)
		}
		if err != nil {
			mu.Lock()
			failed = err
			mu.Unlock()
		}
		wg.Done()
	}
	wg.Add(1)
	if err := rep.Propose(datatree.Txn{Kind: datatree.KindCreateSession, Session: sid, Timeout: 3_600_000, Conn: 1}, nil, done); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	data := make([]byte, 100)
	for i := range n {
		path := fmt.Sprintf("/k%06d", i)
		body := (&jute.CreateRequest{Path: path, Data: data, ACL: jute.OpenACLUnsafe}).Append(nil)
		wg.Add(1)
		err := rep.Propose(datatree.Txn{Kind: datatree.KindRequest, Session: sid, Op: jute.OpCreate, Body: body,
			Conn: 1, ConnSeq: uint64(i + 1), Time: time.Now().UnixMilli()}, nil, done)
		if err != nil {
			b.Fatal(err)
		}
		if i%512 == 511 {
			wg.Wait() // bounded in flight
		}
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	rep.Stop()
	_ = wal.Close()

	for b.Loop() {
		r, wal := openOnDisk(b, dir)
		if got := r.Tree().NodeCount(); got < n {
			b.Fatalf("%d znodes after the replay, want at least %d", got, n)
		}
		r.Stop()
		_ = wal.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
}
