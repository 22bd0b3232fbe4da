package peer

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// Authenticator authenticates the two ends of a peer connection, after TLS (when
// configured) and the hello, before anything else crosses it. The exchange's
// tokens and their meaning are the authenticator's; the transport only frames
// them (frameAuth, at most MaxAuthToken bytes each) under the handshake's
// deadline. Stream and snapshot connections alike are authenticated.
//
// Whether an exchange runs is negotiated in the hello: the dialer asks for one
// when Dials says so (the dialer then requires it, and fails when the acceptor
// has no Authenticator); the acceptor runs it when asked, and refuses a
// connection that did not ask when Required says so.
//
// Methods are called from connection goroutines, several at once.
type Authenticator interface {
	// Dials reports whether dialed connections run the exchange.
	Dials() bool
	// Required reports whether an accepted connection must run it.
	Required() bool
	// Dial runs the dialing side with peer to, reached at host (as the
	// address dialed names it); an error drops the connection.
	Dial(ex Exchange, to uint64, host string) error
	// Accept runs the accepting side with the peer that says it is from,
	// connected from remote; an error drops the connection.
	Accept(ex Exchange, from uint64, remote net.Addr) error
}

// Exchange carries one authentication exchange's tokens.
type Exchange interface {
	// Send sends one token (at most MaxAuthToken bytes).
	Send(token []byte) error
	// Recv returns the next token; it is valid until the next Recv.
	Recv() ([]byte, error)
}

// MaxAuthToken bounds one authentication token, in either direction; a longer
// one fails the exchange before anything is allocated for it.
const MaxAuthToken = 64 << 10

// connExchange frames tokens on a connection during its handshake. It reads
// exactly one frame at a time, so nothing of what follows the exchange is taken.
type connExchange struct {
	c   net.Conn
	buf []byte
}

func (e *connExchange) Send(token []byte) error {
	if len(token) > MaxAuthToken {
		return fmt.Errorf("%w: authentication token of %d bytes (limit %d)", ErrFrameTooLarge, len(token), MaxAuthToken)
	}
	b := appendHead(make([]byte, 0, headLen+len(token)), frameAuth, len(token))
	_, err := e.c.Write(append(b, token...))
	return err
}

func (e *connExchange) Recv() ([]byte, error) {
	var head [headLen]byte
	if _, err := io.ReadFull(e.c, head[:]); err != nil {
		return nil, unexpected(err)
	}
	if head[0] != frameAuth {
		return nil, fmt.Errorf("%w: frame type %d during authentication", ErrProtocol, head[0])
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > MaxAuthToken {
		return nil, fmt.Errorf("%w: authentication token of %d bytes (limit %d)", ErrFrameTooLarge, n, MaxAuthToken)
	}
	if cap(e.buf) < int(n) {
		e.buf = make([]byte, n)
	}
	e.buf = e.buf[:n]
	if _, err := io.ReadFull(e.c, e.buf); err != nil {
		return nil, unexpected(err)
	}
	return e.buf, nil
}
