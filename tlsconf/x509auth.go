package tlsconf

import (
	"crypto/tls"
	"errors"
)

// PropX509SuperUser names the x509 id that is also a super user.
const PropX509SuperUser = "zookeeper.X509AuthenticationProvider.superUser"

// SchemeX509 is the ACL scheme of certificate identities.
const SchemeX509 = "x509"

// ErrNoClientCertificate is returned by X509Provider.Authenticate when the
// connection carries no client certificate; ZooKeeper then adds no id (clientAuth
// want) or has already closed the connection (clientAuth need).
var ErrNoClientCertificate = errors.New("tlsconf: no client certificate")

// ID is one authentication id a connection gains, as ZooKeeper's Id(scheme, id).
type ID struct {
	Scheme string
	ID     string
}

// X509Provider is ZooKeeper's X509AuthenticationProvider: a verified client
// certificate's subject, as Java prints it (SubjectName), becomes Id("x509",
// subject), and when it equals SuperUser also Id("super", subject).
//
// The chain was verified against the trust store during the handshake (ZooKeeper
// verifies it a second time with the same trust manager; the outcome is the same),
// so Authenticate only names it.
type X509Provider struct {
	// SuperUser is zookeeper.X509AuthenticationProvider.superUser; empty: none.
	SuperUser string
}

// Authenticate returns the ids of a completed handshake.
func (p X509Provider) Authenticate(cs tls.ConnectionState) ([]ID, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, ErrNoClientCertificate
	}
	name, err := SubjectName(cs.PeerCertificates[0])
	if err != nil {
		return nil, err
	}
	ids := make([]ID, 0, 2)
	if p.SuperUser != "" && name == p.SuperUser {
		ids = append(ids, ID{Scheme: "super", ID: name})
	}
	return append(ids, ID{Scheme: SchemeX509, ID: name}), nil
}

// Matches is the provider's ACL match: the connection's id equals the ACL's id, or
// is the super user.
func (p X509Provider) Matches(id, aclExpr string) bool {
	return id == aclExpr || (p.SuperUser != "" && id == p.SuperUser)
}

// Valid reports whether id is acceptable in an x509 ACL (Java's X500Principal
// parses it).
func (p X509Provider) Valid(id string) bool { return ValidName(id) }
