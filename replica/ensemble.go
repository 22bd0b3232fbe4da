package replica

import (
	"maps"
	"slices"

	"zkd/quorum"
	"zkd/zoocfg"
)

// Ensemble is the membership as this member has applied it: what the server
// needs to reach the other members, rewrite its dynamic configuration file and
// answer conf.
type Ensemble struct {
	// Config is the /zookeeper/config data: ZooKeeper's membership text with its
	// version line (empty for a standalone server, and for a data directory
	// written before zkd kept it).
	Config []byte
	// Version is the configuration's version (the zxid of the reconfig that made
	// it; 0 for a static configuration).
	Version int64
	// Members is the membership as parsed from Config.
	Members zoocfg.Membership
	// Peers maps the raft id of every other member raft knows (the configured
	// ones, and servers being added as learners) to its quorum address.
	Peers map[uint64]string
	// Self is this server's own quorum address in Config ("" when absent).
	Self string
	// Member reports whether this server is in Config (without one: whether
	// raft has it).
	Member bool
	// Raft is raft's membership.
	Raft quorum.Membership
}

// Ensemble returns the membership as last applied.
func (r *Replica) Ensemble() Ensemble {
	if e := r.ens.Load(); e != nil {
		cp := *e
		cp.Peers = maps.Clone(e.Peers)
		return cp
	}
	return Ensemble{Member: true}
}

// updateEnsemble recomputes the Ensemble after a change of membership or of
// /zookeeper/config, tells the ConfigListener, and notices this server leaving
// the ensemble. Apply goroutine only.
func (r *Replica) updateEnsemble() {
	text, _ := r.Tree().Config()
	// Without a configuration (a standalone server, a data directory written
	// before zkd kept one), raft alone says who is a member; a server joining a
	// running ensemble is none until it has the leader's snapshot.
	e := &Ensemble{Config: append([]byte(nil), text...), Raft: r.membership, Peers: make(map[uint64]string),
		Member: r.membership.Contains(r.cfg.ID)}
	m, err := zoocfg.ParseMembership(string(text))
	if err == nil && len(m.Servers) > 0 {
		e.Members, e.Version = m, m.Version
		s, ok := m.Lookup(ServerID(r.cfg.ID))
		e.Member = ok
		if ok {
			e.Self = s.QuorumAddrs()
		}
	}
	for _, id := range r.membership.Members() {
		if id == r.cfg.ID {
			continue
		}
		if s, ok := e.Members.Lookup(ServerID(id)); ok {
			e.Peers[id] = s.QuorumAddrs()
		} else if addr, ok := r.stagedAddrs[id]; ok {
			e.Peers[id] = addr
		}
	}
	if r.evicted.Load() {
		e.Member = false // removed by a configuration this server never applied (NoteView)
	}
	prev := r.ens.Swap(e)
	r.member.Store(e.Member)
	if prev != nil && prev.Member && !e.Member {
		r.log.Warn("this server was removed from the ensemble: it stops serving clients",
			"config_version", "0x"+formatHex(e.Version))
		r.removed.Store(true)
	}
	if prev != nil && !prev.Member && e.Member {
		r.log.Info("this server is now a member of the ensemble", "config_version", "0x"+formatHex(e.Version))
	}
	if l := r.cfg.ConfigListener; l != nil {
		if prev == nil || prev.Member != e.Member || !slices.Equal(prev.Config, e.Config) || !maps.Equal(prev.Peers, e.Peers) {
			l.EnsembleChanged(r.Ensemble())
		}
	}
}

// ConfigListener hears of membership changes (the server rewrites its dynamic
// configuration file and updates the peer transport). EnsembleChanged runs on
// the apply goroutine and must not block.
type ConfigListener interface {
	EnsembleChanged(e Ensemble)
}
