package netloop

import (
	"errors"
	"net"
	"os"
	"time"

	"zkd/internal/tlssniff"
)

// Port unification (ZooKeeper's client.portUnification): the plain port takes
// TLS clients too, so that clients can move to TLS one by one with no second
// port. A ZooKeeper client speaks first, and its first frame begins with a
// length far below 0x16000000, while a TLS client's first byte is a handshake
// record's type, 0x16; ZooKeeper's Netty factory decides on that byte as well.
//
// The byte is peeked, not read, so that a plain connection goes to an event
// loop with its input whole: each connection waits for it on a goroutine of its
// own, one of the TLS links' (so that Stop closes it), within the handshake
// deadline; then a TLS connection goes on as on the TLS port, and a plain one
// leaves the links and is enrolled. A plain connection's ZooKeeper handshake
// deadline starts when it is enrolled, so a client that sends nothing is closed
// after one HandshakeTimeout, one that sends its first byte late after at most
// two.

// serveUnified is the plain port's accept handler under port unification.
func (s *Server) serveUnified(tc *net.TCPConn, _ *reserveFD) error {
	return s.startLink(tc, &s.plainConns, (*tlsLink).sniff)
}

// sniff waits for the connection's first byte and serves it as TLS or plain.
func (l *tlsLink) sniff(accepted time.Time) {
	s := l.s
	tc := l.raw.(*net.TCPConn)
	_ = tc.SetReadDeadline(accepted.Add(s.cfg.HandshakeTimeout))
	first, err := peekByte(tc)
	if err == nil && first == tlssniff.HandshakeRecord {
		l.run(accepted)
		return
	}
	defer s.tlsConns.w.Done()
	s.tlsConns.remove(l)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.stats.handshakeTimeouts.Add(1)
		s.noter.NoteHandshakeTimeout()
		s.log.Debug("closing connection: nothing received within the handshake timeout",
			"remote", tc.RemoteAddr().String(), "timeout", s.cfg.HandshakeTimeout)
		_ = tc.Close()
	case err != nil:
		_ = tc.Close() // gone before its first byte, or closed by Stop
	default:
		_ = tc.SetReadDeadline(time.Time{})
		if err := s.enroll(tc, &reserveFD{}); err != nil {
			s.log.Debug("closing connection", "remote", tc.RemoteAddr().String(), "err", err)
		}
	}
}
