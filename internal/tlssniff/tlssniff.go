// Package tlssniff tells a TLS client from a plain one by the first byte it
// sends, for ports that take both (ZooKeeper's port unification: the client
// port, the quorum port and the AdminServer's). Every TLS connection opens with
// a handshake record, whose first byte is its content type, 0x16 (RFC 8446
// section 5.1); ZooKeeper's clients and zkd's peers start with a frame length,
// a four-letter word or a magic, HTTP with a method name, none of which begins
// with that byte.
//
// Invariant: no byte of the connection is lost; the one read to decide is
// handed back in front of the rest.
package tlssniff

import (
	"io"
	"net"
)

// HandshakeRecord is the first byte of every TLS client's first record.
const HandshakeRecord = 0x16

// Sniff reads c's first byte and reports whether it opens a TLS handshake; the
// returned connection reads that byte again, then the rest of c. c's deadlines
// bound the wait.
func Sniff(c net.Conn) (isTLS bool, whole net.Conn, err error) {
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return false, c, err
	}
	return first[0] == HandshakeRecord, &prefixedConn{Conn: c, prefix: first[:]}, nil
}

// prefixedConn reads prefix, bytes already taken from Conn, before Conn's own.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
