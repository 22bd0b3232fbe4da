// Package replicatest runs replicas inside tests: a standalone member on an
// in-memory disk for the tests of the layers above (session, netloop, admin), and
// whole in-process ensembles on a simulated network.
package replicatest

import (
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/quorum"
	"zkd/replica"
	"zkd/txnlog"
)

// StandaloneOptions configure Standalone.
type StandaloneOptions struct {
	Tree datatree.Config
	// Tick is the interval of the real-time ticker driving raft and the replica's
	// periodic work (default 10ms).
	Tick time.Duration
	// Clock, when set, is the replica's clock and there is no ticker: the test
	// moves time and ticks with Advance, so that expiry is decided by the test's
	// clock alone.
	Clock *ManualClock
	// Mutate, when set, adjusts the replica's configuration before it opens.
	Mutate func(*replica.Config)
	Logger *slog.Logger
	// Dir, when set, puts the log and the snapshots in this directory of the real
	// disk, fdatasync and all, instead of in memory (Standalone.FS is then nil):
	// for benchmarks, since the in-memory disk copies a file's state on every
	// sync to simulate crashes.
	Dir string
}

// Standalone is a one-voter replica on an in-memory disk (or in Dir), ticking in
// real time.
type Standalone struct {
	*replica.Replica
	FS    *vfs.MemFS // nil when StandaloneOptions.Dir is set
	Log   *txnlog.Log
	clock *ManualClock
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// NewStandalone opens a standalone replica; it is stopped by t.Cleanup (or Stop).
func NewStandalone(t testing.TB, opts StandaloneOptions) *Standalone {
	t.Helper()
	s, err := OpenStandalone(opts)
	if err != nil {
		t.Fatalf("replicatest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// OpenStandalone is NewStandalone for callers without a testing.TB.
func OpenStandalone(opts StandaloneOptions) (*Standalone, error) {
	if opts.Tick <= 0 {
		opts.Tick = 10 * time.Millisecond
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		fs   vfs.FS
		mem  *vfs.MemFS
		base = "/data"
	)
	if opts.Dir != "" {
		fs, base = vfs.OS(), opts.Dir
	} else {
		mem = vfs.NewMem()
		fs = mem
	}
	l, err := txnlog.Open(fs, filepath.Join(base, "log"), txnlog.Options{SegmentSize: 4 << 20, Logger: log})
	if err != nil {
		return nil, err
	}
	cfg := replica.DefaultConfig()
	cfg.Standalone = true // srvr and mntr say "standalone", as a one-voter server does
	cfg.Quorum.Log, cfg.Quorum.Logger = l, log
	cfg.Bootstrap = quorum.Membership{Voters: []uint64{1}}
	cfg.Tree, cfg.FS, cfg.SnapshotDir, cfg.Logger = opts.Tree, fs, filepath.Join(base, "snapshots"), log
	if opts.Clock != nil {
		cfg.Clock = opts.Clock
	}
	if opts.Mutate != nil {
		opts.Mutate(&cfg)
	}
	r, err := replica.Open(cfg)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	s := &Standalone{Replica: r, FS: mem, Log: l, clock: opts.Clock, stop: make(chan struct{})}
	if opts.Clock != nil {
		return s, nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(opts.Tick)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				r.Node().Tick()
				r.Tick()
			}
		}
	}()
	return s, nil
}

// Advance moves a manual clock forward by d in steps of step, ticking the raft
// node and the replica after each.
func (s *Standalone) Advance(d, step time.Duration) {
	for elapsed := time.Duration(0); elapsed < d; elapsed += step {
		s.clock.Add(step)
		s.Node().Tick()
		s.Tick()
	}
}

// Stop stops the ticker, the replica and the log.
func (s *Standalone) Stop() {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.Replica.Stop()
		_ = s.Log.Close()
	})
}
