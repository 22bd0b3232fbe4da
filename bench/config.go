package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is one load-generator setup: where to connect, how long each run measures,
// and the sizes of the workloads. The zero values of the session-count fields
// (Clients, InFlight, FanoutSessions, StormSessions, Watchers) mean "the workload's
// default, reduced to fit MaxConns"; a value set explicitly is taken as asked and
// fails up front if it cannot fit.
type Config struct {
	// Addr is one server host:port, or a connect string host:port,host:port,...:
	// sessions are spread over its servers round robin.
	Addr  string `json:"addr"`
	Label string `json:"label"` // name of the server in reports ("server", "zookeeper", "zkd")
	Seed  uint64 `json:"seed"`  // seeds every random choice (keys, op mix); timing is not seeded

	// Duration is the measured window of every run, after Warmup. Loop workloads
	// measure exactly this window, so two servers are always measured over equal
	// windows; Count can only cut a run short.
	Duration time.Duration `json:"duration_ns"`
	// Count caps the measured requests of a run (0: no cap). A run that reaches it
	// stops early and says so in its notes; Compare refuses a cap.
	Count  int64         `json:"count"`
	Warmup time.Duration `json:"warmup_ns"` // unmeasured load before each run's window

	Clients  int     `json:"clients"`   // sessions for closed/open-loop workloads (0: workload default)
	InFlight int     `json:"in_flight"` // requests in flight per session, closed loop (0: workload default)
	Rate     float64 `json:"rate"`      // > 0: open loop at this many requests/s in total, latency from the intended send time

	// MaxConns is how many connections the generator may hold to one server (0: no
	// limit). ZooKeeper and zkd refuse connections past maxClientCnxns per client
	// IP, 60 by default, so the default workload shapes are reduced to fit it.
	MaxConns int `json:"max_conns"`

	SessionTimeout time.Duration `json:"session_timeout_ns"` // requested session timeout (the server negotiates)
	// TLS, when set, connects every session over TLS (Addr is then a
	// secureClientPort); nil: plain TCP.
	TLS *tls.Config `json:"-"`

	Keys           int `json:"keys"`            // znodes of the read and setData workloads
	Children       int `json:"children"`        // children of the getChildren2 parent
	Topics         int `json:"topics"`          // kafka: topics
	Partitions     int `json:"partitions"`      // kafka: partitions per topic
	KafkaClients   int `json:"kafka_clients"`   // kafka: sessions (Clients overrides)
	FanoutSessions int `json:"fanout_sessions"` // fanout: watching sessions (0: 100)
	FanoutZnodes   int `json:"fanout_znodes"`   // fanout: znodes each session watches
	FanoutRounds   int `json:"fanout_rounds"`   // fanout: znodes set, one after the other
	StormSessions  int `json:"storm_sessions"`  // storm: sessions, one ephemeral each (0: 200)
	LockContenders int `json:"lock_contenders"` // lock: contending sessions
	LatencyOps     int `json:"latency_ops"`     // latency: requests of each kind

	// TreeZnodes is the size of the base tree of 100 B znodes the table workloads
	// read and write (/zkbench-tree, 1000 children per parent).
	TreeZnodes int `json:"tree_znodes"`
	// Znodes is the size of the preload-1m, mem-1m and restart-1m tree (100 B each).
	Znodes         int     `json:"znodes"`
	PreloadClients int     `json:"preload_clients"` // sessions of a pipelined preload, each 256 creates in flight
	Watchers       int     `json:"watchers"`        // watch-500: sessions watching the one znode (0: 500)
	StormWorkers   int     `json:"storm_workers"`   // sessions-16: workers that connect, create an ephemeral, close
	OpenRate       float64 `json:"open_rate"`       // getdata-open: offered requests/s (-rate overrides)
	KeepTree       bool    `json:"keep_tree"`       // leave /zkbench-tree on the server after Run

	ServerPID int      `json:"server_pid"`          // > 0: read the server's CPU time and RSS from /proc/<pid>
	DataDirs  []string `json:"data_dirs,omitempty"` // the server's data directories, for bytes on disk (du)

	// Control stops and starts the servers under test (restart-1m, mem-1m,
	// failover). Compare provides it; without it those figures are not measured.
	Control Controller `json:"-"`

	Out io.Writer `json:"-"` // results as they finish; nil discards
	// Progress receives a live line while a run is under way (elapsed, requests/s,
	// p99 so far, errors): rewritten in place every ProgressEvery when
	// ProgressTTY, else one plain line per ProgressEvery. nil: none.
	Progress      io.Writer     `json:"-"`
	ProgressTTY   bool          `json:"-"`
	ProgressEvery time.Duration `json:"-"` // 0: 250ms on a terminal, 2s otherwise
	Logger        *slog.Logger  `json:"-"` // nil: slog.Default()

	treeReady  bool   // the base tree is known to be in place on every server of Addr
	members    string // the whole connect string when a route narrowed Addr (process figures cover all)
	disposable bool   // the server is thrown away after the run: no cleanup of the 1M tree
}

// DefaultMaxConns is ZooKeeper's (and zkd's) default maxClientCnxns.
const DefaultMaxConns = 60

// DefaultConfig is what `zkd bench` runs without flags: small enough for a laptop run
// of every workload in a few minutes, within a default server's connection limit.
func DefaultConfig() Config {
	return Config{
		Addr:           "127.0.0.1:2181",
		Label:          "server",
		Seed:           1,
		Duration:       5 * time.Second,
		Warmup:         2 * time.Second,
		MaxConns:       DefaultMaxConns,
		SessionTimeout: 4 * time.Second,
		Keys:           10_000,
		Children:       1_000,
		Topics:         200,
		Partitions:     16,
		KafkaClients:   50,
		FanoutZnodes:   100,
		FanoutRounds:   20,
		LockContenders: 8,
		LatencyOps:     2_000,
		TreeZnodes:     100_000,
		Znodes:         1_000_000,
		PreloadClients: 8,
		StormWorkers:   16,
		OpenRate:       20_000,
	}
}

// ParseConnectString splits a connect string (host:port,host:port,...) into its
// addresses. A chroot suffix is not supported.
func ParseConnectString(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("bench: address %q of %q: %w", a, s, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("bench: address %q of %q: bad port %q (a chroot suffix is not supported)", a, s, port)
		}
		out = append(out, a)
	}
	return out, nil
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	if _, err := ParseConnectString(c.Addr); err != nil {
		return err
	}
	if c.Duration <= 0 {
		return errors.New("bench: every run needs a positive duration")
	}
	if c.Count < 0 || c.Warmup < 0 || c.Clients < 0 || c.InFlight < 0 || c.Rate < 0 || c.MaxConns < 0 ||
		c.FanoutSessions < 0 || c.StormSessions < 0 || c.Watchers < 0 || c.OpenRate < 0 {
		return errors.New("bench: count, warmup, sessions, in-flight, rates and max-conns must not be negative")
	}
	if c.InFlight > 1000 {
		return errors.New("bench: more than 1000 requests in flight per session exceeds globalOutstandingLimit")
	}
	for _, v := range []struct {
		name string
		n    int
	}{
		{"keys", c.Keys}, {"children", c.Children}, {"topics", c.Topics}, {"partitions", c.Partitions},
		{"kafka-clients", c.KafkaClients}, {"fanout-znodes", c.FanoutZnodes}, {"fanout-rounds", c.FanoutRounds},
		{"lock-contenders", c.LockContenders}, {"latency-ops", c.LatencyOps}, {"tree", c.TreeZnodes},
		{"znodes", c.Znodes}, {"preload-clients", c.PreloadClients}, {"storm-workers", c.StormWorkers},
	} {
		if v.n <= 0 {
			return fmt.Errorf("bench: %s must be positive", v.name)
		}
	}
	if c.Children > 50_000 {
		return errors.New("bench: children above 50000 make getChildren2 replies larger than jute.maxbuffer")
	}
	if c.SessionTimeout <= 0 {
		return errors.New("bench: session timeout must be positive")
	}
	return nil
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Config) progress(format string, args ...any) {
	if c.Out != nil {
		fmt.Fprintf(c.Out, format+"\n", args...)
	}
}
