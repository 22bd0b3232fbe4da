package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Family selects which of ZooKeeper's two key families a Config is read from. The
// names are ZooKeeper's system-property names; a zoo.cfg key `ssl.X` arrives as the
// property `zookeeper.ssl.X` (QuorumPeerConfig prefixes every key it does not know).
type Family int

const (
	// Client is the client port's family (ZooKeeper's ClientX509Util): prefix
	// "zookeeper.ssl.". A server on this family never checks a client's host name.
	Client Family = iota
	// Quorum is the peer-to-peer family (QuorumX509Util): prefix
	// "zookeeper.ssl.quorum.". A server on this family checks the connecting peer's
	// certificate against its address when host-name verification is on.
	Quorum
)

// Prefix returns the family's property prefix.
func (f Family) Prefix() string {
	if f == Quorum {
		return "zookeeper.ssl.quorum."
	}
	return "zookeeper.ssl."
}

func (f Family) String() string {
	if f == Quorum {
		return "quorum"
	}
	return "client"
}

// ClientAuth is ssl.clientAuth: whether a server asks for and requires a client
// certificate. ZooKeeper's default (property absent or empty) is Need.
type ClientAuth int

const (
	// Need requests a certificate and closes the handshake without one.
	Need ClientAuth = iota
	// Want requests a certificate and accepts clients that send none; a certificate
	// that is sent must still verify.
	Want
	// None does not request a certificate.
	None
)

func (a ClientAuth) String() string {
	switch a {
	case Want:
		return "WANT"
	case None:
		return "NONE"
	}
	return "NEED"
}

// StoreType is a key or trust store's file format (ssl.*Store.type).
type StoreType string

const (
	// TypeJKS is a Java KeyStore file (magic 0xFEEDFEED).
	TypeJKS StoreType = "JKS"
	// TypePKCS12 is a PKCS #12 file (.p12).
	TypePKCS12 StoreType = "PKCS12"
	// TypePEM is PEM text: a key store holds one PKCS #8 private key (encrypted when
	// a password is set) and its certificate chain; a trust store holds certificates.
	TypePEM StoreType = "PEM"
	// TypeBCFKS is Bouncy Castle's FIPS key store. ZooKeeper accepts it; zkd reports
	// ErrUnsupportedStore.
	TypeBCFKS StoreType = "BCFKS"
)

// Store names one key or trust store: ssl.keyStore.* or ssl.trustStore.*.
type Store struct {
	// Location is the file path; empty means no store.
	Location string
	// Password decrypts the store (and, for JKS and PKCS12 key stores, the keys in
	// it, as Java's KeyManagerFactory does with the store password).
	Password string
	// PasswordPath, when set, names a file whose contents replace Password, less one
	// trailing newline (ZooKeeper's SecretUtils.readSecret).
	PasswordPath string
	// Type is the declared format; empty means inferred from the file name as
	// ZooKeeper does: .jks, .pem, .p12, .bcfks, case-sensitive.
	Type StoreType
}

// Config is one family's TLS settings, in ZooKeeper's terms. Build it with
// DefaultConfig or FromProperties, then Validate.
type Config struct {
	Family     Family
	KeyStore   Store
	TrustStore Store

	// Protocol is ssl.protocol, the SSLContext protocol: TLSv1.2, TLSv1.3, TLS, or
	// the old TLSv1 / TLSv1.1. When EnabledProtocols is empty it decides the versions:
	// TLSv1.3 and TLS enable TLS 1.3 and 1.2, anything else only itself.
	Protocol string
	// EnabledProtocols is ssl.enabledProtocols: the exact versions allowed. Go takes a
	// contiguous range, so the list must not skip a version.
	EnabledProtocols []string
	// CipherSuites is ssl.ciphersuites in Java (IANA) names; empty means Go's
	// defaults. TLS 1.3 suites are accepted but Go always offers all three.
	CipherSuites []string

	ClientAuth ClientAuth
	// HostnameVerification is ssl.hostnameVerification (default true). A client (a
	// peer dialling) then checks the server's certificate against the address it
	// dialled; a Quorum server also checks the connecting peer's certificate against
	// the peer's address. A Client-family server never checks client host names.
	HostnameVerification bool
	// AllowReverseDNSLookup is ssl.allowReverseDnsLookup: after the address itself
	// fails to match, look up the address's name and try that. Default false for
	// Client, true for Quorum.
	AllowReverseDNSLookup bool

	// CRL and OCSP are ssl.crl and ssl.ocsp: either has peers' chains checked
	// for revocation, OCSP first with OCSP (revocation.go).
	CRL, OCSP bool
	// ContextSupplierClass is ssl.context.supplier.class, a Java class; Validate
	// refuses it.
	ContextSupplierClass string
	// HandshakeDetectionTimeout is ssl.handshakeDetectionTimeoutMillis (default 5 s,
	// values below 1 ms reset to the default): how long a port that accepts both
	// plain and TLS clients waits for the first bytes.
	HandshakeDetectionTimeout time.Duration
	// FIPSMode is zookeeper.fips-mode. It changes nothing in zkd (Go's own TLS stack
	// and ZooKeeper's host-name rules are used either way); it is kept so the key is
	// not reported as unknown.
	FIPSMode bool
	// AuthProvider is zookeeper.ssl.authProvider (Client family only): the auth scheme
	// whose provider turns client certificates into ids. Only "x509" is supported.
	AuthProvider string
}

// DefaultHandshakeDetectionTimeout is ZooKeeper's default for
// ssl.handshakeDetectionTimeoutMillis.
const DefaultHandshakeDetectionTimeout = 5 * time.Second

// DefaultConfig returns ZooKeeper's defaults for family f, with no stores.
func DefaultConfig(f Family) Config {
	return Config{
		Family:                    f,
		Protocol:                  "TLSv1.3",
		ClientAuth:                Need,
		HostnameVerification:      true,
		AllowReverseDNSLookup:     f == Quorum,
		HandshakeDetectionTimeout: DefaultHandshakeDetectionTimeout,
		AuthProvider:              "x509",
	}
}

// Property names, relative to Family.Prefix.
const (
	PropKeyStoreLocation        = "keyStore.location"
	PropKeyStorePassword        = "keyStore.password"
	PropKeyStorePasswordPath    = "keyStore.passwordPath"
	PropKeyStoreType            = "keyStore.type"
	PropTrustStoreLocation      = "trustStore.location"
	PropTrustStorePassword      = "trustStore.password"
	PropTrustStorePasswordPath  = "trustStore.passwordPath"
	PropTrustStoreType          = "trustStore.type"
	PropProtocol                = "protocol"
	PropEnabledProtocols        = "enabledProtocols"
	PropCipherSuites            = "ciphersuites"
	PropClientAuth              = "clientAuth"
	PropHostnameVerification    = "hostnameVerification"
	PropAllowReverseDNSLookup   = "allowReverseDnsLookup"
	PropCRL                     = "crl"
	PropOCSP                    = "ocsp"
	PropContextSupplierClass    = "context.supplier.class"
	PropHandshakeDetectionMilli = "handshakeDetectionTimeoutMillis"
)

// Global property names (not under a family prefix).
const (
	PropFIPSMode     = "zookeeper.fips-mode"
	PropAuthProvider = "zookeeper.ssl.authProvider"
)

var (
	// ErrBadValue is returned by FromProperties when a property has a value
	// ZooKeeper would refuse (an unknown clientAuth or store type, a bad number).
	ErrBadValue = errors.New("tlsconf: bad property value")
	// ErrUnsupported is returned by Validate for a setting zkd cannot honour
	// (revocation checking, a Java context supplier class, an unknown protocol or
	// cipher suite, a non-x509 auth provider).
	ErrUnsupported = errors.New("tlsconf: unsupported setting")
)

// FromProperties reads family f's settings from props, which maps full property
// names ("zookeeper.ssl.keyStore.location") to values, as the merged zoo.cfg and -D
// properties hold them. Absent keys keep DefaultConfig's values. Booleans follow
// Java's Boolean.parseBoolean: "true" in any case is true, anything else false.
// A passwordPath is read here, so the returned Config holds the password.
func FromProperties(props map[string]string, f Family) (Config, error) {
	c := DefaultConfig(f)
	p := f.Prefix()
	get := func(k string) (string, bool) {
		v, ok := props[p+k]
		return v, ok
	}
	var err error
	if c.KeyStore, err = storeFrom(get, p, "keyStore"); err != nil {
		return c, err
	}
	if c.TrustStore, err = storeFrom(get, p, "trustStore"); err != nil {
		return c, err
	}
	if v, ok := get(PropProtocol); ok {
		c.Protocol = v
	}
	if v, ok := get(PropEnabledProtocols); ok {
		c.EnabledProtocols = strings.Split(v, ",")
	}
	if v, ok := get(PropCipherSuites); ok {
		c.CipherSuites = strings.Split(v, ",")
	}
	if v, ok := get(PropClientAuth); ok && v != "" {
		// ClientAuth.valueOf(prop.toUpperCase()): case-insensitive, not trimmed.
		switch strings.ToUpper(v) {
		case "NEED":
			c.ClientAuth = Need
		case "WANT":
			c.ClientAuth = Want
		case "NONE":
			c.ClientAuth = None
		default:
			return c, fmt.Errorf("%w: %s%s=%q (NONE, WANT or NEED)", ErrBadValue, p, PropClientAuth, v)
		}
	}
	if v, ok := get(PropHostnameVerification); ok {
		c.HostnameVerification = javaBool(v)
	}
	if v, ok := get(PropAllowReverseDNSLookup); ok {
		c.AllowReverseDNSLookup = javaBool(v)
	}
	if v, ok := get(PropCRL); ok {
		c.CRL = javaBool(v)
	}
	if v, ok := get(PropOCSP); ok {
		c.OCSP = javaBool(v)
	}
	if v, ok := get(PropContextSupplierClass); ok {
		c.ContextSupplierClass = v
	}
	if v, ok := get(PropHandshakeDetectionMilli); ok {
		ms, err := strconv.Atoi(v)
		if err != nil {
			return c, fmt.Errorf("%w: %s%s=%q: %v", ErrBadValue, p, PropHandshakeDetectionMilli, v, err)
		}
		if ms >= 1 { // ZooKeeper resets 0 and negatives to the default.
			c.HandshakeDetectionTimeout = time.Duration(ms) * time.Millisecond
		}
	}
	if v, ok := props[PropFIPSMode]; ok {
		c.FIPSMode = javaBool(v)
	}
	if v, ok := props[PropAuthProvider]; ok && f == Client {
		c.AuthProvider = v
	}
	return c, nil
}

func storeFrom(get func(string) (string, bool), prefix, which string) (Store, error) {
	var s Store
	s.Location, _ = get(which + ".location")
	s.Password, _ = get(which + ".password")
	s.PasswordPath, _ = get(which + ".passwordPath")
	if t, _ := get(which + ".type"); t != "" {
		st, err := ParseStoreType(t)
		if err != nil {
			return s, fmt.Errorf("%w: %s%s.type=%q", ErrBadValue, prefix, which, t)
		}
		s.Type = st
	}
	if s.PasswordPath != "" {
		b, err := os.ReadFile(s.PasswordPath)
		if err != nil {
			return s, fmt.Errorf("tlsconf: %s%s.passwordPath: %w", prefix, which, err)
		}
		s.Password = strings.TrimSuffix(string(b), "\n")
	}
	return s, nil
}

// ParseStoreType parses a store type as ZooKeeper's KeyStoreFileType.valueOf does
// (case-insensitive).
func ParseStoreType(v string) (StoreType, error) {
	switch t := StoreType(strings.ToUpper(v)); t {
	case TypeJKS, TypePKCS12, TypePEM, TypeBCFKS:
		return t, nil
	}
	return "", fmt.Errorf("%w: store type %q (JKS, PKCS12, PEM or BCFKS)", ErrBadValue, v)
}

// javaBool is Boolean.parseBoolean(v.trim()), as ZKConfig.getBoolean reads flags.
func javaBool(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }

// Validate checks that zkd can honour c and returns the Go TLS versions and cipher
// suites it maps to. It does not open the stores; NewManager does.
func (c *Config) Validate() error {
	_, err := c.tlsParams()
	return err
}

// tlsParams is what Config maps to on a tls.Config.
type tlsParams struct {
	minVersion, maxVersion uint16
	cipherSuites           []uint16 // nil: Go's defaults
}

var protocolVersions = map[string]uint16{
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

func (c *Config) tlsParams() (tlsParams, error) {
	var tp tlsParams
	p := c.Family.Prefix()
	if c.ContextSupplierClass != "" {
		return tp, fmt.Errorf("%w: %s%s=%q names a Java class", ErrUnsupported, p, PropContextSupplierClass, c.ContextSupplierClass)
	}
	if c.Family == Client && c.AuthProvider != "" && c.AuthProvider != "x509" {
		return tp, fmt.Errorf("%w: %s=%q: only the x509 provider exists", ErrUnsupported, PropAuthProvider, c.AuthProvider)
	}
	if c.ClientAuth < Need || c.ClientAuth > None {
		return tp, fmt.Errorf("%w: client auth %d", ErrBadValue, c.ClientAuth)
	}
	for _, s := range []Store{c.KeyStore, c.TrustStore} {
		if s.Location == "" {
			continue
		}
		if _, err := storeType(s); err != nil {
			return tp, err
		}
	}

	// Versions: the enabled list, or what the SSLContext protocol enables by default
	// (JDK 11+: "TLSv1.3" and "TLS" contexts enable 1.3 and 1.2).
	var versions []uint16
	if len(c.EnabledProtocols) > 0 {
		for _, name := range c.EnabledProtocols {
			name = strings.TrimSpace(name)
			if name == "SSLv2Hello" {
				continue // a Java pseudo-protocol for the hello format only
			}
			v, ok := protocolVersions[name]
			if !ok {
				return tp, fmt.Errorf("%w: %s%s: protocol %q (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)", ErrUnsupported, p, PropEnabledProtocols, name)
			}
			versions = append(versions, v)
		}
	} else {
		switch proto := strings.TrimSpace(c.Protocol); proto {
		case "TLSv1.3", "TLS", "":
			versions = []uint16{tls.VersionTLS12, tls.VersionTLS13}
		default:
			v, ok := protocolVersions[proto]
			if !ok {
				return tp, fmt.Errorf("%w: %s%s=%q (TLS, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)", ErrUnsupported, p, PropProtocol, proto)
			}
			versions = []uint16{v}
		}
	}
	if len(versions) == 0 {
		return tp, fmt.Errorf("%w: %s%s enables no protocol", ErrUnsupported, p, PropEnabledProtocols)
	}
	set := map[uint16]bool{}
	tp.minVersion, tp.maxVersion = versions[0], versions[0]
	for _, v := range versions {
		set[v] = true
		tp.minVersion = min(tp.minVersion, v)
		tp.maxVersion = max(tp.maxVersion, v)
	}
	for v := tp.minVersion; v <= tp.maxVersion; v++ {
		if !set[v] {
			return tp, fmt.Errorf("%w: %s%s=%s skips %s; Go enables a contiguous range of versions",
				ErrUnsupported, p, PropEnabledProtocols, strings.Join(c.EnabledProtocols, ","), tls.VersionName(v))
		}
	}

	if len(c.CipherSuites) > 0 {
		ids, only13, err := mapCipherSuites(c.CipherSuites)
		if err != nil {
			return tp, fmt.Errorf("%s%s: %w", p, PropCipherSuites, err)
		}
		if len(ids) == 0 && !(only13 && tp.minVersion == tls.VersionTLS13) {
			return tp, fmt.Errorf("%w: %s%s names no suite Go offers for TLS 1.2 and below", ErrUnsupported, p, PropCipherSuites)
		}
		tp.cipherSuites = ids
	}
	return tp, nil
}

// mapCipherSuites maps Java cipher suite names to Go's IDs. Java and Go both use
// the IANA names, except that Java spells some old suites with an SSL_ prefix. TLS
// 1.3 suites are recognised (only13 reports that some were listed) but yield no ID:
// Go enables all of them whenever TLS 1.3 is on. A name Go does not implement is an
// error, as an unknown name is for Java's setEnabledCipherSuites.
func mapCipherSuites(names []string) (ids []uint16, only13 bool, err error) {
	byName := map[string]*tls.CipherSuite{}
	for _, cs := range tls.CipherSuites() {
		byName[cs.Name] = cs
	}
	for _, cs := range tls.InsecureCipherSuites() {
		byName[cs.Name] = cs
	}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		lookup := n
		if strings.HasPrefix(lookup, "SSL_") {
			lookup = "TLS_" + strings.TrimPrefix(lookup, "SSL_")
		}
		cs, ok := byName[lookup]
		if !ok {
			return nil, false, fmt.Errorf("%w: cipher suite %q is not implemented by Go's TLS", ErrUnsupported, n)
		}
		if len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13 {
			only13 = true
			continue
		}
		ids = append(ids, cs.ID)
	}
	return ids, only13, nil
}
