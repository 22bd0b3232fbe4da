package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"zkd/admin"
	"zkd/jute"
)

// Config is everything zkd needs to start, from flags and an optional zoo.cfg.
type Config struct {
	ClientAddr             string        // host:port of the client port
	DataDir                string        // dataDir
	DataLogDir             string        // dataLogDir (defaults to DataDir)
	TickTime               time.Duration // tickTime
	MinSessionTimeout      time.Duration // 0: 2 ticks
	MaxSessionTimeout      time.Duration // 0: 20 ticks
	MaxClientCnxns         int           // per client IP; 0 = unlimited
	ExtendedTypes          bool          // zookeeper.extendedTypesEnabled: TTL nodes
	FourLetterWords        []string      // 4lw.commands.whitelist
	SuperDigest            string        // zookeeper.DigestAuthenticationProvider.superDigest
	MaxBuffer              int           // jute.maxbuffer
	SkipACL                bool          // zookeeper.skipACL
	ReconfigEnabled        bool          // reconfigEnabled
	ContainerCheckInterval time.Duration // znode.container.checkIntervalMs
	ContainerMaxPerMinute  int           // znode.container.maxPerMinute
	SnapCount              int           // snapCount: entries between snapshots (randomised in [n/2, n))
	SnapSizeBytes          int64         // snapSizeLimitInKb in bytes: log bytes between snapshots
	SnapRetainCount        int           // autopurge.snapRetainCount (at least 3)
	PurgeInterval          time.Duration // autopurge.purgeInterval; 0 = never purge, as in ZooKeeper
	PreAllocSize           int64         // preAllocSize: log segment size in bytes
	ForceSync              bool          // forceSync: fdatasync the log (never turn off in production)
	LogLevel               slog.Level
	LogFormat              string // text or json

	// Operator surface (spec/ops.md §2, §5).
	Admin                   AdminSettings
	Metrics                 MetricsSettings
	FsyncWarningThreshold   time.Duration // fsync.warningthresholdms
	ClientPortListenBacklog int           // clientPortListenBacklog; -1: the OS default
	ReadOnlyMode            bool          // readonlymode.enabled: adds isro to the 4lw whitelist

	// Keys zkd parses and validates with ZooKeeper's defaults but does not act on:
	// zkd serves standalone, without TLS.
	Quorum                 QuorumSettings
	SecureClientPort       int    // secureClientPort; 0: none
	SecureClientPortAddr   string // secureClientPortAddress
	MaxCnxns               int    // maxCnxns; 0: unlimited
	GlobalOutstandingLimit int    // globalOutstandingLimit
	CommitLogCount         int    // commitLogCount
	TxnLogSizeLimitKB      int64  // txnLogSizeLimitInKb; -1: off
	DigestEnabled          bool   // digest.enabled
	SnapshotCompression    string // snapshot.compression.method: "", gz or snappy
	LocalSessions          bool   // localSessionsEnabled

	// ConfigFile and ConfigText are the configuration zkd was started from (the
	// AdminServer's initial_configuration); both empty without one.
	ConfigFile string
	ConfigText string
	// SystemProperties are what the AdminServer's system_properties lists: the -D
	// properties given, and the zoo.cfg keys ZooKeeper turns into zookeeper.<key>.
	SystemProperties map[string]string
	// PIDFile, when set, receives the process id while zkd runs (-pidfile, ZOOPIDFILE).
	PIDFile string
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
}

// MetricsSettings are the metricsProvider.* keys (spec/ops.md §5).
type MetricsSettings struct {
	ClassName string // metricsProvider.className; the Prometheus provider turns /metrics on
	Host      string // metricsProvider.httpHost
	Port      int    // metricsProvider.httpPort
}

// Enabled reports whether the Prometheus endpoint is on.
func (m MetricsSettings) Enabled() bool { return m.ClassName == admin.PrometheusProvider }

// QuorumSettings are the ensemble keys. zkd runs standalone: they are checked,
// reported and otherwise ignored.
type QuorumSettings struct {
	InitLimit, SyncLimit, ConnectToLearnerMasterLimit int
	ElectionAlg                                       int
	PeerType                                          string // participant or observer
	StandaloneEnabled                                 bool
	DynamicConfigFile                                 string
	Servers                                           []ServerSpec // server.N, from zoo.cfg or the dynamic file
	MyID                                              int64        // <dataDir>/myid (or ZOO_MY_ID); 0: none
}

// ServerSpec is one server.N line (spec/ops.md §4.2).
type ServerSpec struct {
	ID         int64
	Addresses  []string // host:quorumPort:electionPort, one per multiAddress alternative
	Observer   bool
	ClientAddr string // host:port of the ";..." part, "" without one
}

// Metrics provider classes ZooKeeper 3.8 ships.
const (
	defaultMetricsProvider = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"
	nullMetricsProvider    = "org.apache.zookeeper.metrics.impl.NullMetricsProvider"
)

// DefaultConfig is what `zkd` with no arguments runs: standalone on loopback, the
// AdminServer on 127.0.0.1:8080. A config file switches to ZooKeeper's all-interface
// defaults (LoadZooCfg).
func DefaultConfig() Config {
	return Config{
		ClientAddr:             "127.0.0.1:2181",
		DataDir:                "zkd-data",
		TickTime:               3000 * time.Millisecond,
		MaxClientCnxns:         60,
		FourLetterWords:        []string{"srvr"},
		MaxBuffer:              jute.DefaultMaxBuffer,
		ContainerCheckInterval: 60 * time.Second,
		ContainerMaxPerMinute:  10000,
		SnapCount:              100000,
		SnapSizeBytes:          4 << 30,
		SnapRetainCount:        3,
		PreAllocSize:           64 << 20,
		ForceSync:              true,
		LogLevel:               slog.LevelInfo,
		LogFormat:              "text",
		Admin: AdminSettings{Enabled: true, Address: "127.0.0.1", Port: 8080, CommandURL: "/commands",
			IdleTimeout: 30 * time.Second},
		Metrics:                 MetricsSettings{ClassName: defaultMetricsProvider, Host: "0.0.0.0", Port: 7000},
		FsyncWarningThreshold:   time.Second,
		ClientPortListenBacklog: -1,
		Quorum:                  QuorumSettings{ElectionAlg: 3, PeerType: "participant", StandaloneEnabled: true},
		GlobalOutstandingLimit:  1000,
		CommitLogCount:          500,
		TxnLogSizeLimitKB:       -1,
		DigestEnabled:           true,
	}
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.ClientAddr); err != nil {
		return fmt.Errorf("client address %q: %w", c.ClientAddr, err)
	}
	if c.TickTime <= 0 {
		return errors.New("tickTime must be positive")
	}
	if c.MinSessionTimeout > 0 && c.MaxSessionTimeout > 0 && c.MinSessionTimeout > c.MaxSessionTimeout {
		return errors.New("minSessionTimeout must not be larger than maxSessionTimeout")
	}
	if c.MaxBuffer <= 0 {
		return errors.New("jute.maxbuffer must be positive")
	}
	if c.DataDir == "" {
		return errors.New("dataDir is not set")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log format %q: want text or json", c.LogFormat)
	}
	if c.Admin.Port < 0 || c.Admin.Port > 65535 || c.Metrics.Port < 0 || c.Metrics.Port > 65535 {
		return errors.New("admin.serverPort and metricsProvider.httpPort must be ports (0-65535)")
	}
	return nil
}

// AdminAddr returns the AdminServer's host:port.
func (c *Config) AdminAddr() string {
	return net.JoinHostPort(c.Admin.Address, strconv.Itoa(c.Admin.Port))
}

// MetricsAddr returns the Prometheus endpoint's host:port.
func (c *Config) MetricsAddr() string {
	return net.JoinHostPort(c.Metrics.Host, strconv.Itoa(c.Metrics.Port))
}

// knownKeys are zoo.cfg keys ZooKeeper 3.8 understands that zkd accepts without
// checking or acting on them (spec/ops.md §4); anything else draws a warning, not
// an error.
var knownKeys = map[string]bool{
	"serverCnxnFactory": true, "audit.enable": true, "jute.maxbuffer.extrasize": true,
	"maxResponseCacheSize": true, "maxGetChildrenResponseCacheSize": true, "cnxTimeout": true,
	"authProvider.1": true, "sslQuorumReloadCertFiles": true, "quorum.cnxn.threads.size": true,
	"electionPortBindRetry": true, "initialConfig": true, "connection_throttle_enabled": true,
	"learnerMasterEndpoint": true,
}

// knownPrefixes are families of keys accepted as they are (TLS, quorum auth,
// metrics provider options, 3.9 admin options, extra auth providers).
var knownPrefixes = []string{"ssl.", "quorum.auth.", "metricsProvider.", "admin.", "authProvider.",
	"multiAddress.", "observer.", "learner.", "leader.", "zookeeper."}

// consumedKeys are the keys ZooKeeper's QuorumPeerConfig parses itself; every other
// zoo.cfg key becomes the system property zookeeper.<key> (spec/ops.md §4).
var consumedKeys = map[string]bool{
	"dataDir": true, "dataLogDir": true, "clientPort": true, "localSessionsEnabled": true,
	"localSessionsUpgradingEnabled": true, "clientPortAddress": true, "secureClientPort": true,
	"secureClientPortAddress": true, "observerMasterPort": true, "clientPortListenBacklog": true,
	"tickTime": true, "maxClientCnxns": true, "minSessionTimeout": true, "maxSessionTimeout": true,
	"initLimit": true, "syncLimit": true, "connectToLearnerMasterLimit": true, "electionAlg": true,
	"quorumListenOnAllIPs": true, "peerType": true, "syncEnabled": true, "dynamicConfigFile": true,
	"autopurge.snapRetainCount": true, "autopurge.purgeInterval": true, "standaloneEnabled": true,
	"reconfigEnabled": true, "sslQuorum": true, "portUnification": true, "sslQuorumReloadCertFiles": true,
	"client.portUnification": true, "multiAddress.enabled": true, "quorum.cnxn.threads.size": true,
}

func consumedKey(key string) bool {
	return consumedKeys[key] || strings.HasPrefix(key, "server.") || strings.HasPrefix(key, "group.") ||
		strings.HasPrefix(key, "weight.") || strings.HasPrefix(key, "metricsProvider.") ||
		strings.HasPrefix(key, "quorum.auth.") || strings.HasPrefix(key, "multiAddress.")
}

// LoadZooCfg applies a ZooKeeper configuration file on top of c. Invalid values are
// errors naming the file, line and key; unknown keys are logged and ignored.
func (c *Config) LoadZooCfg(path string, log *slog.Logger) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	c.ConfigFile = path
	return c.loadZooCfg(path, text, log)
}

// loadZooCfg applies the text of a zoo.cfg; name labels errors and warnings.
func (c *Config) loadZooCfg(name string, text []byte, log *slog.Logger) error {
	c.ConfigText = string(text)
	// A config file means ZooKeeper's defaults, not the loopback-only ones of a bare zkd.
	port, host := "2181", "0.0.0.0"
	portSet := false
	adminAddrSet := false
	err := forEachProperty(name, text, func(line int, key, value string) error {
		known, err := c.applyKey(key, value, &host, &port)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		switch key {
		case "clientPort":
			portSet = true
		case "admin.serverAddress", "zookeeper.admin.serverAddress":
			adminAddrSet = true
		}
		if strings.HasPrefix(key, "server.") {
			s, err := parseServerLine(key, value)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", name, line, err)
			}
			if c.Quorum.DynamicConfigFile == "" {
				c.Quorum.Servers = append(c.Quorum.Servers, s)
			}
			known = true
		}
		if (strings.HasPrefix(key, "group.") || strings.HasPrefix(key, "weight.")) && !validGroupOrWeight(key, value) {
			return fmt.Errorf("%s:%d: %s=%q: want %s", name, line, key, value, groupOrWeightForm(key))
		}
		if !consumedKey(key) {
			c.setProperty("zookeeper."+key, value)
		}
		if !known && !knownKeys[key] && !hasKnownPrefix(key) && !strings.HasPrefix(key, "group.") &&
			!strings.HasPrefix(key, "weight.") {
			log.Warn("unknown configuration key ignored", "file", name, "line", line, "key", key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !adminAddrSet {
		c.Admin.Address = "0.0.0.0" // ZooKeeper's default once a config file is used
	}
	if c.Quorum.DynamicConfigFile != "" {
		if err := c.loadDynamicConfig(c.Quorum.DynamicConfigFile, log); err != nil {
			return err
		}
	}
	c.readMyID()
	if !portSet {
		// ZooKeeper takes the client port from this server's server.N line
		// ("...;[host:]port") when clientPort is absent.
		if s, ok := c.ownServer(); ok && s.ClientAddr != "" {
			host, port, _ = net.SplitHostPort(s.ClientAddr)
		}
	}
	c.ClientAddr = net.JoinHostPort(host, port)
	if c.distributed() {
		log.Warn("zkd serves standalone: the ensemble described by the server.N lines is not formed",
			"file", name, "servers", len(c.Quorum.Servers), "standaloneEnabled", c.Quorum.StandaloneEnabled)
	}
	return nil
}

// forEachProperty calls fn for each key=value line of a Java properties text.
func forEachProperty(name string, text []byte, fn func(line int, key, value string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' || t[0] == '!' {
			continue
		}
		key, value, ok := cutProperty(t)
		if !ok {
			return fmt.Errorf("%s:%d: cannot parse %q as key=value", name, line, t)
		}
		if err := fn(line, key, value); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config: read %s: %w", name, err)
	}
	return nil
}

func hasKnownPrefix(key string) bool {
	for _, p := range knownPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// loadDynamicConfig reads the server.N, group.N and weight.N lines of a dynamic
// configuration file. Standalone zkd only checks them.
func (c *Config) loadDynamicConfig(path string, log *slog.Logger) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: dynamicConfigFile: %w", err)
	}
	c.Quorum.Servers = nil // the static file's server lines do not count once a dynamic file exists
	return forEachProperty(path, text, func(line int, key, value string) error {
		switch {
		case strings.HasPrefix(key, "server."):
			s, err := parseServerLine(key, value)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", path, line, err)
			}
			c.Quorum.Servers = append(c.Quorum.Servers, s)
		case strings.HasPrefix(key, "group.") || strings.HasPrefix(key, "weight."):
			if !validGroupOrWeight(key, value) {
				return fmt.Errorf("%s:%d: %s=%q: want %s", path, line, key, value, groupOrWeightForm(key))
			}
		case key == "version":
			if _, err := strconv.ParseUint(value, 16, 64); err != nil {
				return fmt.Errorf("%s:%d: version=%q: want a hex zxid", path, line, value)
			}
		default:
			log.Warn("key not allowed in a dynamic configuration file; ignored", "file", path, "line", line, "key", key)
		}
		return nil
	})
}

// readMyID reads <dataDir>/myid, as ZooKeeper does: the first line, in decimal.
// Standalone does not need it; a missing or bad file leaves MyID as it is.
func (c *Config) readMyID() {
	if c.Quorum.MyID != 0 {
		return
	}
	b, err := os.ReadFile(filepath.Join(c.DataDir, "myid"))
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if id, err := strconv.ParseInt(strings.TrimSuffix(first, "\r"), 10, 64); err == nil {
		c.Quorum.MyID = id
	}
}

// ownServer returns this server's server.N line: the one for myid, or the only one.
func (c *Config) ownServer() (ServerSpec, bool) {
	for _, s := range c.Quorum.Servers {
		if s.ID == c.Quorum.MyID {
			return s, true
		}
	}
	if len(c.Quorum.Servers) == 1 {
		return c.Quorum.Servers[0], true
	}
	return ServerSpec{}, false
}

// distributed reports whether ZooKeeper would form an ensemble from this
// configuration: more than one voter, or any server lines with standaloneEnabled=false.
func (c *Config) distributed() bool {
	voters := 0
	for _, s := range c.Quorum.Servers {
		if !s.Observer {
			voters++
		}
	}
	return voters > 1 || len(c.Quorum.Servers) > 0 && !c.Quorum.StandaloneEnabled
}

// parseServerLine parses server.<id>=<host>:<qport>:<eport>[:participant|:observer]
// [|<host>:<qport>:<eport>...][;[<clientHost>:]<clientPort>].
func parseServerLine(key, value string) (ServerSpec, error) {
	bad := func(why string) error { return fmt.Errorf("%s=%q: %s", key, value, why) }
	id, err := strconv.ParseInt(strings.TrimPrefix(key, "server."), 10, 64)
	if err != nil {
		return ServerSpec{}, bad("the server id must be a number")
	}
	s := ServerSpec{ID: id}
	addrs, client, hasClient := strings.Cut(value, ";")
	for _, a := range strings.Split(addrs, "|") {
		parts := splitHostPorts(strings.TrimSpace(a))
		if len(parts) < 3 || len(parts) > 4 {
			return ServerSpec{}, bad("want host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]")
		}
		for _, p := range parts[1:3] {
			if !validPort(p) {
				return ServerSpec{}, bad("port " + strconv.Quote(p) + " is not a port number")
			}
		}
		if parts[1] == parts[2] {
			return ServerSpec{}, bad("the quorum and election ports must differ")
		}
		if len(parts) == 4 {
			switch strings.ToLower(parts[3]) {
			case "observer":
				s.Observer = true
			case "participant":
			default:
				return ServerSpec{}, bad("unrecognised peer type " + strconv.Quote(parts[3]))
			}
		}
		s.Addresses = append(s.Addresses, net.JoinHostPort(parts[0], parts[1])+":"+parts[2])
	}
	if hasClient {
		parts := splitHostPorts(strings.TrimSpace(client))
		host, port := "0.0.0.0", ""
		switch len(parts) {
		case 1:
			port = parts[0]
		case 2:
			host, port = parts[0], parts[1]
		default:
			return ServerSpec{}, bad("the client part must be port or host:port")
		}
		if !validPort(port) {
			return ServerSpec{}, bad("client port " + strconv.Quote(port) + " is not a port number")
		}
		s.ClientAddr = net.JoinHostPort(host, port)
	}
	return s, nil
}

// splitHostPorts splits "host:a:b..." where host may be a bracketed IPv6 address.
func splitHostPorts(s string) []string {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return nil
		}
		host, rest := s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if rest == "" {
			return []string{host}
		}
		return append([]string{host}, strings.Split(rest, ":")...)
	}
	return strings.Split(s, ":")
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n <= 65535
}

func validGroupOrWeight(key, value string) bool {
	if strings.HasPrefix(key, "weight.") {
		_, err := strconv.ParseInt(value, 10, 64)
		return err == nil
	}
	for _, id := range strings.Split(value, ":") {
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			return false
		}
	}
	return true
}

func groupOrWeightForm(key string) string {
	if strings.HasPrefix(key, "weight.") {
		return "a number"
	}
	return "server ids joined by ':'"
}

// cutProperty splits a Java properties line: key=value, key:value or key value.
func cutProperty(line string) (key, value string, ok bool) {
	i := strings.IndexAny(line, "=: \t")
	if i <= 0 {
		return "", "", false
	}
	key = strings.TrimSpace(line[:i])
	value = strings.TrimSpace(line[i:])
	// As in java.util.Properties, whitespace around one separator is skipped.
	if value != "" && (value[0] == '=' || value[0] == ':') {
		value = strings.TrimSpace(value[1:])
	}
	return key, value, key != ""
}

func parseMillis(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a non-negative number of milliseconds")
	}
	return time.Duration(n) * time.Millisecond, nil
}

// parseInt accepts decimal and 0x-prefixed hex, as Java's Integer.decode does.
func parseInt(v string) (int, error) {
	n, err := strconv.ParseInt(v, 0, 64)
	return int(n), err
}

func parseBool(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }

// parseStrictBool is for the keys ZooKeeper rejects unless they say true or false.
func parseStrictBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("choose 'true' or 'false'")
}

func parseList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// applyKey applies one setting, from zoo.cfg or a -Dkey=value system property,
// and reports whether the key means something to zkd. host and port collect
// clientPortAddress and clientPort.
func (c *Config) applyKey(key, value string, host, port *string) (known bool, err error) {
	bad := func(err error) error { return fmt.Errorf("%s=%q: %w", key, value, err) }
	intIn := func(lo, hi int64) (int, error) {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < lo || n > hi {
			if hi == 1<<31-1 {
				return 0, bad(fmt.Errorf("want an integer of at least %d", lo))
			}
			return 0, bad(fmt.Errorf("want an integer in [%d, %d]", lo, hi))
		}
		return int(n), nil
	}
	const maxInt32 = 1<<31 - 1
	switch key {
	case "clientPort":
		if _, err := strconv.ParseUint(value, 10, 16); err != nil {
			return true, bad(err)
		}
		*port = value
	case "clientPortAddress":
		*host = value
	case "dataDir":
		c.DataDir = value
	case "dataLogDir":
		c.DataLogDir = value
	case "tickTime":
		d, err := parseMillis(value)
		if err != nil {
			return true, bad(err)
		}
		c.TickTime = d
	case "minSessionTimeout":
		d, err := parseMillis(value)
		if err != nil {
			return true, bad(err)
		}
		c.MinSessionTimeout = d
	case "maxSessionTimeout":
		d, err := parseMillis(value)
		if err != nil {
			return true, bad(err)
		}
		c.MaxSessionTimeout = d
	case "maxClientCnxns":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return true, bad(errors.New("want a non-negative integer"))
		}
		c.MaxClientCnxns = n
	case "extendedTypesEnabled", "zookeeper.extendedTypesEnabled":
		c.ExtendedTypes = parseBool(value)
	case "4lw.commands.whitelist", "zookeeper.4lw.commands.whitelist":
		c.FourLetterWords = parseList(value)
	case "reconfigEnabled":
		b, err := parseStrictBool(value)
		if err != nil {
			return true, bad(err)
		}
		c.ReconfigEnabled = b
	case "skipACL", "zookeeper.skipACL":
		c.SkipACL = value == "yes" || value == "true"
	case "jute.maxbuffer":
		n, err := parseInt(value)
		if err != nil || n <= 0 {
			return true, bad(errors.New("want a positive integer"))
		}
		c.MaxBuffer = n
	case "zookeeper.DigestAuthenticationProvider.superDigest", "DigestAuthenticationProvider.superDigest":
		c.SuperDigest = value
	case "znode.container.checkIntervalMs":
		d, err := parseMillis(value)
		if err != nil {
			return true, bad(err)
		}
		c.ContainerCheckInterval = d
	case "snapCount", "zookeeper.snapCount":
		n, err := strconv.Atoi(value)
		if err != nil || n < 2 {
			return true, bad(errors.New("want an integer of at least 2"))
		}
		c.SnapCount = n
	case "autopurge.snapRetainCount":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return true, bad(errors.New("want a non-negative integer"))
		}
		c.SnapRetainCount = max(n, 3) // ZooKeeper raises anything lower to 3
	case "autopurge.purgeInterval":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return true, bad(errors.New("want a non-negative number of hours"))
		}
		c.PurgeInterval = time.Duration(n) * time.Hour
	case "preAllocSize", "zookeeper.preAllocSize":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n <= 0 {
			return true, bad(errors.New("want a positive size in KiB"))
		}
		c.PreAllocSize = n * 1024
	case "forceSync", "zookeeper.forceSync":
		c.ForceSync = !strings.EqualFold(value, "no")
	case "znode.container.maxPerMinute":
		n, err := strconv.Atoi(value)
		if err != nil || n <= 0 {
			return true, bad(errors.New("want a positive integer"))
		}
		c.ContainerMaxPerMinute = n

	// The operator surface.
	case "admin.enableServer", "zookeeper.admin.enableServer":
		c.Admin.Enabled = value != "false" // ZooKeeper: only the exact string false disables
	case "admin.serverAddress", "zookeeper.admin.serverAddress":
		c.Admin.Address = value
	case "admin.serverPort", "zookeeper.admin.serverPort":
		n, err := intIn(0, 65535)
		if err != nil {
			return true, err
		}
		c.Admin.Port, c.Admin.PortSet = n, true
	case "admin.commandURL", "zookeeper.admin.commandURL":
		c.Admin.CommandURL = value
	case "admin.idleTimeout", "zookeeper.admin.idleTimeout":
		d, err := parseMillis(value)
		if err != nil {
			return true, bad(err)
		}
		c.Admin.IdleTimeout = d
	case "admin.portUnification", "admin.forceHttps", "admin.needClientAuth", "admin.snapshot.enabled",
		"admin.restore.enabled", "zookeeper.admin.portUnification", "zookeeper.admin.forceHttps":
		// HTTPS on the AdminServer is not offered; these are accepted for 3.8/3.9 configs.
	case "admin.rateLimiterIntervalInMS":
		if _, err := parseMillis(value); err != nil {
			return true, bad(err)
		}
	case "metricsProvider.className":
		switch value {
		case admin.PrometheusProvider, defaultMetricsProvider, nullMetricsProvider:
			c.Metrics.ClassName = value
		default:
			// ZooKeeper exits with "metrics provider class was not found".
			return true, bad(errors.New("metrics provider class was not found (zkd has " +
				admin.PrometheusProvider + " and the default provider)"))
		}
	case "metricsProvider.httpHost":
		c.Metrics.Host = value
	case "metricsProvider.httpPort":
		n, err := intIn(0, 65535)
		if err != nil {
			return true, err
		}
		c.Metrics.Port = n
	case "metricsProvider.exportJvmInfo":
		// zkd exports process_* and go_goroutines instead of the JVM's collectors.
	case "metricsProvider.numWorkerThreads", "metricsProvider.maxQueueSize", "metricsProvider.workerShutdownTimeoutMs":
		if _, err := intIn(0, maxInt32); err != nil {
			return true, err
		}
	case "fsync.warningthresholdms", "zookeeper.fsync.warningthresholdms":
		d, err := parseMillis(value)
		if err != nil {
			return true, bad(err)
		}
		c.FsyncWarningThreshold = d
	case "clientPortListenBacklog":
		n, err := intIn(-1, maxInt32)
		if err != nil {
			return true, err
		}
		c.ClientPortListenBacklog = n
	case "readonlymode.enabled":
		c.ReadOnlyMode = parseBool(value)

	// Checked with ZooKeeper's rules; zkd serves standalone without them.
	case "initLimit", "syncLimit", "connectToLearnerMasterLimit":
		n, err := intIn(0, maxInt32)
		if err != nil {
			return true, err
		}
		switch key {
		case "initLimit":
			c.Quorum.InitLimit = n
		case "syncLimit":
			c.Quorum.SyncLimit = n
		default:
			c.Quorum.ConnectToLearnerMasterLimit = n
		}
	case "electionAlg":
		if value != "3" {
			return true, bad(errors.New("invalid electionAlg value: only 3 is supported"))
		}
	case "peerType":
		switch strings.ToLower(value) {
		case "observer", "participant":
			c.Quorum.PeerType = strings.ToLower(value)
		default:
			return true, bad(errors.New("unrecognised peerType: want participant or observer"))
		}
	case "standaloneEnabled":
		b, err := parseStrictBool(value)
		if err != nil {
			return true, bad(err)
		}
		c.Quorum.StandaloneEnabled = b
	case "dynamicConfigFile":
		c.Quorum.DynamicConfigFile = value
	case "secureClientPort":
		n, err := intIn(0, 65535)
		if err != nil {
			return true, err
		}
		c.SecureClientPort = n
	case "secureClientPortAddress":
		c.SecureClientPortAddr = value
	case "observerMasterPort":
		if _, err := intIn(0, 65535); err != nil {
			return true, err
		}
	case "maxCnxns", "zookeeper.maxCnxns":
		n, err := intIn(0, maxInt32)
		if err != nil {
			return true, err
		}
		c.MaxCnxns = n
	case "globalOutstandingLimit", "zookeeper.globalOutstandingLimit":
		n, err := intIn(1, maxInt32)
		if err != nil {
			return true, err
		}
		c.GlobalOutstandingLimit = n
	case "commitLogCount", "zookeeper.commitLogCount":
		n, err := intIn(0, maxInt32)
		if err != nil {
			return true, err
		}
		c.CommitLogCount = n
	case "snapSizeLimitInKb", "zookeeper.snapSizeLimitInKb":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return true, bad(errors.New("want a size in KiB"))
		}
		c.SnapSizeBytes = max(n, 0) * 1024 // ZooKeeper: zero or negative disables it
	case "txnLogSizeLimitInKb", "zookeeper.txnLogSizeLimitInKb":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return true, bad(errors.New("want a number of KiB"))
		}
		c.TxnLogSizeLimitKB = n
	case "digest.enabled", "zookeeper.digest.enabled":
		c.DigestEnabled = parseBool(value)
	case "snapshot.compression.method", "zookeeper.snapshot.compression.method":
		switch value {
		case "", "gz", "snappy":
			c.SnapshotCompression = value
		default:
			return true, bad(errors.New("want gz, snappy or nothing"))
		}
	case "localSessionsEnabled":
		c.LocalSessions = parseBool(value)
	case "leaderServes", "zookeeper.leaderServes":
		if !strings.EqualFold(value, "yes") && !strings.EqualFold(value, "no") {
			return true, bad(errors.New("want yes or no"))
		}
	case "localSessionsUpgradingEnabled", "syncEnabled", "quorumListenOnAllIPs", "multiAddress.enabled",
		"sslQuorum", "portUnification", "client.portUnification", "enforceQuota", "zookeeper.enforceQuota",
		"serializeLastProcessedZxid.enabled", "multiAddress.reachabilityCheckEnabled":
		// Booleans as Java's Boolean.parseBoolean reads them: anything but "true" is false.
	case "multiAddress.reachabilityCheckTimeoutMs":
		if _, err := parseMillis(value); err != nil {
			return true, bad(err)
		}
	default:
		return false, nil
	}
	return true, nil
}

// setProperty records a system property for the AdminServer's system_properties.
func (c *Config) setProperty(key, value string) {
	if c.SystemProperties == nil {
		c.SystemProperties = make(map[string]string)
	}
	c.SystemProperties[key] = value
}

// ApplySystemProperties applies ZooKeeper settings given as JVM system properties
// (-Dkey=value), as deployments pass them in SERVER_JVMFLAGS, JVMFLAGS or on the
// command line. Properties zkd does not know (log4j, JMX, GC ...) are ignored.
func (c *Config) ApplySystemProperties(props []string) error {
	host, port, err := net.SplitHostPort(c.ClientAddr)
	if err != nil {
		host, port = "127.0.0.1", "2181"
	}
	for _, p := range props {
		key, value, ok := strings.Cut(strings.TrimPrefix(p, "-D"), "=")
		if !ok {
			continue
		}
		if _, err := c.applyKey(key, value, &host, &port); err != nil {
			return fmt.Errorf("system property %w", err)
		}
		c.setProperty(key, value)
	}
	c.ClientAddr = net.JoinHostPort(host, port)
	return nil
}

// systemProperties collects -Dkey=value arguments from the JVM flag variables of
// ZooKeeper's scripts and from args, returning the remaining args.
func systemProperties(args []string, getenv func(string) string) (props, rest []string) {
	for _, env := range []string{"JVMFLAGS", "SERVER_JVMFLAGS"} {
		for _, f := range strings.Fields(getenv(env)) {
			if strings.HasPrefix(f, "-D") {
				props = append(props, f)
			}
		}
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-D") && strings.Contains(a, "=") {
			props = append(props, a)
			continue
		}
		rest = append(rest, a)
	}
	return props, rest
}
