package tlsconf

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// ErrHostname is wrapped by every host-name verification failure.
var ErrHostname = errors.New("tlsconf: certificate does not match host")

// Reference: ZooKeeper's ZKHostnameVerifier (a copy of Apache HttpClient's
// DefaultHostnameVerifier) and ZKTrustManager.performHostVerification.

var ipv4Pattern = regexp.MustCompile(`^(25[0-5]|2[0-4]\d|[0-1]?\d?\d)(\.(25[0-5]|2[0-4]\d|[0-1]?\d?\d)){3}$`)

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// VerifyHost checks cert against host as ZooKeeper's verifier does:
//   - an IPv4 literal must equal an IP subject alternative name as text; an IPv6
//     literal (brackets allowed) must equal one after normalisation;
//   - a DNS name is matched case-insensitively against the DNS alternative names,
//     a single '*' matching within one label ("*.example.com", "f*.example.com");
//   - only a certificate with no DNS or IP alternative names falls back to its most
//     specific common name, with the same wildcard rule. Go's own verifier has no
//     such fallback, which is why zkd does not use it.
func VerifyHost(host string, cert *x509.Certificate) error {
	hasSANs := len(cert.DNSNames) > 0 || len(cert.IPAddresses) > 0
	if hasSANs {
		switch {
		case ipv4Pattern.MatchString(host):
			for _, ip := range cert.IPAddresses {
				if ip.To4() != nil && ip.To4().String() == host {
					return nil
				}
			}
		case isIPv6Literal(host):
			want, _ := netip.ParseAddr(strings.Trim(host, "[]"))
			for _, ip := range cert.IPAddresses {
				if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == want.Unmap() {
					return nil
				}
			}
		default:
			h := strings.ToLower(host)
			for _, name := range cert.DNSNames {
				if matchIdentity(h, strings.ToLower(name)) {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: <%s> matches none of the subject alternative names %v %v", ErrHostname, host, cert.DNSNames, cert.IPAddresses)
	}
	cn, ok := lastCommonName(cert)
	if !ok {
		return fmt.Errorf("%w: certificate subject for <%s> has no common name and no alternative names", ErrHostname, host)
	}
	if !matchIdentity(strings.ToLower(host), strings.ToLower(cn)) {
		return fmt.Errorf("%w: <%s> does not match the common name %q", ErrHostname, host, cn)
	}
	return nil
}

func isIPv6Literal(host string) bool {
	s := host
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return false
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && !strings.Contains(s, ".")
}

// lastCommonName is the common name ZooKeeper picks: the last CN attribute in the
// subject's DER order, which RFC 2253 prints first.
func lastCommonName(cert *x509.Certificate) (string, bool) {
	for i := len(cert.Subject.Names) - 1; i >= 0; i-- {
		n := cert.Subject.Names[i]
		if n.Type.Equal(oidCommonName) {
			if s, ok := n.Value.(string); ok {
				return s, true
			}
		}
	}
	return "", false
}

// matchIdentity is ZooKeeper's strict wildcard match on lower-cased input: one '*'
// may stand for any run of characters without a dot.
func matchIdentity(host, identity string) bool {
	star := strings.IndexByte(identity, '*')
	if star < 0 {
		return host == identity
	}
	prefix, suffix := identity[:star], identity[star+1:]
	if !strings.HasPrefix(host, prefix) || !strings.HasSuffix(host, suffix) {
		return false
	}
	if len(prefix)+len(suffix) > len(host) {
		return false // overlapping prefix and suffix (Java would throw here)
	}
	return !strings.Contains(host[len(prefix):len(host)-len(suffix)], ".")
}

// Resolver turns an address into host names for reverse lookups; net.Resolver's
// LookupAddr fits. Tests pass a map.
type Resolver func(ctx context.Context, addr string) ([]string, error)

// verifyPeerHost is ZKTrustManager.performHostVerification: try the peer's address
// as text; on failure try name, the host name the connection was made to (a client
// dialling by name), or else, when reverse lookups are allowed, the address's name.
func verifyPeerHost(ctx context.Context, ip net.IP, name string, allowReverse bool, resolve Resolver, cert *x509.Certificate) error {
	addrErr := VerifyHost(ip.String(), cert)
	if addrErr == nil {
		return nil
	}
	switch {
	case name != "" && net.ParseIP(strings.Trim(name, "[]")) == nil:
	case allowReverse && resolve != nil:
		names, err := resolve(ctx, ip.String())
		if err != nil || len(names) == 0 {
			return fmt.Errorf("%w (reverse lookup of %s: %v)", addrErr, ip, err)
		}
		name = strings.TrimSuffix(names[0], ".")
	default:
		return fmt.Errorf("%w; reverse lookup is disabled", addrErr)
	}
	if err := VerifyHost(name, cert); err != nil {
		return fmt.Errorf("%w: failed to verify both host address and host name: %v", ErrHostname, err)
	}
	return nil
}
