package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"zkd/admin"
	"zkd/internal/vfs"
	"zkd/replica"
	"zkd/session"
	"zkd/snapshot"
	"zkd/txnlog"
	"zkd/zoocfg"
)

// opsServers are the operator HTTP endpoints of one instance; either may be nil.
type opsServers struct {
	admin   *admin.Server
	metrics *admin.MetricsServer
}

// startOps tells the session layer what the operator commands report, then starts
// the AdminServer and, with ZooKeeper's Prometheus provider configured, the
// metrics endpoint.
//
// The AdminServer on its default port is best effort: if the port is taken (a
// ZooKeeper, or any web server, on 8080), zkd warns and runs without it, as a bare
// `zkd` must start anywhere. A port configured explicitly that cannot be bound is
// an error, as is the metrics port (the provider was asked for).
func startOps(cfg *zoocfg.Config, log *slog.Logger, sess *session.Server, disk *session.DiskStats,
	rep *replica.Replica, wal *txnlog.Log, fs vfs.FS, snapDir, logDir string, clientPort int, quorumConf func() string) (opsServers, error) {
	sess.SetOps(session.OpsConfig{
		DataDir: absPath(snapDir), DataLogDir: absPath(logDir), ClientPort: clientPort,
		ClientPortListenBacklog: cfg.ClientPortListenBacklog, ReadOnlyMode: cfg.ReadOnlyMode, Disk: disk,
		Quorum: quorumConf,
	})
	var ops opsServers
	if cfg.Admin.Enabled {
		acfg := admin.DefaultConfig()
		acfg.Addr, acfg.CommandURL, acfg.IdleTimeout = cfg.AdminAddr(), cfg.Admin.CommandURL, cfg.Admin.IdleTimeout
		acfg.InitialConfiguration = cfg.ConfigText
		acfg.SystemProperties = cfg.SystemProperties
		acfg.Disk = disk
		acfg.Ensemble = rep.Ensemble
		acfg.LastSnapshot = func() (uint64, time.Time, bool) { return lastSnapshot(fs, snapDir) }
		acfg.Logger = log
		srv, err := admin.Listen(acfg, sess)
		switch {
		case err == nil:
			ops.admin = srv
		case !cfg.Admin.PortSet:
			log.Warn("AdminServer not started: its default port is in use; set admin.serverPort, or admin.enableServer=false",
				"addr", acfg.Addr, "err", err)
		default:
			return ops, fmt.Errorf("AdminServer: %w", err)
		}
	}
	if cfg.Metrics.Enabled() {
		mcfg := admin.MetricsConfig{Addr: cfg.MetricsAddr(), Logger: log}
		mcfg.ApplyLag = func() int64 { return max(int64(wal.LastIndex())-int64(rep.Applied()), 0) }
		srv, err := admin.ListenMetrics(mcfg, sess)
		if err != nil {
			ops.stop()
			return opsServers{}, fmt.Errorf("metrics provider: %w", err)
		}
		ops.metrics = srv
	}
	return ops, nil
}

// stop stops the endpoints, waiting at most a few seconds for requests in progress.
func (o opsServers) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if o.admin != nil {
		err = o.admin.Stop(ctx)
	}
	if o.metrics != nil {
		if merr := o.metrics.Stop(ctx); err == nil {
			err = merr
		}
	}
	return err
}

// lastSnapshot returns the newest snapshot's zxid and modification time.
func lastSnapshot(fs vfs.FS, dir string) (uint64, time.Time, bool) {
	list, err := snapshot.List(fs, dir)
	if err != nil || len(list) == 0 {
		return 0, time.Time{}, false
	}
	st, err := os.Stat(filepath.Join(dir, list[0].Name))
	if err != nil {
		return list[0].Index, time.Time{}, false
	}
	return list[0].Index, st.ModTime(), true
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
