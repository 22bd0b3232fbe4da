package peer

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Three members send each other raft and app messages interleaved, in several
// calls: each receiver sees each sender's messages in exactly the order sent.
func TestThreeMembersExchangeInOrder(t *testing.T) {
	ms := startMembers(t, 3, nil)
	const rounds = 300
	want := make(map[[2]uint64][]string)
	for i := range rounds {
		for _, m := range ms {
			from := m.cfg.ID
			var msgs []*pb.Message
			for _, o := range ms {
				if o.cfg.ID == from {
					continue
				}
				to := o.cfg.ID
				msgs = append(msgs, msgApp(from, to, uint64(i), i%7*10))
				want[[2]uint64{from, to}] = append(want[[2]uint64{from, to}], describe(msgs[len(msgs)-1]))
			}
			m.Send(msgs)
			for _, o := range ms {
				if o.cfg.ID == from {
					continue
				}
				app := fmt.Sprintf("%d>%d#%d", from, o.cfg.ID, i)
				if !m.SendApp(o.cfg.ID, []byte(app)) {
					t.Fatalf("SendApp %s refused", app)
				}
				want[[2]uint64{from, o.cfg.ID}] = append(want[[2]uint64{from, o.cfg.ID}], "app:"+app)
			}
		}
	}
	for _, o := range ms {
		for _, m := range ms {
			if m == o {
				continue
			}
			key := [2]uint64{m.cfg.ID, o.cfg.ID}
			checkFor(t, fmt.Sprintf("%d received everything from %d", o.cfg.ID, m.cfg.ID), func() bool {
				return o.rec.count(m.cfg.ID) >= len(want[key])
			})
			if got := o.rec.from(m.cfg.ID); !slices.Equal(got, want[key]) {
				t.Fatalf("%d received from %d out of order or altered:\n got %v\nwant %v", o.cfg.ID, m.cfg.ID, got[:10], want[key][:10])
			}
		}
	}
	for _, m := range ms {
		for _, st := range m.Stats() {
			if st.Dropped != 0 || st.MsgsSent != 2*rounds || st.MsgsReceived != 2*rounds {
				t.Errorf("member %d, peer %d: %+v", m.cfg.ID, st.ID, st)
			}
		}
	}
}

// One Send of thousands of messages leaves in a few large writes, not one each.
func TestSendBatchesManyMessagesIntoFewWrites(t *testing.T) {
	ms := startMembers(t, 2, nil)
	a, b := ms[0], ms[1]
	before := statsOf(a.Transport, 2).Writes
	const n = 4000 // under MaxQueueMsgs
	msgs := make([]*pb.Message, n)
	for i := range msgs {
		msgs[i] = msgApp(1, 2, uint64(i), 100)
	}
	a.Send(msgs)
	checkFor(t, "all messages received", func() bool { return b.rec.count(1) == n })
	st := statsOf(a.Transport, 2)
	writes := st.Writes - before
	// ~130 bytes a message: about five 128 KiB buffers' worth.
	limit := st.BytesSent/uint64(a.cfg.WriteBufferSize) + 3
	t.Logf("%d messages, %d bytes, %d writes", n, st.BytesSent, writes)
	if writes > limit {
		t.Fatalf("%d messages took %d writes; want at most %d", n, writes, limit)
	}
}

// A peer that restarts on the same address is redialed; its loss is reported
// once, and messages flow again afterwards.
func TestReconnectAfterPeerRestarts(t *testing.T) {
	ms := startMembers(t, 2, nil)
	a, b := ms[0], ms[1]
	if !a.SendApp(2, []byte("before")) {
		t.Fatal("SendApp refused")
	}
	checkFor(t, "first message", func() bool { return b.rec.count(1) == 1 })

	addr := b.Addr()
	b.Stop()
	checkFor(t, "stream to 2 down", func() bool { return !statsOf(a.Transport, 2).Connected })
	checkFor(t, "PeerLost(2)", func() bool { return len(a.rec.lostPeers()) > 0 })
	if a.SendApp(2, []byte("while down")) {
		t.Fatal("SendApp queued a message for a peer with no stream")
	}
	a.Send([]*pb.Message{msgApp(1, 2, 7, 0)})
	if a.rec.unreachableCount(2) == 0 {
		t.Fatal("a raft message to a down peer was not reported unreachable")
	}

	rec := newRecorder()
	cfg := testConfig(2, rec)
	cfg.Listen, cfg.Peers = addr, map[uint64]string{1: a.Addr()}
	b2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Stop()
	waitConnected(t, a.Transport, 1)
	if !a.SendApp(2, []byte("after")) {
		t.Fatal("SendApp refused after reconnecting")
	}
	checkFor(t, "message after the restart", func() bool { return rec.count(1) == 1 })
	if got := rec.from(1); got[0] != "app:after" {
		t.Fatalf("received %v", got)
	}
	if lost := a.rec.lostPeers(); !slices.Equal(lost, []uint64{2}) {
		t.Fatalf("PeerLost calls %v, want one for 2", lost)
	}
	if st := statsOf(a.Transport, 2); st.Dials < 2 {
		t.Fatalf("stats after a reconnect: %+v", st)
	}
}

// A peer that stops reading costs at most the queue's bounds: messages beyond
// them are dropped, raft is told the peer is unreachable, and SendApp refuses.
func TestQueueStaysBoundedWhenPeerStopsReading(t *testing.T) {
	const maxBytes, maxMsgs = 256 << 10, 500
	block := make(chan struct{})
	ms := startMembers(t, 2, func(id uint64, cfg *Config) {
		cfg.MaxQueueBytes, cfg.MaxQueueMsgs = maxBytes, maxMsgs
		cfg.WriteTimeout = time.Hour // the peer is alive, only stuck
		cfg.wrapConn = func(_ byte, _ uint64, c net.Conn) net.Conn {
			// Small kernel buffers, so the stall reaches the queue quickly.
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetWriteBuffer(32 << 10)
				_ = tc.SetReadBuffer(32 << 10)
			}
			return c
		}
	})
	a, b := ms[0], ms[1]
	b.rec.block = block
	defer close(block) // before the cleanups stop the transports
	refused := false
	for i := 0; i < 20000 && (a.rec.unreachableCount(2) == 0 || !refused); i++ {
		a.Send([]*pb.Message{msgApp(1, 2, uint64(i), 4000)})
		if !a.SendApp(2, make([]byte, 1000)) {
			refused = true
		}
		st := statsOf(a.Transport, 2)
		if st.QueueBytes > maxBytes || st.QueueLen > maxMsgs {
			t.Fatalf("queue grew past its bounds: %d messages, %d bytes", st.QueueLen, st.QueueBytes)
		}
	}
	st := statsOf(a.Transport, 2)
	t.Logf("stalled peer: %+v", st)
	if a.rec.unreachableCount(2) == 0 || !refused || st.Dropped == 0 {
		t.Fatalf("no drops reported: unreachable %d, SendApp refused %v, stats %+v", a.rec.unreachableCount(2), refused, st)
	}
	if !st.Connected {
		t.Fatal("a stalled (not dead) peer was disconnected")
	}
}

func TestHandshakeRefusesWrongIdentity(t *testing.T) {
	ms := startMembers(t, 2, nil)
	addr := ms[0].Addr()
	for _, tc := range []struct {
		name string
		h    hello
		want int
	}{
		{"unknown sender", hello{version: protocolVersion, kind: kindStream, from: 9, to: 1}, int(statusUnknownSender)},
		{"wrong receiver", hello{version: protocolVersion, kind: kindStream, from: 2, to: 3}, int(statusWrongReceiver)},
		{"bad version", hello{version: 99, kind: kindStream, from: 2, to: 1}, int(statusBadVersion)},
		{"bad kind", hello{version: protocolVersion, kind: 7, from: 2, to: 1}, int(statusBadKind)},
		{"self", hello{version: protocolVersion, kind: kindStream, from: 1, to: 1}, int(statusUnknownSender)},
		{"accepted", hello{version: protocolVersion, kind: kindStream, from: 2, to: 1}, int(statusOK)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, st := rawHello(t, addr, tc.h)
			if st != tc.want {
				t.Fatalf("status %d, want %d", st, tc.want)
			}
			if st != int(statusOK) {
				// A refused connection is closed.
				_ = c.SetReadDeadline(time.Now().Add(waitLimit))
				if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
					t.Fatalf("refused connection still open: %d, %v", n, err)
				}
			}
		})
	}
	t.Run("bad magic", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := appendHello(nil, hello{version: protocolVersion, kind: kindStream, from: 2, to: 1})
		copy(b, "HTTP")
		_, _ = c.Write(b)
		_ = c.SetReadDeadline(time.Now().Add(waitLimit))
		if n, err := c.Read(make([]byte, 8)); n != 0 || err == nil {
			t.Fatalf("a connection with a bad magic got %d bytes, %v", n, err)
		}
	})

	// A transport whose id the others do not know is refused, and says so.
	rec := newRecorder()
	cfg := testConfig(9, rec)
	cfg.Peers = map[uint64]string{1: addr}
	stranger, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Stop()
	checkFor(t, "the refusal", func() bool {
		return strings.Contains(statsOf(stranger, 1).LastError, statusText(statusUnknownSender))
	})
	if st := statsOf(stranger, 1); st.Connected {
		t.Fatalf("a refused stream counts as connected: %+v", st)
	}
	if got := ms[0].rec.from(9); len(got) != 0 {
		t.Fatalf("received from a stranger: %v", got)
	}
	var refused error = fmt.Errorf("x: %w", ErrRefused)
	if !errors.Is(refused, ErrRefused) {
		t.Fatal("ErrRefused does not wrap")
	}
}

func TestSetPeersAddsChangesAndRemovesPeers(t *testing.T) {
	ra, rb, rc := newRecorder(), newRecorder(), newRecorder()
	a, err := New(testConfig(1, ra))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	cfgB := testConfig(2, rb)
	cfgB.Peers = map[uint64]string{1: a.Addr()}
	b, err := New(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()

	// a does not know 2 yet: 2's stream is refused.
	checkFor(t, "2 refused by 1", func() bool {
		return strings.Contains(statsOf(b, 1).LastError, statusText(statusUnknownSender))
	})
	if len(a.Stats()) != 0 {
		t.Fatalf("stats before any peer: %+v", a.Stats())
	}

	a.SetPeers(map[uint64]string{1: a.Addr(), 2: b.Addr()}) // its own entry is ignored
	waitConnected(t, a, 1)
	waitConnected(t, b, 1)
	if !b.SendApp(1, []byte("hello 1")) || !a.SendApp(2, []byte("hello 2")) {
		t.Fatal("SendApp refused")
	}
	checkFor(t, "both delivered", func() bool { return ra.count(2) == 1 && rb.count(1) == 1 })

	// The member with id 2 moves: a follows the new address.
	cfgC := testConfig(2, rc)
	cfgC.Peers = map[uint64]string{1: a.Addr()}
	c, err := New(cfgC)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	a.SetPeers(map[uint64]string{2: c.Addr()})
	checkFor(t, "redialed at the new address", func() bool {
		st := statsOf(a, 2)
		return st.Connected && st.Addr == c.Addr()
	})
	if !a.SendApp(2, []byte("moved")) {
		t.Fatal("SendApp refused")
	}
	checkFor(t, "delivered at the new address", func() bool { return rc.count(1) == 1 })
	if rb.count(1) != 1 {
		t.Fatalf("the old address got %v", rb.from(1))
	}

	// Removed: no stats, sends dropped and reported, its inbound stream closed.
	a.SetPeers(nil)
	if st := a.Stats(); len(st) != 0 {
		t.Fatalf("stats after removing every peer: %+v", st)
	}
	if a.SendApp(2, []byte("gone")) {
		t.Fatal("SendApp to a removed peer succeeded")
	}
	a.Send([]*pb.Message{msgApp(1, 2, 1, 0)})
	if ra.unreachableCount(2) != 1 {
		t.Fatalf("unreachable reports %d", ra.unreachableCount(2))
	}
	checkFor(t, "2's stream to 1 closed", func() bool { return !statsOf(c, 1).Connected })
	if got := ra.lostPeers(); len(got) != 0 {
		t.Fatalf("PeerLost for a peer this member removed: %v", got)
	}
}

// PeerLost fires when a peer resets its stream, and not when this member closes
// it.
func TestPeerLostOnReset(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig(1, rec)
	cfg.Peers = map[uint64]string{2: "127.0.0.1:1"} // 2's own listener is never dialed here
	cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	c, st := rawHello(t, a.Addr(), hello{version: protocolVersion, kind: kindStream, from: 2, to: 1})
	if st != int(statusOK) {
		t.Fatalf("status %d", st)
	}
	f, err := (&Transport{cfg: cfg}).encodeRaft(msgApp(2, 1, 5, 10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(f); err != nil {
		t.Fatal(err)
	}
	checkFor(t, "message stepped", func() bool { return rec.count(2) == 1 })
	if err := c.(*net.TCPConn).SetLinger(0); err != nil { // close sends a reset
		t.Fatal(err)
	}
	_ = c.Close()
	checkFor(t, "PeerLost(2)", func() bool { return len(rec.lostPeers()) == 1 })
	if got := rec.lostPeers(); got[0] != 2 {
		t.Fatalf("PeerLost(%v)", got)
	}
}

// Raft messages that do not belong on a stream close it.
func TestStreamRefusesForeignMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *pb.Message
	}{
		{"from another member", msgApp(3, 1, 1, 0)},
		{"to another member", msgApp(2, 3, 1, 0)},
		{"snapshot on the stream", &pb.Message{Type: pb.MessageType_MsgSnap.Enum(), From: new(uint64(2)), To: new(uint64(1))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			cfg := testConfig(1, rec)
			cfg.Peers = map[uint64]string{2: "127.0.0.1:1", 3: "127.0.0.1:1"}
			cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Stop()
			c, _ := rawHello(t, a.Addr(), hello{version: protocolVersion, kind: kindStream, from: 2, to: 1})
			f, err := a.encodeRaft(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write(f)
			_ = c.SetReadDeadline(time.Now().Add(waitLimit))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Fatalf("stream still open: %d, %v", n, err)
			}
			if got := rec.stepped(); len(got) != 0 {
				t.Fatalf("stepped %v", got)
			}
		})
	}
}

func TestStopIsIdempotentAndSilencesSends(t *testing.T) {
	ms := startMembers(t, 2, nil)
	a := ms[0]
	a.Stop()
	a.Stop()
	a.Send([]*pb.Message{msgApp(1, 2, 1, 0)})
	if a.SendApp(2, []byte("x")) {
		t.Fatal("SendApp after Stop succeeded")
	}
	if n := a.rec.unreachableCount(2); n != 0 {
		t.Fatalf("handler called after Stop: %d unreachable reports", n)
	}
	a.SetPeers(map[uint64]string{3: "127.0.0.1:1"})
	if _, err := net.Dial("tcp", a.Addr()); err == nil {
		t.Fatal("quorum port still open after Stop")
	}
}

func TestConfigValidate(t *testing.T) {
	h := newRecorder()
	f := func(name string, mutate func(*Config), ok bool) {
		t.Helper()
		cfg := Config{ID: 1, Listen: "127.0.0.1:0", Handler: h}
		mutate(&cfg)
		err := cfg.Validate()
		if (err == nil) != ok {
			t.Errorf("%s: Validate() = %v", name, err)
		}
		if err != nil && !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: %v does not wrap ErrBadConfig", name, err)
		}
		if ok && (cfg.MaxQueueBytes == 0 || cfg.BackoffMax == 0 || cfg.Logger == nil) {
			t.Errorf("%s: defaults not filled: %+v", name, cfg)
		}
	}
	f("defaults", func(*Config) {}, true)
	f("no id", func(c *Config) { c.ID = 0 }, false)
	f("no listen", func(c *Config) { c.Listen = "" }, false)
	f("no handler", func(c *Config) { c.Handler = nil }, false)
	f("bad peer address", func(c *Config) { c.Peers = map[uint64]string{2: "nohostport"} }, false)
	f("peer id 0", func(c *Config) { c.Peers = map[uint64]string{0: "127.0.0.1:1"} }, false)
	f("own id ignored", func(c *Config) { c.Peers = map[uint64]string{1: "whatever"} }, true)
	f("chunk over frame", func(c *Config) { c.MaxFrameSize, c.SnapshotChunkSize = 1000, 1000 }, false)
	f("backoff inverted", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }, false)
}

func TestBackoffDoublesToItsCapWithSeededJitter(t *testing.T) {
	lo, hi := 10*time.Millisecond, 300*time.Millisecond
	a, b := newBackoff(lo, hi, 42, 7), newBackoff(lo, hi, 42, 7)
	bound := time.Duration(0)
	for i := range 12 {
		bound = min(max(2*bound, lo), hi)
		d := a.next()
		if d < bound/2 || d > bound {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, bound/2, bound)
		}
		if e := b.next(); e != d {
			t.Fatalf("attempt %d: same seed, different delays %v and %v", i, d, e)
		}
	}
	a.reset()
	if d := a.next(); d > lo {
		t.Fatalf("after reset: %v", d)
	}
	c := newBackoff(lo, hi, 43, 7)
	differ := false
	a.reset()
	for range 8 {
		differ = differ || a.next() != c.next()
	}
	if !differ {
		t.Fatal("different seeds drew the same jitter")
	}
}

// A member with several addresses (ZooKeeper's multiAddress) listens on each,
// and a peer that cannot reach it at one reaches it at the next.
func TestPeerReachedAtAnotherOfItsAddresses(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // refuses connections from now on

	ra, rb := newRecorder(), newRecorder()
	a, err := New(testConfig(1, ra))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	cfgB := testConfig(2, rb)
	cfgB.Listen = "127.0.0.1:0|127.0.0.1:0"
	cfgB.Peers = map[uint64]string{1: a.Addr()}
	b, err := New(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	listening := b.ListenAddrs()
	if len(listening) != 2 || listening[0] == listening[1] {
		t.Fatalf("listening on %v, want two addresses", listening)
	}
	// a knows b by an address nobody answers, then by b's second listener.
	a.SetPeers(map[uint64]string{2: deadAddr + "|" + listening[1]})
	waitConnected(t, a, 1)
	waitConnected(t, b, 1)
	if !a.SendApp(2, []byte("through the second address")) || !b.SendApp(1, []byte("back")) {
		t.Fatal("SendApp refused")
	}
	checkFor(t, "both delivered", func() bool { return rb.count(1) == 1 && ra.count(2) == 1 })
	if err := (&Config{ID: 1, Listen: "x", Handler: ra, Peers: map[uint64]string{2: "127.0.0.1:1|nonsense"}}).Validate(); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("a bad alternative: %v", err)
	}
}
