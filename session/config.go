package session

import (
	"errors"
	"log/slog"
	"time"
)

// Config configures a Server.
type Config struct {
	// ServerID is myid (0 standalone); it occupies the top byte of session ids.
	ServerID int64
	// TickTime is ZooKeeper's tickTime: the unit of session timeouts and expiry checks.
	TickTime time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound negotiated timeouts; zero means
	// 2 and 20 ticks.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// MaxClientCnxns limits concurrent connections from one IP address (0: no limit).
	MaxClientCnxns int
	// SuperDigest is zookeeper.DigestAuthenticationProvider.superDigest, "super:<hash>".
	SuperDigest string
	// FourLetterWords is the 4lw.commands.whitelist; "*" enables all. srvr is always on.
	FourLetterWords []string
	// MaxOutstanding bounds a connection's unanswered requests; past it the
	// connection stops reading until replies drain.
	MaxOutstanding int
	// GlobalOutstandingLimit is globalOutstandingLimit: while more requests than
	// this are unanswered over all connections, a connection with requests of its
	// own in flight stops reading (see limits.go). 0: no global limit.
	GlobalOutstandingLimit int
	// Auth holds the authentication providers and what is enforced (auth.go).
	Auth AuthConfig
	// Audit, when set, is the audit log the writes of this server's clients go
	// to (zookeeper.audit.enable; audit.go).
	Audit *AuditLog
	// MaxOutputBytes bounds a connection's queued output; a client that lets more
	// pile up is disconnected (a slow reader must not hold unbounded memory).
	MaxOutputBytes int
	// ContainerCheckInterval is znode.container.checkIntervalMs; ContainerMaxPerMinute
	// is znode.container.maxPerMinute.
	ContainerCheckInterval time.Duration
	ContainerMaxPerMinute  int
	// ReconfigEnabled is reconfigEnabled: reconfig gets RECONFIGDISABLED when
	// off; when on, a standalone server answers UNIMPLEMENTED and an ensemble
	// member passes it to the leader like any write.
	ReconfigEnabled bool
	// LocalSessions is localSessionsEnabled: a new session is kept by the server
	// its client connects to, with nothing replicated until it creates an
	// ephemeral node. LocalSessionsUpgrading is localSessionsUpgradingEnabled: a
	// local session that creates an ephemeral becomes global first, instead of
	// being refused EPHEMERALONLOCALSESSION.
	LocalSessions          bool
	LocalSessionsUpgrading bool
	// ConnThrottle is ZooKeeper's connection throttle (connthrottle.go); its
	// zero value throttles nothing.
	ConnThrottle ConnThrottleConfig
	// EnforceQuota is zookeeper.enforceQuota: writes past a hard quota limit are
	// refused QUOTAEXCEEDED (the setting travels in each write's entry).
	EnforceQuota bool
	// Version and BuildTime appear in srvr as "3.8.6-zkd-<Version>, built on ...".
	Version   string
	BuildTime time.Time
	// ClientAddr is the client port address, reported by four-letter words.
	ClientAddr string
	Logger     *slog.Logger
}

// DefaultConfig returns ZooKeeper's defaults.
func DefaultConfig() Config {
	return Config{
		TickTime:               3000 * time.Millisecond,
		MaxClientCnxns:         60,
		MaxOutstanding:         1000,
		MaxOutputBytes:         64 << 20,
		ContainerCheckInterval: 60 * time.Second,
		ContainerMaxPerMinute:  10000,
		FourLetterWords:        []string{"srvr"},
		Version:                "dev",
	}
}

// Validate fills derived defaults and reports configuration errors.
func (c *Config) Validate() error {
	if c.TickTime <= 0 {
		return errors.New("session: tickTime must be positive")
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 2 * c.TickTime
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 20 * c.TickTime
	}
	if c.MinSessionTimeout > c.MaxSessionTimeout {
		return errors.New("session: minSessionTimeout must not exceed maxSessionTimeout")
	}
	if c.MaxOutstanding <= 0 {
		c.MaxOutstanding = 1000
	}
	if c.MaxOutputBytes <= 0 {
		c.MaxOutputBytes = 64 << 20
	}
	if c.ContainerCheckInterval <= 0 {
		c.ContainerCheckInterval = 60 * time.Second
	}
	if c.ContainerMaxPerMinute <= 0 {
		c.ContainerMaxPerMinute = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c.Auth.Validate()
}

// negotiateTimeout clamps a requested timeout into [min, max] (ms).
func (c *Config) negotiateTimeout(requested int32) int32 {
	lo, hi := int32(c.MinSessionTimeout.Milliseconds()), int32(c.MaxSessionTimeout.Milliseconds())
	return max(lo, min(requested, hi))
}

// FullVersion is the version string clients see in srvr and envi. It keeps
// ZooKeeper's 3.8 major.minor so clients pick the right features.
func (c *Config) FullVersion() string { return "3.8.6-zkd-" + c.Version }
