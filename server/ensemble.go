package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"zkd/quorum"
	"zkd/quorum/peer"
	"zkd/replica"
	"zkd/zoocfg"
)

// RaftID is the raft id of the member with ZooKeeper server id myid in its
// incarnation (replica.RaftID).
func RaftID(myid int64, incarnation uint32) uint64 { return replica.RaftID(myid, incarnation) }

// MyID is the ZooKeeper server id of raft id.
func MyID(raftID uint64) int64 { return replica.ServerID(raftID) }

// Label names a member in logs by its server.N line (replica.Label).
func Label(raftID uint64) string { return replica.Label(raftID) }

// ensemble is what an instance of an ensemble has beyond a standalone one: its
// place in the membership and the peer transport.
type ensemble struct {
	self zoocfg.Server
	// id is this member's raft id (planStart decides it); members the bootstrap
	// membership of zoo.cfg; peers the other members' quorum addresses by raft id.
	id      uint64
	members quorum.Membership
	peers   map[uint64]string
	tr      *peer.Transport
	handler *peerHandler
	sec     *security // quorum TLS and SASL; set before startTransport
}

// planEnsemble reads the membership of cfg: raft ids, roles and peer addresses.
func planEnsemble(cfg *zoocfg.Config) (*ensemble, error) {
	self, err := cfg.Self()
	if err != nil {
		return nil, err
	}
	e := &ensemble{self: self, id: RaftID(self.ID, 1), peers: make(map[uint64]string)}
	for _, s := range cfg.Quorum.Membership.Servers {
		id := RaftID(s.ID, 1)
		if s.Voting() {
			e.members.Voters = append(e.members.Voters, id)
		} else {
			e.members.Learners = append(e.members.Learners, id)
		}
		if len(s.Addrs) == 0 {
			return nil, fmt.Errorf("server.%d has no quorum address", s.ID)
		}
		e.peers[id] = s.QuorumAddrs()
	}
	return e, nil
}

// setPeers points the transport at peers (quorum addresses by raft id), whose
// hosts quorum SASL then takes for the members'.
func (e *ensemble) setPeers(peers map[uint64]string) {
	e.tr.SetPeers(peers)
	if len(peers) > 0 {
		e.authorizeMembers(peers)
	}
}

// authorizeMembers has quorum SASL take the hosts of peers and this member's
// own for the members'.
func (e *ensemble) authorizeMembers(peers map[uint64]string) {
	all := map[uint64]string{e.id: e.self.QuorumAddrs()}
	maps.Copy(all, peers)
	e.sec.authorizeMembers(all)
}

// listenAddr is where this member's quorum port listens: each of its
// addresses (peer.Alternatives), or with quorumListenOnAllIPs each of their
// ports on every interface.
func (e *ensemble) listenAddr(cfg *zoocfg.Config) string {
	if !cfg.Quorum.QuorumListenOnAllIPs {
		return e.self.QuorumAddrs()
	}
	var addrs []string
	for _, a := range e.self.Addrs {
		if addr := net.JoinHostPort("", strconv.Itoa(a.QuorumPort)); !slices.Contains(addrs, addr) {
			addrs = append(addrs, addr)
		}
	}
	return strings.Join(addrs, "|")
}

// bindRetryInterval is how long a failed bind of the quorum port waits before
// the next try: ZooKeeper's second between its election port's tries.
const bindRetryInterval = time.Second

// startTransport binds the quorum port. Its handler reaches the replica once it
// is open; messages before that are dropped (raft sends them again). A port
// that cannot be bound (in use, or its host name not resolving yet, as in a
// Kubernetes pod whose DNS record comes moments after it starts) is tried
// electionPortBindRetry times a second apart, for ever when that is 0, as
// ZooKeeper tries its election port.
func (e *ensemble) startTransport(ctx context.Context, cfg *zoocfg.Config, log *slog.Logger, status replica.JoinStatus) error {
	e.handler = &peerHandler{log: log, status: status}
	pcfg := peer.Config{ID: e.id, Listen: e.listenAddr(cfg), Peers: e.peers, Handler: e.handler,
		Logger: log.With("component", "peer"), Label: Label, DialTimeout: cfg.Quorum.ConnectTimeout}
	if pcfg.DialTimeout == 0 {
		// cnxTimeout=0 is ZooKeeper's connect without a timeout; the kernel
		// abandons a connect long before this.
		pcfg.DialTimeout = 24 * time.Hour
	}
	if e.sec != nil {
		e.sec.applyPeer(&pcfg)
		e.authorizeMembers(e.peers)
	}
	tries := cfg.Quorum.ElectionPortBindRetry
	for try := 1; ; try++ {
		tr, err := peer.New(pcfg)
		if err == nil {
			e.tr = tr
			return nil
		}
		if errors.Is(err, peer.ErrBadConfig) {
			return fmt.Errorf("quorum port %s: %w", e.listenAddr(cfg), err)
		}
		if tries != 0 && try >= tries {
			return fmt.Errorf("%w (tried %d times; electionPortBindRetry=0 tries for ever)", err, try)
		}
		log.Error("cannot bind the quorum port; trying again", "addr", e.listenAddr(cfg), "try", try,
			"electionPortBindRetry", tries, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bindRetryInterval):
		}
	}
}

// peerHandler hands what the transport receives to the replica and its raft node.
type peerHandler struct {
	log *slog.Logger
	rep atomic.Pointer[replica.Replica]
	// status is what an ask is answered before the replica is open: the server
	// has no state yet (JoinFresh) or is loading it (JoinStarting).
	status replica.JoinStatus
}

var _ peer.Asker = (*peerHandler)(nil)

// HandleAsk answers a server asking to join (or deciding how to start).
func (h *peerHandler) HandleAsk(_ uint64, question []byte) []byte {
	if r := h.rep.Load(); r != nil {
		return r.HandleJoin(question)
	}
	return replica.JoinView{Status: h.status}.Marshal()
}

var _ peer.Handler = (*peerHandler)(nil)

var errNotReady = errors.New("server: not started yet")

func (h *peerHandler) Step(m *quorum.Message) {
	if r := h.rep.Load(); r != nil {
		r.Node().Step(m)
	}
}

func (h *peerHandler) HandleApp(from uint64, msg []byte) {
	if r := h.rep.Load(); r != nil {
		r.HandleApp(from, msg)
	}
}

func (h *peerHandler) ReportUnreachable(id uint64) {
	if r := h.rep.Load(); r != nil {
		r.Node().ReportUnreachable(id)
	}
}

func (h *peerHandler) ReportSnapshot(id uint64, failed bool) {
	if r := h.rep.Load(); r != nil {
		r.Node().ReportSnapshot(id, failed)
	}
}

// PeerLost: when the leader's process dies its streams are reset. A follower
// forgets it at once and campaigns after a short random delay (spread, so the
// followers do not split the vote), instead of waiting out an election timeout;
// the replica fails the writes it had forwarded there.
func (h *peerHandler) PeerLost(id uint64) {
	r := h.rep.Load()
	if r == nil || id != r.Leader() {
		return
	}
	h.log.Info("lost the stream to the leader", "leader", Label(id))
	r.PeerLost(id)
	r.Node().ForgetLeader()
	delay := time.Duration(rand.Int64N(int64(50 * time.Millisecond)))
	time.AfterFunc(delay, func() {
		if r.Leader() == 0 {
			r.Node().Campaign()
		}
	})
}

func (h *peerHandler) OpenSnapshot(index uint64) (io.ReadCloser, int64, error) {
	if r := h.rep.Load(); r != nil {
		return r.OpenSnapshot(index)
	}
	return nil, 0, errNotReady
}

func (h *peerHandler) ReceiveSnapshot(index uint64, rd io.Reader) error {
	if r := h.rep.Load(); r != nil {
		return r.ReceiveSnapshot(index, rd)
	}
	return errNotReady
}
