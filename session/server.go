package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/replica"
)

// Replica is the replicated state machine as the session layer sees it;
// *replica.Replica implements it.
type Replica interface {
	Tree() *datatree.Tree
	// Propose replicates a client's write or session operation; applying, when
	// set, runs on the apply goroutine just before the entry is applied here, and
	// done once it is applied, or fails. txn is taken by value: it is encoded
	// at once and not kept, and a pointer passed through this interface would
	// put every write's Txn on the heap.
	Propose(txn datatree.Txn, applying func(), done replica.DoneFunc) error
	// Sync calls done once everything committed before it was asked is applied here.
	Sync(done func(error)) error
	// WaitApplied calls done once zxid is applied here, or with an error after timeout.
	WaitApplied(zxid jute.Zxid, timeout time.Duration, done func(error))
	NewSessionID() jute.SessionID
	// Serving reports whether a leader is known, so that clients may be served.
	Serving() bool
	// RefusesClients reports whether this member leads with leaderServes=no:
	// it serves no client and answers the four-letter words that need a
	// serving server as one without a leader does.
	RefusesClients() bool
	// Solo reports whether this server is the whole group: a client that has
	// seen more than it has applied saw it on a server that is no longer there.
	Solo() bool
	// Mode is the server's role: standalone, read-only, leader, follower,
	// observer, or "" while no leader is known.
	Mode() string
	// ReadOnly reports whether the server has lost its quorum and serves only
	// clients that asked for read-only (readonlymode.enabled).
	ReadOnly() bool
	// TrackLocalSession and ForgetLocalSession start and stop the expiry of a
	// local session, which only this server knows; Listener.LocalSessionExpired
	// reports one that timed out.
	TrackLocalSession(id jute.SessionID, timeoutMs int32)
	ForgetLocalSession(id jute.SessionID)
	// Digests are the remembered tree digests, oldest first.
	Digests() []replica.Digest
}

// Server holds the client connections of one zkd server and the sessions attached
// to them.
type Server struct {
	cfg Config
	r   Replica
	log *slog.Logger

	started time.Time

	mu struct {
		sync.Mutex
		sessions map[jute.SessionID]*Session // guarded by mu: sessions with a client here
		conns    map[*Conn]struct{}          // guarded by mu
		perIP    map[string]int              // guarded by mu
	}

	stats    serverStats
	throttle *connThrottle // new connections' token bucket (connthrottle.go)
	inflight atomic.Int64  // requests in flight over all connections (limits.go)
	opsState *opsState     // immutable pointer; the state inside is concurrency-safe
}

// Session is a session as this server sees it: the connection its client is on
// and the client's activity. The replicated part (id, timeout, ephemerals) lives
// in the tree; liveness is the leader's (replica's tracker), fed by CollectTouched.
type Session struct {
	id       jute.SessionID
	timeout  atomic.Int32 // negotiated, ms
	lastSeen atomic.Int64 // monotonic ns of the last request or reconnect
	touched  atomic.Bool  // heard from since the last CollectTouched
	conn     *Conn        // guarded by Server.mu; nil while disconnected
	closing  atomic.Bool  // set once a closeSession is in flight; requests are then dropped
	// local is set while the session is a local one: kept by this server alone,
	// not in the tree (Config.LocalSessions, or any session of a read-only
	// server). It clears, on the event loop, when the session is upgraded.
	local atomic.Bool
	// readOnly marks a session begun on this server while it was read-only; it
	// ends when the server leaves read-only mode.
	readOnly bool
}

func (s *Session) touch(now int64) {
	s.lastSeen.Store(now)
	if !s.touched.Load() {
		s.touched.Store(true)
	}
}

// NewServer returns a Server over a replica.
func NewServer(cfg Config, r Replica) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, r: r, log: cfg.Logger, started: time.Now(), opsState: newOpsState(),
		throttle: newConnThrottle(cfg.ConnThrottle, func() int64 { return monoNow() / int64(time.Millisecond) }, rand.Uint64())}
	s.mu.sessions = make(map[jute.SessionID]*Session)
	s.mu.conns = make(map[*Conn]struct{})
	s.mu.perIP = make(map[string]int)
	s.stats.minLatency.Store(-1)
	return s, nil
}

// Config returns the server's configuration (after Validate).
func (s *Server) Config() Config { return s.cfg }

// Tree returns the data tree the server serves. The replica may replace it
// (installing its leader's snapshot), so callers load it for each use.
func (s *Server) Tree() *datatree.Tree { return s.r.Tree() }

// SessionPassword is the 16-byte password of a session: Java's
// new Random(sessionId ^ 0xB3415C00).nextBytes(16), so that any server, ZooKeeper's
// included, issues the same password for the same id.
func SessionPassword(id jute.SessionID) []byte {
	const mult, mask = 0x5DEECE66D, (1 << 48) - 1
	seed := (uint64(id) ^ 0xB3415C00 ^ mult) & mask
	out := make([]byte, 0, 16)
	for i := 0; i < 4; i++ {
		seed = (seed*mult + 0xB) & mask
		r := uint32(int32(seed >> 16))
		out = binary.LittleEndian.AppendUint32(out, r)
	}
	return out
}

func monoNow() int64 { return time.Since(processStart).Nanoseconds() }

var processStart = time.Now()

// SessionClosed implements replica.Listener: a closeSession (a client's close, or
// the leader's expiry) was applied; the session's connection here, if any, closes
// once the replies before it are out.
func (s *Server) SessionClosed(id jute.SessionID) {
	s.mu.Lock()
	sess := s.mu.sessions[id]
	var c *Conn
	if sess != nil {
		c = sess.conn
		delete(s.mu.sessions, id)
	}
	s.mu.Unlock()
	// A client that closed its own session gets the close's reply first; that
	// reply closes the connection.
	if c != nil && !sess.closing.Load() {
		c.closeAfterFlush()
	}
}

// LocalSessionExpired implements replica.Listener: local session id timed out;
// its connection, if any, closes.
func (s *Server) LocalSessionExpired(id jute.SessionID) {
	s.mu.Lock()
	sess := s.mu.sessions[id]
	var c *Conn
	if sess != nil && sess.local.Load() {
		c = sess.conn
		delete(s.mu.sessions, id)
	}
	s.mu.Unlock()
	if c != nil {
		c.abort()
	}
}

// localSession returns local session id if this server holds it.
func (s *Server) localSession(id jute.SessionID) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.mu.sessions[id]; sess != nil && sess.local.Load() {
		return sess
	}
	return nil
}

// endLocalSession forgets local session id: its client closed it.
func (s *Server) endLocalSession(sess *Session) {
	s.r.ForgetLocalSession(sess.id)
	s.mu.Lock()
	if s.mu.sessions[sess.id] == sess {
		delete(s.mu.sessions, sess.id)
	}
	s.mu.Unlock()
}

// SessionAttached implements replica.Listener: session id is now attached to the
// client connection conn (a reconnect, here or elsewhere). A connection of this
// server still holding the session for another connection is closed: its writes
// would be refused as SESSIONMOVED anyway.
func (s *Server) SessionAttached(id jute.SessionID, conn uint64) {
	s.mu.Lock()
	sess := s.mu.sessions[id]
	var stale *Conn
	if sess != nil && sess.conn != nil && sess.conn.token != conn {
		stale = sess.conn
		sess.conn = nil
		delete(s.mu.sessions, id)
	}
	s.mu.Unlock()
	if stale != nil {
		s.log.Info("closing a connection whose session moved to another connection", "sessionid", id,
			"remote", stale.remote)
		stale.abort()
	}
}

// CollectTouched implements replica.Listener: it appends the sessions whose
// clients were heard from since the last call.
func (s *Server) CollectTouched(dst []jute.SessionID) []jute.SessionID {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.mu.sessions {
		if sess.touched.Load() && sess.touched.Swap(false) {
			dst = append(dst, id)
		}
	}
	return dst
}

// DisconnectClients implements replica.Listener: every client connection is
// closed, so that clients move to a server that can serve them (no leader for too
// long, as ZooKeeper's followers do), or reconnect and re-register their watches
// (the state was replaced by the leader's snapshot).
//
// The local sessions begun in the other mode end too: a server entering
// read-only mode is a new server to its clients, and one leaving it drops the
// sessions it gave read-only clients (ZooKeeper shuts the one server down and
// starts the other).
func (s *Server) DisconnectClients(reason string) {
	s.log.Info("closing every client connection", "reason", reason)
	readOnly := s.r.ReadOnly()
	var ended []jute.SessionID
	s.mu.Lock()
	for id, sess := range s.mu.sessions {
		if sess.local.Load() && sess.readOnly != readOnly {
			ended = append(ended, id)
			delete(s.mu.sessions, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ended {
		s.r.ForgetLocalSession(id)
	}
	for _, c := range s.connList() {
		c.abort()
	}
}

// ErrTooManyConnections is returned by NewConn when an address is over MaxClientCnxns.
var ErrTooManyConnections = errors.New("session: too many connections from one address")

// NewConn registers a new client connection from ip.
// remote is ip:port as four-letter words print it.
func (s *Server) NewConn(tr Transport, ip, remote string) (*Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxClientCnxns > 0 && s.mu.perIP[ip] >= s.cfg.MaxClientCnxns {
		s.log.Warn("Too many connections from address - max is "+fmt.Sprint(s.cfg.MaxClientCnxns), "remote", ip)
		return nil, ErrTooManyConnections
	}
	s.mu.perIP[ip]++
	c := newConn(s, tr, ip, remote)
	s.mu.conns[c] = struct{}{}
	return c, nil
}

func (s *Server) dropConn(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.conns[c]; !ok {
		return
	}
	delete(s.mu.conns, c)
	if s.mu.perIP[c.ip]--; s.mu.perIP[c.ip] <= 0 {
		delete(s.mu.perIP, c.ip)
	}
	if sess := c.session(); sess != nil && sess.conn == c {
		sess.conn = nil
	}
}

// ConnCount returns the number of open client connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.conns)
}

// LocalSessionCount returns the number of local sessions this server holds.
func (s *Server) LocalSessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.mu.sessions {
		if sess.local.Load() {
			n++
		}
	}
	return n
}

// SessionCount returns the number of live sessions of the whole ensemble.
func (s *Server) SessionCount() int { return len(s.Tree().Sessions()) }

// Shutdown closes every connection; sessions stay in the tree (they expire or
// are resumed as after any disconnect).
func (s *Server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.tr.Close()
	}
	_ = ctx
}

// serverStats are the counters behind srvr/stat/mntr.
type serverStats struct {
	received   atomic.Int64
	sent       atomic.Int64
	latencySum atomic.Int64 // ms
	latencyN   atomic.Int64
	minLatency atomic.Int64 // ms; -1 = none yet
	maxLatency atomic.Int64 // ms
}

func (st *serverStats) observe(start int64) {
	ms := (monoNow() - start) / int64(time.Millisecond)
	st.latencySum.Add(ms)
	st.latencyN.Add(1)
	for {
		cur := st.minLatency.Load()
		if cur != -1 && cur <= ms || st.minLatency.CompareAndSwap(cur, ms) {
			break
		}
	}
	for {
		cur := st.maxLatency.Load()
		if cur >= ms || st.maxLatency.CompareAndSwap(cur, ms) {
			break
		}
	}
}
