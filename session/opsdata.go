package session

import (
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"zkd/datatree"
	"zkd/jute"
)

// The figures behind the four-letter words and the AdminServer commands. Each
// accessor returns a fresh value the caller owns; none holds Server.mu while it
// calls into the tree (doc.go's lock order).

// Stat is one mntr key (without "zk_") and its value: an int64, a float64 (printed
// as a Java double) or a string.
type Stat struct {
	Key   string
	Value any
}

// FullVersion is the version string of srvr, envi and mntr.
func (s *Server) FullVersion() string { return s.versionString() }

// ServerState is mntr's server_state and srvr's Mode: standalone, leader,
// follower, observer or read-only, as the Quorum hook reports the server's role.
func (s *Server) ServerState() string { return s.quorumStats().Mode }

// ReadOnly reports whether the server is in read-only mode.
func (s *Server) ReadOnly() bool { return s.r.ReadOnly() }

// Uptime returns how long the server has been up.
func (s *Server) Uptime() time.Duration { return time.Since(s.started) }

// ConnInfo is one client connection as cons and the connections command show it.
type ConnInfo struct {
	Remote     string // ip:port, without ZooKeeper's leading "/"
	Interest   int    // 1 once the connection has a session (reading), else 0
	Queued     int    // requests read but not answered
	Received   int64
	Sent       int64
	HasSession bool
	// The rest is set only with a session.
	SessionID    jute.SessionID
	LastOp       string // cons's lop: NA after crst or before the first request
	Established  int64  // ms since the epoch
	Timeout      int32  // negotiated, ms
	LastCxid     int64  // -1: none since crst
	LastZxid     int64  // -1: none since crst
	LastResponse int64  // monotonic ms
	LastLatency  int64
	MinLatency   int64
	AvgLatency   int64 // integer division, as ZooKeeper does
	MaxLatency   int64
}

// Connections returns every open client connection, the caller's own included.
func (s *Server) Connections() []ConnInfo {
	s.mu.Lock()
	out := make([]ConnInfo, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		out = append(out, c.info())
	}
	s.mu.Unlock()
	return out
}

// info reads c's figures. REQUIRES: Server.mu, so that the session does not attach meanwhile.
func (c *Conn) info() ConnInfo {
	ci := ConnInfo{Remote: c.remote, Queued: c.Outstanding(), Received: c.recv.Load(), Sent: c.sentCount.Load(),
		LastOp: "NA", Established: c.est, LastCxid: -1, LastZxid: -1}
	if c.sess == nil {
		return ci
	}
	st := &c.last
	ci.Interest, ci.HasSession = 1, true
	ci.SessionID = c.sess.id
	lop, ok := lopNames[jute.OpCode(st.op.Load())]
	if !ok {
		lop = "NA"
	}
	ci.LastOp = lop
	ci.Timeout = c.sess.timeout.Load()
	ci.LastCxid = st.cxid.Load()
	ci.LastZxid = st.zxid.Load()
	ci.LastResponse = st.resp.Load()
	ci.LastLatency = st.latLast.Load()
	ci.MinLatency = max(st.latMin.Load(), 0)
	if n := st.latCount.Load(); n > 0 {
		ci.AvgLatency = st.latSum.Load() / n
	}
	ci.MaxLatency = st.latMax.Load()
	return ci
}

// Outstanding returns the requests read from every connection and not answered yet.
func (s *Server) Outstanding() int {
	n := 0
	for _, c := range s.connList() {
		n += c.Outstanding()
	}
	return n
}

// Latency returns the request latency figures since the last srst, in ms.
func (s *Server) Latency() (minMs int64, avgMs float64, maxMs int64) {
	st := &s.stats
	minMs, n := st.minLatency.Load(), st.latencyN.Load()
	if n > 0 {
		avgMs = float64(st.latencySum.Load()) / float64(n)
	}
	return max(minMs, 0), avgMs, st.maxLatency.Load()
}

// Packets returns the packets received and sent since the last srst.
func (s *Server) Packets() (received, sent int64) {
	return s.stats.received.Load(), s.stats.sent.Load()
}

// NodeCount is ZooKeeper's node count: its node map holds the root twice ("" and "/").
func (s *Server) NodeCount() int64 { return s.Tree().NodeCount() + 1 }

// ResetStats is srst: the server's packet and latency figures, and what mntr shows
// of every counter and summary, start again. Prometheus counters and histograms
// are not reset.
func (s *Server) ResetStats() {
	s.stats.received.Store(0)
	s.stats.sent.Store(0)
	s.stats.latencySum.Store(0)
	s.stats.latencyN.Store(0)
	s.stats.minLatency.Store(-1)
	s.stats.maxLatency.Store(0)
	o := s.ops()
	for _, shard := range o.requests.all() {
		for _, h := range shard {
			if h != nil {
				h.Reset()
			}
		}
	}
	if d := o.cfg.Load().Disk; d != nil {
		d.Fsync.Reset()
		d.Entries.Reset()
	}
	o.rejected.reset()
	o.bytesIn.reset()
	o.bytesOut.reset()
	o.watchBytes.reset()
	for _, h := range o.fired {
		h.Reset()
	}
	for _, h := range o.timings {
		h.Reset()
	}
	resetHistogram := func(_ string, h *Histogram) { h.Reset() }
	for _, set := range o.readNS.all() {
		set.each(resetHistogram)
	}
	o.writeNS.each(resetHistogram)
	o.ackLatency.each(resetHistogram)
	o.quotaExceeded.each(func(_ string, c *counter) { c.reset() })
	o.resetResponseSizes()
	s.resetQuorumCounters()
}

// ResponseSizes are the last, smallest and largest reply or event sent since
// the start or the last srst (ZooKeeper's BufferStats); each is -1 before the
// first.
func (s *Server) ResponseSizes() (last, min, max int64) {
	o := s.ops()
	min = o.respSize.min.Load()
	if min == -1 {
		return -1, -1, -1
	}
	return o.respSize.last.Load(), min, o.respSize.max.Load()
}

// ResetConnStats is crst: every connection's figures start again.
func (s *Server) ResetConnStats() {
	for _, c := range s.connList() {
		c.last.clear()
		c.recv.Store(0)
		c.sentCount.Store(0)
	}
}

// Conf is the configuration conf and the configuration command report.
type Conf struct {
	ClientPort              int
	SecureClientPort        int // -1: none
	DataDir                 string
	DataLogDir              string
	TickTime                int64 // ms
	MaxClientCnxns          int
	MinSessionTimeout       int64 // ms
	MaxSessionTimeout       int64 // ms
	ServerID                int64
	ClientPortListenBacklog int
}

// Conf returns the configuration in ZooKeeper's terms.
func (s *Server) Conf() Conf {
	o := s.opsConfig()
	return Conf{
		ClientPort: s.clientPort(), SecureClientPort: -1,
		DataDir: o.DataDir, DataLogDir: o.DataLogDir,
		TickTime:       s.cfg.TickTime.Milliseconds(),
		MaxClientCnxns: s.cfg.MaxClientCnxns, MinSessionTimeout: s.cfg.MinSessionTimeout.Milliseconds(),
		MaxSessionTimeout: s.cfg.MaxSessionTimeout.Milliseconds(), ServerID: s.cfg.ServerID,
		ClientPortListenBacklog: o.ClientPortListenBacklog,
	}
}

// DirSizes returns the bytes held in the data and log directories (dirs).
func (s *Server) DirSizes() (data, log int64) {
	o := s.opsConfig()
	return dirSize(o.DataDir), dirSize(o.DataLogDir)
}

func dirSize(dir string) int64 {
	if dir == "" {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed meanwhile (purge, rename) is skipped
		}
		if !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// ExpiryBucket is one bucket of dump's expiry queues: what expires at At
// (monotonic ms since the process started, rounded up to a tick as ZooKeeper's
// ExpiryQueue does) and the wall-clock time that is.
type ExpiryBucket struct {
	At       int64
	Wall     time.Time
	Sessions []jute.SessionID // the session set's elements
	Conns    []ConnInfo       // the connection set's elements
}

// SessionEphemerals is one session's ephemeral nodes, sorted.
type SessionEphemerals struct {
	Session jute.SessionID
	Paths   []string
}

// Dump is what dump reports: sessions by expiry time, ephemerals by session, and
// connections by expiry time.
type Dump struct {
	Sessions    []ExpiryBucket // sorted by At
	Ephemerals  []SessionEphemerals
	Connections []ExpiryBucket
	NumSessions int
	NumConns    int
}

// sessionlessTimeout is how long ZooKeeper's NIO factory keeps a connection that
// has not sent its ConnectRequest (zookeeper.nio.sessionlessCnxnTimeout).
const sessionlessTimeout = 10 * time.Second

// Dump returns the sessions, ephemerals and connections.
func (s *Server) Dump() Dump {
	tick := max(s.cfg.TickTime.Milliseconds(), 1)
	nowMono := monoNow() / int64(time.Millisecond)
	nowWall := time.Now()
	bucketOf := func(deadlineMs int64) int64 { return (deadlineMs/tick + 1) * tick }
	sessions := map[int64]*ExpiryBucket{}
	conns := map[int64]*ExpiryBucket{}
	get := func(m map[int64]*ExpiryBucket, at int64) *ExpiryBucket {
		b := m[at]
		if b == nil {
			b = &ExpiryBucket{At: at, Wall: nowWall.Add(time.Duration(at-nowMono) * time.Millisecond)}
			m[at] = b
		}
		return b
	}
	var d Dump
	s.mu.Lock()
	for id, sess := range s.mu.sessions {
		deadline := (sess.lastSeen.Load() + int64(sess.timeout.Load())*int64(time.Millisecond)) / int64(time.Millisecond)
		b := get(sessions, bucketOf(deadline))
		b.Sessions = append(b.Sessions, id)
		d.NumSessions++
	}
	for c := range s.mu.conns {
		deadline := nowMono + sessionlessTimeout.Milliseconds()
		if c.sess != nil {
			deadline = (c.sess.lastSeen.Load() + int64(c.sess.timeout.Load())*int64(time.Millisecond)) / int64(time.Millisecond)
		}
		b := get(conns, bucketOf(deadline))
		b.Conns = append(b.Conns, c.info())
		d.NumConns++
	}
	s.mu.Unlock()
	d.Sessions, d.Connections = sortBuckets(sessions), sortBuckets(conns)
	d.Ephemerals = s.ephemerals()
	return d
}

// sortBuckets returns m's buckets by time, each with its elements sorted.
func sortBuckets(m map[int64]*ExpiryBucket) []ExpiryBucket {
	list := make([]ExpiryBucket, 0, len(m))
	for _, b := range m {
		slices.SortFunc(b.Sessions, cmpSession)
		slices.SortFunc(b.Conns, func(x, y ConnInfo) int { return strings.Compare(x.Remote, y.Remote) })
		list = append(list, *b)
	}
	slices.SortFunc(list, func(x, y ExpiryBucket) int { return cmpInt64(x.At, y.At) })
	return list
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ephemerals returns every session's ephemeral nodes, by session id.
func (s *Server) ephemerals() []SessionEphemerals {
	var out []SessionEphemerals
	for id := range s.Tree().Sessions() {
		paths := s.Tree().Ephemerals(id, "")
		if len(paths) == 0 {
			continue
		}
		slices.Sort(paths)
		out = append(out, SessionEphemerals{Session: id, Paths: paths})
	}
	slices.SortFunc(out, func(x, y SessionEphemerals) int { return cmpSession(x.Session, y.Session) })
	return out
}

func cmpSession(a, b jute.SessionID) int { return cmpInt64(int64(a), int64(b)) }

// SessionWatches is the paths one session watches.
type SessionWatches struct {
	Session jute.SessionID
	Paths   []string
}

// PathWatchers is the sessions that watch one path.
type PathWatchers struct {
	Path     string
	Sessions []jute.SessionID
}

// WatchesBySession returns each watching session's paths (wchc), sorted.
//
// NB: ZooKeeper's wchc/wchp/wchs cover only its data-watch table; zkd's tree
// reports data and child watches together, so a getChildren watch is listed too.
func (s *Server) WatchesBySession() []SessionWatches {
	var out []SessionWatches
	for _, c := range s.connList() {
		id := c.sessionIDLocked()
		if id == 0 {
			continue
		}
		paths := s.Tree().WatchedPaths(c)
		if len(paths) == 0 {
			continue
		}
		slices.Sort(paths)
		out = append(out, SessionWatches{Session: id, Paths: paths})
	}
	slices.SortFunc(out, func(x, y SessionWatches) int { return cmpSession(x.Session, y.Session) })
	return out
}

// sessionIDLocked reads c's session id under Server.mu (it is set from the event
// loop under that lock).
func (c *Conn) sessionIDLocked() jute.SessionID {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	return c.sessionID()
}

// WatchesByPath returns each watched path's sessions (wchp), sorted by path.
func (s *Server) WatchesByPath() []PathWatchers {
	byPath := map[string][]jute.SessionID{}
	for _, sw := range s.WatchesBySession() {
		for _, p := range sw.Paths {
			byPath[p] = append(byPath[p], sw.Session)
		}
	}
	out := make([]PathWatchers, 0, len(byPath))
	for p, ids := range byPath {
		slices.SortFunc(ids, cmpSession)
		out = append(out, PathWatchers{Path: p, Sessions: ids})
	}
	slices.SortFunc(out, func(x, y PathWatchers) int { return strings.Compare(x.Path, y.Path) })
	return out
}

// WatchSummary returns wchs's figures: watching connections, watched paths and
// (path, connection) registrations.
func (s *Server) WatchSummary() (conns, paths, total int) { return s.Tree().WatchCounts() }

// Digest is one remembered tree digest (the hash four-letter word).
type Digest struct {
	Zxid    jute.Zxid
	Digest  int64
	Version int
}

// Digests returns the remembered tree digests, oldest first: ZooKeeper's digest
// (version 2) after every 128th entry, equal on every member at the same zxid.
func (s *Server) Digests() []Digest {
	var out []Digest
	for _, d := range s.r.Digests() {
		out = append(out, Digest{Zxid: d.Zxid, Digest: int64(d.Digest), Version: datatree.DigestVersion})
	}
	return out
}

// osUser is the user the server runs as and its home: envi's user.name and
// user.home, and the user the audit log names for the server's own actions (all
// System.getProperty("user.name") in ZooKeeper).
func osUser() (name, home string) {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, u.HomeDir
	}
	return os.Getenv("USER"), os.Getenv("HOME")
}

// Environment returns envi's keys, in ZooKeeper's order, with zkd's values: the Go
// runtime stands where ZooKeeper prints the JVM's.
func (s *Server) Environment() [][2]string {
	host, _ := os.Hostname()
	wd, _ := os.Getwd()
	exe, _ := os.Executable()
	userName, home := osUser()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	total := ms.Sys
	free := total - min(total, ms.HeapInuse+ms.StackInuse)
	limit := debug.SetMemoryLimit(-1)
	if limit <= 0 || limit == 1<<63-1 {
		limit = int64(physicalMemory())
	}
	mb := func(b uint64) string { return strconv.FormatUint(b>>20, 10) + "MB" }
	return [][2]string{
		{"zookeeper.version", s.versionString()},
		{"host.name", host},
		{"java.version", runtime.Version()},
		{"java.vendor", "zkd"},
		{"java.home", filepath.Dir(exe)},
		{"java.class.path", exe},
		{"java.library.path", ""},
		{"java.io.tmpdir", os.TempDir()},
		{"java.compiler", "<NA>"},
		{"os.name", javaOSName()},
		{"os.arch", javaArch()},
		{"os.version", osVersion()},
		{"user.name", userName},
		{"user.home", home},
		{"user.dir", wd},
		{"os.memory.free", mb(free)},
		{"os.memory.max", mb(uint64(max(limit, 0)))},
		{"os.memory.total", mb(total)},
	}
}

// javaOSName is os.name as the JVM spells it.
func javaOSName() string {
	switch runtime.GOOS {
	case "linux":
		return "Linux"
	case "darwin":
		return "Mac OS X"
	case "freebsd":
		return "FreeBSD"
	case "windows":
		return "Windows"
	}
	return runtime.GOOS
}

// javaArch is os.arch as the JVM spells it.
func javaArch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "aarch64"
	case "386":
		return "x86"
	}
	return runtime.GOARCH
}

func osVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// physicalMemory returns MemTotal from /proc/meminfo, or 0.
func physicalMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// fileDescriptors returns the open and maximum file descriptors of the process,
// -1 where the platform does not say.
func fileDescriptors() (open, limit int64) {
	open, limit = -1, -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		open = int64(len(ents))
	}
	if l, ok := maxFiles(); ok {
		limit = l
	}
	return open, limit
}
