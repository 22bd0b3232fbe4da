package zoocfg

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// Config is everything one zkd server is configured with: the keys of spec/ops.md
// §2, §4 and §5 and zkd's own settings (logging, pid file). Zero values are not
// defaults: start from Default (a bare zkd) or Load/Parse (a config file), adjust
// fields, then call Validate.
type Config struct {
	// ClientAddr is the plain client port as host:port (clientPortAddress:clientPort,
	// or this server's server.N client part); "" means no plain client port, as a
	// config file without clientPort gives (HasClientPort).
	ClientAddr        string
	DataDir           string        // dataDir; required in a config file
	DataLogDir        string        // dataLogDir; "" means DataDir (TxnLogDir)
	TickTime          time.Duration // tickTime
	MinSessionTimeout time.Duration // minSessionTimeout; 0 means 2 ticks (SessionTimeouts)
	MaxSessionTimeout time.Duration // maxSessionTimeout; 0 means 20 ticks
	MaxClientCnxns    int           // maxClientCnxns: per client IP; 0 = unlimited
	ExtendedTypes     bool          // zookeeper.extendedTypesEnabled: TTL nodes
	FourLetterWords   []string      // 4lw.commands.whitelist; "*" for all
	SuperDigest       string        // zookeeper.DigestAuthenticationProvider.superDigest
	MaxBuffer         int           // jute.maxbuffer: largest frame accepted, bytes
	SkipACL           bool          // zookeeper.skipACL
	ReconfigEnabled   bool          // reconfigEnabled

	ContainerCheckInterval time.Duration // znode.container.checkIntervalMs
	ContainerMaxPerMinute  int           // znode.container.maxPerMinute
	ContainerMaxNeverUsed  time.Duration // znode.container.maxNeverUsedIntervalMs; 0 = no limit

	SnapCount       int           // snapCount: entries between snapshots (randomised in [n/2, n))
	SnapSizeBytes   int64         // snapSizeLimitInKb in bytes; 0 = no size trigger
	SnapRetainCount int           // autopurge.snapRetainCount; at least 3
	PurgeInterval   time.Duration // autopurge.purgeInterval; 0 = never purge
	PreAllocSize    int64         // preAllocSize in bytes: log segment size
	ForceSync       bool          // forceSync: fdatasync the log (never off in production)

	// Operator surface (spec/ops.md §2, §5).
	Admin                   AdminSettings
	Metrics                 MetricsSettings
	FsyncWarningThreshold   time.Duration // fsync.warningthresholdms
	ClientPortListenBacklog int           // clientPortListenBacklog; -1: the OS default
	ReadOnlyMode            bool          // readonlymode.enabled: adds isro to the 4lw whitelist

	// Ensemble keys (spec/ops.md §4.1-§4.3).
	Quorum QuorumSettings

	// The TLS client port and the server-wide limit on requests in flight.
	SecureClientPort       int    // secureClientPort; 0: none
	SecureClientPortAddr   string // secureClientPortAddress; "": every address
	GlobalOutstandingLimit int    // globalOutstandingLimit

	// Keys read and checked with ZooKeeper's rules that zkd does not act on yet
	// (no per-factory connection limit, ...).
	MaxCnxns               int  // maxCnxns; 0: unlimited
	AuditEnable            bool // audit.enable (zookeeper.audit.enable): write the audit log
	PauseMonitor           PauseMonitorSettings
	ConnThrottle           ConnThrottleSettings
	CommitLogCount         int    // commitLogCount
	TxnLogSizeLimitKB      int64  // txnLogSizeLimitInKb; -1: off
	DigestEnabled          bool   // digest.enabled
	SnapshotCompression    string // snapshot.compression.method: "", gz or snappy
	LocalSessions          bool   // localSessionsEnabled
	LocalSessionsUpgrading bool   // localSessionsUpgradingEnabled
	EnforceQuota           bool   // enforceQuota
	SerializeLastZxid      bool   // serializeLastProcessedZxid.enabled (3.9)
	ServerCnxnFactory      string // serverCnxnFactory; "" = NIO
	ClientPortUnification  bool   // client.portUnification

	// zkd's own settings (flags, not zoo.cfg keys).
	LogLevel  slog.Level
	LogFormat string // text or json
	PIDFile   string // receives the process id while zkd runs (-pidfile, ZOOPIDFILE)

	// ConfigFile and ConfigText are the configuration file zkd was started from
	// (the AdminServer's initial_configuration); both empty without one, and
	// ConfigFile empty for a configuration generated from ZOO_* variables.
	ConfigFile string
	ConfigText string
	// SystemProperties are what the AdminServer's system_properties lists: the -D
	// properties given, and the zoo.cfg keys ZooKeeper turns into zookeeper.<key>.
	SystemProperties map[string]string
	// Warnings are what loading accepted but an operator should hear about (unknown
	// keys, a peerType the server list overrides, ...); the caller logs them.
	Warnings []Warning

	// origins maps a key to the "file:line" it was read from, so that Validate can
	// name where a setting came from. Read-only once loading returns.
	origins map[string]string
}

// AdminSettings are the admin.* keys (spec/ops.md §2).
type AdminSettings struct {
	Enabled bool   // admin.enableServer: only the string "false" turns it off
	Address string // admin.serverAddress
	Port    int    // admin.serverPort
	// PortSet records that the port was configured explicitly: then failing to bind
	// it is an error. The default port taken by something else is only a warning,
	// so that a bare zkd starts on any machine.
	PortSet     bool
	CommandURL  string        // admin.commandURL
	IdleTimeout time.Duration // admin.idleTimeout

	// HTTPS and the 3.9 restore command: accepted for 3.8/3.9 configs.
	PortUnification bool // admin.portUnification
	ForceHTTPS      bool // admin.forceHttps
	NeedClientAuth  bool // admin.needClientAuth
	RestoreEnabled  bool // admin.restore.enabled
	// The 3.9 snapshot command, which zkd serves (admin/snapshot.go): off unless
	// admin.snapshot.enabled, at most one per admin.rateLimiterIntervalInMS.
	SnapshotEnabled     bool          // admin.snapshot.enabled; zkd's default is false
	RateLimiterInterval time.Duration // admin.rateLimiterIntervalInMS
}

// MetricsSettings are the metricsProvider.* keys (spec/ops.md §5).
type MetricsSettings struct {
	ClassName string // metricsProvider.className; the Prometheus provider turns /metrics on
	Host      string // metricsProvider.httpHost
	Port      int    // metricsProvider.httpPort
}

// Metrics provider classes ZooKeeper 3.8 ships; any other className is refused,
// as ZooKeeper refuses a class it cannot load.
const (
	DefaultMetricsProvider    = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"
	NullMetricsProvider       = "org.apache.zookeeper.metrics.impl.NullMetricsProvider"
	PrometheusMetricsProvider = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
)

// Enabled reports whether the Prometheus endpoint is on.
func (m MetricsSettings) Enabled() bool { return m.ClassName == PrometheusMetricsProvider }

// QuorumSettings are the ensemble keys.
type QuorumSettings struct {
	InitLimit                   int // initLimit, ticks; required for an ensemble
	SyncLimit                   int // syncLimit, ticks; required for an ensemble
	ConnectToLearnerMasterLimit int // connectToLearnerMasterLimit, ticks; 0 means InitLimit
	ElectionAlg                 int // electionAlg; only 3
	// PeerType is this server's role: the peerType key, overridden by this server's
	// own server.N line when myid names one (ZooKeeper's setupPeerType).
	PeerType          PeerType
	StandaloneEnabled bool   // standaloneEnabled
	DynamicConfigFile string // dynamicConfigFile; when set, server.N lines come from it
	// Membership holds the server.N lines (from zoo.cfg or the dynamic file) and the
	// configuration version (the dynamic file's name, or a static version key).
	Membership Membership
	// Groups and Weights are the hierarchical quorum keys group.N (member ids) and
	// weight.N, kept as read.
	Groups  map[int64][]int64
	Weights map[int64]int64
	// MyID is this server's id: <dataDir>/myid (or the Docker image's ZOO_MY_ID when
	// that file is missing); NoMyID when there is none. Standalone needs none.
	MyID                  int64
	SyncEnabled           bool // syncEnabled: observers log and snapshot
	QuorumListenOnAllIPs  bool // quorumListenOnAllIPs
	ObserverMasterPort    int  // observerMasterPort; 0: followers do not serve observers
	ElectionPortBindRetry int  // zookeeper.electionPortBindRetry; 0 = retry forever
	LeaderServes          bool // leaderServes: false = the leader refuses clients
	MultiAddress          MultiAddressSettings
	SSLQuorum             bool // sslQuorum
	PortUnification       bool // portUnification: plaintext and TLS on the quorum port
	SSLQuorumReloadCerts  bool // sslQuorumReloadCertFiles
	Auth                  QuorumAuthSettings
	CnxnThreads           int // quorum.cnxn.threads.size
	// ConnectTimeout is cnxTimeout (zookeeper.cnxTimeout): how long a connect
	// to another member's quorum port may take; 0: no limit of its own (the
	// kernel's SYN retries end it).
	ConnectTimeout time.Duration
}

// NoMyID is QuorumSettings.MyID when no myid is known.
const NoMyID = -1

// ConnThrottleSettings are the connection_throttle_* keys (ZooKeeper's
// zookeeper.connection_throttle_* properties, its BlueThrottle).
type ConnThrottleSettings struct {
	Tokens       int // connection_throttle_tokens: the bucket's size; 0: no throttle
	FillTimeMs   int // connection_throttle_fill_time
	FillCount    int // connection_throttle_fill_count: tokens back every FillTimeMs
	FreezeTimeMs int // connection_throttle_freeze_time; -1: no random dropping
	// connection_throttle_drop_increase, _drop_decrease, _decrease_ratio
	DropIncrease, DropDecrease, DecreaseRatio float64
	Weighted                                  bool // connection_throttle_weight_enabled
	// connection_throttle_global_session_weight, _local_, _renew_ (as ZooKeeper
	// corrects them: see finishConnThrottle)
	GlobalWeight, LocalWeight, RenewWeight int
}

// PauseMonitorSettings are the jvm.pause.* keys: ZooKeeper's pause monitor.
type PauseMonitorSettings struct {
	Enabled       bool          // jvm.pause.monitor
	Sleep         time.Duration // jvm.pause.sleep.time.ms: each measured sleep
	InfoThreshold time.Duration // jvm.pause.info-threshold.ms: a longer overshoot is logged at info
	WarnThreshold time.Duration // jvm.pause.warn-threshold.ms: a longer one at warn
}

// MultiAddressSettings are the multiAddress.* keys.
type MultiAddressSettings struct {
	Enabled                  bool          // multiAddress.enabled: allows '|' in server.N lines
	ReachabilityCheckEnabled bool          // multiAddress.reachabilityCheckEnabled
	ReachabilityCheckTimeout time.Duration // multiAddress.reachabilityCheckTimeoutMs
}

// QuorumAuthSettings are the quorum SASL switches (quorum.auth.*).
type QuorumAuthSettings struct {
	EnableSasl         bool   // quorum.auth.enableSasl
	ServerRequireSasl  bool   // quorum.auth.serverRequireSasl
	LearnerRequireSasl bool   // quorum.auth.learnerRequireSasl
	LearnerLoginCtx    string // quorum.auth.learner.saslLoginContext
	ServerLoginCtx     string // quorum.auth.server.saslLoginContext
	ServicePrincipal   string // quorum.auth.kerberos.servicePrincipal
}

// Sentinel errors of loading and Validate; they come wrapped with the file, line
// or key concerned.
var (
	// ErrNoDataDir is returned when a config file does not set dataDir (ZooKeeper
	// refuses to start without it), or Validate finds DataDir empty.
	ErrNoDataDir = errors.New("zoocfg: dataDir is not set")
	// ErrNoMyID is returned by Self, and by Validate for an ensemble, when there is
	// no myid (ZooKeeper: "myid file is missing").
	ErrNoMyID = errors.New("zoocfg: myid file is missing")
	// ErrNotMember is returned by Self, and by Validate for an ensemble, when myid
	// names none of the server.N lines (ZooKeeper: "My id N not in the peer list").
	ErrNotMember = errors.New("zoocfg: myid is not in the server list")
)

// Default is what `zkd` with no arguments runs: a standalone development server on
// loopback, data under the working directory. Everything else is ZooKeeper's
// default, from the key table (keys.go); a config file starts from those alone
// (Parse), where the client port must be configured and dataDir is required.
func Default() Config {
	c := zooKeeperDefaults()
	c.ClientAddr = "127.0.0.1:2181"
	c.DataDir = "zkd-data"
	c.Admin.Address = "127.0.0.1"
	return c
}

// zooKeeperDefaults returns ZooKeeper 3.8's defaults: every key of the table at
// its def, and no client port or dataDir.
func zooKeeperDefaults() Config {
	c := Config{LogLevel: slog.LevelInfo, LogFormat: "text"}
	c.Quorum.MyID = NoMyID
	p := parser{Config: &c, defaulting: true}
	for i := range keys {
		k := &keys[i]
		if k.def == "" || k.apply == nil {
			continue
		}
		if err := k.apply(&p, k.def); err != nil {
			panic(fmt.Sprintf("zoocfg: default of %s: %v", k.displayName(), err))
		}
	}
	return c
}

// HasClientPort reports whether the server listens on a plain client port.
func (c *Config) HasClientPort() bool { return c.ClientAddr != "" }

// TxnLogDir returns the directory of the transaction log: dataLogDir, or dataDir
// when it is not set.
func (c *Config) TxnLogDir() string {
	if c.DataLogDir != "" {
		return c.DataLogDir
	}
	return c.DataDir
}

// SessionTimeouts returns the effective session timeout bounds: the configured
// ones, or 2 and 20 ticks.
func (c *Config) SessionTimeouts() (lo, hi time.Duration) {
	lo, hi = c.MinSessionTimeout, c.MaxSessionTimeout
	if lo <= 0 {
		lo = 2 * c.TickTime
	}
	if hi <= 0 {
		hi = 20 * c.TickTime
	}
	return lo, hi
}

// AdminAddr returns the AdminServer's host:port.
func (c *Config) AdminAddr() string {
	return net.JoinHostPort(c.Admin.Address, strconv.Itoa(c.Admin.Port))
}

// MetricsAddr returns the Prometheus endpoint's host:port.
func (c *Config) MetricsAddr() string {
	return net.JoinHostPort(c.Metrics.Host, strconv.Itoa(c.Metrics.Port))
}

// Ensemble reports whether the configuration describes an ensemble rather than a
// standalone server, by ZooKeeper's rule (QuorumPeerConfig.isDistributed): more
// than one participant, or standaloneEnabled=false.
func (c *Config) Ensemble() bool {
	participants, _ := c.Quorum.Membership.Counts()
	return participants > 1 || !c.Quorum.StandaloneEnabled
}

// Self returns this server's own server.N entry, the one myid names. It returns
// ErrNoMyID without a myid and ErrNotMember when myid is not among the servers.
func (c *Config) Self() (Server, error) {
	if c.Quorum.MyID < 0 {
		return Server{}, ErrNoMyID
	}
	s, ok := c.Quorum.Membership.Lookup(c.Quorum.MyID)
	if !ok {
		return Server{}, fmt.Errorf("%w: myid %d, servers %v", ErrNotMember, c.Quorum.MyID, c.serverIDs())
	}
	return s, nil
}

func (c *Config) serverIDs() []int64 {
	ids := make([]int64, len(c.Quorum.Membership.Servers))
	for i, s := range c.Quorum.Membership.Servers {
		ids[i] = s.ID
	}
	return ids
}

// Validate reports an unusable configuration: the checks that span keys, and
// ZooKeeper's refusals that only the whole configuration can decide. Errors name
// the file and line of the key concerned when it came from one.
func (c *Config) Validate() error {
	if c.ClientAddr != "" {
		if _, _, err := net.SplitHostPort(c.ClientAddr); err != nil {
			return fmt.Errorf("client address %q: %w", c.ClientAddr, err)
		}
	}
	if c.TickTime <= 0 {
		return c.errorf("tickTime", "tickTime must be positive")
	}
	if lo, hi := c.SessionTimeouts(); lo > hi {
		return c.errorf("minSessionTimeout", "minSessionTimeout (%v) must not be larger than maxSessionTimeout (%v)", lo, hi)
	}
	if c.MaxBuffer <= 0 {
		return c.errorf("jute.maxbuffer", "jute.maxbuffer must be positive")
	}
	if c.DataDir == "" {
		return ErrNoDataDir
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log format %q: want text or json", c.LogFormat)
	}
	if c.Admin.Port < 0 || c.Admin.Port > 65535 || c.Metrics.Port < 0 || c.Metrics.Port > 65535 {
		return errors.New("admin.serverPort and metricsProvider.httpPort must be ports (0-65535)")
	}
	if c.SecureClientPortAddr != "" && c.SecureClientPort == 0 {
		return c.errorf("secureClientPortAddress", "secureClientPortAddress is set but secureClientPort is not set")
	}
	a := c.Quorum.Auth
	switch {
	case a.ServerRequireSasl && !a.EnableSasl:
		return c.errorf("quorum.auth.serverRequireSasl", "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl")
	case a.LearnerRequireSasl && !a.EnableSasl:
		return c.errorf("quorum.auth.learnerRequireSasl", "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.learnerRequireSasl")
	case a.ServerRequireSasl && !a.LearnerRequireSasl:
		return c.errorf("quorum.auth.serverRequireSasl", "quorum.auth.learnerRequireSasl is disabled, so cannot enable quorum.auth.serverRequireSasl")
	}
	return c.validateQuorum()
}

// validateQuorum applies ZooKeeper's rules for server lists
// (QuorumPeerConfig.parseDynamicConfig and checkValidity).
func (c *Config) validateQuorum() error {
	q := &c.Quorum
	for _, s := range q.Membership.Servers {
		if len(s.Addrs) > 1 && !q.MultiAddress.Enabled {
			return c.errorf(fmt.Sprintf("server.%d", s.ID),
				"server.%d has %d addresses but multiAddress.enabled is false", s.ID, len(s.Addrs))
		}
	}
	participants, observers := q.Membership.Counts()
	switch {
	case participants == 0 && !q.StandaloneEnabled:
		return c.errorf("standaloneEnabled", "standaloneEnabled=false needs at least one participant server.N line")
	case participants == 0 && observers > 0:
		return c.errorf("server.", "observers without participants is an invalid configuration")
	case participants == 1 && q.StandaloneEnabled && observers > 0:
		return c.errorf("server.", "observers without a quorum is an invalid configuration (one participant, standaloneEnabled=true)")
	}
	if !c.Ensemble() {
		return nil
	}
	if q.InitLimit <= 0 {
		return c.errorf("initLimit", "initLimit is not set (an ensemble needs it)")
	}
	if q.SyncLimit <= 0 {
		return c.errorf("syncLimit", "syncLimit is not set (an ensemble needs it)")
	}
	if _, err := c.Self(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(c.DataDir, "myid"), err)
	}
	if c.ExtendedTypes && q.MyID > 254 {
		return fmt.Errorf("myid %d: must be at most 254 when extendedTypesEnabled is set", q.MyID)
	}
	return nil
}

// errorf returns an error about key, prefixed with the file and line it was read
// from when known. A key ending in '.' stands for its family (server.).
func (c *Config) errorf(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if where, ok := c.origins[key]; ok {
		return fmt.Errorf("%s: %s", where, msg)
	}
	if c.ConfigFile != "" {
		return fmt.Errorf("%s: %s", c.ConfigFile, msg)
	}
	return errors.New(msg)
}
