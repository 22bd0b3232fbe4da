package peer

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"zkd/internal/tlssniff"
	"zkd/quorum"
)

var _ quorum.Transport = (*Transport)(nil)

// Transport is one member's end of the peer network: a listener on the quorum
// port for the streams other members dial to it, and one outbound stream (and
// writer goroutine) per peer. Every exported method is safe from any goroutine.
type Transport struct {
	cfg Config
	log *slog.Logger
	// lns are the quorum port's listeners, one per address of Config.Listen.
	lns []net.Listener
	// ctx is canceled by Stop; every peer's context derives from it.
	ctx    context.Context
	cancel context.CancelFunc
	seed   uint64

	// peers is the current peer set, replaced whole (copy on write) by SetPeers
	// under mu, so that Send reads it without a lock. Never nil.
	peers atomic.Pointer[map[uint64]*peer]
	// stopped is set (under mu) when Stop begins: Send and SendApp then drop
	// everything and no goroutine is started any more.
	stopped atomic.Bool

	// mu guards the set of accepted connections and serializes SetPeers and Stop.
	mu struct {
		sync.Mutex
		accepted map[net.Conn]struct{}
	}
	// wg counts every goroutine the transport started; Stop waits for it.
	wg sync.WaitGroup
}

// New listens on cfg.Listen and starts dialing every peer.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var lns []net.Listener
	for _, addr := range Alternatives(cfg.Listen) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("peer: listen on the quorum port %s: %w", addr, err)
		}
		lns = append(lns, ln)
	}
	seed := cfg.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	t := &Transport{cfg: cfg, log: cfg.Logger, lns: lns, seed: seed}
	t.log = cfg.Logger.With("self", t.label(cfg.ID))
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.accepted = make(map[net.Conn]struct{})
	t.peers.Store(&map[uint64]*peer{})
	t.SetPeers(cfg.Peers)
	for _, ln := range lns {
		t.wg.Add(1)
		go t.acceptLoop(ln)
		t.log.Info("quorum port listening", "addr", ln.Addr().String(), "peers", len(*t.peers.Load()))
	}
	return t, nil
}

// Addr returns the address the quorum port is bound to (the first one's, when
// it listens on several).
func (t *Transport) Addr() string { return t.lns[0].Addr().String() }

// ListenAddrs returns the addresses of every listener of the quorum port.
func (t *Transport) ListenAddrs() []string {
	addrs := make([]string, len(t.lns))
	for i, ln := range t.lns {
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// Alternatives splits a member's quorum address into the addresses it may be
// reached at: ZooKeeper's multiAddress form, host:port|host:port (a server
// with a network interface per network), or a single host:port.
func Alternatives(addr string) []string { return strings.Split(addr, "|") }

// label names member id in logs.
func (t *Transport) label(id uint64) string {
	if t.cfg.Label != nil {
		return t.cfg.Label(id)
	}
	return strconv.FormatUint(id, 10)
}

// Send queues raft messages for their peers, each peer's in the order given, and
// never blocks: a message that cannot be queued (no connection to its peer, its
// queue full, too large) is dropped and its peer reported unreachable once per
// call. A MsgSnap starts a snapshot transfer on a connection of its own and is
// reported with Handler.ReportSnapshot when that ends. The messages are encoded
// before Send returns, so the caller may reuse their entries afterwards (raft
// requires encoding on its own goroutine: design/consensus.md §1 pitfall (e)).
func (t *Transport) Send(msgs []*pb.Message) {
	if t.stopped.Load() || len(msgs) == 0 {
		return
	}
	peers := *t.peers.Load()
	var unreachable, snapFailed []uint64
	var done []uint64 // peers whose messages are handled
	var frames [][]byte
	for i, m := range msgs {
		to := m.GetTo()
		if slices.Contains(done, to) {
			continue
		}
		done = append(done, to)
		p := peers[to]
		frames = frames[:0]
		dropped := 0
		for _, m := range msgs[i:] {
			if m.GetTo() != to {
				continue
			}
			if m.GetType() == pb.MessageType_MsgSnap {
				if p == nil || !t.startSnapshot(p, m) {
					snapFailed = append(snapFailed, to)
				}
				continue
			}
			if p == nil {
				dropped++
				continue
			}
			f, err := t.encodeRaft(m)
			if err != nil {
				t.log.Warn("dropping a raft message that cannot be sent", "to", t.label(to), "type", m.GetType().String(), "err", err)
				dropped++
				continue
			}
			frames = append(frames, f)
		}
		if p != nil && len(frames) > 0 {
			dropped += p.enqueue(frames)
		}
		if dropped > 0 {
			unreachable = append(unreachable, to)
			if p != nil {
				p.stats.dropped.Add(uint64(dropped))
			}
		}
	}
	clear(frames)
	for _, id := range unreachable {
		t.cfg.Handler.ReportUnreachable(id)
	}
	for _, id := range snapFailed {
		t.cfg.Handler.ReportSnapshot(id, true)
	}
}

// encodeRaft returns m as a frame.
func (t *Transport) encodeRaft(m *pb.Message) ([]byte, error) {
	n := proto.Size(m)
	if n > t.cfg.MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, n, t.cfg.MaxFrameSize)
	}
	b := make([]byte, headLen, headLen+n)
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, m)
	if err != nil {
		return nil, fmt.Errorf("peer: encode %s: %w", m.GetType(), err)
	}
	putHead(b, frameRaft, len(b)-headLen)
	return b, nil
}

// SendApp queues an app message for peer to, on the same ordered stream as the
// raft messages to it. It never blocks; false means the message was not queued
// (unknown peer, no connection, queue full, too large). true means queued, not
// delivered: a stream that breaks loses what it had queued. msg stays the
// caller's.
func (t *Transport) SendApp(to uint64, msg []byte) bool {
	if t.stopped.Load() {
		return false
	}
	p := (*t.peers.Load())[to]
	if p == nil {
		return false
	}
	if len(msg) > t.cfg.MaxFrameSize {
		p.stats.dropped.Add(1)
		return false
	}
	f := make([]byte, headLen+len(msg))
	putHead(f, frameApp, len(msg))
	copy(f[headLen:], msg)
	if p.enqueue([][]byte{f}) > 0 {
		p.stats.dropped.Add(1)
		return false
	}
	return true
}

// SetPeers replaces the peer set (a membership change): new ids are dialed,
// removed ones are disconnected (their queues dropped, a snapshot being sent to
// them reported failed), and a changed address is redialed. An entry for this
// member's own id is ignored.
func (t *Transport) SetPeers(peers map[uint64]string) {
	t.mu.Lock()
	if t.stopped.Load() {
		t.mu.Unlock()
		return
	}
	old := *t.peers.Load()
	next := make(map[uint64]*peer, len(peers))
	var removed []*peer
	for id, addr := range peers {
		if id == t.cfg.ID || id == 0 {
			continue
		}
		if p := old[id]; p != nil {
			next[id] = p
			p.setAddr(addr)
			continue
		}
		p := newPeer(t, id, addr)
		next[id] = p
		t.wg.Add(1)
		go p.run()
		t.log.Info("peer added", "peer", t.label(id), "addr", addr)
	}
	for id, p := range old {
		if next[id] == nil {
			removed = append(removed, p)
		}
	}
	t.peers.Store(&next)
	t.mu.Unlock()
	for _, p := range removed {
		t.log.Info("peer removed", "peer", p.t.label(p.id))
		p.close()
	}
}

// Stop closes the listener and every connection, fails snapshot transfers in
// flight (ReportSnapshot), and waits for every goroutine of the transport. No
// Handler method is called after Stop returns; Send and SendApp drop everything.
func (t *Transport) Stop() {
	t.mu.Lock()
	if t.stopped.Load() {
		t.mu.Unlock()
		t.wg.Wait()
		return
	}
	t.stopped.Store(true)
	accepted := make([]net.Conn, 0, len(t.mu.accepted))
	for c := range t.mu.accepted {
		accepted = append(accepted, c)
	}
	t.mu.Unlock()
	t.cancel()
	for _, ln := range t.lns {
		_ = ln.Close()
	}
	for _, p := range *t.peers.Load() {
		p.close()
	}
	for _, c := range accepted {
		_ = c.Close()
	}
	t.wg.Wait()
	t.log.Info("quorum port closed")
}

// Stats returns every peer's counters, sorted by id.
func (t *Transport) Stats() []PeerStats {
	peers := *t.peers.Load()
	out := make([]PeerStats, 0, len(peers))
	for _, p := range peers {
		out = append(out, p.snapshotStats())
	}
	slices.SortFunc(out, func(a, b PeerStats) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// goTracked runs f on a goroutine Stop waits for, unless Stop has begun.
func (t *Transport) goTracked(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Load() {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

func (t *Transport) acceptLoop(ln net.Listener) {
	defer t.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if t.stopped.Load() {
				return
			}
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				continue
			}
			// Out of file descriptors and the like: wait rather than spin.
			t.log.Warn("quorum port accept failed", "err", err)
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			if rc, err := tc.SyscallConn(); err == nil {
				_ = setUserTimeout(rc, t.cfg.WriteTimeout) // best effort: keep-alives still apply
			}
		}
		t.mu.Lock()
		if t.stopped.Load() {
			t.mu.Unlock()
			_ = c.Close()
			return
		}
		t.mu.accepted[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serveConn(c)
	}
}

// serveConn runs the accepting side of the handshake, then the stream or the
// snapshot transfer the dialer asked for.
func (t *Transport) serveConn(raw net.Conn) {
	defer t.wg.Done()
	defer func() {
		_ = raw.Close()
		t.mu.Lock()
		delete(t.mu.accepted, raw)
		t.mu.Unlock()
	}()
	c := raw
	if t.cfg.wrapConn != nil {
		c = t.cfg.wrapConn(0, 0, c)
	}
	remote := raw.RemoteAddr().String()
	handshakeBy := time.Now().Add(t.cfg.HandshakeTimeout)
	_ = c.SetDeadline(handshakeBy)
	overTLS := t.cfg.ServerTLS != nil
	if overTLS && t.cfg.Unified {
		// A plain connection starts with the hello's magic.
		if t.cfg.DetectTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(min(t.cfg.DetectTimeout, t.cfg.HandshakeTimeout)))
		}
		var err error
		if overTLS, c, err = tlssniff.Sniff(c); err != nil {
			t.log.Debug("quorum port: connection closed before its handshake", "remote", remote, "err", err)
			return
		}
		_ = c.SetReadDeadline(handshakeBy)
	}
	if overTLS {
		tc := tls.Server(c, t.cfg.ServerTLS)
		if err := tc.Handshake(); err != nil {
			t.log.Warn("quorum port: TLS handshake failed", "remote", remote, "err", err)
			return
		}
		c = tc
	}
	// The dialer sends its hello and waits for the reply: reading it unbuffered
	// takes nothing of what follows, and costs an unknown caller no buffer.
	var hb [helloLen]byte
	if _, err := io.ReadFull(c, hb[:]); err != nil {
		t.log.Debug("quorum port: connection closed before its handshake", "remote", remote, "err", err)
		return
	}
	h, err := decodeHello(hb[:])
	if err != nil {
		t.log.Warn("quorum port: refusing a connection", "remote", remote, "err", err)
		return
	}
	if h.kind == kindAsk && h.version == protocolVersion {
		// Open to any server: one that is not a member yet asks to become one.
		t.serveAsk(c, h.from)
		return
	}
	p := (*t.peers.Load())[h.from]
	status := statusOK
	auth := t.cfg.Auth != nil && h.flags&helloAuth != 0
	switch {
	case h.version != protocolVersion:
		status = statusBadVersion
	case h.to != t.cfg.ID:
		status = statusWrongReceiver
	case p == nil:
		status = statusUnknownSender
	case h.kind != kindStream && h.kind != kindSnapshot:
		status = statusBadKind
	case t.cfg.Auth != nil && t.cfg.Auth.Required() && h.flags&helloAuth == 0:
		status = statusAuthRequired
	case t.cfg.Auth == nil && h.flags&helloAuth != 0:
		status = statusNoAuth
	case h.kind == kindSnapshot:
		if !p.beginReceive() {
			status = statusBusy
		}
	}
	var flags byte
	if auth {
		flags = replyAuth
	}
	var rb [replyLen]byte
	if _, err := c.Write(appendReply(rb[:0], status, flags)); err != nil {
		if status == statusOK && h.kind == kindSnapshot {
			p.endReceive()
		}
		return
	}
	if status != statusOK {
		t.log.Warn("quorum port: refusing a connection", "remote", remote, "claims", t.label(h.from), "to", h.to,
			"version", h.version, "reason", statusText(status))
		return
	}
	if auth {
		if err := t.cfg.Auth.Accept(&connExchange{c: c}, h.from, raw.RemoteAddr()); err != nil {
			t.log.Warn("quorum port: peer failed to authenticate", "remote", remote, "claims", t.label(h.from), "err", err)
			if h.kind == kindSnapshot {
				p.endReceive()
			}
			return
		}
	}
	_ = c.SetDeadline(time.Time{})
	br := bufio.NewReaderSize(c, 64<<10)
	if h.kind == kindSnapshot {
		defer p.endReceive()
		p.receiveSnapshot(c, br)
		return
	}
	p.serveInbound(raw, br)
}

// dial connects to a peer, runs the dialing side of the handshake and returns the
// connection ready for frames, and the TCP connection under it: closing that
// one interrupts whatever is blocked on the connection at once (a TLS close
// would first try to send an alert). ctx cancels it.
func (t *Transport) dial(ctx context.Context, addr string, kind byte, to uint64) (conn, raw net.Conn, err error) {
	d := net.Dialer{Timeout: t.cfg.DialTimeout, KeepAlive: t.cfg.KeepAlive,
		Control: func(_, _ string, rc syscall.RawConn) error { return setUserTimeout(rc, t.cfg.WriteTimeout) }}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if t.cfg.wrapConn != nil {
		c = t.cfg.wrapConn(kind, to, c)
	}
	raw = c
	// The closure gets its own copy: the named result raw is set to nil by a
	// failed return while the closure may still be running.
	tcp := c
	closed := context.AfterFunc(ctx, func() { _ = tcp.Close() })
	fail := func(err error) (net.Conn, net.Conn, error) {
		closed()
		_ = tcp.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	if t.cfg.ClientTLS != nil || t.cfg.ClientTLSConfig != nil {
		host, _, _ := net.SplitHostPort(addr)
		cfg := t.cfg.ClientTLS
		if t.cfg.ClientTLSConfig != nil {
			cfg = t.cfg.ClientTLSConfig(host, raw)
		} else if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			return fail(fmt.Errorf("peer: TLS handshake with %s: %w", addr, err))
		}
		c = tc
	}
	var flags byte
	if t.cfg.Auth != nil && t.cfg.Auth.Dials() {
		flags = helloAuth
	}
	var hb [helloLen]byte
	if _, err := c.Write(appendHello(hb[:0], hello{version: protocolVersion, kind: kind, flags: flags, from: t.cfg.ID, to: to})); err != nil {
		return fail(fmt.Errorf("peer: handshake with %d at %s: %w", to, addr, err))
	}
	// Read exactly the reply: what follows on this connection is the peer's
	// (a snapshot acknowledgement), read later by someone else.
	var rb [replyLen]byte
	if _, err := io.ReadFull(c, rb[:]); err != nil {
		return fail(fmt.Errorf("peer: handshake with %d at %s: %w", to, addr, err))
	}
	replyFlags, err := decodeReply(rb[:])
	if err != nil {
		return fail(fmt.Errorf("peer: %d at %s: %w", to, addr, err))
	}
	if flags&helloAuth != 0 {
		if replyFlags&replyAuth == 0 {
			return fail(fmt.Errorf("peer: %d at %s: %w: %s", to, addr, ErrRefused, statusText(statusNoAuth)))
		}
		host, _, _ := net.SplitHostPort(addr)
		if err := t.cfg.Auth.Dial(&connExchange{c: c}, to, host); err != nil {
			return fail(fmt.Errorf("peer: authenticating to %d at %s: %w", to, addr, err))
		}
	}
	if !closed() {
		return fail(ctx.Err())
	}
	_ = c.SetDeadline(time.Time{})
	return c, raw, nil
}
