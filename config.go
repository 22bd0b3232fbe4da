package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

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
}

// DefaultConfig is what `zkd` with no arguments runs: standalone on loopback.
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
	return nil
}

// knownKeys are zoo.cfg keys ZooKeeper 3.8 understands that zkd accepts without
// acting on them yet (spec/ops.md §4); anything else draws a warning, not an error.
var knownKeys = map[string]bool{
	"initLimit": true, "syncLimit": true,
	"admin.enableServer": true, "admin.serverPort": true, "admin.serverAddress": true,
	"metricsProvider.className": true, "metricsProvider.httpPort": true, "metricsProvider.httpHost": true,
	"metricsProvider.exportJvmInfo": true, "secureClientPort": true, "secureClientPortAddress": true,
	"standaloneEnabled": true, "dynamicConfigFile": true,
	"globalOutstandingLimit": true, "syncEnabled": true, "electionAlg": true, "quorumListenOnAllIPs": true,
	"localSessionsEnabled": true, "localSessionsUpgradingEnabled": true, "peerType": true,
	"clientPortListenBacklog": true, "connectToLearnerMasterLimit": true, "forceSync": true,
	"fsync.warningthresholdms": true, "serverCnxnFactory": true, "audit.enable": true,
	"jute.maxbuffer.extrasize": true, "txnLogSizeLimitInKb": true,
	"maxResponseCacheSize": true, "maxGetChildrenResponseCacheSize": true, "cnxTimeout": true,
	"multiAddress.enabled": true, "sslQuorum": true, "portUnification": true, "authProvider.1": true,
}

// LoadZooCfg applies a ZooKeeper configuration file on top of c. Invalid values are
// errors naming the file, line and key; unknown keys are logged and ignored.
func (c *Config) LoadZooCfg(path string, log *slog.Logger) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	// A config file means ZooKeeper's defaults, not the loopback-only ones of a bare zkd.
	port, host := "2181", "0.0.0.0"
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || text[0] == '!' {
			continue
		}
		key, value, ok := cutProperty(text)
		if !ok {
			return fmt.Errorf("%s:%d: cannot parse %q as key=value", path, line, text)
		}
		known, err := c.applyKey(key, value, &host, &port)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if !known && !knownKeys[key] && !strings.HasPrefix(key, "server.") && !strings.HasPrefix(key, "group.") &&
			!strings.HasPrefix(key, "weight.") && !strings.HasPrefix(key, "ssl.") {
			log.Warn("unknown configuration key ignored", "file", path, "line", line, "key", key)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config: read %s: %w", path, err)
	}
	c.ClientAddr = net.JoinHostPort(host, port)
	return nil
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
		c.ReconfigEnabled = parseBool(value)
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
	case "snapSizeLimitInKb", "zookeeper.snapSizeLimitInKb":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return true, bad(errors.New("want a size in KiB"))
		}
		c.SnapSizeBytes = max(n, 0) * 1024 // ZooKeeper: zero or negative disables it
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
	default:
		return false, nil
	}
	return true, nil
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
