package peer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Handler is the member this transport serves: what arrives from peers is handed
// to it, and it is told what became of what was sent. quorum.Node provides the
// raft half (Step, ReportUnreachable, ReportSnapshot); the layer above provides
// the rest.
//
// Concurrency: Step and HandleApp for one peer are called from that peer's
// inbound stream goroutine, in stream order; calls for different peers, and the
// Step of a received snapshot, come from other goroutines at the same time.
// ReportUnreachable and ReportSnapshot may be called from inside Send, on the
// caller's goroutine. No method may block for long or call Stop; no method is
// called after Stop returns.
type Handler interface {
	// Step delivers a raft message from a peer. m is the handler's to keep.
	Step(m *pb.Message)
	// HandleApp delivers an app message sent with SendApp. msg is valid only until
	// HandleApp returns.
	HandleApp(from uint64, msg []byte)
	// ReportUnreachable says that raft messages to id were dropped (no
	// connection, or its queue was full).
	ReportUnreachable(id uint64)
	// ReportSnapshot says how the transfer of a snapshot to id ended; it is called
	// once for every MsgSnap passed to Send.
	ReportSnapshot(id uint64, failed bool)
	// PeerLost says that a stream to or from id broke because the other end closed
	// or reset it (not a local close, not a timeout): its process likely died.
	// Called at most once per loss: again only after a new stream with id came up.
	PeerLost(id uint64)
	// OpenSnapshot opens the snapshot at index for sending, with its size in bytes.
	// The transport closes it when the transfer ends.
	OpenSnapshot(index uint64) (io.ReadCloser, int64, error)
	// ReceiveSnapshot stores a snapshot streamed from the leader durably. It must
	// read r to io.EOF before making the snapshot durable: r returns io.EOF only
	// once every byte passed its checksum and the whole file passed the file's,
	// and an error otherwise, in which case ReceiveSnapshot must discard what it
	// wrote and return an error. Returning nil before r reached io.EOF counts as a
	// failure. Only after it returns nil is the MsgSnap stepped (Step) and the
	// sender told of success.
	ReceiveSnapshot(index uint64, r io.Reader) error
}

// Config configures a Transport.
type Config struct {
	// ID is this member's raft id.
	ID uint64
	// Listen is the quorum port, host:port (":0" or "127.0.0.1:0" picks a free
	// port; Addr reports it), or several joined by "|" (Alternatives) to
	// listen on each.
	Listen string
	// Peers maps the other members' ids to their quorum addresses (host:port,
	// or several joined by "|": see Alternatives). An entry for ID itself is
	// ignored, so a whole ensemble's list may be passed.
	Peers   map[uint64]string
	Handler Handler
	Logger  *slog.Logger
	// Label, when set, names a member in logs (by default its raft id).
	Label func(id uint64) string

	// ServerTLS, when set, wraps accepted connections in TLS; ClientTLS wraps
	// dialed ones (an empty ServerName is filled with the dialed host).
	ServerTLS, ClientTLS *tls.Config
	// Unified, with ServerTLS, accepts plain connections beside TLS ones
	// (ZooKeeper's portUnification), told apart by their first byte: members
	// can then move to TLS one at a time, each accepting both while the others
	// still dial in the clear.
	Unified bool
	// DetectTimeout, when set, bounds the wait for a connection's first byte on
	// a unified port (ssl.quorum.handshakeDetectionTimeoutMillis); the
	// handshake's own deadline still applies.
	DetectTimeout time.Duration
	// ClientTLSConfig, when set, gives each dial its own TLS configuration from
	// the dialed host and the TCP connection (whose RemoteAddr is the address
	// reached), in place of ClientTLS: certificates can then be reloaded between
	// dials and the peer's certificate checked against the address.
	ClientTLSConfig func(host string, c net.Conn) *tls.Config
	// Auth, when set, authenticates connections after the hello (auth.go).
	Auth Authenticator

	// MaxQueueMsgs and MaxQueueBytes bound each peer's outbound queue (counting
	// the batch being written); past them a raft message is dropped and the peer
	// reported unreachable, and SendApp returns false.
	MaxQueueMsgs  int
	MaxQueueBytes int
	// MaxFrameSize is the largest frame accepted or sent (a raft message, an app
	// message, a snapshot chunk). It must exceed raft's MaxSizePerMsg plus the
	// largest entry.
	MaxFrameSize int
	// WriteBufferSize is the size of the buffer each peer's writer batches into.
	WriteBufferSize int
	// SnapshotChunkSize is the payload of one snapshot chunk.
	SnapshotChunkSize int

	// DialTimeout bounds a dial; HandshakeTimeout the handshake (and TLS's).
	DialTimeout, HandshakeTimeout time.Duration
	// WriteTimeout is how long a write to a peer may make no progress before the
	// connection is dropped and dialed again.
	WriteTimeout time.Duration
	// KeepAlive is the TCP keep-alive period of peer connections (it finds a peer
	// whose machine vanished without closing anything).
	KeepAlive time.Duration
	// BackoffMin and BackoffMax bound the delay before redialing: it doubles from
	// min after each failure, up to max, and is jittered (see backoff).
	BackoffMin, BackoffMax time.Duration
	// Seed seeds the backoff jitter (0: a random seed).
	Seed uint64
	// SnapshotIdleTimeout bounds each step of a snapshot transfer (a chunk
	// written or read); SnapshotAckTimeout is how long the sender waits, after the
	// last chunk, for the receiver to store the snapshot and answer.
	SnapshotIdleTimeout, SnapshotAckTimeout time.Duration

	// wrapConn, for tests, wraps every connection once it is established (before
	// TLS and the handshake); kind is 0 on the accepting side.
	wrapConn func(kind byte, to uint64, c net.Conn) net.Conn
}

// DefaultConfig returns the default limits and timeouts; ID, Listen, Peers and
// Handler are left for the caller.
func DefaultConfig() Config {
	return Config{
		Logger:       slog.Default(),
		MaxQueueMsgs: 4096, MaxQueueBytes: 64 << 20, MaxFrameSize: 16 << 20,
		WriteBufferSize: 128 << 10, SnapshotChunkSize: 1 << 20,
		DialTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second,
		KeepAlive:  15 * time.Second,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 2 * time.Second,
		SnapshotIdleTimeout: 30 * time.Second, SnapshotAckTimeout: 5 * time.Minute,
	}
}

// ErrBadConfig is returned by Validate (and New) for an unusable configuration.
var ErrBadConfig = errors.New("peer: bad configuration")

// Validate reports a configuration error and fills zero settings with defaults.
func (c *Config) Validate() error {
	d := DefaultConfig()
	switch {
	case c.ID == 0:
		return fmt.Errorf("%w: the member id must be positive", ErrBadConfig)
	case c.Listen == "":
		return fmt.Errorf("%w: a listen address is required", ErrBadConfig)
	case c.Handler == nil:
		return fmt.Errorf("%w: a handler is required", ErrBadConfig)
	}
	for id, addr := range c.Peers {
		if id == 0 {
			return fmt.Errorf("%w: peer id 0", ErrBadConfig)
		}
		if id == c.ID {
			continue
		}
		for _, alt := range Alternatives(addr) {
			if _, _, err := net.SplitHostPort(alt); err != nil {
				return fmt.Errorf("%w: peer %d address %q: %w", ErrBadConfig, id, addr, err)
			}
		}
	}
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fillD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	fill(&c.MaxQueueMsgs, d.MaxQueueMsgs)
	fill(&c.MaxQueueBytes, d.MaxQueueBytes)
	fill(&c.MaxFrameSize, d.MaxFrameSize)
	fill(&c.WriteBufferSize, d.WriteBufferSize)
	fill(&c.SnapshotChunkSize, d.SnapshotChunkSize)
	fillD(&c.DialTimeout, d.DialTimeout)
	fillD(&c.HandshakeTimeout, d.HandshakeTimeout)
	fillD(&c.WriteTimeout, d.WriteTimeout)
	fillD(&c.KeepAlive, d.KeepAlive)
	fillD(&c.BackoffMin, d.BackoffMin)
	fillD(&c.BackoffMax, d.BackoffMax)
	fillD(&c.SnapshotIdleTimeout, d.SnapshotIdleTimeout)
	fillD(&c.SnapshotAckTimeout, d.SnapshotAckTimeout)
	switch {
	case c.MaxFrameSize > 1<<31-1:
		return fmt.Errorf("%w: MaxFrameSize %d does not fit a frame's length", ErrBadConfig, c.MaxFrameSize)
	case c.SnapshotChunkSize+4 > c.MaxFrameSize:
		return fmt.Errorf("%w: SnapshotChunkSize %d exceeds MaxFrameSize %d", ErrBadConfig, c.SnapshotChunkSize, c.MaxFrameSize)
	case c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("%w: BackoffMax %v below BackoffMin %v", ErrBadConfig, c.BackoffMax, c.BackoffMin)
	}
	return nil
}
