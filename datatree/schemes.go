package datatree

import "zkd/jute"

// Scheme is the ACL side of an authentication provider other than the built-in
// world, auth, ip and digest: ZooKeeper's x509 and sasl providers, which a
// server registers with zookeeper.authProvider.N. An ACL entry of a scheme that
// is not registered is refused by create and setACL (INVALIDACL), as ZooKeeper's
// ProviderRegistry refuses it.
//
// Implementations must be pure functions of their arguments and the server's
// configuration: every replica decides the same.
type Scheme interface {
	// Valid reports whether id may appear in an ACL entry of this scheme
	// (AuthenticationProvider.isValid).
	Valid(id string) bool
	// Matches reports whether a connection's id of this scheme grants an ACL
	// entry's id (AuthenticationProvider.matches).
	Matches(have, aclID string) bool
}

// scheme returns the registered provider of name, if any.
func (t *Tree) scheme(name string) (Scheme, bool) {
	s, ok := t.cfg.Schemes[name]
	return s, ok && s != nil
}

// FixupACL is the package's FixupACL with the tree's registered schemes: their
// entries are accepted when the provider finds the id valid.
func (t *Tree) FixupACL(acl []jute.ACL, id Identity) ([]jute.ACL, jute.Code) {
	if t.cfg.DigestDisabled {
		for _, a := range acl {
			if a.ID.Scheme == "digest" {
				return nil, jute.CodeInvalidACL
			}
		}
	}
	return fixupACL(acl, id, t.scheme)
}
