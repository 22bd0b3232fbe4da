package difftest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"zkd/jute"
)

// errClosed is returned by conn.call when the server closed the connection (or did
// not answer within the I/O timeout, after which the connection is closed by us).
var errClosed = errors.New("difftest: connection closed by the server")

// maxFrame bounds a reply frame; the tester never asks for anything near it.
const maxFrame = 4 << 20

// conn is one session's connection: hand-built frames over TCP. It is owned by one
// goroutine.
type conn struct {
	nc      net.Conn
	r       *bufio.Reader
	sid     int64
	passwd  []byte
	xid     int32
	timeout time.Duration // bound on every blocking read or write; never an assertion
	// events holds the notifications read since the last takeEvents, in arrival order.
	events []event
	closed bool
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
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, false, err
	}
	c = &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), timeout: timeout}
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	req := jute.ConnectRequest{TimeOut: sessionTimeoutMs, SessionID: sid, Passwd: passwd, HasReadOnly: true}
	if err := c.writeFrame(req.Append(nil)); err != nil {
		nc.Close()
		return nil, false, err
	}
	b, err := c.readFrame()
	if err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("read ConnectResponse: %w", err)
	}
	var resp jute.ConnectResponse
	d := jute.NewDecoder(b)
	resp.Decode(&d)
	if d.Err() != nil {
		nc.Close()
		return nil, false, fmt.Errorf("decode ConnectResponse % x: %w", b, d.Err())
	}
	if resp.SessionID == 0 || resp.TimeOut <= 0 {
		nc.Close()
		return nil, false, nil
	}
	c.sid = resp.SessionID
	c.passwd = append([]byte(nil), resp.Passwd...)
	return c, true, nil
}

func (c *conn) close() {
	if !c.closed {
		c.closed = true
		c.nc.Close()
	}
}

func (c *conn) writeFrame(payload []byte) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(payload)), uint32(len(payload)))
	_, err := c.nc.Write(append(b, payload...))
	return err
}

func (c *conn) readFrame() ([]byte, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > maxFrame {
		return nil, fmt.Errorf("server sent frame length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// isClosedErr reports whether err means the connection is gone: EOF, reset, or a
// read that timed out (a server that stops answering is treated as having closed).
func isClosedErr(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout())
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
	if xid == 0 {
		c.xid++
		xid = c.xid
	}
	h := jute.RequestHeader{Xid: xid, Type: op}
	if err := c.writeFrame(append(h.Append(nil), body...)); err != nil {
		c.close()
		if isClosedErr(err) {
			return reply{}, errClosed
		}
		return reply{}, err
	}
	for {
		b, err := c.readFrame()
		if err != nil {
			c.close()
			if isClosedErr(err) {
				return reply{}, errClosed
			}
			return reply{}, err
		}
		var rh jute.ReplyHeader
		d := jute.NewDecoder(b)
		rh.Decode(&d)
		if d.Err() != nil {
			c.close()
			return reply{}, fmt.Errorf("short reply frame % x", b)
		}
		if rh.Xid == jute.XidNotification {
			var ev jute.WatcherEvent
			ev.Decode(&d)
			if d.Err() != nil {
				c.close()
				return reply{}, fmt.Errorf("bad notification % x: %w", b, d.Err())
			}
			c.events = append(c.events, event{zxid: int64(rh.Zxid), typ: ev.Type, state: ev.State, path: jute.Clone(ev.Path)})
			continue
		}
		if rh.Xid != xid {
			c.close()
			return reply{}, fmt.Errorf("%v: reply xid %d, want %d", op, rh.Xid, xid)
		}
		return reply{hdr: rh, body: d.Rest()}, nil
	}
}

// takeEvents returns and clears the recorded notifications.
func (c *conn) takeEvents() []event {
	ev := c.events
	c.events = nil
	return ev
}
