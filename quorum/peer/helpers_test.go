package peer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// waitLimit bounds every wait of these tests; none asserts a duration.
const waitLimit = 20 * time.Second

// checkFor polls cond until it holds, failing the test after waitLimit.
func checkFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not happen within %v", what, waitLimit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type snapReport struct {
	id     uint64
	failed bool
}

// recorder is a Handler that records everything it is handed.
type recorder struct {
	mu          sync.Mutex
	got         map[uint64][]string // from -> messages in arrival order
	steps       []*pb.Message
	unreachable map[uint64]int
	snapReports []snapReport
	lost        []uint64
	snapErrs    []error

	// block, when set, makes Step and HandleApp wait until it is closed.
	block chan struct{}
	// open and receive implement the snapshot hooks (nil: errors).
	open    func(index uint64) (io.ReadCloser, int64, error)
	receive func(index uint64, r io.Reader) error
	// onApp and onStep, when set, replace the recording of HandleApp and Step
	// (benchmarks, round trips).
	onApp  func(from uint64, msg []byte)
	onStep func(m *pb.Message)
}

func newRecorder() *recorder {
	return &recorder{got: make(map[uint64][]string), unreachable: make(map[uint64]int)}
}

// describe names a raft message by what the tests put in it.
func describe(m *pb.Message) string {
	return fmt.Sprintf("raft:%s:%d", m.GetType(), m.GetIndex())
}

func (r *recorder) Step(m *pb.Message) {
	if r.block != nil {
		<-r.block
	}
	if r.onStep != nil {
		r.onStep(m)
		return
	}
	r.mu.Lock()
	r.got[m.GetFrom()] = append(r.got[m.GetFrom()], describe(m))
	r.steps = append(r.steps, m)
	r.mu.Unlock()
}

func (r *recorder) HandleApp(from uint64, msg []byte) {
	if r.block != nil {
		<-r.block
	}
	if r.onApp != nil {
		r.onApp(from, msg)
		return
	}
	r.mu.Lock()
	r.got[from] = append(r.got[from], "app:"+string(msg))
	r.mu.Unlock()
}

func (r *recorder) ReportUnreachable(id uint64) {
	r.mu.Lock()
	r.unreachable[id]++
	r.mu.Unlock()
}

func (r *recorder) ReportSnapshot(id uint64, failed bool) {
	r.mu.Lock()
	r.snapReports = append(r.snapReports, snapReport{id, failed})
	r.mu.Unlock()
}

func (r *recorder) PeerLost(id uint64) {
	r.mu.Lock()
	r.lost = append(r.lost, id)
	r.mu.Unlock()
}

func (r *recorder) OpenSnapshot(index uint64) (io.ReadCloser, int64, error) {
	if r.open == nil {
		return nil, 0, errors.New("no snapshots here")
	}
	return r.open(index)
}

func (r *recorder) ReceiveSnapshot(index uint64, rd io.Reader) error {
	var err error
	if r.receive == nil {
		err = errors.New("not accepting snapshots")
	} else {
		err = r.receive(index, rd)
	}
	if err != nil {
		r.mu.Lock()
		r.snapErrs = append(r.snapErrs, err)
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) from(id uint64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[id])
}

func (r *recorder) count(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[id])
}

func (r *recorder) unreachableCount(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[id]
}

func (r *recorder) reports() []snapReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.snapReports)
}

func (r *recorder) lostPeers() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lost)
}

func (r *recorder) stepped() []*pb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.steps)
}

// testConfig is a fast configuration on a free loopback port.
func testConfig(id uint64, h Handler) Config {
	cfg := DefaultConfig()
	cfg.ID, cfg.Listen, cfg.Handler = id, "127.0.0.1:0", h
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.BackoffMin, cfg.BackoffMax = 2*time.Millisecond, 50*time.Millisecond
	cfg.Seed = id
	return cfg
}

// member is one transport of a test and its recorder.
type member struct {
	*Transport
	rec *recorder
}

// startMembers starts n transports with ids 1..n, each knowing all the others.
// mutate, when set, adjusts each configuration before it starts.
func startMembers(t testing.TB, n int, mutate func(id uint64, cfg *Config)) []*member {
	t.Helper()
	ms := make([]*member, n)
	addrs := make(map[uint64]string)
	for i := range ms {
		id := uint64(i + 1)
		rec := newRecorder()
		cfg := testConfig(id, rec)
		if mutate != nil {
			mutate(id, &cfg)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.Stop)
		ms[i] = &member{Transport: tr, rec: rec}
		addrs[id] = tr.Addr()
	}
	for _, m := range ms {
		m.SetPeers(maps.Clone(addrs))
	}
	for _, m := range ms {
		waitConnected(t, m.Transport, n-1)
	}
	return ms
}

// waitConnected waits until tr's streams to n peers and theirs to it are up.
func waitConnected(t testing.TB, tr *Transport, n int) {
	t.Helper()
	checkFor(t, fmt.Sprintf("member %d connected to %d peers", tr.cfg.ID, n), func() bool {
		up := 0
		for _, st := range tr.Stats() {
			if st.Connected && st.Inbound {
				up++
			}
		}
		return up == n
	})
}

func statsOf(tr *Transport, id uint64) PeerStats {
	for _, st := range tr.Stats() {
		if st.ID == id {
			return st
		}
	}
	return PeerStats{}
}

// msgApp is a raft message from -> to that the recorder describes by index.
func msgApp(from, to, index uint64, payload int) *pb.Message {
	m := &pb.Message{Type: pb.MessageType_MsgApp.Enum(), From: new(from), To: new(to), Index: new(index),
		Term: new(uint64(1)), LogTerm: new(uint64(1)), Commit: new(index)}
	if payload > 0 {
		m.Entries = []*pb.Entry{{Index: new(index + 1), Term: new(uint64(1)), Data: make([]byte, payload)}}
	}
	return m
}

// rawHello dials addr and sends a hello; it returns the connection and the reply
// status (-1 when the acceptor closed without one).
func rawHello(t *testing.T, addr string, h hello) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Write(appendHello(nil, h)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	var rb [replyLen]byte
	if _, err := io.ReadFull(c, rb[:]); err != nil {
		return c, -1
	}
	return c, int(rb[6])
}
