package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/quorum"
)

// Proposer is the write path as the session layer sees it; *quorum.Node implements it.
type Proposer interface {
	Propose(entry []byte, done quorum.DoneFunc) error
	Sync(done func()) error
}

// Server holds the sessions and connections of one zkd server.
type Server struct {
	cfg  Config
	tree *datatree.Tree
	q    Proposer
	log  *slog.Logger

	nextSessionID atomic.Int64
	started       time.Time

	mu struct {
		sync.Mutex
		sessions map[jute.SessionID]*Session // guarded by mu
		conns    map[*Conn]struct{}          // guarded by mu
		perIP    map[string]int              // guarded by mu
	}

	stats    serverStats
	opsState *opsState // immutable pointer; the state inside is concurrency-safe

	stopC chan struct{}
	wg    sync.WaitGroup
}

// Session is the liveness side of a session: the replicated part (id, timeout,
// ephemerals) lives in the tree.
type Session struct {
	id       jute.SessionID
	timeout  atomic.Int32 // negotiated, ms
	lastSeen atomic.Int64 // monotonic ns of the last request or reconnect
	conn     *Conn        // guarded by Server.mu; nil while disconnected
	closing  atomic.Bool  // set once a closeSession is in flight; requests are then dropped
}

func (s *Session) touch(now int64) { s.lastSeen.Store(now) }

// NewServer returns a Server over a tree and its write path. Call Run to start its
// expiry and container timers.
func NewServer(cfg Config, tree *datatree.Tree, q Proposer) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, tree: tree, q: q, log: cfg.Logger, started: time.Now(), stopC: make(chan struct{}),
		opsState: newOpsState()}
	s.mu.sessions = make(map[jute.SessionID]*Session)
	s.mu.conns = make(map[*Conn]struct{})
	s.mu.perIP = make(map[string]int)
	s.stats.minLatency.Store(-1)
	// Reference: ZooKeeper SessionTrackerImpl.initializeNextSessionId.
	ms := time.Now().UnixMilli()
	base := int64(uint64(ms<<24)>>8) | cfg.ServerID<<56
	if base == -0x8000000000000000 {
		base++
	}
	s.nextSessionID.Store(base)
	// Sessions restored with the tree get a full timeout from now, as in
	// ZooKeeper: a client that reconnects in time keeps its session and ephemerals,
	// the others expire and their ephemerals go.
	now := monoNow()
	for id, timeout := range tree.Sessions() {
		sess := &Session{id: id}
		sess.timeout.Store(timeout)
		sess.touch(now)
		s.mu.sessions[id] = sess
	}
	return s, nil
}

// Config returns the server's configuration (after Validate).
func (s *Server) Config() Config { return s.cfg }

// Tree returns the data tree the server serves.
func (s *Server) Tree() *datatree.Tree { return s.tree }

// Run starts the session-expiry and container/TTL reaper loops; they stop with Stop.
func (s *Server) Run() {
	s.wg.Add(2)
	go s.expiryLoop()
	go s.reapLoop()
}

// Stop ends the background loops.
func (s *Server) Stop() {
	select {
	case <-s.stopC:
	default:
		close(s.stopC)
	}
	s.wg.Wait()
}

func (s *Server) newSessionID() jute.SessionID {
	id := s.nextSessionID.Add(1) - 1
	if id == -0x8000000000000000 {
		id = s.nextSessionID.Add(1) - 1
	}
	return jute.SessionID(id)
}

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

// expiryLoop closes sessions that have been silent for longer than their timeout.
// It runs every half tick, so a session expires within half a tick of its deadline
// (ZooKeeper rounds to whole ticks).
func (s *Server) expiryLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.TickTime / 2)
	defer t.Stop()
	for {
		select {
		case <-s.stopC:
			return
		case <-t.C:
		}
		now := monoNow()
		var expired []jute.SessionID
		s.mu.Lock()
		for id, sess := range s.mu.sessions {
			if sess.closing.Load() {
				continue
			}
			deadline := sess.lastSeen.Load() + int64(sess.timeout.Load())*int64(time.Millisecond)
			if now > deadline {
				sess.closing.Store(true)
				expired = append(expired, id)
			}
		}
		s.mu.Unlock()
		for _, id := range expired {
			s.mu.Lock()
			sess, remote := s.mu.sessions[id], ""
			if sess != nil && sess.conn != nil {
				remote = sess.conn.remote
			}
			s.mu.Unlock()
			timeout := int32(0)
			if sess != nil {
				timeout = sess.timeout.Load()
			}
			s.log.Info(fmt.Sprintf("Expiring session %s, timeout of %dms exceeded", id, timeout),
				"sessionid", id, "remote", remote)
			s.proposeClose(id, nil)
		}
	}
}

// proposeClose replicates a closeSession for id; after it applies, the session's
// connection (if any) is closed. then, if non-nil, runs on the apply goroutine
// before the close.
func (s *Server) proposeClose(id jute.SessionID, then func(jute.Zxid, error)) {
	txn := datatree.Txn{Kind: datatree.KindCloseSession, Session: id, Time: time.Now().UnixMilli()}
	err := s.q.Propose(txn.Append(quorum.EntryBuffer(64)), func(z jute.Zxid, _ datatree.Result, err error) {
		if then != nil {
			then(z, err)
		}
		s.mu.Lock()
		sess := s.mu.sessions[id]
		var c *Conn
		if sess != nil {
			c = sess.conn
			delete(s.mu.sessions, id)
		}
		s.mu.Unlock()
		if c != nil {
			c.closeAfterFlush()
		}
	})
	if err != nil && then != nil {
		then(0, err)
	}
}

// reapLoop deletes emptied containers and expired TTL nodes, as ZooKeeper's
// ContainerManager does, at most ContainerMaxPerMinute per minute.
func (s *Server) reapLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ContainerCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopC:
			return
		case <-t.C:
		}
		perRun := max(1, int(float64(s.cfg.ContainerMaxPerMinute)*s.cfg.ContainerCheckInterval.Minutes()))
		now := time.Now().UnixMilli()
		for _, p := range s.tree.ReapCandidates(now, perRun) {
			txn := datatree.Txn{Kind: datatree.KindReap, Time: now, Body: []byte(p)}
			if err := s.q.Propose(txn.Append(quorum.EntryBuffer(64+len(p))), func(jute.Zxid, datatree.Result, error) {}); err != nil {
				return
			}
		}
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
	if c.sess != nil && c.sess.conn == c {
		c.sess.conn = nil
	}
}

// ConnCount returns the number of open client connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.conns)
}

// SessionCount returns the number of live sessions.
func (s *Server) SessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.sessions)
}

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
