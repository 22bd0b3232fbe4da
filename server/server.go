package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/netloop"
	"zkd/quorum"
	"zkd/replica"
	"zkd/session"
	"zkd/snapshot"
	"zkd/txnlog"
	"zkd/zkdisk"
	"zkd/zoocfg"
)

// Options are what the configuration file does not say.
type Options struct {
	// Version and BuildTime appear in srvr ("3.8.6-zkd-<Version>, built on ...").
	Version   string
	BuildTime time.Time
	Logger    *slog.Logger
}

// ticksPerTickTime is how many raft ticks make one ZooKeeper tickTime: a
// heartbeat every tickTime/10 and an election timeout of one to two tickTimes.
const ticksPerTickTime = 10

// Server is one running zkd instance.
type Server struct {
	cfg   zoocfg.Config
	log   *slog.Logger
	locks []*dirLock
	wal   *txnlog.Log
	rep   *replica.Replica
	sess  *session.Server
	net   *netloop.Server
	door  *door
	ops   opsServers
	ens   *ensemble // nil when standalone
	sec   *security // TLS stores, authentication providers (security.go)
	// audit is the audit log (audit.enable), nil when off; auditFile is its
	// file, nil on stderr.
	audit     *session.AuditLog
	auditFile io.Closer

	secCancel context.CancelFunc // ends the certificate reloaders
	// ident is this member's persisted identity (ensembles only); guarded by
	// identMu once the server runs.
	ident   identity
	identMu sync.Mutex
	watcher *ensembleWatcher

	stopC    chan struct{}
	tickW    sync.WaitGroup
	errC     chan error
	stopOnce sync.Once
	stopErr  error
}

// Start assembles and starts an instance from cfg (see the package doc for the
// order). On error nothing is left running and no lock is held.
func Start(ctx context.Context, cfg zoocfg.Config, opts Options) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, stopC: make(chan struct{}), errC: make(chan error, 1), secCancel: func() {}}
	if cfg.Ensemble() {
		if s.ens, err = planEnsemble(&cfg); err != nil {
			return nil, err
		}
	}
	if s.sec, err = planSecurity(&cfg, log); err != nil {
		return nil, err
	}
	if cfg.AuditEnable {
		if s.audit, s.auditFile, err = openAudit(&cfg); err != nil {
			return nil, err
		}
	}
	// One cleanup path: whatever was started is stopped, in reverse.
	defer func() {
		if err != nil {
			if s.audit != nil {
				s.audit.ServerStartFailed()
			}
			s.teardown()
		}
	}()
	log.LogAttrs(ctx, slog.LevelInfo, "created server", cfg.Summary()...)

	for _, dir := range lockDirs(&cfg) {
		l, err := lockDir(dir)
		if err != nil {
			return nil, err
		}
		s.locks = append(s.locks, l)
	}

	// The client port (and an ensemble's quorum port) is bound before anything on
	// disk is touched; the client port stays closed to clients until the server
	// is ready behind it.
	var plan startPlan
	if s.ens != nil {
		s.ens.sec = s.sec
		if plan, err = s.ens.planStart(ctx, &cfg, log); err != nil {
			return nil, err
		}
		s.ens.id, s.ens.peers, s.ident = plan.id.ID, plan.peers, plan.id
		status := replica.JoinStarting
		if plan.bootstrap || !plan.id.Member {
			status = replica.JoinFresh
		}
		if err := s.ens.startTransport(ctx, &cfg, log, status); err != nil {
			return nil, err
		}
	}
	s.door = &door{}
	port := 0
	if cfg.HasClientPort() || s.sec.clientTLS != nil {
		ncfg := netloop.DefaultConfig()
		ncfg.Addr = cfg.ClientAddr
		ncfg.MaxFrame = cfg.MaxBuffer
		ncfg.MaxConns = cfg.MaxCnxns
		ncfg.ListenBacklog = cfg.ClientPortListenBacklog
		ncfg.Logger = log
		if s.sec.clientTLS != nil {
			ncfg.TLS, ncfg.Unified = s.sec.clientTLS.ServerConfig(), s.sec.unified
		}
		if cfg.SecureClientPort != 0 {
			ncfg.TLSAddr = secureClientAddr(&cfg)
		}
		if s.net, err = netloop.ListenHandler(ncfg, s.door); err != nil {
			return nil, fmt.Errorf("client port %s: %w", cfg.ClientAddr, err)
		}
		if a, ok := s.net.Addr().(*net.TCPAddr); ok {
			port = a.Port
		}
	}

	fs := vfs.OS()
	snapDir, logDir := SnapshotDir(&cfg), LogDir(&cfg)
	// A ZooKeeper data directory is never mistaken for an empty one (DESIGN.md
	// invariant 11): with ZooKeeper's files beside it and no zkd data, zkd
	// refuses to start and says how to import them.
	if err := refuseZooKeeperData(&cfg, snapDir, logDir); err != nil {
		return nil, err
	}
	for _, dir := range []string{snapDir, logDir} {
		if err := fs.MkdirAll(dir); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	if s.ens != nil {
		if old, ok, _ := readIdentity(&cfg); !ok || old != s.ident {
			if err := writeIdentity(&cfg, s.ident); err != nil {
				return nil, fmt.Errorf("data directory: %w", err)
			}
		}
	}
	treeCfg := datatree.Config{ExtendedTypes: cfg.ExtendedTypes, SkipACL: cfg.SkipACL, Schemes: s.sec.auth.TreeSchemes(),
		DigestDisabled: s.sec.auth.DigestDisabled}
	if s.audit != nil {
		treeCfg.EphemeralsDeleted = s.audit.EphemeralsDeleted
	}
	restored, err := s.loadSnapshotAndLog(fs, snapDir, logDir, treeCfg, log)
	if err != nil {
		return nil, err
	}
	rcfg := replica.DefaultConfig()
	rcfg.ID, rcfg.MyID, rcfg.Standalone = RaftID(0, 1), 0, true
	rcfg.Bootstrap = quorum.Membership{Voters: []uint64{rcfg.ID}}
	if e := s.ens; e != nil {
		rcfg.ID, rcfg.MyID, rcfg.Standalone = e.id, e.self.ID, false
		if plan.bootstrap || plan.id.Member {
			// A bootstrapped (or imported) data directory: zoo.cfg's membership.
			rcfg.Bootstrap, rcfg.BootstrapConfig = e.members, []byte(cfg.Quorum.Membership.String())
		}
		if !plan.bootstrap && !plan.state {
			// An empty directory that is not bootstrapping waits for the
			// leader's snapshot.
			rcfg.Bootstrap, rcfg.BootstrapConfig = quorum.Membership{}, nil
		}
		rcfg.Quorum.Transport, rcfg.Peers, rcfg.Label = e.tr, e.tr, Label
		rcfg.ReconfigEnabled = cfg.ReconfigEnabled
		rcfg.CatchUpTicks = cfg.Quorum.InitLimit * ticksPerTickTime
		s.watcher = newEnsembleWatcher(s)
		rcfg.ConfigListener = s.watcher
		s.tickW.Add(1)
		go s.watcher.run(s.stopC, &s.tickW)
	}
	disk := session.NewDiskStats(cfg.FsyncWarningThreshold, rcfg.MyID, log)
	rcfg.Quorum.Log, rcfg.Quorum.Logger, rcfg.Quorum.SaveObserver = s.wal, log, disk.Observe
	rcfg.Tree, rcfg.Restored = treeCfg, restored
	rcfg.FS, rcfg.SnapshotDir = fs, snapDir
	rcfg.SnapCount, rcfg.SnapRetain, rcfg.PurgeInterval = cfg.SnapCount, cfg.SnapRetainCount, cfg.PurgeInterval
	rcfg.SnapSizeBytes = cfg.SnapSizeBytes
	rcfg.ContainerCheckInterval, rcfg.ContainerMaxPerMinute = cfg.ContainerCheckInterval, cfg.ContainerMaxPerMinute
	rcfg.ContainerMaxNeverUsed = cfg.ContainerMaxNeverUsed
	// ZooKeeper's follower starts its read-only server max(2 s, tickTime) after
	// it lost its leader.
	rcfg.ReadOnlyMode = cfg.ReadOnlyMode
	rcfg.LeaderRefusesClients = !cfg.Quorum.LeaderServes && cfg.Ensemble()
	rcfg.ReadOnlyAfterTicks = int(max(2*time.Second, cfg.TickTime) / (cfg.TickTime / ticksPerTickTime))
	rcfg.Logger = log
	if s.rep, err = replica.Open(rcfg); err != nil {
		return nil, err
	}
	// In the background: the collection takes a few hundred ms with a million
	// znodes, and clients need not wait for it.
	go releaseLoadGarbage(s.rep.Tree().NodeCount())
	if s.ens != nil {
		s.ens.handler.rep.Store(s.rep)
		if !s.ident.Member {
			s.tickW.Add(1)
			go s.joinLoop()
		}
		s.tickW.Add(1)
		go s.removalCheckLoop()
	}

	scfg := session.DefaultConfig()
	scfg.TickTime = cfg.TickTime
	scfg.MinSessionTimeout = cfg.MinSessionTimeout
	scfg.MaxSessionTimeout = cfg.MaxSessionTimeout
	scfg.MaxClientCnxns = cfg.MaxClientCnxns
	scfg.SuperDigest = cfg.SuperDigest
	scfg.FourLetterWords = cfg.FourLetterWords
	scfg.ReconfigEnabled = cfg.ReconfigEnabled
	scfg.EnforceQuota = cfg.EnforceQuota
	// A standalone ZooKeeper keeps every session global, whatever the keys say.
	scfg.LocalSessions, scfg.LocalSessionsUpgrading = cfg.LocalSessions && s.ens != nil, cfg.LocalSessionsUpgrading
	scfg.GlobalOutstandingLimit = cfg.GlobalOutstandingLimit
	scfg.ConnThrottle = connThrottle(cfg.ConnThrottle)
	scfg.Auth = s.sec.auth
	scfg.Audit = s.audit
	if s.ens != nil {
		scfg.ServerID = s.ens.self.ID
	}
	scfg.Version = opts.Version
	scfg.BuildTime = opts.BuildTime
	scfg.ClientAddr = cfg.ClientAddr
	scfg.Logger = log
	if s.sess, err = session.NewServer(scfg, s.rep); err != nil {
		return nil, err
	}
	s.rep.SetListener(s.sess)
	for _, t := range s.rep.StartupTimings() {
		s.sess.NoteTiming(t.Name, t.Value)
	}
	s.startTicker(cfg.TickTime / ticksPerTickTime)
	var quorumConf func() string
	if s.watcher != nil {
		quorumConf = s.watcher.quorumConf
	}
	if s.ops, err = startOps(&s.cfg, log, s.sec, s.sess, disk, s.rep, s.wal, fs, snapDir, logDir, port, quorumConf); err != nil {
		return nil, err
	}
	go s.watchFailure(disk)
	if pm := cfg.PauseMonitor; pm.Enabled {
		mon := newPauseMonitor(pm, log, func(ms int64) { s.sess.NoteTiming(pauseTimingName, ms) })
		s.tickW.Add(1)
		go func() {
			defer s.tickW.Done()
			mon.run(s.stopC)
		}()
	}
	var secCtx context.Context
	secCtx, s.secCancel = context.WithCancel(context.Background())
	s.sec.watch(secCtx)
	s.door.open(netloop.SessionHandler(s.sess))
	if a := s.SecureAddr(); a != nil {
		log.Info("binding to secure port", "addr", a.String())
	}
	if s.Addr() != nil {
		log.Info("binding to port", "addr", s.net.Addr().String(), "version", scfg.FullVersion(), "data_dir", cfg.DataDir)
	} else {
		log.Warn("clientPort is not set: no client port is listening", "version", scfg.FullVersion(), "data_dir", cfg.DataDir)
	}
	if s.audit != nil {
		s.audit.ServerStarted()
	}
	return s, nil
}

// Addr returns the bound client address; nil without a client port.
func (s *Server) Addr() net.Addr {
	if s.net == nil {
		return nil
	}
	return s.net.Addr()
}

// SecureAddr returns the bound secure (TLS) client address; nil without one.
func (s *Server) SecureAddr() net.Addr {
	if s.net == nil {
		return nil
	}
	return s.net.TLSAddr()
}

// AdminAddr returns the AdminServer's address; nil when it is not running.
func (s *Server) AdminAddr() net.Addr {
	if s.ops.admin == nil {
		return nil
	}
	return s.ops.admin.Addr()
}

// MetricsAddr returns the Prometheus endpoint's address; nil when it is not running.
func (s *Server) MetricsAddr() net.Addr {
	if s.ops.metrics == nil {
		return nil
	}
	return s.ops.metrics.Addr()
}

// Err delivers a failure after which the server cannot go on (the log could not
// be written); the caller should Stop it and exit.
func (s *Server) Err() <-chan error { return s.errC }

// QuorumAddr returns the bound quorum (peer) address; "" when standalone.
func (s *Server) QuorumAddr() string {
	if s.ens == nil || s.ens.tr == nil {
		return ""
	}
	return s.ens.tr.Addr()
}

// Replica returns the instance's replicated state machine.
func (s *Server) Replica() *replica.Replica { return s.rep }

// Sessions returns the instance's session layer.
func (s *Server) Sessions() *session.Server { return s.sess }

// Config returns the configuration the instance runs with.
func (s *Server) Config() zoocfg.Config { return s.cfg }

// Stop takes the instance down: operator endpoints and the client port first,
// then the ticker, the replica (raft loop and apply goroutine) and the log, then
// the directory locks. It may be called more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.audit != nil {
			s.audit.ServerStopping()
		}
		s.stopErr = s.teardown()
	})
	return s.stopErr
}

func (s *Server) teardown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.ops.stop()
	s.secCancel()
	if s.net != nil {
		if nerr := s.net.Stop(ctx); err == nil {
			err = nerr
		}
	}
	s.stopTicker()
	if s.rep != nil {
		s.rep.Stop()
	}
	if s.ens != nil && s.ens.tr != nil {
		s.ens.tr.Stop()
	}
	s.sec.close()
	if s.wal != nil {
		if werr := s.wal.Close(); err == nil {
			err = werr
		}
	}
	for _, l := range s.locks {
		l.release()
	}
	if s.auditFile != nil {
		_ = s.auditFile.Close()
	}
	return err
}

// watchFailure reports a failed write-ahead log on Err, once.
func (s *Server) watchFailure(disk *session.DiskStats) {
	select {
	case err := <-s.rep.Failed():
		disk.Failed(err)
		select {
		case s.errC <- err:
		default:
		}
	case <-s.stopC:
	}
}

// startTicker drives raft's clock and the replica's periodic work.
func (s *Server) startTicker(every time.Duration) {
	s.tickW.Add(1)
	go func() {
		defer s.tickW.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopC:
				return
			case <-t.C:
				s.rep.Node().Tick()
				s.rep.Tick()
			}
		}
	}()
}

func (s *Server) stopTicker() {
	select {
	case <-s.stopC:
	default:
		close(s.stopC)
	}
	s.tickW.Wait()
}

// ErrZooKeeperData is returned by Start when the data directory holds Apache
// ZooKeeper's data and no zkd data: the error's text names the files and the
// import command.
var ErrZooKeeperData = errors.New("server: the data directory holds Apache ZooKeeper data")

func refuseZooKeeperData(cfg *zoocfg.Config, snapDir, logDir string) error {
	for _, dir := range []string{snapDir, logDir} {
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return nil // zkd's own data: the ZooKeeper files beside it are left alone
		}
	}
	found, err := zkdisk.Detect(cfg.DataDir, cfg.DataLogDir)
	if err != nil || !found.Any() {
		return nil
	}
	return fmt.Errorf("%w\n%s", ErrZooKeeperData, found.RefusalMessage(cfg.ConfigFile))
}

// SnapshotDir and LogDir are zkd's own subdirectories of dataDir and dataLogDir;
// a ZooKeeper version-2 directory beside them is left alone.
func SnapshotDir(c *zoocfg.Config) string { return filepath.Join(c.DataDir, "zkd", "snapshots") }

// LogDir is where the write-ahead log lives (dataLogDir, or dataDir without one).
func LogDir(c *zoocfg.Config) string {
	dir := c.DataLogDir
	if dir == "" {
		dir = c.DataDir
	}
	return filepath.Join(dir, "zkd", "log")
}

// lockDirs are the directories an instance locks: dataDir, and dataLogDir when it
// is a different directory.
func lockDirs(c *zoocfg.Config) []string {
	dirs := []string{c.DataDir}
	if c.DataLogDir != "" && filepath.Clean(c.DataLogDir) != filepath.Clean(c.DataDir) {
		dirs = append(dirs, c.DataLogDir)
	}
	return dirs
}

// door is the client port's handler until the server behind it is ready: it
// refuses every connection, then hands each to the session layer.
type door struct {
	h atomic.Pointer[netloop.Handler] // nil until open
}

func (d *door) open(h netloop.Handler) { d.h.Store(&h) }

func (d *door) handler() netloop.Handler {
	if p := d.h.Load(); p != nil {
		return *p
	}
	return nil
}

// errStarting refuses a client that connects while the server is starting.
var errStarting = errors.New("server: starting")

func (d *door) Open(tr session.Transport, ip, remote string) (netloop.Conn, error) {
	if h := d.handler(); h != nil {
		return h.Open(tr, ip, remote)
	}
	return nil, errStarting
}

func (d *door) NoteRejected() {
	if h := d.handler(); h != nil {
		h.NoteRejected()
	}
}

// noter returns the opened handler's socket counters, if it keeps them.
func (d *door) noter() netloop.SocketNoter {
	n, _ := d.handler().(netloop.SocketNoter)
	return n
}

func (d *door) NoteAcceptError() {
	if n := d.noter(); n != nil {
		n.NoteAcceptError()
	}
}

func (d *door) NoteHandshakeTimeout() {
	if n := d.noter(); n != nil {
		n.NoteHandshakeTimeout()
	}
}

func (d *door) NoteInputLimit() {
	if n := d.noter(); n != nil {
		n.NoteInputLimit()
	}
}

func (d *door) AddUnread(delta int64) {
	if n := d.noter(); n != nil {
		n.AddUnread(delta)
	}
}

func (d *door) NoteTLSFailure() {
	if n := d.noter(); n != nil {
		n.NoteTLSFailure()
	}
}

func (d *door) AddTLSHandshaking(delta int64) {
	if n := d.noter(); n != nil {
		n.AddTLSHandshaking(delta)
	}
}

// bigLoad is the tree size from which a start returns its load's garbage to the
// operating system at once.
const bigLoad = 50_000

// releaseLoadGarbage collects what loading a large tree left behind (snapshot
// buffers, the log replay's decoded entries) and returns it to the operating
// system: the runtime would otherwise keep the load's peak as RSS until its
// scavenger gets to it, and a restarted server would show more memory than the
// one it replaced held for the same data. One forced collection, just after start.
func releaseLoadGarbage(znodes int64) {
	if znodes >= bigLoad {
		debug.FreeOSMemory()
	}
}

// connThrottle is the session layer's form of the connection throttle keys.
func connThrottle(t zoocfg.ConnThrottleSettings) session.ConnThrottleConfig {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return session.ConnThrottleConfig{Tokens: t.Tokens, FillTime: ms(t.FillTimeMs), FillCount: t.FillCount,
		FreezeTime: ms(t.FreezeTimeMs), DropIncrease: t.DropIncrease, DropDecrease: t.DropDecrease,
		DecreaseRatio: t.DecreaseRatio, Weighted: t.Weighted,
		GlobalWeight: t.GlobalWeight, LocalWeight: t.LocalWeight, RenewWeight: t.RenewWeight}
}

// segmentSize is the size of the log's segment files: preAllocSize, or
// txnLogSizeLimitInKb when that is set and smaller (ZooKeeper rolls its log
// file once it passes that limit; a zkd segment is full at its size).
func segmentSize(cfg *zoocfg.Config) int64 {
	size := cfg.PreAllocSize
	if limit := cfg.TxnLogSizeLimitKB * 1024; limit > 0 && (size <= 0 || limit < size) {
		size = max(limit, txnlog.MinSegmentSize)
	}
	return size
}

// loadSnapshotAndLog loads the newest readable snapshot and opens the log (s.wal)
// knowing its index: segments wholly below it are neither read (a restart need
// not read the whole log history) nor fatal when damaged. The two run at once,
// each on its own core, the log opened at the index the newest snapshot's file
// name gives; should that snapshot prove unreadable and an older one be loaded,
// the log is opened again at the older index (Open deletes nothing that a lower
// index would need: it only leaves segments unread).
func (s *Server) loadSnapshotAndLog(fs vfs.FS, snapDir, logDir string, treeCfg datatree.Config, log *slog.Logger) (*replica.Restored, error) {
	openLog := func(index uint64) (*txnlog.Log, error) {
		return txnlog.Open(fs, logDir, txnlog.Options{SegmentSize: segmentSize(&s.cfg), NoSync: !s.cfg.ForceSync,
			SnapshotIndex: index, SkipBelowSnapshot: true, Logger: log})
	}
	var newest uint64
	if infos, err := snapshot.List(fs, snapDir); err == nil && len(infos) > 0 {
		newest = infos[0].Index
	}
	type opened struct {
		wal *txnlog.Log
		err error
	}
	early := make(chan opened, 1)
	go func() {
		wal, err := openLog(newest)
		early <- opened{wal, err}
	}()
	restored, err := replica.LoadSnapshot(fs, snapDir, treeCfg, log)
	o := <-early
	if err != nil || restored.Meta.Index != newest {
		if o.wal != nil {
			_ = o.wal.Close()
		}
		if err != nil {
			return nil, err
		}
		o.wal, o.err = openLog(restored.Meta.Index)
	}
	if o.err != nil {
		return nil, o.err
	}
	s.wal = o.wal
	return restored, nil
}
