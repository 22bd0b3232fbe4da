package session

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"zkd/datatree"
	"zkd/jute"
	"zkd/sasl"
	"zkd/tlsconf"
)

// DigestID returns the digest-scheme id for "user:password":
// user + ":" + base64(sha1("user:password")), as DigestAuthenticationProvider does.
func DigestID(userPassword string) string {
	sum := sha1.Sum([]byte(userPassword))
	user, _, _ := strings.Cut(userPassword, ":")
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// userName is the user part whoAmI reports for an id.
func userName(id jute.Id) string {
	if id.Scheme == "digest" {
		user, _, _ := strings.Cut(id.ID, ":")
		return user
	}
	return id.ID
}

// AuthConfig is what ZooKeeper's ProviderRegistry and AuthenticationHelper hold:
// the authentication providers beyond ip and digest (which are there unless
// digest is turned off), the
// SASL server of opcode 102, and which schemes every session must have.
//
// Reference: ProviderRegistry (providers named by zookeeper.authProvider.N),
// ZooKeeperServer.processSasl, AuthenticationHelper (3.7+).
type AuthConfig struct {
	// X509 is the x509 provider when registered (X509AuthenticationProvider); nil
	// otherwise. Without it a TLS client that presents a certificate is refused,
	// as ZooKeeper refuses it ("X509 Auth provider not found"), and x509 ACL
	// entries are invalid.
	X509 *tlsconf.X509Provider
	// SASLScheme is set when the sasl provider is registered
	// (SASLAuthenticationProvider): sasl ACL entries are then valid and matched by
	// its rules. Authentication itself (opcode 102) needs only SASL.
	SASLScheme *sasl.Config
	// SASL authenticates opcode-102 exchanges; nil when there is no JAAS section
	// for the server, in which case a SASL token is answered with AUTHFAILED.
	SASL *sasl.Provider
	// Enforce lists the schemes a connection must hold one of before any request
	// other than auth and sasl is served (zookeeper.enforce.auth.schemes with
	// zookeeper.enforce.auth.enabled, or sasl alone with
	// zookeeper.sessionRequireClientSASLAuth); empty: nothing enforced.
	Enforce []string
	// AllowSASLFailed is zookeeper.allowSaslFailedClients: a failed SASL exchange
	// leaves the connection open (unless sasl is enforced).
	AllowSASLFailed bool
	// DigestDisabled is zookeeper.DigestAuthenticationProvider.enabled=false: the
	// digest provider is not registered, so addauth digest fails (AUTHFAILED,
	// then close) and digest ACL entries are invalid (datatree's DigestDisabled).
	DigestDisabled bool
}

// ErrSchemeUnavailable is returned by AuthConfig.Validate for an enforced scheme
// with no provider (ZooKeeper: "Authentication scheme X is not available.").
var ErrSchemeUnavailable = errors.New("session: authentication scheme is not available")

// registered reports whether scheme has a provider, as ProviderRegistry.getProvider.
func (a *AuthConfig) registered(scheme string) bool {
	switch scheme {
	case "ip":
		return true
	case "digest":
		return !a.DigestDisabled
	case tlsconf.SchemeX509:
		return a.X509 != nil
	case "sasl":
		return a.SASLScheme != nil
	}
	return false
}

// Validate checks the enforced schemes against the registered providers, as
// AuthenticationHelper does at start.
func (a *AuthConfig) Validate() error {
	for _, s := range a.Enforce {
		if !a.registered(s) {
			return fmt.Errorf("%w: %q (register its provider with zookeeper.authProvider.N)", ErrSchemeUnavailable, s)
		}
	}
	return nil
}

// saslRequired reports whether sasl is among the enforced schemes.
func (a *AuthConfig) saslRequired() bool { return slices.Contains(a.Enforce, "sasl") }

// TreeSchemes returns the registered providers' ACL rules for the data tree
// (datatree.Config.Schemes).
func (a *AuthConfig) TreeSchemes() map[string]datatree.Scheme {
	m := map[string]datatree.Scheme{}
	if a.X509 != nil {
		m[tlsconf.SchemeX509] = x509Scheme{*a.X509}
	}
	if a.SASLScheme != nil {
		m["sasl"] = saslScheme{*a.SASLScheme}
	}
	return m
}

type x509Scheme struct{ p tlsconf.X509Provider }

func (s x509Scheme) Valid(id string) bool            { return s.p.Valid(id) }
func (s x509Scheme) Matches(have, aclID string) bool { return s.p.Matches(have, aclID) }

type saslScheme struct{ c sasl.Config }

func (s saslScheme) Valid(id string) bool            { return sasl.ValidID(id) }
func (s saslScheme) Matches(have, aclID string) bool { return s.c.Matches(have, aclID) }

// auth adds an identity to the connection (opcode 100). digest adds its id; ip,
// which every connection already has, succeeds and adds nothing; x509 succeeds on
// a connection that authenticated with a certificate, as X509AuthenticationProvider
// does. Anything else, sasl included (it is negotiated with opcode 102), is
// AUTHFAILED and a closed connection.
func (c *Conn) auth(xid int32, body []byte, start int64) {
	srv := c.srv
	var r jute.AuthPacket
	d := jute.NewDecoder(body)
	r.Decode(&d)
	if d.Err() != nil {
		// ZooKeeper closes the connection without a reply on a packet it cannot read.
		srv.log.Warn("closing connection: malformed auth packet", "remote", c.remote, "sessionid", c.sessionID(),
			"len", len(body))
		c.abort()
		return
	}
	switch {
	case r.Scheme == "digest" && !srv.cfg.Auth.DigestDisabled:
		digest := DigestID(string(r.Auth))
		// In ZooKeeper's order (DigestAuthenticationProvider): super first, then
		// the digest id; whoAmI lists them as added.
		var add []jute.Id
		if srv.cfg.SuperDigest != "" && digest == srv.cfg.SuperDigest {
			add = append(add, jute.Id{Scheme: "super", ID: ""})
		}
		add = append(add, jute.Id{Scheme: "digest", ID: digest})
		c.addIdentity(add...)
		c.answer(replyFrame(nil, xid, 0, jute.CodeOK), start, false)
	case r.Scheme == "ip":
		c.answer(replyFrame(nil, xid, 0, jute.CodeOK), start, false)
	case r.Scheme == tlsconf.SchemeX509 && srv.cfg.Auth.X509 != nil && c.hasScheme(tlsconf.SchemeX509):
		c.answer(replyFrame(nil, xid, 0, jute.CodeOK), start, false)
	default:
		srv.log.Warn("Authentication failed: no provider for scheme", "scheme", r.Scheme,
			"remote", c.remote, "sessionid", c.sessionID())
		c.setState(stateClosing)
		c.answer(replyFrame(nil, xid, 0, jute.CodeAuthFailed), start, true)
	}
}

// addIdentity adds ids the connection does not hold yet. Safe from the event loop
// only (the identity is replaced, never modified, so readers elsewhere see the
// old or the new list).
func (c *Conn) addIdentity(add ...jute.Id) {
	ids := append(datatree.Identity(nil), c.Identity()...)
	for _, id := range add {
		ids = addID(ids, id)
	}
	c.identity.Store(&ids)
}

// hasScheme reports whether the connection holds an id of scheme.
func (c *Conn) hasScheme(scheme string) bool {
	for _, id := range c.Identity() {
		if id.Scheme == scheme {
			return true
		}
	}
	return false
}

func addID(ids datatree.Identity, id jute.Id) datatree.Identity {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}
