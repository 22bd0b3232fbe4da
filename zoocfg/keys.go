package zoocfg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// key is one configuration key: how zoo.cfg and -D name it, ZooKeeper's default,
// and how a value lands in the Config.
//
// Reference: QuorumPeerConfig.parseProperties (3.8): the keys it reads itself are
// "consumed" and are not system properties; every other zoo.cfg key becomes the
// system property zookeeper.<key>, which is where ZooKeeper's code reads it.
type key struct {
	// name is the zoo.cfg key; "" for a JVM-only property. For a family (server.N,
	// authProvider.N, ...) it is the prefix, ending in '.'.
	name string
	// property is the system property ZooKeeper reads: "zookeeper."+name for the
	// keys ZooKeeper does not consume, something else for JVM-only settings, ""
	// when only zoo.cfg sets it.
	property string
	// consumed marks a key QuorumPeerConfig reads from zoo.cfg itself although a
	// property of the name zookeeper.<name> exists too (multiAddress.*): the zoo.cfg
	// form then does not become that property.
	consumed bool
	family   bool
	// def is ZooKeeper's default in the key's own syntax, applied by Default; ""
	// when there is none (or it is derived from another key).
	def string
	// apply parses v into p's Config; nil accepts any value and keeps nothing.
	apply func(p *parser, v string) error
}

// displayName is the name errors and warnings use.
func (k *key) displayName() string {
	if k.name != "" {
		return k.name
	}
	return k.property
}

// fromZooCfg reports whether ZooKeeper turns the zoo.cfg key fileKey, which
// matched k, into the system property zookeeper.<fileKey>.
func (k *key) fromZooCfg(fileKey string) (becomesProperty bool) {
	switch {
	case k.family:
		return k.property != ""
	case fileKey == k.name:
		return !k.consumed && k.property == "zookeeper."+k.name
	default:
		// Matched by its property name (zookeeper.snapCount=, jute.maxbuffer=):
		// zkd applies it, ZooKeeper would file it under zookeeper.<fileKey>.
		return true
	}
}

// keys is the table of every key of spec/ops.md §2, §4 and §5, in its order.
// Adding a key here is all it takes: Default applies def, zoo.cfg and -D find it
// by name and property.
var keys = []key{
	// Core keys (spec/ops.md §4.1).
	{name: "tickTime", def: "3000", apply: func(p *parser, v string) (err error) {
		p.TickTime, err = millis(v)
		return err
	}},
	{name: "initLimit", apply: func(p *parser, v string) (err error) {
		p.Quorum.InitLimit, err = intIn(v, 0, maxInt32)
		return err
	}},
	{name: "syncLimit", apply: func(p *parser, v string) (err error) {
		p.Quorum.SyncLimit, err = intIn(v, 0, maxInt32)
		return err
	}},
	{name: "connectToLearnerMasterLimit", apply: func(p *parser, v string) (err error) {
		p.Quorum.ConnectToLearnerMasterLimit, err = intIn(v, 0, maxInt32)
		return err
	}},
	{name: "dataDir", apply: func(p *parser, v string) error { p.DataDir = v; return nil }},
	{name: "dataLogDir", apply: func(p *parser, v string) error { p.DataLogDir = v; return nil }},
	{name: "clientPort", apply: func(p *parser, v string) (err error) {
		p.clientPort, err = intIn(v, 0, 65535)
		return err
	}},
	{name: "clientPortAddress", apply: func(p *parser, v string) error { p.clientPortAddress = v; return nil }},
	{name: "secureClientPort", apply: func(p *parser, v string) (err error) {
		p.SecureClientPort, err = intIn(v, 0, 65535)
		return err
	}},
	{name: "secureClientPortAddress", apply: func(p *parser, v string) error { p.SecureClientPortAddr = v; return nil }},
	{name: "clientPortListenBacklog", def: "-1", apply: func(p *parser, v string) (err error) {
		p.ClientPortListenBacklog, err = intIn(v, -1, maxInt32)
		return err
	}},
	{name: "maxClientCnxns", def: "60", apply: func(p *parser, v string) (err error) {
		p.MaxClientCnxns, err = intIn(v, 0, maxInt32)
		return err
	}},
	{name: "maxCnxns", property: "zookeeper.maxCnxns", def: "0", apply: func(p *parser, v string) (err error) {
		p.MaxCnxns, err = intIn(v, 0, maxInt32)
		return err
	}},
	{name: "minSessionTimeout", apply: func(p *parser, v string) (err error) {
		p.MinSessionTimeout, err = millis(v)
		return err
	}},
	{name: "maxSessionTimeout", apply: func(p *parser, v string) (err error) {
		p.MaxSessionTimeout, err = millis(v)
		return err
	}},
	{name: "autopurge.snapRetainCount", def: "3", apply: func(p *parser, v string) error {
		n, err := intIn(v, 0, maxInt32)
		p.SnapRetainCount = max(n, 3) // ZooKeeper raises anything lower to 3
		return err
	}},
	{name: "autopurge.purgeInterval", def: "0", apply: func(p *parser, v string) error {
		n, err := intIn(v, 0, maxInt32)
		p.PurgeInterval = time.Duration(n) * time.Hour
		return err
	}},
	{name: "snapCount", property: "zookeeper.snapCount", def: "100000", apply: func(p *parser, v string) (err error) {
		p.SnapCount, err = intIn(v, 2, maxInt32)
		return err
	}},
	{name: "snapSizeLimitInKb", property: "zookeeper.snapSizeLimitInKb", def: "4194304", apply: func(p *parser, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("want a size in KiB")
		}
		p.SnapSizeBytes = max(n, 0) * 1024 // zero or negative turns the size trigger off
		return nil
	}},
	{name: "txnLogSizeLimitInKb", property: "zookeeper.txnLogSizeLimitInKb", def: "-1", apply: func(p *parser, v string) (err error) {
		p.TxnLogSizeLimitKB, err = strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("want a number of KiB")
		}
		return nil
	}},
	{name: "preAllocSize", property: "zookeeper.preAllocSize", def: "65536", apply: func(p *parser, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return errors.New("want a positive size in KiB")
		}
		p.PreAllocSize = n * 1024
		return nil
	}},
	{name: "globalOutstandingLimit", property: "zookeeper.globalOutstandingLimit", def: "1000", apply: func(p *parser, v string) (err error) {
		p.GlobalOutstandingLimit, err = intIn(v, 1, maxInt32)
		return err
	}},
	{name: "commitLogCount", property: "zookeeper.commitLogCount", def: "500", apply: func(p *parser, v string) (err error) {
		p.CommitLogCount, err = intIn(v, 0, maxInt32)
		return err
	}},
	{name: "electionAlg", def: "3", apply: func(p *parser, v string) error {
		if v != "3" {
			return errors.New("invalid electionAlg value: only 3 is supported")
		}
		p.Quorum.ElectionAlg = 3
		return nil
	}},
	{name: "server.", family: true, apply: applyServer},
	{name: "group.", family: true, apply: applyGroup},
	{name: "weight.", family: true, apply: applyWeight},
	{name: "version", apply: func(p *parser, v string) (err error) {
		// A static file's config version (ZooKeeper reads it with the server lines).
		p.Quorum.Membership.Version, err = parseVersion(v)
		if err != nil {
			return errors.New("want a hex version")
		}
		return nil
	}},
	{name: "peerType", def: "participant", apply: func(p *parser, v string) (err error) {
		p.Quorum.PeerType, err = parsePeerType(v)
		return err
	}},
	{name: "dynamicConfigFile", apply: func(p *parser, v string) error { p.Quorum.DynamicConfigFile = v; return nil }},
	{name: "reconfigEnabled", def: "false", apply: func(p *parser, v string) (err error) {
		p.ReconfigEnabled, err = strictBool(v)
		return err
	}},
	{name: "standaloneEnabled", def: "true", apply: func(p *parser, v string) (err error) {
		p.Quorum.StandaloneEnabled, err = strictBool(v)
		return err
	}},
	{name: "4lw.commands.whitelist", property: "zookeeper.4lw.commands.whitelist", def: "srvr", apply: func(p *parser, v string) error {
		p.FourLetterWords = ParseList(v)
		return nil
	}},
	{name: "localSessionsEnabled", def: "false", apply: func(p *parser, v string) (err error) {
		p.LocalSessions, err = strictBool(v)
		return err
	}},
	{name: "localSessionsUpgradingEnabled", def: "false", apply: func(p *parser, v string) (err error) {
		p.LocalSessionsUpgrading, err = strictBool(v)
		return err
	}},
	{name: "syncEnabled", def: "true", apply: func(p *parser, v string) (err error) {
		p.Quorum.SyncEnabled, err = strictBool(v)
		return err
	}},
	{name: "quorumListenOnAllIPs", def: "false", apply: func(p *parser, v string) (err error) {
		p.Quorum.QuorumListenOnAllIPs, err = strictBool(v)
		return err
	}},
	{name: "observerMasterPort", apply: func(p *parser, v string) (err error) {
		p.Quorum.ObserverMasterPort, err = intIn(v, 0, 65535)
		return err
	}},
	{name: "electionPortBindRetry", property: "zookeeper.electionPortBindRetry", def: "3", apply: func(p *parser, v string) error {
		// ZooKeeper falls back to 3 on anything but a non-negative integer.
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			p.warn("electionPortBindRetry", "invalid value; using 3 (must be an integer >= 0)")
			n = 3
		}
		p.Quorum.ElectionPortBindRetry = n
		return nil
	}},
	{name: "multiAddress.enabled", property: "zookeeper.multiAddress.enabled", consumed: true, def: "false", apply: func(p *parser, v string) (err error) {
		p.Quorum.MultiAddress.Enabled, err = strictBool(v)
		return err
	}},
	{name: "multiAddress.reachabilityCheckEnabled", property: "zookeeper.multiAddress.reachabilityCheckEnabled", consumed: true, def: "true",
		apply: func(p *parser, v string) (err error) {
			p.Quorum.MultiAddress.ReachabilityCheckEnabled, err = strictBool(v)
			return err
		}},
	{name: "multiAddress.reachabilityCheckTimeoutMs", property: "zookeeper.multiAddress.reachabilityCheckTimeoutMs", consumed: true, def: "1000",
		apply: func(p *parser, v string) (err error) {
			p.Quorum.MultiAddress.ReachabilityCheckTimeout, err = millis(v)
			return err
		}},
	{name: "metricsProvider.className", def: DefaultMetricsProvider, apply: func(p *parser, v string) error {
		switch v {
		case PrometheusMetricsProvider, DefaultMetricsProvider, NullMetricsProvider:
			p.Metrics.ClassName = v
			return nil
		}
		// ZooKeeper exits with "metrics provider class was not found".
		return errors.New("metrics provider class was not found (zkd has " + PrometheusMetricsProvider +
			" and the default provider)")
	}},
	{name: "metricsProvider.httpHost", def: "0.0.0.0", apply: func(p *parser, v string) error { p.Metrics.Host = v; return nil }},
	{name: "metricsProvider.httpPort", def: "7000", apply: func(p *parser, v string) (err error) {
		p.Metrics.Port, err = intIn(v, 0, 65535)
		return err
	}},
	// zkd exports process_* and go_* collectors instead of the JVM's.
	{name: "metricsProvider.exportJvmInfo"},
	{name: "metricsProvider.numWorkerThreads", apply: checkInt(0)},
	{name: "metricsProvider.maxQueueSize", apply: checkInt(0)},
	{name: "metricsProvider.workerShutdownTimeoutMs", apply: checkInt(0)},
	{name: "metricsProvider.", family: true}, // the rest goes to the provider as is
	{name: "leaderServes", property: "zookeeper.leaderServes", def: "yes", apply: func(p *parser, v string) error {
		switch strings.ToLower(v) {
		case "yes":
			p.Quorum.LeaderServes = true
		case "no":
			p.Quorum.LeaderServes = false
		default:
			return errors.New("want yes or no")
		}
		return nil
	}},
	{name: "serverCnxnFactory", property: "zookeeper.serverCnxnFactory", apply: func(p *parser, v string) error {
		p.ServerCnxnFactory = v
		return nil
	}},
	{name: "forceSync", property: "zookeeper.forceSync", def: "yes", apply: func(p *parser, v string) error {
		p.ForceSync = !strings.EqualFold(v, "no")
		return nil
	}},
	{name: "skipACL", property: "zookeeper.skipACL", def: "no", apply: func(p *parser, v string) error {
		p.SkipACL = v == "yes" || v == "true"
		return nil
	}},
	{name: "extendedTypesEnabled", property: "zookeeper.extendedTypesEnabled", def: "false", apply: func(p *parser, v string) error {
		p.ExtendedTypes = javaBool(v)
		return nil
	}},
	{name: "digest.enabled", property: "zookeeper.digest.enabled", def: "true", apply: func(p *parser, v string) error {
		p.DigestEnabled = javaBool(v)
		return nil
	}},
	{name: "snapshot.compression.method", property: "zookeeper.snapshot.compression.method", apply: func(p *parser, v string) error {
		switch v {
		case "", "gz", "snappy":
			p.SnapshotCompression = v
			return nil
		}
		return errors.New("want gz, snappy or nothing")
	}},
	{name: "enforceQuota", property: "zookeeper.enforceQuota", def: "false", apply: func(p *parser, v string) error {
		p.EnforceQuota = javaBool(v)
		return nil
	}},
	{name: "serializeLastProcessedZxid.enabled", property: "zookeeper.serializeLastProcessedZxid.enabled", def: "true",
		apply: func(p *parser, v string) error {
			p.SerializeLastZxid = javaBool(v)
			return nil
		}},
	{name: "sslQuorum", def: "false", apply: func(p *parser, v string) (err error) {
		p.Quorum.SSLQuorum, err = strictBool(v)
		return err
	}},
	{name: "portUnification", def: "false", apply: func(p *parser, v string) (err error) {
		p.Quorum.PortUnification, err = strictBool(v)
		return err
	}},
	{name: "sslQuorumReloadCertFiles", def: "false", apply: func(p *parser, v string) (err error) {
		p.Quorum.SSLQuorumReloadCerts, err = strictBool(v)
		return err
	}},
	{name: "client.portUnification", property: "zookeeper.client.portUnification", def: "false", apply: func(p *parser, v string) error {
		p.ClientPortUnification = javaBool(v)
		return nil
	}},
	{name: "quorum.auth.enableSasl", def: "false", apply: func(p *parser, v string) (err error) {
		p.Quorum.Auth.EnableSasl, err = strictBool(v)
		return err
	}},
	{name: "quorum.auth.serverRequireSasl", def: "false", apply: func(p *parser, v string) (err error) {
		p.Quorum.Auth.ServerRequireSasl, err = strictBool(v)
		return err
	}},
	{name: "quorum.auth.learnerRequireSasl", def: "false", apply: func(p *parser, v string) (err error) {
		p.Quorum.Auth.LearnerRequireSasl, err = strictBool(v)
		return err
	}},
	{name: "quorum.auth.learner.saslLoginContext", def: "QuorumLearner", apply: func(p *parser, v string) error {
		p.Quorum.Auth.LearnerLoginCtx = v
		return nil
	}},
	{name: "quorum.auth.server.saslLoginContext", def: "QuorumServer", apply: func(p *parser, v string) error {
		p.Quorum.Auth.ServerLoginCtx = v
		return nil
	}},
	{name: "quorum.auth.kerberos.servicePrincipal", def: "zkquorum/localhost", apply: func(p *parser, v string) error {
		p.Quorum.Auth.ServicePrincipal = v
		return nil
	}},
	{name: "cnxTimeout", property: "zookeeper.cnxTimeout", def: "5000", apply: func(p *parser, v string) (err error) {
		p.Quorum.ConnectTimeout, err = millis(v)
		return err
	}},
	{name: "quorum.cnxn.threads.size", apply: func(p *parser, v string) (err error) {
		p.Quorum.CnxnThreads, err = intIn(v, 0, maxInt32)
		return err
	}},
	{name: "fsync.warningthresholdms", property: "zookeeper.fsync.warningthresholdms", def: "1000", apply: func(p *parser, v string) (err error) {
		p.FsyncWarningThreshold, err = millis(v)
		return err
	}},

	// AdminServer (spec/ops.md §2).
	{name: "admin.enableServer", property: "zookeeper.admin.enableServer", def: "true", apply: func(p *parser, v string) error {
		p.Admin.Enabled = v != "false" // ZooKeeper: only the exact string false disables
		return nil
	}},
	{name: "admin.serverAddress", property: "zookeeper.admin.serverAddress", def: "0.0.0.0", apply: func(p *parser, v string) error {
		p.Admin.Address = v
		return nil
	}},
	{name: "admin.serverPort", property: "zookeeper.admin.serverPort", def: "8080", apply: func(p *parser, v string) (err error) {
		p.Admin.Port, err = intIn(v, 0, 65535)
		p.Admin.PortSet = !p.defaulting
		return err
	}},
	{name: "admin.commandURL", property: "zookeeper.admin.commandURL", def: "/commands", apply: func(p *parser, v string) error {
		p.Admin.CommandURL = v
		return nil
	}},
	{name: "admin.idleTimeout", property: "zookeeper.admin.idleTimeout", def: "30000", apply: func(p *parser, v string) (err error) {
		p.Admin.IdleTimeout, err = millis(v)
		return err
	}},
	{name: "admin.portUnification", property: "zookeeper.admin.portUnification", def: "false", apply: func(p *parser, v string) error {
		p.Admin.PortUnification = javaBool(v)
		return nil
	}},
	{name: "admin.forceHttps", property: "zookeeper.admin.forceHttps", def: "false", apply: func(p *parser, v string) error {
		p.Admin.ForceHTTPS = javaBool(v)
		return nil
	}},
	{name: "admin.needClientAuth", property: "zookeeper.admin.needClientAuth", def: "false", apply: func(p *parser, v string) error {
		p.Admin.NeedClientAuth = javaBool(v)
		return nil
	}},
	{name: "admin.rateLimiterIntervalInMS", property: "zookeeper.admin.rateLimiterIntervalInMS", def: "300000",
		apply: func(p *parser, v string) (err error) {
			p.Admin.RateLimiterInterval, err = millis(v)
			return err
		}},
	// zkd's default, not ZooKeeper 3.9's true: zkd runs 3.8's configurations, and
	// 3.8 has no snapshot command; one that streams every znode is turned on only
	// when asked for.
	{name: "admin.snapshot.enabled", property: "zookeeper.admin.snapshot.enabled", def: "false", apply: func(p *parser, v string) error {
		p.Admin.SnapshotEnabled = javaBool(v)
		return nil
	}},
	{name: "admin.restore.enabled", property: "zookeeper.admin.restore.enabled", def: "true", apply: func(p *parser, v string) error {
		p.Admin.RestoreEnabled = javaBool(v)
		return nil
	}},
	{name: "admin.", property: "zookeeper.admin.", family: true},

	// JVM-only properties (spec/ops.md §4.1, last paragraph). ZooKeeper cannot take
	// them from zoo.cfg; zkd accepts them there under their property names too.
	{property: "jute.maxbuffer", def: "1048575", apply: func(p *parser, v string) error {
		// Integer.getInteger decodes 0x-prefixed hex as well as decimal.
		n, err := strconv.ParseInt(v, 0, 32)
		if err != nil || n <= 0 {
			return errors.New("want a positive integer")
		}
		p.MaxBuffer = int(n)
		return nil
	}},
	{name: "jute.maxbuffer.extrasize", property: "zookeeper.jute.maxbuffer.extrasize"},
	{property: "readonlymode.enabled", def: "false", apply: func(p *parser, v string) error {
		p.ReadOnlyMode = javaBool(v)
		return nil
	}},
	{property: "znode.container.checkIntervalMs", def: "60000", apply: func(p *parser, v string) (err error) {
		p.ContainerCheckInterval, err = millis(v)
		return err
	}},
	{property: "znode.container.maxPerMinute", def: "10000", apply: func(p *parser, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errors.New("want a positive integer")
		}
		p.ContainerMaxPerMinute = n
		return nil
	}},
	{property: "znode.container.maxNeverUsedIntervalMs", def: "0", apply: func(p *parser, v string) (err error) {
		p.ContainerMaxNeverUsed, err = millis(v)
		return err
	}},
	{name: "DigestAuthenticationProvider.superDigest", property: "zookeeper.DigestAuthenticationProvider.superDigest",
		apply: func(p *parser, v string) error {
			p.SuperDigest = v
			return nil
		}},
	{name: "authProvider.", property: "zookeeper.authProvider.", family: true},

	// Security keys ZooKeeper reads as zookeeper.* properties; the server reads
	// them from SystemProperties (docs/security.md).
	{name: "X509AuthenticationProvider.superUser", property: "zookeeper.X509AuthenticationProvider.superUser"},
	{name: "SASLAuthenticationProvider.superPassword", property: "zookeeper.SASLAuthenticationProvider.superPassword"},
	{name: "DigestAuthenticationProvider.enabled", property: "zookeeper.DigestAuthenticationProvider.enabled"},
	{name: "superUser", property: "zookeeper.superUser"},
	{name: "superUser.", property: "zookeeper.superUser.", family: true},
	{name: "sasl.serverconfig", property: "zookeeper.sasl.serverconfig"},
	{name: "allowSaslFailedClients", property: "zookeeper.allowSaslFailedClients"},
	{name: "letAnySaslUserDoX", property: "zookeeper.letAnySaslUserDoX"},
	{name: "kerberos.removeHostFromPrincipal", property: "zookeeper.kerberos.removeHostFromPrincipal"},
	{name: "kerberos.removeRealmFromPrincipal", property: "zookeeper.kerberos.removeRealmFromPrincipal"},
	{name: "security.auth_to_local", property: "zookeeper.security.auth_to_local"},
	{name: "sessionRequireClientSASLAuth", property: "zookeeper.sessionRequireClientSASLAuth"},
	{name: "enforce.auth.enabled", property: "zookeeper.enforce.auth.enabled"},
	{name: "enforce.auth.schemes", property: "zookeeper.enforce.auth.schemes"},
	{name: "client.certReload", property: "zookeeper.client.certReload"},
	{name: "fips-mode", property: "zookeeper.fips-mode"},
	// JVM-only properties of the JDK's security: ZooKeeper takes them from -D
	// alone; zkd also accepts them in zoo.cfg under their own names.
	{property: "java.security.auth.login.config", apply: jvmProperty("java.security.auth.login.config")},
	{property: "java.security.krb5.conf", apply: jvmProperty("java.security.krb5.conf")},
	{property: "java.security.krb5.realm", apply: jvmProperty("java.security.krb5.realm")},

	{name: "audit.enable", property: "zookeeper.audit.enable", def: "false", apply: func(p *parser, v string) error {
		p.AuditEnable = javaBool(v)
		return nil
	}},

	// ZooKeeper's JVM pause monitor: in zkd it watches the process and its host.
	{name: "jvm.pause.monitor", def: "false", apply: func(p *parser, v string) (err error) {
		p.PauseMonitor.Enabled, err = strictBool(v)
		return err
	}},
	{name: "jvm.pause.info-threshold.ms", def: "1000", apply: func(p *parser, v string) (err error) {
		p.PauseMonitor.InfoThreshold, err = millis(v)
		return err
	}},
	{name: "jvm.pause.warn-threshold.ms", def: "10000", apply: func(p *parser, v string) (err error) {
		p.PauseMonitor.WarnThreshold, err = millis(v)
		return err
	}},
	{name: "jvm.pause.sleep.time.ms", def: "500", apply: func(p *parser, v string) error {
		n, err := intIn(v, 1, maxInt32)
		p.PauseMonitor.Sleep = time.Duration(n) * time.Millisecond
		return err
	}},

	// ZooKeeper's connection throttle, read from zookeeper.connection_throttle_*.
	{name: "connection_throttle_tokens", property: "zookeeper.connection_throttle_tokens", def: "0",
		apply: javaInteger(func(c *Config) *int { return &c.ConnThrottle.Tokens }, 0)},
	{name: "connection_throttle_fill_time", property: "zookeeper.connection_throttle_fill_time", def: "1",
		apply: javaInteger(func(c *Config) *int { return &c.ConnThrottle.FillTimeMs }, 1)},
	{name: "connection_throttle_fill_count", property: "zookeeper.connection_throttle_fill_count", def: "1",
		apply: javaInteger(func(c *Config) *int { return &c.ConnThrottle.FillCount }, 1)},
	{name: "connection_throttle_freeze_time", property: "zookeeper.connection_throttle_freeze_time", def: "-1",
		apply: javaInteger(func(c *Config) *int { return &c.ConnThrottle.FreezeTimeMs }, -1)},
	{name: "connection_throttle_drop_increase", property: "zookeeper.connection_throttle_drop_increase", def: "0.02",
		apply: javaDouble(func(c *Config) *float64 { return &c.ConnThrottle.DropIncrease })},
	{name: "connection_throttle_drop_decrease", property: "zookeeper.connection_throttle_drop_decrease", def: "0.002",
		apply: javaDouble(func(c *Config) *float64 { return &c.ConnThrottle.DropDecrease })},
	{name: "connection_throttle_decrease_ratio", property: "zookeeper.connection_throttle_decrease_ratio", def: "0",
		apply: javaDouble(func(c *Config) *float64 { return &c.ConnThrottle.DecreaseRatio })},
	{name: "connection_throttle_weight_enabled", property: "zookeeper.connection_throttle_weight_enabled", def: "false",
		apply: func(p *parser, v string) error {
			p.ConnThrottle.Weighted = javaBool(v)
			return nil
		}},
	{name: "connection_throttle_global_session_weight", property: "zookeeper.connection_throttle_global_session_weight", def: "3",
		apply: javaInteger(func(c *Config) *int { return &c.ConnThrottle.GlobalWeight }, 3)},
	{name: "connection_throttle_local_session_weight", property: "zookeeper.connection_throttle_local_session_weight", def: "1",
		apply: javaInteger(func(c *Config) *int { return &c.ConnThrottle.LocalWeight }, 1)},
	{name: "connection_throttle_renew_session_weight", property: "zookeeper.connection_throttle_renew_session_weight", def: "2",
		apply: javaInteger(func(c *Config) *int { return &c.ConnThrottle.RenewWeight }, 2)},

	// Keys of ZooKeeper 3.8/3.9 zkd accepts without acting on them.
	{name: "maxResponseCacheSize", property: "zookeeper.maxResponseCacheSize"},
	{name: "maxGetChildrenResponseCacheSize", property: "zookeeper.maxGetChildrenResponseCacheSize"},
	{name: "initialConfig", property: "zookeeper.initialConfig"},
	{name: "connection_throttle_enabled", property: "zookeeper.connection_throttle_enabled"},
	{name: "learnerMasterEndpoint", property: "zookeeper.learnerMasterEndpoint"},
	{name: "oraclePath"},
	{name: "ssl.", property: "zookeeper.ssl.", family: true},
	{name: "quorum.auth.", property: "zookeeper.quorum.auth.", family: true},
	{name: "multiAddress.", property: "zookeeper.multiAddress.", family: true},
	{name: "observer.", property: "zookeeper.observer.", family: true},
	{name: "learner.", property: "zookeeper.learner.", family: true},
	{name: "leader.", property: "zookeeper.leader.", family: true},
	{name: "zookeeper.", property: "zookeeper.zookeeper.", family: true},
}

// Indexes of keys by zoo.cfg name and by property; families are searched by
// prefix, longest first.
var (
	keysByName     = map[string]*key{}
	keysByProperty = map[string]*key{}
	families       []*key
)

func init() {
	for i := range keys {
		k := &keys[i]
		switch {
		case k.family:
			families = append(families, k)
		default:
			if k.name != "" {
				keysByName[k.name] = k
			}
			if k.property != "" {
				keysByProperty[k.property] = k
			}
		}
	}
}

// lookupFileKey finds the entry for a zoo.cfg key: by name, then by property name,
// then by family prefix (the longest that matches).
func lookupFileKey(name string) *key {
	if k, ok := keysByName[name]; ok {
		return k
	}
	if k, ok := keysByProperty[name]; ok {
		return k
	}
	return lookupFamily(name, func(k *key) string { return k.name })
}

// lookupProperty finds the entry for a -D system property.
func lookupProperty(name string) *key {
	if k, ok := keysByProperty[name]; ok {
		return k
	}
	return lookupFamily(name, func(k *key) string { return k.property })
}

func lookupFamily(name string, prefix func(*key) string) *key {
	var best *key
	for _, k := range families {
		if p := prefix(k); p != "" && strings.HasPrefix(name, p) && (best == nil || len(p) > len(prefix(best))) {
			best = k
		}
	}
	return best
}

const maxInt32 = 1<<31 - 1

// millis reads a non-negative number of milliseconds.
func millis(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a non-negative number of milliseconds")
	}
	return time.Duration(n) * time.Millisecond, nil
}

// intIn reads a decimal integer in [lo, hi].
func intIn(v string, lo, hi int64) (int, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		if hi == maxInt32 {
			return 0, fmt.Errorf("want an integer of at least %d", lo)
		}
		return 0, fmt.Errorf("want an integer in [%d, %d]", lo, hi)
	}
	return int(n), nil
}

// checkInt is the apply of an integer key zkd checks but does not use.
func checkInt(lo int64) func(*parser, string) error {
	return func(_ *parser, v string) error {
		_, err := intIn(v, lo, maxInt32)
		return err
	}
}

// jvmProperty is the apply of a JVM-only property that zoo.cfg may set too: the
// value is recorded under the property's own name, where -D would put it.
func jvmProperty(name string) func(*parser, string) error {
	return func(p *parser, v string) error {
		p.setProperty(name, v)
		return nil
	}
}

// strictBool is QuorumPeerConfig.parseBoolean: true or false in any case, and
// nothing else.
func strictBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("choose 'true' or 'false'")
}

// javaBool is Boolean.parseBoolean, which the keys read as system properties go
// through: "true" in any case is true, anything else false.
// javaInteger is the apply of a key ZooKeeper reads with Integer.getInteger:
// a value that is not an integer (decimal, 0x hex or 0 octal) leaves the
// default, with a warning here where ZooKeeper says nothing.
func javaInteger(field func(*Config) *int, def int) func(*parser, string) error {
	return func(p *parser, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 0, 32)
		if err != nil {
			p.warn(p.key, fmt.Sprintf("not an integer; using %d, as ZooKeeper does", def))
			n = int64(def)
		}
		*field(p.Config) = int(n)
		return nil
	}
}

// javaDouble is the apply of a key ZooKeeper reads with Double.parseDouble,
// which fails its start on anything but a number.
func javaDouble(field func(*Config) *float64) func(*parser, string) error {
	return func(p *parser, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return errors.New("want a number")
		}
		*field(p.Config) = f
		return nil
	}
}

func javaBool(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }

// ParseList splits a comma-separated list as ZooKeeper reads the 4lw whitelist:
// items trimmed, empty items dropped ("ruok , stat,," is ruok and stat).
func ParseList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// applyServer reads one server.N line into the membership.
func applyServer(p *parser, v string) error {
	if p.forbidServers {
		return errDynamicOnly
	}
	id, err := serverID(p.key)
	if err != nil {
		return errors.New("the server id must be a number")
	}
	s, err := ParseServer(id, v)
	if se := (*ServerError)(nil); errors.As(err, &se) {
		return errors.New(se.Reason) // the caller names the key and value
	} else if err != nil {
		return err
	}
	p.Quorum.Membership.put(s)
	return nil
}

// errDynamicOnly is the error for server.N, group.N and weight.N in a static file
// that names a dynamic one (ZooKeeper: "must be in a separate dynamic config file").
var errDynamicOnly = errors.New("must be in the separate dynamic configuration file, as dynamicConfigFile is set")

// applyGroup reads group.N=id:id:... (hierarchical quorums).
func applyGroup(p *parser, v string) error {
	if p.forbidServers {
		return errDynamicOnly
	}
	gid, err := strconv.ParseInt(strings.TrimPrefix(p.key, "group."), 10, 64)
	if err != nil {
		return errors.New("the group id must be a number")
	}
	var ids []int64
	for _, s := range strings.Split(v, ":") {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errors.New("want server ids joined by ':'")
		}
		ids = append(ids, id)
	}
	if p.Quorum.Groups == nil {
		p.Quorum.Groups = map[int64][]int64{}
		p.warnHierarchical()
	}
	p.Quorum.Groups[gid] = ids
	return nil
}

// warnHierarchical says, once per file, that zkd does not act on group.N and
// weight.N: its quorums are a plain majority of the voting members, which
// keeps the data as safe (any two majorities share a member) but tolerates
// other losses than the groups and weights describe.
func (p *parser) warnHierarchical() {
	if p.Quorum.Groups != nil && p.Quorum.Weights != nil {
		return // the other key of the pair has warned already
	}
	p.warn(p.key, "hierarchical quorums are not supported: zkd uses a plain majority of the voting members")
}

// applyWeight reads weight.N=w (hierarchical quorums).
func applyWeight(p *parser, v string) error {
	if p.forbidServers {
		return errDynamicOnly
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(p.key, "weight."), 10, 64)
	if err != nil {
		return errors.New("the server id must be a number")
	}
	w, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return errors.New("want a number")
	}
	if p.Quorum.Weights == nil {
		p.Quorum.Weights = map[int64]int64{}
		p.warnHierarchical()
	}
	p.Quorum.Weights[id] = w
	return nil
}
