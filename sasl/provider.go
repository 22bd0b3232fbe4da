package sasl

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

// Property names ZooKeeper reads for SASL (system properties; a zoo.cfg key X that
// ZooKeeper does not know arrives as zookeeper.X).
const (
	PropJAASConfig        = "java.security.auth.login.config"
	PropLoginContext      = "zookeeper.sasl.serverconfig"
	PropSuperUser         = "zookeeper.superUser" // also zookeeper.superUser.<anything>
	PropSuperPassword     = "zookeeper.SASLAuthenticationProvider.superPassword"
	PropRemoveHost        = "zookeeper.kerberos.removeHostFromPrincipal"
	PropRemoveRealm       = "zookeeper.kerberos.removeRealmFromPrincipal"
	PropAuthToLocal       = "zookeeper.security.auth_to_local"
	PropLetAnySaslUserDoX = "zookeeper.letAnySaslUserDoX"
	PropAllowFailed       = "zookeeper.allowSaslFailedClients"
	PropKrb5Realm         = "java.security.krb5.realm"
	PropKrb5Conf          = "java.security.krb5.conf"
)

// DefaultLoginContext is the JAAS section a ZooKeeper server reads.
const DefaultLoginContext = "Server"

// Mechanism names.
const (
	MechDigestMD5 = "DIGEST-MD5"
	MechGSSAPI    = "GSSAPI"
)

// Login module classes ZooKeeper deployments put in the Server section.
const (
	DigestLoginModule = "org.apache.zookeeper.server.auth.DigestLoginModule"
	Krb5LoginModule   = "com.sun.security.auth.module.Krb5LoginModule"
)

var (
	// ErrAuthFailed is wrapped by every failed SASL exchange; the session answers
	// AUTHFAILED (or SESSIONCLOSEDREQUIRESASLAUTH when SASL is required).
	ErrAuthFailed = errors.New("sasl: authentication failed")
	// ErrNoSection is returned by NewProvider when the JAAS file has no section
	// named by zookeeper.sasl.serverconfig (ZooKeeper: "No JAAS configuration
	// section named 'Server' was found").
	ErrNoSection = errors.New("sasl: no JAAS configuration section")
	// ErrKerberosConfig is returned by NewProvider for a Krb5LoginModule entry zkd
	// cannot serve with (no keytab, a principal without a host part, ...).
	ErrKerberosConfig = errors.New("sasl: Kerberos login configuration")
)

// Config is the server side of ZooKeeper's SASL settings.
type Config struct {
	// LoginContext is zookeeper.sasl.serverconfig: the JAAS section to use.
	LoginContext string
	// JAASFile is java.security.auth.login.config.
	JAASFile string
	// SuperUsers are the values of zookeeper.superUser and every
	// zookeeper.superUser.<suffix>: SASL ids that also get Id("super", "").
	SuperUsers []string
	// SuperPassword is zookeeper.SASLAuthenticationProvider.superPassword: when set,
	// it replaces the JAAS password of the DIGEST-MD5 user "super" (which must still
	// be listed in the section, as in ZooKeeper).
	SuperPassword    string
	HasSuperPassword bool
	// RemoveHostFromPrincipal and RemoveRealmFromPrincipal are the
	// zookeeper.kerberos.* switches (true only for the exact value "true").
	RemoveHostFromPrincipal  bool
	RemoveRealmFromPrincipal bool
	// AuthToLocal is zookeeper.security.auth_to_local ("DEFAULT" when unset).
	AuthToLocal string
	// DefaultRealm is the realm the DEFAULT rule strips: java.security.krb5.realm,
	// else default_realm of the Kerberos configuration, else "".
	DefaultRealm string
	// LetAnySaslUserDoX is zookeeper.letAnySaslUserDoX: an ACL id every SASL id
	// matches.
	LetAnySaslUserDoX string
	// AllowFailedClients is zookeeper.allowSaslFailedClients: keep the connection
	// after a failed exchange (ignored when SASL is required).
	AllowFailedClients bool
	// MaxClockSkew bounds Kerberos authenticator times (5 minutes, as krb5.conf's
	// clockskew default).
	MaxClockSkew time.Duration
	// Protocol and ServerName are the names ZooKeeper creates its SaslServer with:
	// "zookeeper" and "zk-sasl-md5" on the client port (DefaultConfig), and
	// "zookeeper-quorum" and "zk-quorum-sasl-md5" between servers (QuorumConfig).
	// DIGEST-MD5 uses the server name as its realm and protocol/server-name as
	// its digest-uri.
	Protocol, ServerName string
	// Authorize, when set, replaces the id rules above: it gets the
	// authenticated name (DIGEST-MD5 user, Kerberos principal name@REALM) and
	// returns the id, or an error wrapping ErrAuthFailed to refuse it. A quorum
	// member's server side sets it (ZooKeeper's SaslQuorumServerCallbackHandler).
	Authorize func(authenticationID string) (string, error)
}

// Names of ZooKeeper's SASL servers.
const (
	ClientProtocol   = "zookeeper"
	ClientServerName = "zk-sasl-md5"
	QuorumProtocol   = "zookeeper-quorum"
	QuorumServerName = "zk-quorum-sasl-md5"
)

// DefaultConfig returns ZooKeeper's defaults for the client port.
func DefaultConfig() Config {
	return Config{LoginContext: DefaultLoginContext, AuthToLocal: "DEFAULT", MaxClockSkew: 5 * time.Minute,
		Protocol: ClientProtocol, ServerName: ClientServerName}
}

// QuorumConfig returns the configuration of the server side of quorum
// authentication: the JAAS section loginContext (quorum.auth.server.saslLoginContext,
// "QuorumServer" by default) and ZooKeeper's quorum SASL names.
func QuorumConfig(loginContext string) Config {
	c := DefaultConfig()
	c.LoginContext, c.Protocol, c.ServerName = loginContext, QuorumProtocol, QuorumServerName
	return c
}

// FromProperties reads Config from the merged properties. The default realm comes
// from java.security.krb5.realm, else from the default_realm of the file named by
// java.security.krb5.conf (else /etc/krb5.conf), as Java's Kerberos configuration.
func FromProperties(props map[string]string) Config {
	c := DefaultConfig()
	if v, ok := props[PropLoginContext]; ok {
		c.LoginContext = v
	}
	c.JAASFile = props[PropJAASConfig]
	var keys []string
	for k := range props {
		if k == PropSuperUser || strings.HasPrefix(k, PropSuperUser+".") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.SuperUsers = append(c.SuperUsers, props[k])
	}
	c.SuperPassword, c.HasSuperPassword = props[PropSuperPassword]
	c.RemoveHostFromPrincipal = props[PropRemoveHost] == "true"
	c.RemoveRealmFromPrincipal = props[PropRemoveRealm] == "true"
	if v, ok := props[PropAuthToLocal]; ok {
		c.AuthToLocal = v
	}
	c.LetAnySaslUserDoX = props[PropLetAnySaslUserDoX]
	c.AllowFailedClients = strings.EqualFold(props[PropAllowFailed], "true")
	if r, ok := props[PropKrb5Realm]; ok {
		c.DefaultRealm = r
	} else {
		path := props[PropKrb5Conf]
		if path == "" {
			path = "/etc/krb5.conf"
		}
		c.DefaultRealm, _ = DefaultRealmFromKrb5Conf(path)
	}
	return c
}

// DefaultRealmFromKrb5Conf returns default_realm from the [libdefaults] section of
// a krb5.conf file.
func DefaultRealmFromKrb5Conf(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	section := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		if section != "libdefaults" {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "default_realm" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", sc.Err()
}

// Env is what a Provider takes from its surroundings; tests replace parts.
type Env struct {
	// Rand makes DIGEST-MD5 nonces and Kerberos sequence numbers; nil: crypto/rand.
	Rand io.Reader
	// Now is the clock for AP-REP times; nil: time.Now. (Ticket and authenticator
	// times are checked by gokrb5 against the system clock.)
	Now func() time.Time
	Log *slog.Logger
}

// Provider is the server side of ZooKeeper's SASL: one mechanism chosen by the JAAS
// section as ZooKeeper chooses it (a Krb5LoginModule gives the server Kerberos
// principals, hence GSSAPI; otherwise DIGEST-MD5 with the section's user_<name>
// passwords), the id rules, and the super-user list. Safe for concurrent use.
type Provider struct {
	cfg   Config // immutable
	rules *Rules // immutable
	env   Env
	mech  string
	users map[string]string // DIGEST-MD5: user -> password; immutable
	krb   *krbAcceptor      // GSSAPI; immutable
}

// NewProvider builds the provider for cfg's login context in jaas.
func NewProvider(cfg Config, jaas *JAAS, env Env) (*Provider, error) {
	if env.Rand == nil {
		env.Rand = rand.Reader
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	if cfg.LoginContext == "" {
		cfg.LoginContext = DefaultLoginContext
	}
	if cfg.Protocol == "" || cfg.ServerName == "" {
		cfg.Protocol, cfg.ServerName = ClientProtocol, ClientServerName
	}
	rules, err := ParseRules(cfg.AuthToLocal, cfg.DefaultRealm)
	if err != nil {
		return nil, err
	}
	mods := jaas.Section(cfg.LoginContext)
	if mods == nil {
		where := ""
		if jaas != nil && jaas.Path != "" {
			where = " in '" + jaas.Path + "'"
		}
		return nil, fmt.Errorf("%w named '%s' was found%s", ErrNoSection, cfg.LoginContext, where)
	}
	p := &Provider{cfg: cfg, rules: rules, env: env, users: map[string]string{}}
	for _, m := range mods {
		for k, v := range m.Options {
			if name, ok := strings.CutPrefix(k, "user_"); ok {
				p.users[name] = v
			}
		}
		if m.Class == Krb5LoginModule && p.krb == nil {
			if p.krb, err = newKrbAcceptor(m, cfg); err != nil {
				return nil, err
			}
		}
	}
	p.mech = MechDigestMD5
	if p.krb != nil {
		p.mech = MechGSSAPI
	}
	return p, nil
}

// Mechanism is the one mechanism this server speaks.
func (p *Provider) Mechanism() string { return p.mech }

// Config returns the provider's configuration.
func (p *Provider) Config() Config { return p.cfg }

// Server is one connection's SASL exchange. Evaluate is called with each client
// token (opcode 102) in order and returns the token to send back; nil means an
// absent token (SetSASLResponse with length -1), which ZooKeeper sends when GSSAPI
// completes. Not safe for concurrent use; a connection owns its Server.
type Server interface {
	Mechanism() string
	Evaluate(clientToken []byte) ([]byte, error)
	// Complete reports that the exchange succeeded.
	Complete() bool
	// AuthorizationID is the sasl ACL id; valid once Complete.
	AuthorizationID() string
}

// NewServer starts an exchange for a connection from remote (used to check a
// Kerberos ticket's address list; may be nil).
func (p *Provider) NewServer(remote net.Addr) Server {
	if p.mech == MechGSSAPI {
		return &gssapiServer{p: p, remote: remote}
	}
	return &digestServer{p: p}
}

// authorize is ZooKeeper's SaslServerCallbackHandler.handleAuthorizeCallback: the
// authentication id, shortened by the auth_to_local rules, with "/host" and
// "@realm" put back unless zookeeper.kerberos.remove*FromPrincipal say otherwise.
//
// When no rule applies ZooKeeper leaves the id the client asked for (its
// authorization id) in place; zkd uses the authentication id instead, so a client
// cannot name its own ACL identity. Java clients ask for their authentication id,
// so the two agree for them.
func (p *Provider) authorize(authenticationID string) (string, error) {
	if p.cfg.Authorize != nil {
		return p.cfg.Authorize(authenticationID)
	}
	kn, err := ParsePrincipal(authenticationID)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrAuthFailed, err)
	}
	short, err := p.rules.ShortName(kn)
	if err != nil {
		p.env.Log.Warn("sasl: no auth_to_local rule applies; using the authenticated name", "name", authenticationID, "err", err)
		return authenticationID, nil
	}
	id := short
	if !p.cfg.RemoveHostFromPrincipal && kn.HasHost() {
		id += "/" + kn.Host
	}
	if !p.cfg.RemoveRealmFromPrincipal && kn.HasRealm() {
		id += "@" + kn.Realm
	}
	return id, nil
}

// IsSuperUser reports whether a completed exchange's id also gets Id("super", "").
func (p *Provider) IsSuperUser(id string) bool {
	if id == "" {
		return false
	}
	for _, s := range p.cfg.SuperUsers {
		if s == id {
			return true
		}
	}
	return false
}

// Matches is SASLAuthenticationProvider.matches: the connection's sasl id matches
// an ACL id when equal, when the connection's id is "super", or when the ACL id is
// zookeeper.letAnySaslUserDoX.
func (p *Provider) Matches(id, aclExpr string) bool { return p.cfg.Matches(id, aclExpr) }

// Matches is Provider.Matches for a configuration alone: the sasl ACL scheme works
// (as ZooKeeper's SASLAuthenticationProvider) whether or not this server has a
// JAAS section to authenticate clients with.
func (c Config) Matches(id, aclExpr string) bool {
	if id == "super" || id == aclExpr {
		return true
	}
	return c.LetAnySaslUserDoX != "" && aclExpr == c.LetAnySaslUserDoX
}

// ValidID is SASLAuthenticationProvider.isValid: the id must parse as a Kerberos
// name (no '@', or exactly service[/host]@realm).
func ValidID(id string) bool {
	_, err := ParsePrincipal(id)
	return err == nil
}
