package peer_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"zkd/internal/vfs"
	"zkd/quorum"
	"zkd/quorum/peer"
	"zkd/txnlog"
)

const waitLimit = 20 * time.Second

func checkFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not happen within %v", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// server is one ensemble member: a quorum.Node over a transport, ticking in
// real time. It plays the layer above: app messages are writes forwarded to the
// leader, which proposes them in arrival order.
type server struct {
	id   uint64
	tr   *peer.Transport
	node atomic.Pointer[quorum.Node]
	log  *txnlog.Log
	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	applied []string
	lost    []uint64
	down    bool
}

func (s *server) Step(m *pb.Message) {
	if n := s.node.Load(); n != nil {
		n.Step(m)
	}
}

func (s *server) HandleApp(_ uint64, msg []byte) {
	if n := s.node.Load(); n != nil {
		_ = n.Propose([]byte(string(msg)), nil)
	}
}

func (s *server) ReportUnreachable(id uint64) {
	if n := s.node.Load(); n != nil {
		n.ReportUnreachable(id)
	}
}

func (s *server) ReportSnapshot(id uint64, failed bool) {
	if n := s.node.Load(); n != nil {
		n.ReportSnapshot(id, failed)
	}
}

func (s *server) PeerLost(id uint64) {
	s.mu.Lock()
	s.lost = append(s.lost, id)
	s.mu.Unlock()
}

func (s *server) OpenSnapshot(uint64) (io.ReadCloser, int64, error) {
	return nil, 0, errors.New("no snapshots in this test")
}

func (s *server) ReceiveSnapshot(uint64, io.Reader) error {
	return errors.New("no snapshots in this test")
}

func (s *server) Apply(ents []quorum.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range ents {
		if len(e.Data) > 0 && e.Membership == nil {
			s.applied = append(s.applied, string(e.Data))
		}
	}
}

func (s *server) LeaderChanged(uint64, uint64) {}

func (s *server) InstallSnapshot(quorum.SnapshotMeta) {}

func (s *server) appliedData() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.applied)
}

func (s *server) kill() {
	close(s.stop)
	s.wg.Wait()
	s.tr.Stop()
	s.node.Load().Stop()
	_ = s.log.Close()
	s.mu.Lock()
	s.down = true
	s.mu.Unlock()
}

// Three quorum.Nodes over three transports on loopback elect a leader and
// replicate proposals and forwarded writes to all; when the leader dies, the
// other two elect a new one and carry on.
func TestEnsembleOverLoopbackSurvivesLeaderLoss(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	servers := make([]*server, 3)
	addrs := make(map[uint64]string)
	for i := range servers {
		s := &server{id: uint64(i + 1), stop: make(chan struct{})}
		cfg := peer.DefaultConfig()
		cfg.ID, cfg.Listen, cfg.Handler, cfg.Logger, cfg.Seed = s.id, "127.0.0.1:0", s, discard, s.id
		cfg.BackoffMin, cfg.BackoffMax = 5*time.Millisecond, 100*time.Millisecond
		tr, err := peer.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.tr = tr
		servers[i] = s
		addrs[s.id] = tr.Addr()
	}
	for _, s := range servers {
		s.tr.SetPeers(addrs)
		l, err := txnlog.Open(vfs.NewMem(), "/log", txnlog.Options{SegmentSize: 1 << 20, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		s.log = l
		cfg := quorum.DefaultConfig()
		cfg.ID, cfg.Log, cfg.Applier, cfg.Logger, cfg.Transport = s.id, l, s, discard, s.tr
		// An election timeout of 400-800ms: a loaded test machine does not stall a
		// leader's heartbeats that long, so leadership changes only when the test
		// kills the leader.
		cfg.ElectionTicks, cfg.HeartbeatTicks = 20, 2
		cfg.Snapshot = quorum.SnapshotMeta{Index: 1, Term: 1, Membership: quorum.Membership{Voters: []uint64{1, 2, 3}}}
		n, err := quorum.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.node.Store(n)
	}
	for _, s := range servers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-s.stop:
					return
				case <-tick.C:
					s.node.Load().Tick()
				}
			}
		}()
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if !s.down {
				s.kill()
			}
		}
	})

	leader := func(live []*server) *server {
		var lead uint64
		for _, s := range live {
			l := s.node.Load().Leader()
			if l == 0 || lead != 0 && l != lead {
				return nil
			}
			lead = l
		}
		for _, s := range live {
			if s.id == lead {
				return s
			}
		}
		return nil
	}
	var lead *server
	checkFor(t, "a leader all three agree on", func() bool { lead = leader(servers); return lead != nil })

	// Proposals on the leader, and writes forwarded to it by each follower over
	// the app stream.
	var want []string
	for i := range 50 {
		d := fmt.Sprintf("p%03d", i)
		if err := lead.node.Load().Propose([]byte(d), nil); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	fwd := make(map[uint64][]string)
	for _, s := range servers {
		if s == lead {
			continue
		}
		for i := range 50 {
			d := fmt.Sprintf("f%d-%03d", s.id, i)
			if !s.tr.SendApp(lead.id, []byte(d)) {
				t.Fatalf("forwarding %s refused", d)
			}
			fwd[s.id] = append(fwd[s.id], d)
		}
	}
	for _, s := range servers {
		checkFor(t, fmt.Sprintf("member %d applied all 150 writes", s.id), func() bool { return len(s.appliedData()) >= 150 })
	}
	ref := servers[0].appliedData()
	for _, s := range servers[1:] {
		if got := s.appliedData(); !slices.Equal(got, ref) {
			t.Fatalf("members applied different logs:\n%v\n%v", ref, got)
		}
	}
	if got := filter(ref, "p"); !slices.Equal(got, want) {
		t.Fatalf("proposals applied as %v", got)
	}
	for id, w := range fwd {
		if got := filter(ref, fmt.Sprintf("f%d-", id)); !slices.Equal(got, w) {
			t.Fatalf("writes forwarded by %d applied out of order: %v", id, got)
		}
	}

	// The leader dies.
	old := lead
	old.kill()
	var live []*server
	for _, s := range servers {
		if s != old {
			live = append(live, s)
		}
	}
	for _, s := range live {
		checkFor(t, fmt.Sprintf("member %d notices the leader's loss", s.id), func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return slices.Contains(s.lost, old.id)
		})
	}
	checkFor(t, "a new leader", func() bool { lead = leader(live); return lead != nil && lead != old })
	// Proposed until applied: one made while the new leader is still settling
	// may be dropped, as raft allows.
	var wantQ []string
	for i := range 20 {
		wantQ = append(wantQ, fmt.Sprintf("q%03d", i))
	}
	missing := func(s *server) []string {
		got := filter(s.appliedData(), "q")
		var out []string
		for _, d := range wantQ {
			if !slices.Contains(got, d) {
				out = append(out, d)
			}
		}
		return out
	}
	for attempt := 0; len(missing(live[0])) > 0 || len(missing(live[1])) > 0; attempt++ {
		if attempt == 100 {
			t.Fatalf("writes never applied on the survivors: %v, %v", missing(live[0]), missing(live[1]))
		}
		if l := leader(live); l != nil {
			for _, d := range missing(l) {
				_ = l.node.Load().Propose([]byte(d), nil)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a, b := live[0].appliedData(), live[1].appliedData(); !slices.Equal(a, b) {
		t.Fatalf("survivors applied different logs:\n%v\n%v", a, b)
	}
	if st := live[0].tr.Stats(); len(st) != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func filter(all []string, prefix string) []string {
	var out []string
	for _, d := range all {
		if strings.HasPrefix(d, prefix) {
			out = append(out, d)
		}
	}
	return out
}
