package admin

import (
	"crypto/tls"
	"net"
	"sync"

	"zkd/internal/tlssniff"
)

// HTTPS (admin.forceHttps, admin.portUnification). ZooKeeper 3.8's Jetty serves
// the commands over HTTPS only with forceHttps, and over HTTPS and HTTP on the
// one port with portUnification, with the quorum's key store and no client
// certificate asked for. A unified port tells the two apart by the first byte
// of each connection (tlssniff); the decision is taken on the connection's
// first read, on its own goroutine, so that a client that sends nothing holds
// up no one but itself (the server's read timeout closes it).

// unifiedListener hands out connections that become TLS or stay plain on their
// first read.
type unifiedListener struct {
	net.Listener
	tls *tls.Config
}

func (l unifiedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffedConn{Conn: c, tls: l.tls}, nil
}

// sniffedConn is a connection of a unified port. Deadlines and addresses are
// the TCP connection's; Close closes it (a TLS close_notify is not owed to an
// admin client).
type sniffedConn struct {
	net.Conn
	tls  *tls.Config
	once sync.Once
	rw   net.Conn // set by sniff: the TLS connection, or the plain one
	err  error    // set by sniff: the first byte never came
}

func (c *sniffedConn) sniff() {
	isTLS, whole, err := tlssniff.Sniff(c.Conn)
	switch {
	case err != nil:
		c.err = err
	case isTLS:
		c.rw = tls.Server(whole, c.tls)
	default:
		c.rw = whole
	}
}

func (c *sniffedConn) Read(b []byte) (int, error) {
	c.once.Do(c.sniff)
	if c.err != nil {
		return 0, c.err
	}
	return c.rw.Read(b)
}

// Write goes where the first read decided; net/http reads a request before it
// writes anything.
func (c *sniffedConn) Write(b []byte) (int, error) {
	c.once.Do(c.sniff)
	if c.err != nil {
		return 0, c.err
	}
	return c.rw.Write(b)
}
