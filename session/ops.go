package session

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"zkd/jute"
)

// OpsConfig is what the operator commands (four-letter words, AdminServer,
// metrics) report beyond Config. main sets it with SetOps once the client port is
// bound; until then the commands use zero values.
type OpsConfig struct {
	// DataDir and DataLogDir are the absolute directories holding zkd's snapshots
	// and log (conf's dataDir/dataLogDir, dirs' sizes).
	DataDir    string
	DataLogDir string
	// ClientPort is the bound client port (conf, configuration); 0: from Config.ClientAddr.
	ClientPort int
	// ClientPortListenBacklog is clientPortListenBacklog (-1: the OS default).
	ClientPortListenBacklog int
	// ReadOnlyMode is readonlymode.enabled: ZooKeeper then adds isro to the whitelist.
	ReadOnlyMode bool
	// Disk, when set, supplies the fsync figures (mntr fsynctime, server_stats
	// fsync_threshold_exceed_count, Prometheus).
	Disk *DiskStats
	// Quorum, when set, returns what conf prints after serverId for an ensemble
	// member: its quorum settings and the current membership.
	Quorum func() string
}

// opsState is the operator-facing state of one Server.
type opsState struct {
	cfg       atomic.Pointer[OpsConfig]
	traceMask atomic.Int64 // ZooTrace mask, gtmk/stmk; default 306

	// requests holds one latency histogram per opcode, indexed by opSlot; built
	// once, then read-only (the histograms themselves are atomic).
	requests [opSlots]*Histogram

	rejected atomic.Int64 // connections refused over maxClientCnxns
	throttle atomic.Int64 // times reading a connection was paused
	dropped  atomic.Int64 // connections closed for not reading their replies
	net      netNotes     // the socket layer's counts (netnotes.go)

	whitelistOnce sync.Once
}

// opSlots covers every opcode from OpCloseSession (-11) to OpWhoAmI (107).
const (
	opSlotBase = 16
	opSlots    = opSlotBase + 128
)

func opSlot(op jute.OpCode) int {
	i := int(op) + opSlotBase
	if i < 0 || i >= opSlots {
		return -1
	}
	return i
}

// trackedOps are the opcodes with a latency histogram: every request a client can
// send, the handshake included.
var trackedOps = []jute.OpCode{
	jute.OpCreateSession, jute.OpCloseSession, jute.OpCreate, jute.OpDelete, jute.OpExists,
	jute.OpGetData, jute.OpSetData, jute.OpGetACL, jute.OpSetACL, jute.OpGetChildren,
	jute.OpSync, jute.OpPing, jute.OpGetChildren2, jute.OpCheck, jute.OpMulti, jute.OpCreate2,
	jute.OpReconfig, jute.OpCheckWatches, jute.OpRemoveWatches, jute.OpCreateContainer,
	jute.OpCreateTTL, jute.OpMultiRead, jute.OpAuth, jute.OpSetWatches, jute.OpSASL,
	jute.OpGetEphemerals, jute.OpGetAllChildrenNumber, jute.OpSetWatches2, jute.OpAddWatch,
	jute.OpWhoAmI,
}

// isUpdate reports whether ZooKeeper counts op in updatelatency (requests that
// carry a txn) rather than readlatency (everything else, pings included).
func isUpdate(op jute.OpCode) bool {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL, jute.OpDelete,
		jute.OpSetData, jute.OpSetACL, jute.OpMulti, jute.OpCreateSession, jute.OpCloseSession,
		jute.OpReconfig:
		return true
	}
	return false
}

func newOpsState() *opsState {
	o := &opsState{}
	o.traceMask.Store(defaultTraceMask)
	o.cfg.Store(&OpsConfig{ClientPortListenBacklog: -1})
	for _, op := range trackedOps {
		o.requests[opSlot(op)] = NewHistogram(latencyBounds)
	}
	return o
}

// defaultTraceMask is ZooTrace's default: client requests, server packets,
// sessions and warnings (2|16|32|256).
const defaultTraceMask = 306

// ops returns the operator state of s.
func (s *Server) ops() *opsState { return s.opsState }

// SetOps sets what the operator commands report beyond Config. Safe to call at
// any time; main calls it once the client port is bound.
func (s *Server) SetOps(cfg OpsConfig) {
	if cfg.ClientPortListenBacklog == 0 {
		cfg.ClientPortListenBacklog = -1
	}
	s.ops().cfg.Store(&cfg)
}

func (s *Server) opsConfig() *OpsConfig { return s.ops().cfg.Load() }

// clientPort is the bound client port, or the configured one before SetOps.
func (s *Server) clientPort() int {
	if p := s.opsConfig().ClientPort; p > 0 {
		return p
	}
	_, port, err := net.SplitHostPort(s.cfg.ClientAddr)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return -1
	}
	return n
}

// NoteRejected counts a connection refused over maxClientCnxns (mntr
// connection_rejected); netloop calls it when NewConn fails.
func (s *Server) NoteRejected() { s.ops().rejected.Add(1) }

// NoteThrottled counts one pause of reading from c: too many requests in flight,
// or too much unsent output. netloop calls it.
func (c *Conn) NoteThrottled() { c.opsState().throttle.Add(1) }

// NoteDropped counts c being closed because its client does not read its replies.
func (c *Conn) NoteDropped() { c.opsState().dropped.Add(1) }

// SetUnsent records how many bytes of c's output the socket layer still holds
// (netloop's outbound buffer), for the output-queue gauge.
func (c *Conn) SetUnsent(n int) { c.last.unsent.Store(int64(n)) }

// opsState returns c's server's operator state, cached in the connection.
func (c *Conn) opsState() *opsState {
	if o := c.last.ops.Load(); o != nil {
		return o
	}
	o := c.srv.ops()
	c.last.ops.Store(o)
	return o
}

// TraceMask returns the ZooTrace mask (gtmk).
func (s *Server) TraceMask() int64 { return s.ops().traceMask.Load() }

// SetTraceMask sets the ZooTrace mask (stmk) and returns it. zkd keeps the value
// for gtmk but its log level is set with -log-level.
func (s *Server) SetTraceMask(v int64) int64 {
	s.ops().traceMask.Store(v)
	return v
}
