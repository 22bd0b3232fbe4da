package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"zkd/quorum/peer"
	"zkd/sasl"
	"zkd/session"
	"zkd/tlsconf"
	"zkd/zoocfg"
)

// Security settings are read from the configuration's system properties, where
// ZooKeeper reads them: a zoo.cfg key X that ZooKeeper does not consume arrives as
// zookeeper.X, and -D properties (command line, JVMFLAGS, SERVER_JVMFLAGS) come on
// top. docs/security.md lists every key.

// Property names the server reads beyond tlsconf's and sasl's own.
const (
	propAuthProvider         = "zookeeper.authProvider."
	propEnforceAuthEnabled   = "zookeeper.enforce.auth.enabled"
	propEnforceAuthSchemes   = "zookeeper.enforce.auth.schemes"
	propSessionRequireSASL   = "zookeeper.sessionRequireClientSASLAuth"
	propClientCertReload     = "zookeeper.client.certReload"
	propDigestProviderEnable = "zookeeper.DigestAuthenticationProvider.enabled"
)

// Authentication provider classes of ZooKeeper's distribution, by the scheme of
// the zkd provider that stands for each.
var providerClasses = map[string]string{
	"org.apache.zookeeper.server.auth.IPAuthenticationProvider":     "ip",
	"org.apache.zookeeper.server.auth.DigestAuthenticationProvider": "digest",
	"org.apache.zookeeper.server.auth.SASLAuthenticationProvider":   "sasl",
	"org.apache.zookeeper.server.auth.X509AuthenticationProvider":   "x509",
}

// ErrSecurityConfig is wrapped by every refusal of the security settings at start.
var ErrSecurityConfig = errors.New("server: security configuration")

// certReloadEvery is how often reloadable key and trust stores are looked at.
const certReloadEvery = time.Second

// security is what an instance takes from the security settings.
type security struct {
	auth      session.AuthConfig
	clientTLS *tlsconf.Manager // the secure client port's and the unified port's; nil without either
	unified   bool             // client.portUnification: the plain port takes TLS clients too
	quorumTLS *tlsconf.Manager // the ssl.quorum stores, with sslQuorum or portUnification; nil otherwise
	sslQuorum bool             // members dial each other over TLS
	// quorumUnified (portUnification): the quorum port takes plain and TLS peers.
	quorumUnified bool
	quorum        *quorumSASL // quorum.auth.enableSasl's; nil otherwise
	// adminTLS is the AdminServer's HTTPS (admin.forceHttps, or with
	// adminUnified admin.portUnification: HTTPS and HTTP); nil: HTTP only.
	adminTLS     *tls.Config
	adminUnified bool
	reload       []*tlsconf.Manager
}

// planSecurity reads the security settings of cfg, loading the key and trust
// stores and the JAAS file, and refuses what zkd cannot honour.
func planSecurity(cfg *zoocfg.Config, log *slog.Logger) (*security, error) {
	props := cfg.SystemProperties
	if props == nil {
		props = map[string]string{}
	}
	sec := &security{}
	schemes, err := authProviders(props)
	if err != nil {
		return nil, err
	}
	if cfg.SecureClientPort != 0 {
		// ZooKeeper's QuorumPeerConfig.configureSSLAuth registers the x509
		// provider itself when there is a secure client port and no
		// zookeeper.authProvider.x509 names one (the only other ssl.authProvider
		// it could name is refused by tlsconf).
		schemes["x509"] = true
	}
	if v, ok := props[propDigestProviderEnable]; ok && !javaBool(v) {
		// ProviderRegistry leaves the digest provider out: addauth digest
		// fails, and ACL entries of the scheme are invalid.
		sec.auth.DigestDisabled = true
		log.Info("the digest authentication provider is turned off", propDigestProviderEnable, v)
	}

	// SASL: the JAAS file, the client port's Server section and the sasl scheme.
	saslCfg := sasl.FromProperties(props)
	var jaas *sasl.JAAS
	if path := saslCfg.JAASFile; path != "" {
		if jaas, err = sasl.LoadJAAS(path, props); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrSecurityConfig, sasl.PropJAASConfig, err)
		}
	}
	if jaas.Section(saslCfg.LoginContext) != nil {
		p, err := sasl.NewProvider(saslCfg, jaas, sasl.Env{Log: log})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSecurityConfig, err)
		}
		sec.auth.SASL = p
		log.Info("SASL authentication of clients", "mechanism", p.Mechanism(), "section", saslCfg.LoginContext, "jaas", jaas.Path)
	} else if jaas != nil {
		// ZooKeeper goes on without SASL when the file lacks the section.
		log.Warn("no JAAS section for the server: clients cannot authenticate with SASL",
			"section", saslCfg.LoginContext, "jaas", jaas.Path)
	}
	if schemes["sasl"] {
		sec.auth.SASLScheme = &saslCfg
	}
	sec.auth.AllowSASLFailed = saslCfg.AllowFailedClients
	if schemes["x509"] {
		sec.auth.X509 = &tlsconf.X509Provider{SuperUser: props[tlsconf.PropX509SuperUser]}
	}
	if sec.auth.Enforce, err = enforcedSchemes(props); err != nil {
		return nil, err
	}
	if err := sec.auth.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecurityConfig, err)
	}

	sec.unified = cfg.ClientPortUnification && cfg.HasClientPort()
	if cfg.ClientPortUnification && !sec.unified {
		log.Warn("client.portUnification is set without a clientPort: there is no plain port to take TLS clients on")
	}
	if cfg.SecureClientPort != 0 || sec.unified {
		m, err := tlsManager(props, tlsconf.Client, log)
		if err != nil {
			return nil, err
		}
		sec.clientTLS = m
		if javaBool(props[propClientCertReload]) {
			sec.reload = append(sec.reload, m)
		}
		if m.Config().ClientAuth != tlsconf.None && sec.auth.X509 == nil {
			log.Warn("client.portUnification asks for client certificates but the x509 provider is not registered: "+
				"clients that present one are refused, as ZooKeeper refuses them",
				"fix", "authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider")
		}
	}

	if cfg.Ensemble() {
		// portUnification alone has the quorum port take TLS peers while this
		// member still dials in the clear: the first step of a rolling change
		// to sslQuorum, as in ZooKeeper.
		sec.sslQuorum, sec.quorumUnified = cfg.Quorum.SSLQuorum, cfg.Quorum.PortUnification
		if sec.sslQuorum || sec.quorumUnified {
			m, err := tlsManager(props, tlsconf.Quorum, log)
			if err != nil {
				return nil, err
			}
			if len(m.Config().TrustStore.Location) == 0 {
				setting := "sslQuorum"
				if !sec.sslQuorum {
					setting = "portUnification"
				}
				return nil, fmt.Errorf("%w: %s needs %s%s: members verify each other", ErrSecurityConfig, setting,
					tlsconf.Quorum.Prefix(), tlsconf.PropTrustStoreLocation)
			}
			sec.quorumTLS = m
			if cfg.Quorum.SSLQuorumReloadCerts {
				sec.reload = append(sec.reload, m)
			}
		}
		if a := cfg.Quorum.Auth; a.EnableSasl {
			if sec.quorum, err = newQuorumSASL(a, jaas, props, log); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Admin.Enabled && (cfg.Admin.ForceHTTPS || cfg.Admin.PortUnification) {
		// ZooKeeper's Jetty serves HTTPS with the quorum's key store
		// (QuorumX509Util) and asks no client for a certificate.
		m := sec.quorumTLS
		if m == nil {
			if m, err = tlsManager(props, tlsconf.Quorum, log); err != nil {
				return nil, fmt.Errorf("AdminServer HTTPS (admin.forceHttps, admin.portUnification): %w", err)
			}
		}
		// With both keys, forceHttps wins, as in ZooKeeper's JettyAdminServer.
		sec.adminTLS, sec.adminUnified = m.ServerConfigNoClientCert(), cfg.Admin.PortUnification && !cfg.Admin.ForceHTTPS
	}
	return sec, nil
}

// authProviders reads zookeeper.authProvider.N: the schemes registered beyond ip
// and digest. A class zkd does not provide is refused (ZooKeeper would log and
// go on without it, leaving every ACL of that scheme unusable).
func authProviders(props map[string]string) (map[string]bool, error) {
	keys := make([]string, 0)
	for k := range props {
		if strings.HasPrefix(k, propAuthProvider) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	schemes := map[string]bool{}
	for _, k := range keys {
		class := strings.TrimSpace(props[k])
		scheme, ok := providerClasses[class]
		if !ok {
			known := make([]string, 0, len(providerClasses))
			for c := range providerClasses {
				known = append(known, c)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%w: %s=%s: unknown authentication provider class (zkd provides %s)",
				ErrSecurityConfig, k, class, strings.Join(known, ", "))
		}
		schemes[scheme] = true
	}
	return schemes, nil
}

// enforcedSchemes is AuthenticationHelper's reading of the enforcement keys.
func enforcedSchemes(props map[string]string) ([]string, error) {
	if javaBool(props[propSessionRequireSASL]) {
		return []string{"sasl"}, nil
	}
	if !javaBool(props[propEnforceAuthEnabled]) {
		return nil, nil
	}
	var schemes []string
	if v, ok := props[propEnforceAuthSchemes]; ok {
		for _, s := range strings.Split(v, ",") {
			schemes = append(schemes, strings.TrimSpace(s))
		}
	}
	if len(schemes) == 0 {
		return nil, fmt.Errorf("%w: %s is true %s must be configured", ErrSecurityConfig, propEnforceAuthEnabled, propEnforceAuthSchemes)
	}
	return schemes, nil
}

// tlsManager reads one TLS family and loads its stores; a server needs its own
// certificate.
func tlsManager(props map[string]string, f tlsconf.Family, log *slog.Logger) (*tlsconf.Manager, error) {
	c, err := tlsconf.FromProperties(props, f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecurityConfig, err)
	}
	if c.KeyStore.Location == "" {
		return nil, fmt.Errorf("%w: %s TLS needs %s%s", ErrSecurityConfig, f, f.Prefix(), tlsconf.PropKeyStoreLocation)
	}
	m, err := tlsconf.NewManager(c, tlsconf.Env{Log: log})
	if err != nil {
		return nil, fmt.Errorf("%w: %s TLS: %w", ErrSecurityConfig, f, err)
	}
	if len(m.Certificates()) == 0 {
		return nil, fmt.Errorf("%w: %s TLS: the key store %s holds no key", ErrSecurityConfig, f, c.KeyStore.Location)
	}
	return m, nil
}

// watch reloads the reloadable stores until ctx ends (ZooKeeper's
// FileChangeWatcher, with zookeeper.client.certReload or
// sslQuorumReloadCertFiles).
func (sec *security) watch(ctx context.Context) {
	for _, m := range sec.reload {
		go m.Watch(ctx, certReloadEvery)
	}
}

// quorumDialTLS gives the quorum TLS config for dialling host over conn; nil
// without sslQuorum.
func (sec *security) quorumDialTLS() func(host string, conn net.Conn) *tls.Config {
	m := sec.quorumTLS
	if m == nil || !sec.sslQuorum {
		return nil
	}
	return func(host string, conn net.Conn) *tls.Config { return m.ClientConfig(host, conn.RemoteAddr()) }
}

// authorizeMembers has quorum SASL take the hosts of members' quorum addresses
// as the members' hosts.
func (sec *security) authorizeMembers(peers map[uint64]string) {
	if sec == nil || sec.quorum == nil {
		return
	}
	sec.quorum.setMembers(slices.Collect(maps.Values(peers)))
}

// close ends what outlives a configuration: the quorum learner's Kerberos
// login.
func (sec *security) close() {
	if sec != nil && sec.quorum != nil {
		sec.quorum.close()
	}
}

// applyPeer sets the quorum transport's TLS and authentication.
func (sec *security) applyPeer(c *peer.Config) {
	if m := sec.quorumTLS; m != nil {
		c.ServerTLS, c.Unified = m.ServerConfig(), sec.quorumUnified
		c.DetectTimeout = m.Config().HandshakeDetectionTimeout
		c.ClientTLSConfig = sec.quorumDialTLS()
	}
	if sec.quorum != nil {
		c.Auth = sec.quorum
	}
}

// secureClientAddr is the secure client port's listen address:
// secureClientPortAddress (every address when unset) and secureClientPort.
func secureClientAddr(cfg *zoocfg.Config) string {
	host := strings.TrimSuffix(strings.TrimPrefix(cfg.SecureClientPortAddr, "["), "]")
	if host == "" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, strconv.Itoa(cfg.SecureClientPort))
}

// javaBool is Boolean.parseBoolean.
func javaBool(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }
