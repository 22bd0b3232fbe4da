// Package sasl is the server side of ZooKeeper's SASL authentication: the tokens a
// client sends with opcode 102 (GetSASLRequest) and the tokens returned in
// SetSASLResponse, for the two mechanisms ZooKeeper servers speak, DIGEST-MD5 and
// GSSAPI (Kerberos V5), and the sasl ACL ids they produce. It owns the JAAS
// configuration reader (java.security.auth.login.config), ZooKeeper's principal
// rules (auth_to_local, zookeeper.kerberos.remove*FromPrincipal), the super-user
// list and the sasl scheme's ACL matching. It does not read the wire or decide
// what an unauthenticated session may do; the session layer does.
//
//	JAAS file --ParseJAAS--> JAAS --+
//	props --FromProperties--> Config --NewProvider--> Provider (one mechanism)
//	                                                     |
//	connection --NewServer--> Server: Evaluate(token) -> token ... Complete(), AuthorizationID()
//
// The mechanism follows the JAAS section as in ZooKeeper: a Krb5LoginModule gives
// the server a Kerberos principal and GSSAPI (the keytab, and the principal
// service/host@REALM, come from its options); otherwise DIGEST-MD5 with the
// section's user_<name>="<password>" options, realm "zk-sasl-md5", digest-uri
// "zookeeper/zk-sasl-md5", qop auth.
//
// Between servers ZooKeeper speaks the same mechanisms, DIGEST-MD5 under other
// names (realm "zk-quorum-sasl-md5", digest-uri
// "zookeeper-quorum/zk-quorum-sasl-md5"; QuorumConfig); a learner is then the
// client, with the username and password of its QuorumLearner section
// (DigestClient, DigestCredentials), or with the keytab of its Krb5LoginModule
// entry (KerberosLogin, whose GSSAPIClient asks for mutual authentication).
//
// The id of a completed exchange is the authenticated name (DIGEST-MD5 user name,
// Kerberos client principal) shortened by the auth_to_local rules with host and
// realm kept unless removed: "bob", "zkcli/host@EXAMPLE.COM". It becomes
// Id("sasl", id), and Id("super", "") as well when listed in zookeeper.superUser*.
//
// Invariants:
//   - A Server moves forward only: start, challenge(s), done or failed. After a
//     failure or completion every further token is an error.
//   - Token parsers (digest-response directives, GSS framing, Wrap tokens) check
//     every length against the input before using it and allocate at most a
//     constant factor of the token, which is bounded (4 KiB DIGEST-MD5, 64 KiB
//     GSSAPI) before parsing.
//   - Errors returned by Evaluate wrap ErrAuthFailed.
//
// Concurrency: Provider is immutable after NewProvider and safe for concurrent
// use; each Server belongs to one connection and is not safe for concurrent use.
package sasl
