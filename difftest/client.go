package difftest

import (
	"errors"
	"net"
	"time"

	"zkd/internal/zktest/raw"
	"zkd/jute"
)

// errClosed is returned by conn.call when the server closed the connection (or did
// not answer within the I/O timeout, after which the connection is closed by us).
var errClosed = errors.New("difftest: connection closed by the server")

// conn is one session's connection: the repository's raw client (hand-built
// frames over TCP), with a server that stops answering treated as one that closed
// the connection. It is owned by one goroutine.
type conn struct {
	rc     *raw.Conn
	sid    int64
	passwd []byte
	// events holds notifications carried over from an earlier connection of the
	// slot; takeEvents returns them before the ones this connection read.
	events []event
	closed bool
	// silent is set when the connection was closed by us because the server did
	// not answer within the I/O timeout: reports say so, as a stalled server (or
	// machine) is not the same finding as a server that closes.
	silent bool
}

// event is one notification as received.
type event struct {
	zxid  int64
	typ   jute.EventType
	state int32
	path  string
}

// dialSession opens a TCP connection to addr and performs the handshake, either for
// a new session (sid 0) or to reattach sid. ok is false when the server answered
// with the "invalid session" response.
func dialSession(addr string, timeout time.Duration, sessionTimeoutMs int32, sid int64, passwd []byte) (c *conn, ok bool, err error) {
	rc, resp, err := raw.Connect(addr, timeout, sessionTimeoutMs, sid, passwd)
	if err != nil {
		return nil, false, err
	}
	if resp.SessionID == 0 || resp.TimeOut <= 0 {
		rc.Close()
		return nil, false, nil
	}
	return &conn{rc: rc, sid: rc.SessionID, passwd: rc.Passwd}, true, nil
}

func (c *conn) close() {
	if !c.closed {
		c.closed = true
		c.rc.Close()
	}
}

// isClosedErr reports whether err means the connection is gone: EOF, reset, or a
// read that timed out (a server that stops answering is treated as having closed).
func isClosedErr(err error) bool {
	return raw.IsClosed(err) || errors.Is(err, net.ErrClosed) || raw.IsTimeout(err)
}

// reply is one decoded reply header and its body (owned by the caller).
type reply struct {
	hdr  jute.ReplyHeader
	body []byte
}

// call sends one request with xid (0: the next normal xid) and reads frames until the
// reply with that xid arrives, recording notifications on the way. errClosed means
// the server closed the connection (or went silent) before replying; the conn is
// then closed.
func (c *conn) call(xid int32, op jute.OpCode, body []byte) (reply, error) {
	if c.closed {
		return reply{}, errClosed
	}
	h, rb, err := c.rc.Call(xid, op, body)
	if err != nil {
		c.close()
		if raw.IsTimeout(err) {
			c.silent = true
		}
		if isClosedErr(err) {
			return reply{}, errClosed
		}
		return reply{}, err
	}
	return reply{hdr: h, body: rb}, nil
}

// closedHow says how the connection ended, for reports.
func (c *conn) closedHow() string {
	if c.silent {
		return "no answer within the I/O timeout, connection closed by the client"
	}
	return "connection closed by the server"
}

// takeEvents returns and clears the recorded notifications.
func (c *conn) takeEvents() []event {
	ev := c.events
	c.events = nil
	for _, e := range c.rc.TakeEvents() {
		ev = append(ev, event{zxid: int64(e.Zxid), typ: e.Type, state: e.State, path: e.Path})
	}
	return ev
}
