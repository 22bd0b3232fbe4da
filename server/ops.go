package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"zkd/admin"
	"zkd/internal/vfs"
	"zkd/quorum"
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
func startOps(cfg *zoocfg.Config, log *slog.Logger, sec *security, sess *session.Server, disk *session.DiskStats,
	rep *replica.Replica, wal *txnlog.Log, fs vfs.FS, snapDir, logDir string, clientPort int, quorumConf func() string) (opsServers, error) {
	sess.SetOps(session.OpsConfig{
		DataDir: absPath(snapDir), DataLogDir: absPath(logDir), ClientPort: clientPort,
		ClientPortListenBacklog: cfg.ClientPortListenBacklog, ReadOnlyMode: cfg.ReadOnlyMode, Disk: disk,
		Quorum: func() session.QuorumStats {
			return quorumStats(viewOf(rep))
		},
		QuorumConf: quorumConf,
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
		acfg.SnapshotEnabled, acfg.RateLimiterInterval = cfg.Admin.SnapshotEnabled, cfg.Admin.RateLimiterInterval
		acfg.TakeSnapshot = func(ctx context.Context) (admin.Snapshot, error) {
			snap, err := rep.SnapshotNow(ctx)
			return admin.Snapshot{Zxid: snap.Index, Size: snap.Size, Body: snap.File}, err
		}
		acfg.TLS, acfg.Unified = sec.adminTLS, sec.adminUnified
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

// memberView is what the replica and its raft node publish about this member,
// read at one moment for one mntr, srvr or scrape.
type memberView struct {
	role     string // the replica's Mode
	status   quorum.Status
	stats    replica.Stats
	counters quorum.Counters
	now      time.Time
}

func viewOf(rep *replica.Replica) memberView {
	return memberView{role: rep.Mode(), status: rep.Node().Status(), stats: rep.Stats(),
		counters: rep.Node().Counters(), now: time.Now()}
}

// quorumStats turns a member's view into the figures mntr and srvr report in
// ZooKeeper's terms (session.QuorumStats). A standalone server has no
// peer_state, no quorum_size, and the counters of ensemble work at 0; an
// ensemble of one (standaloneEnabled=false) is a leader, as in ZooKeeper. A
// read-only member prints neither peer_state nor quorum_size, as ZooKeeper's
// read-only server does. diff_count stays unknown: raft does not tell a
// learner caught up from the log apart from one that merely keeps up.
func quorumStats(v memberView) session.QuorumStats {
	m, st := v.status.Membership, v.status
	failures := session.Known(int64(v.counters.Failures))
	if v.role == "standalone" {
		z := session.Known(0)
		return session.QuorumStats{Mode: "standalone", LookingCount: z, ProposalCount: z, CommitCount: z,
			SnapCount: z, DiffCount: z, LearnerProposals: z, LearnerCommits: z, UnrecoverableErrors: failures,
			StaleSessionsExpired: session.Known(int64(v.stats.SessionsExpired))}
	}
	qs := session.QuorumStats{
		LookingCount:         session.Known(int64(v.stats.Lookings)),
		ProposalCount:        session.Known(int64(v.stats.Proposals)),
		CommitCount:          session.Known(int64(v.stats.Commits)),
		SnapCount:            session.Known(int64(v.counters.SnapshotsSent)),
		LearnerProposals:     session.Known(int64(v.counters.EntriesReceived)),
		LearnerCommits:       session.Known(int64(v.stats.LearnerCommits)),
		UnrecoverableErrors:  failures,
		StaleSessionsExpired: session.Known(int64(v.stats.SessionsExpired)),
	}
	if v.role == "read-only" {
		qs.Mode = v.role
		return qs
	}
	qs.QuorumSize, qs.Mode, qs.PeerState = quorumVoters(m), "follower", "following - broadcast"
	switch {
	case v.role == "leader":
		qs.Mode, qs.PeerState = "leader", "leading - broadcast"
		qs.Leader = leaderStats(v)
	case v.role == "observer" || slices.Contains(m.Learners, st.ID):
		// The replica's role first: raft's status may not list this learner yet
		// when the replica already serves as one, and srvr must agree with
		// mntr's zk_server_state.
		qs.Mode, qs.PeerState = "observer", "observing - broadcast"
	}
	if st.Lead == 0 {
		qs.PeerState = "looking" // as ZooKeeper words it before a leader is elected
	}
	return qs
}

// quorumVoters counts the voting members, both halves of a joint configuration.
func quorumVoters(m quorum.Membership) int {
	n := len(m.Voters)
	for _, id := range m.VotersOutgoing {
		if !slices.Contains(m.Voters, id) {
			n++
		}
	}
	return n
}

// leaderStats reads the leader's view of its members. A member counts as a
// learner while the leader hears from it (raft's RecentActive, within an election
// timeout), and as synced once it has also acknowledged an entry of this leader's
// log (Match > 0): ZooKeeper's learner handlers and forwarding followers.
func leaderStats(v memberView) *session.LeaderStats {
	st := v.stats
	l := &session.LeaderStats{
		PendingSyncs:     session.Known(int64(st.PendingSyncs)),
		LastProposalSize: session.Known(int64(st.LastProposal)),
		MinProposalSize:  session.Known(int64(st.MinProposal)),
		MaxProposalSize:  session.Known(int64(st.MaxProposal)),
	}
	if !st.LeaderSince.IsZero() {
		l.Uptime = session.Known(max(v.now.Sub(st.LeaderSince).Milliseconds(), 0))
	}
	for id, pr := range v.status.Progress {
		if id == v.status.ID || !pr.RecentActive {
			continue
		}
		l.Learners++
		if pr.Match == 0 {
			continue
		}
		if pr.Learner {
			l.SyncedObservers++
		} else {
			l.SyncedFollowers++
		}
	}
	return l
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
