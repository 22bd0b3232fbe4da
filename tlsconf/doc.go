// Package tlsconf turns ZooKeeper's TLS settings into crypto/tls configurations:
// for a server (the secure client port, the quorum port) and for a client (a peer
// dialling another). It owns the reading of key and trust stores, the mapping of
// ZooKeeper's protocol, cipher and client-auth keys, ZooKeeper's host-name rules,
// certificate reloading, revocation checking (ssl.crl, ssl.ocsp: revocation.go),
// and the x509 identity of a client certificate. It does
// not listen, accept or dial; netloop and quorum do, with the configs it returns.
//
// Settings come in two families with the same keys under different prefixes,
// zookeeper.ssl.* (Client) and zookeeper.ssl.quorum.* (Quorum); a zoo.cfg key ssl.X
// is the property zookeeper.ssl.X. FromProperties reads one family, Validate checks
// zkd can honour it, NewManager loads the stores.
//
//	props --FromProperties--> Config --NewManager--> Manager --ServerConfig()--> listener
//	                                                    |  \--Client(conn, host)--> peer dial
//	                        store files --Check/Watch--> atomic swap of the loaded version
//
// Stores: JKS (keystore-go), PKCS #12 (go-pkcs12) and PEM. The type is the declared
// one or ZooKeeper's inference from the extension (.jks, .pem, .p12, .bcfks); JKS
// and PKCS #12 are then told apart by content, as a JDK 9+ KeyStore does. A key
// store's keys are decrypted with the store password, as Java's KeyManagerFactory
// does. A trust store's anchors are its trusted-certificate entries only.
//
// Invariants:
//   - A Manager always holds one complete, successfully loaded version (key store
//     and trust store read together). A failed reload leaves it in place.
//   - A handshake reads the version once, when it starts (GetConfigForClient on a
//     server, ClientConfig on a client); established connections are never touched.
//   - Every verification uses the Manager's clock (Env.Now), so expiry is testable.
//   - Host-name checks are ZooKeeper's, not Go's: address first, then the dialled
//     name or (if allowed) the reverse-lookup name; the common name only when the
//     certificate has no DNS or IP alternative names. A Client-family server never
//     checks client host names; a Quorum-family server does.
//
// Concurrency: Config is a value; Manager's methods are safe for concurrent use;
// Check calls are serialised; a tls.Config returned by ClientConfig belongs to one
// dial.
package tlsconf
