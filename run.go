package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/netloop"
	"zkd/quorum"
	"zkd/replica"
	"zkd/session"
	"zkd/txnlog"
	"zkd/zoocfg"
)

// instance is one running zkd server: the log, the replicated state machine, the
// session layer and the client listener, started and stopped in dependency order.
type instance struct {
	wal   *txnlog.Log
	rep   *replica.Replica
	sess  *session.Server
	net   *netloop.Server
	ops   opsServers // AdminServer and metrics endpoint
	stopC chan struct{}
	tickW sync.WaitGroup
}

// ticksPerTickTime is how many raft ticks make one ZooKeeper tickTime: a
// heartbeat every tickTime/10 and an election timeout of one to two tickTimes.
const ticksPerTickTime = 10

// errEnsemble is returned by start for a configuration that describes an
// ensemble: serving it standalone would let the "members" diverge silently.
var errEnsemble = errors.New("the configuration describes an ensemble, and this zkd serves standalone only")

// start wires and starts a standalone server.
func start(cfg zoocfg.Config, log *slog.Logger) (*instance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Ensemble() {
		participants, observers := cfg.Quorum.Membership.Counts()
		return nil, fmt.Errorf("%w (%d participants, %d observers, standaloneEnabled=%v)",
			errEnsemble, participants, observers, cfg.Quorum.StandaloneEnabled)
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "created server", cfg.Summary()...)
	fs := vfs.OS()
	snapDir, logDir := zkdSnapshotDir(&cfg), zkdLogDir(&cfg)
	for _, dir := range []string{snapDir, logDir} {
		if err := fs.MkdirAll(dir); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	wal, err := txnlog.Open(fs, logDir, txnlog.Options{SegmentSize: cfg.PreAllocSize, NoSync: !cfg.ForceSync, Logger: log})
	if err != nil {
		return nil, err
	}
	disk := session.NewDiskStats(cfg.FsyncWarningThreshold, log)
	rcfg := replica.DefaultConfig()
	rcfg.ID, rcfg.MyID = 1, 0
	rcfg.Bootstrap = quorum.Membership{Voters: []uint64{1}}
	rcfg.Quorum.Log, rcfg.Quorum.Logger, rcfg.Quorum.SaveObserver = wal, log, disk.Observe
	rcfg.Tree = datatree.Config{ExtendedTypes: cfg.ExtendedTypes, SkipACL: cfg.SkipACL}
	rcfg.FS, rcfg.SnapshotDir = fs, snapDir
	rcfg.SnapCount, rcfg.SnapRetain, rcfg.PurgeInterval = cfg.SnapCount, cfg.SnapRetainCount, cfg.PurgeInterval
	rcfg.SnapSizeBytes = cfg.SnapSizeBytes
	rcfg.ContainerCheckInterval, rcfg.ContainerMaxPerMinute = cfg.ContainerCheckInterval, cfg.ContainerMaxPerMinute
	rcfg.Logger = log
	rep, err := replica.Open(rcfg)
	if err != nil {
		wal.Close()
		return nil, err
	}
	scfg := session.DefaultConfig()
	scfg.TickTime = cfg.TickTime
	scfg.MinSessionTimeout = cfg.MinSessionTimeout
	scfg.MaxSessionTimeout = cfg.MaxSessionTimeout
	scfg.MaxClientCnxns = cfg.MaxClientCnxns
	scfg.SuperDigest = cfg.SuperDigest
	scfg.FourLetterWords = cfg.FourLetterWords
	scfg.ReconfigEnabled = cfg.ReconfigEnabled
	scfg.Version = version
	scfg.BuildTime = buildTime()
	scfg.ClientAddr = cfg.ClientAddr
	scfg.Logger = log
	sess, err := session.NewServer(scfg, rep)
	if err != nil {
		rep.Stop()
		wal.Close()
		return nil, err
	}
	rep.SetListener(sess)
	in := &instance{wal: wal, rep: rep, sess: sess, stopC: make(chan struct{})}
	in.startTicker(cfg.TickTime / ticksPerTickTime)
	// A config file without clientPort has no plain client port, as in ZooKeeper
	// (whose TLS port zkd does not offer): the server runs without client listener.
	var nl *netloop.Server
	port := 0
	if cfg.HasClientPort() {
		ncfg := netloop.DefaultConfig()
		ncfg.Addr = cfg.ClientAddr
		ncfg.MaxFrame = cfg.MaxBuffer
		ncfg.Logger = log
		nl, err = netloop.Listen(ncfg, sess)
		if err != nil {
			in.stopTicker()
			rep.Stop()
			wal.Close()
			return nil, err
		}
		log.Info("binding to port", "addr", nl.Addr().String(), "version", scfg.FullVersion(), "data_dir", cfg.DataDir)
		if a, ok := nl.Addr().(*net.TCPAddr); ok {
			port = a.Port
		}
	} else {
		log.Warn("clientPort is not set: no client port is listening", "version", scfg.FullVersion(), "data_dir", cfg.DataDir)
	}
	ops, err := startOps(cfg, log, sess, disk, rep, wal, fs, snapDir, logDir, port)
	if err != nil {
		if nl != nil {
			_ = nl.Stop(context.Background())
		}
		in.stopTicker()
		rep.Stop()
		wal.Close()
		return nil, err
	}
	in.net, in.ops = nl, ops
	return in, nil
}

// startTicker drives raft's clock and the replica's periodic work.
func (in *instance) startTicker(every time.Duration) {
	in.tickW.Add(1)
	go func() {
		defer in.tickW.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-in.stopC:
				return
			case <-t.C:
				in.rep.Node().Tick()
				in.rep.Tick()
			}
		}
	}()
}

func (in *instance) stopTicker() {
	close(in.stopC)
	in.tickW.Wait()
}

// Addr returns the bound client address; nil without a client port.
func (in *instance) Addr() net.Addr {
	if in.net == nil {
		return nil
	}
	return in.net.Addr()
}

// stop closes the operator endpoints and the listener, then the session timers,
// then the raft loop: nothing above a layer still runs when that layer goes away.
func (in *instance) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opsErr := in.ops.stop()
	var err error
	if in.net != nil {
		err = in.net.Stop(ctx)
	}
	in.stopTicker()
	in.rep.Stop()
	if cerr := in.wal.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = opsErr
	}
	return err
}

// buildTime is the modification time of the running binary: srvr's "built on".
func buildTime() time.Time {
	exe, err := os.Executable()
	if err != nil {
		return time.Time{}
	}
	st, err := os.Stat(exe)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// zkdSnapshotDir and zkdLogDir are zkd's own subdirectories of dataDir and dataLogDir;
// a ZooKeeper version-2 directory beside them is left alone.
func zkdSnapshotDir(c *zoocfg.Config) string { return filepath.Join(c.DataDir, "zkd", "snapshots") }

func zkdLogDir(c *zoocfg.Config) string { return filepath.Join(c.TxnLogDir(), "zkd", "log") }
