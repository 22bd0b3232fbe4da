package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"zkd/internal/vfs"
	"zkd/quorum/peer"
	"zkd/replica"
	"zkd/snapshot"
	"zkd/zoocfg"
)

// How an ensemble member starts (see replica's doc, "Joining"):
//
//	data directory has state   restart: the raft id it was given
//	empty, and a member of a   a new server, or one that lost its disk: it
//	running ensemble answers   starts empty (the leader sends it a snapshot) as
//	                           the raft id the ensemble knows for its myid or,
//	                           unknown there, with a fresh incarnation, and asks
//	                           to join until a reconfig adds it
//	empty, and no member       a new ensemble: every member bootstraps from
//	answers                    zoo.cfg's server list, incarnation 1, as the
//	                           members of a version-0 ensemble that lose their
//	                           disk also do (quorum's rejoin resyncs them)
//
// What was decided is kept in <dataDir>/zkd/identity: the raft id, and whether
// the server has been in the ensemble's configuration (a removed server never
// asks to join again under its old raft id).

// identity is a member's persisted identity.
type identity struct {
	ID     uint64
	Member bool // has been in /zookeeper/config
}

func identityPath(cfg *zoocfg.Config) string { return filepath.Join(cfg.DataDir, "zkd", "identity") }

// readIdentity reads the identity file; ok is false when there is none.
func readIdentity(cfg *zoocfg.Config) (identity, bool, error) {
	b, err := os.ReadFile(identityPath(cfg))
	if errors.Is(err, os.ErrNotExist) {
		return identity{}, false, nil
	}
	if err != nil {
		return identity{}, false, fmt.Errorf("server identity: %w", err)
	}
	var id identity
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "raftId":
			if id.ID, err = strconv.ParseUint(v, 10, 64); err != nil {
				return identity{}, false, fmt.Errorf("%s: raftId %q: %w", identityPath(cfg), v, err)
			}
		case "member":
			id.Member = v == "true"
		}
	}
	if id.ID == 0 || replica.ServerID(id.ID) != cfg.Quorum.MyID {
		return identity{}, false, fmt.Errorf("%s: raft id %d is not one of server id %d (a data directory of another server?)",
			identityPath(cfg), id.ID, cfg.Quorum.MyID)
	}
	return id, true, nil
}

// writeIdentity replaces the identity file atomically.
func writeIdentity(cfg *zoocfg.Config, id identity) error {
	text := fmt.Sprintf("# zkd: this server's raft id (server.%d, incarnation %d); do not edit\nraftId=%d\nmember=%t\n",
		replica.ServerID(id.ID), uint32(id.ID), id.ID, id.Member)
	if err := os.MkdirAll(filepath.Dir(identityPath(cfg)), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(identityPath(cfg), []byte(text))
}

// hasState reports whether the data directories hold a snapshot or log segment.
func hasState(cfg *zoocfg.Config) (bool, error) {
	list, err := snapshot.List(vfs.OS(), SnapshotDir(cfg))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if len(list) > 0 {
		return true, nil
	}
	ents, err := os.ReadDir(LogDir(cfg))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return len(ents) > 0, nil
}

// freshIncarnation draws an incarnation for a server joining an ensemble: any
// value but 0 and 1 (the bootstrapped members'), random so that a server id used
// again gets another raft id.
func freshIncarnation() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if inc := binary.BigEndian.Uint32(b[:]); inc > 1 {
			return inc
		}
	}
}

// startPlan is how an ensemble member starts.
type startPlan struct {
	id        identity
	state     bool              // the data directory has a snapshot or log
	bootstrap bool              // a new ensemble from zoo.cfg's server list
	peers     map[uint64]string // raft id -> quorum address of the other members
}

// planStart decides how this member starts (see the table above). It asks the
// other servers of zoo.cfg only when the data directory is empty.
func (e *ensemble) planStart(ctx context.Context, cfg *zoocfg.Config, log *slog.Logger) (startPlan, error) {
	saved, haveID, err := readIdentity(cfg)
	if err != nil {
		return startPlan{}, err
	}
	state, err := hasState(cfg)
	if err != nil {
		return startPlan{}, err
	}
	if state {
		if !haveID {
			// Written before zkd kept an identity: a bootstrapped member.
			saved = identity{ID: RaftID(e.self.ID, 1), Member: true}
		}
		return startPlan{id: saved, state: true, peers: e.guessPeers()}, nil
	}
	candidate := RaftID(e.self.ID, freshIncarnation())
	if haveID && !saved.Member {
		candidate = saved.ID // a joining server that stopped before it got anything
	}
	req := e.joinRequest(candidate, false)
	deadline := time.Now().Add(max(time.Duration(cfg.Quorum.InitLimit)*cfg.TickTime, 5*time.Second))
	for {
		view, starting := e.askPeers(ctx, req, e.configuredAddrs())
		switch {
		case view != nil:
			plan := startPlan{peers: peersOf(view.Members, 0)}
			if id, known := view.MemberID(e.self.ID); known {
				plan.id = identity{ID: id, Member: true}
				// A member of a never reconfigured ensemble bootstraps as all did.
				plan.bootstrap = id == RaftID(e.self.ID, 1) && view.ConfigVersion() == 0
				delete(plan.peers, id)
				log.Info("the ensemble knows this server: starting empty to catch up", "raft_id", Label(id),
					"bootstrap", plan.bootstrap, "asked", Label(view.ID))
			} else {
				plan.id = identity{ID: candidate}
				log.Info("joining a running ensemble: waiting for a reconfig to add this server", "raft_id", Label(candidate),
					"asked", Label(view.ID), "config", string(view.Config))
			}
			return plan, nil
		case haveID && !saved.Member:
			// It set out to join: it never bootstraps an ensemble of its own.
			log.Info("joining: no member answered yet", "raft_id", Label(candidate))
			return startPlan{id: identity{ID: candidate}, peers: e.guessPeers()}, nil
		case starting > 0 && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return startPlan{}, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		case starting > 0:
			return startPlan{}, errors.New("other servers have data but did not start in time: start them first")
		}
		return startPlan{id: identity{ID: e.id, Member: true}, bootstrap: true, peers: e.peers}, nil
	}
}

// joinRequest is this server's request to the members under raft id id
// (viewOnly: for their views only), marshalled.
func (e *ensemble) joinRequest(id uint64, viewOnly bool) []byte {
	return replica.JoinRequest{MyID: e.self.ID, ID: id, Addr: e.self.QuorumAddrs(), ViewOnly: viewOnly}.Marshal()
}

// configuredAddrs returns the quorum addresses of the other servers of zoo.cfg.
func (e *ensemble) configuredAddrs() []string {
	var out []string
	for id, addr := range e.peers {
		if MyID(id) != e.self.ID {
			out = append(out, addr)
		}
	}
	return out
}

// guessPeers is the peer set of zoo.cfg with the raft ids of bootstrapped
// members; the replica's membership replaces it once it is open.
func (e *ensemble) guessPeers() map[uint64]string { return maps.Clone(e.peers) }

// askConfig is how this server dials an ask before its transport exists: over
// the quorum's TLS when sslQuorum is on, since members answer only over it.
func (e *ensemble) askConfig() peer.AskConfig {
	c := peer.AskConfig{From: e.id, Timeout: time.Second}
	if e.sec != nil {
		c.TLSFor = e.sec.quorumDialTLS()
	}
	return c
}

// askPeers asks every address at once; it returns the view of a running member
// (the one with the newest configuration) and how many answered that they have
// data but are still starting.
func (e *ensemble) askPeers(ctx context.Context, req []byte, addrs []string) (*replica.JoinView, int) {
	var mu sync.Mutex
	var best *replica.JoinView
	starting := 0
	var wg sync.WaitGroup
	for _, addr := range addrs {
		wg.Go(func() {
			ans, err := peer.Ask(ctx, e.askConfig(), addr, req)
			if err != nil {
				return
			}
			v, err := replica.UnmarshalJoinView(ans)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch v.Status {
			case replica.JoinMember:
				if best == nil || v.ConfigVersion() > best.ConfigVersion() || v.Leader == v.ID {
					best = &v
				}
			case replica.JoinStarting:
				starting++
			}
		})
	}
	wg.Wait()
	return best, starting
}

// peersOf returns members without self.
func peersOf(members map[uint64]string, self uint64) map[uint64]string {
	out := maps.Clone(members)
	delete(out, self)
	return out
}

// joinLoop runs while this server is not a member: it asks every server it
// knows of to be known (the leader adds it when a reconfig names it) and, until
// it has the leader's snapshot, takes the members' raft ids and addresses from
// their answers.
func (s *Server) joinLoop() {
	defer s.tickW.Done()
	e, log := s.ens, s.log
	every := max(s.cfg.TickTime, 100*time.Millisecond)
	req := e.joinRequest(e.id, false)
	known := make(map[uint64]string)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s.rep.Member() && s.rep.Applied() > 0 {
			log.Info("this server is a member of the ensemble now", "raft_id", Label(e.id))
			s.noteMember()
			return
		}
		addrs := e.configuredAddrs()
		for _, a := range known {
			addrs = append(addrs, a)
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		views := s.askAll(ctx, req, addrs)
		cancel()
		for _, v := range views {
			maps.Copy(known, v.Members)
		}
		delete(known, e.id)
		if s.rep.Applied() == 0 && len(known) > 0 {
			e.setPeers(known)
		}
		select {
		case <-s.stopC:
			return
		case <-t.C:
		}
	}
}

// removalCheckLoop runs on every member of an ensemble. A member removed by a
// reconfig while it was down or cut off never gets the entry that removes it:
// the leader sends it nothing more. So after two tickTimes without a leader,
// and every tickTime after, it asks the servers it knows of for their views
// only (JoinRequest.ViewOnly); a view with a newer configuration that no longer
// names it tells it it was removed (replica.NoteView), as ZooKeeper's election
// messages, which carry the configuration, tell a removed server.
func (s *Server) removalCheckLoop() {
	defer s.tickW.Done()
	e := s.ens
	every := max(s.cfg.TickTime, 100*time.Millisecond)
	req := e.joinRequest(e.id, true)
	t := time.NewTicker(every)
	defer t.Stop()
	leaderless := 0
	for {
		select {
		case <-s.stopC:
			return
		case <-t.C:
		}
		if !s.rep.Member() || s.rep.Leader() != 0 {
			leaderless = 0
			continue
		}
		if leaderless++; leaderless < 2 {
			continue
		}
		addrs := append(e.configuredAddrs(), slices.Collect(maps.Values(s.rep.Ensemble().Peers))...)
		ctx, cancel := context.WithTimeout(context.Background(), every)
		views := s.askAll(ctx, req, addrs)
		cancel()
		for _, v := range views {
			if s.rep.NoteView(v) {
				return
			}
		}
	}
}

// askAll asks every address (duplicates once) and returns the members' views.
func (s *Server) askAll(ctx context.Context, req []byte, addrs []string) []replica.JoinView {
	seen := make(map[string]bool)
	var mu sync.Mutex
	var out []replica.JoinView
	var wg sync.WaitGroup
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		wg.Go(func() {
			ans, err := s.ens.tr.Ask(ctx, a, req)
			if err != nil {
				return
			}
			if v, err := replica.UnmarshalJoinView(ans); err == nil && v.Status == replica.JoinMember {
				mu.Lock()
				out = append(out, v)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// noteMember records that this server has been in the configuration.
func (s *Server) noteMember() {
	s.identMu.Lock()
	defer s.identMu.Unlock()
	if s.ident.Member {
		return
	}
	s.ident.Member = true
	if err := writeIdentity(&s.cfg, s.ident); err != nil {
		s.log.Warn("cannot record that this server is a member", "err", err)
	}
}

// writeFileAtomic writes data to path through a temporary file, synced and
// renamed, and syncs the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, nothing to remove
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
