package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"
)

// Config is one load-generator setup: where to connect, how long and how much each
// run may do, and the sizes of the workloads. The zero values of the *-override
// fields (Clients, InFlight) mean "the workload's default".
type Config struct {
	Addr  string `json:"addr"`  // server host:port (loopback by default)
	Label string `json:"label"` // name of the server in reports ("server", "zookeeper", "zkd")
	Seed  uint64 `json:"seed"`  // seeds every random choice (keys, op mix); timing is not seeded

	Duration time.Duration `json:"duration_ns"` // measured time per run (after Warmup)
	Count    int64         `json:"count"`       // measured requests per run; a run stops at whichever bound comes first
	Warmup   time.Duration `json:"warmup_ns"`   // unmeasured load before each run's measurement

	Clients  int     `json:"clients"`   // sessions for closed/open-loop workloads (0: workload default)
	InFlight int     `json:"in_flight"` // requests in flight per session, closed loop (0: workload default)
	Rate     float64 `json:"rate"`      // > 0: open loop at this many requests/s in total, latency from the intended send time

	SessionTimeout time.Duration `json:"session_timeout_ns"` // requested session timeout (the server negotiates)

	Keys           int `json:"keys"`            // znodes of the read and setData workloads
	Children       int `json:"children"`        // children of the getChildren2 parent
	Topics         int `json:"topics"`          // kafka: topics
	Partitions     int `json:"partitions"`      // kafka: partitions per topic
	KafkaClients   int `json:"kafka_clients"`   // kafka: sessions (Clients overrides)
	FanoutSessions int `json:"fanout_sessions"` // fanout: watching sessions
	FanoutZnodes   int `json:"fanout_znodes"`   // fanout: znodes each session watches
	FanoutRounds   int `json:"fanout_rounds"`   // fanout: znodes set, one after the other
	StormSessions  int `json:"storm_sessions"`  // storm: sessions, one ephemeral each
	LockContenders int `json:"lock_contenders"` // lock: contending sessions
	LatencyOps     int `json:"latency_ops"`     // latency: requests of each kind

	ServerPID int `json:"server_pid"` // > 0: read the server's CPU time and RSS from /proc/<pid>

	Out    io.Writer    `json:"-"` // progress lines; nil discards
	Logger *slog.Logger `json:"-"` // nil: slog.Default()
}

// DefaultConfig is what `zkd bench` runs without flags: small enough for a laptop run
// of every workload in a couple of minutes.
func DefaultConfig() Config {
	return Config{
		Addr:           "127.0.0.1:2181",
		Label:          "server",
		Seed:           1,
		Duration:       5 * time.Second,
		Count:          1_000_000,
		SessionTimeout: 4 * time.Second,
		Keys:           10_000,
		Children:       1_000,
		Topics:         200,
		Partitions:     16,
		KafkaClients:   50,
		FanoutSessions: 100,
		FanoutZnodes:   100,
		FanoutRounds:   20,
		StormSessions:  200,
		LockContenders: 8,
		LatencyOps:     2_000,
	}
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("bench: address %q: %w", c.Addr, err)
	}
	if c.Duration <= 0 || c.Count <= 0 {
		return errors.New("bench: every run needs a positive duration and count")
	}
	if c.Warmup < 0 || c.Clients < 0 || c.InFlight < 0 || c.Rate < 0 {
		return errors.New("bench: warmup, clients, in-flight and rate must not be negative")
	}
	if c.InFlight > 1000 {
		return errors.New("bench: more than 1000 requests in flight per session exceeds globalOutstandingLimit")
	}
	for _, v := range []struct {
		name string
		n    int
	}{
		{"keys", c.Keys}, {"children", c.Children}, {"topics", c.Topics}, {"partitions", c.Partitions},
		{"kafka-clients", c.KafkaClients}, {"fanout-sessions", c.FanoutSessions},
		{"fanout-znodes", c.FanoutZnodes}, {"fanout-rounds", c.FanoutRounds},
		{"storm-sessions", c.StormSessions}, {"lock-contenders", c.LockContenders},
		{"latency-ops", c.LatencyOps},
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
