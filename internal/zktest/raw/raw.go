package raw

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"zkd/jute"
)

// MaxFrame bounds the frames a Conn accepts from a server; no test asks for more.
const MaxFrame = 16 << 20

// ErrXid is returned by Call when the next reply answers another request.
var ErrXid = errors.New("raw: reply to another request")

// ErrFrameLength is returned by ReadFrame when the server sends a length below
// zero or above MaxFrame.
var ErrFrameLength = errors.New("raw: bad frame length")

// Event is a notification as it arrived: its header's zxid and its body.
type Event struct {
	Zxid jute.Zxid
	jute.WatcherEvent
}

// Conn is one TCP connection to a server, with the session it carries, if any.
type Conn struct {
	nc      net.Conn
	r       *bufio.Reader
	timeout time.Duration // bound on each blocking read or write

	// The session, as the last ConnectResponse gave it; zero before a handshake.
	SessionID int64
	Passwd    []byte
	TimeOut   int32 // negotiated session timeout, ms

	xid    int32   // last xid Send chose
	events []Event // notifications read while waiting for replies, in order
}

// Dial opens a TCP connection to addr without a handshake; timeout bounds the
// dial and every later read or write.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return NewConn(nc, timeout), nil
}

// NewConn speaks over nc, an established connection (a TLS one, say); timeout
// bounds every read or write.
func NewConn(nc net.Conn, timeout time.Duration) *Conn {
	return &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), timeout: timeout}
}

// Connect dials addr and opens a session (sid 0) or reattaches one. The response
// is returned as the server sent it; a refused session (timeOut 0) is not an
// error, and leaves the connection open for the caller to watch it close.
func Connect(addr string, timeout time.Duration, timeoutMs int32, sid int64, passwd []byte) (*Conn, jute.ConnectResponse, error) {
	c, err := Dial(addr, timeout)
	if err != nil {
		return nil, jute.ConnectResponse{}, err
	}
	resp, err := c.Handshake(timeoutMs, sid, passwd)
	if err != nil {
		c.Close()
		return nil, resp, err
	}
	return c, resp, nil
}

// Handshake sends a ConnectRequest (with the readOnly byte, as 3.x clients send
// it; a nil passwd is sixteen zero bytes) and decodes the response. An accepted
// session is recorded in the Conn.
func (c *Conn) Handshake(timeoutMs int32, sid int64, passwd []byte) (jute.ConnectResponse, error) {
	var resp jute.ConnectResponse
	if err := c.Write(ConnectFrame(timeoutMs, sid, passwd)); err != nil {
		return resp, fmt.Errorf("write ConnectRequest: %w", err)
	}
	b, err := c.ReadFrame()
	if err != nil {
		return resp, fmt.Errorf("read ConnectResponse: %w", err)
	}
	d := jute.NewDecoder(b)
	resp.Decode(&d)
	if d.Err() != nil {
		return resp, fmt.Errorf("decode ConnectResponse % x: %w", b, d.Err())
	}
	resp.Passwd = bytes.Clone(resp.Passwd)
	if resp.SessionID != 0 && resp.TimeOut > 0 {
		c.SessionID, c.Passwd, c.TimeOut = resp.SessionID, resp.Passwd, resp.TimeOut
	}
	return resp, nil
}

// NetConn is the TCP connection, for a test that must write past the Conn (from
// another goroutine, say). Reading from it directly would skip bytes the Conn has
// buffered.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Write sends b as it is: whole frames, pieces of frames, or anything else.
func (c *Conn) Write(b []byte) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	_, err := c.nc.Write(b)
	return err
}

// Read reads what has arrived, waiting at most the Conn's timeout.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ReadFrame reads one frame and returns its payload.
func (c *Conn) ReadFrame() ([]byte, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > MaxFrame {
		return nil, fmt.Errorf("%w: %d", ErrFrameLength, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadAll reads until the server closes the connection and returns what came. A
// reset after the server closed counts as closed, as does a connection this side
// closed; a timeout is an error.
func (c *Conn) ReadAll() ([]byte, error) {
	var buf bytes.Buffer
	p := make([]byte, 32<<10)
	for {
		n, err := c.Read(p)
		buf.Write(p[:n])
		switch {
		case err == nil:
		case IsClosed(err), errors.Is(err, net.ErrClosed):
			return buf.Bytes(), nil
		default:
			return buf.Bytes(), err
		}
	}
}

// NextXid returns the xid the next Send with xid 0 uses.
func (c *Conn) NextXid() int32 {
	c.xid++
	return c.xid
}

// Xid is the last xid NextXid handed out.
func (c *Conn) Xid() int32 { return c.xid }

// Send writes one request and returns its xid; xid 0 takes the next one.
func (c *Conn) Send(xid int32, op jute.OpCode, body []byte) (int32, error) {
	if xid == 0 {
		xid = c.NextXid()
	}
	return xid, c.Write(RequestFrame(xid, op, body))
}

// Next reads the next frame of any kind and splits off its ReplyHeader. The body
// is the caller's.
func (c *Conn) Next() (jute.ReplyHeader, []byte, error) {
	var h jute.ReplyHeader
	b, err := c.ReadFrame()
	if err != nil {
		return h, nil, err
	}
	d := jute.NewDecoder(b)
	h.Decode(&d)
	if d.Err() != nil {
		return h, nil, fmt.Errorf("raw: short reply % x", b)
	}
	return h, d.Rest(), nil
}

// Reply returns the next frame that is not a notification, keeping the
// notifications read on the way (Events).
func (c *Conn) Reply() (jute.ReplyHeader, []byte, error) {
	for {
		h, body, err := c.Next()
		if err != nil || h.Xid != jute.XidNotification {
			return h, body, err
		}
		ev, err := DecodeEvent(body)
		if err != nil {
			return h, nil, err
		}
		c.events = append(c.events, Event{Zxid: h.Zxid, WatcherEvent: ev})
	}
}

// Call sends one request (xid 0: the next one) and returns its reply, which must
// answer it: ErrXid otherwise. A ping's reply carries XidPing whatever xid it
// was sent with.
func (c *Conn) Call(xid int32, op jute.OpCode, body []byte) (jute.ReplyHeader, []byte, error) {
	xid, err := c.Send(xid, op, body)
	if err != nil {
		return jute.ReplyHeader{}, nil, err
	}
	h, rb, err := c.Reply()
	if err != nil {
		return h, rb, err
	}
	if h.Xid != xid && !(op == jute.OpPing && h.Xid == jute.XidPing) {
		return h, rb, fmt.Errorf("%w: %v sent with xid %d, reply xid %d", ErrXid, op, xid, h.Xid)
	}
	return h, rb, nil
}

// Events returns the notifications read so far, in arrival order.
func (c *Conn) Events() []Event { return c.events }

// TakeEvents returns the notifications read so far and forgets them.
func (c *Conn) TakeEvents() []Event {
	ev := c.events
	c.events = nil
	return ev
}

// DecodeEvent decodes a notification body; the path is copied out of body.
func DecodeEvent(body []byte) (jute.WatcherEvent, error) {
	var ev jute.WatcherEvent
	d := jute.NewDecoder(body)
	ev.Decode(&d)
	if d.Err() != nil {
		return ev, fmt.Errorf("raw: bad notification body % x: %w", body, d.Err())
	}
	ev.Path = jute.Clone(ev.Path)
	return ev, nil
}

// IsClosed reports whether err means the peer closed the connection (FIN or
// RST). A timeout is not a close.
func IsClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// IsTimeout reports whether err is a deadline that passed.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Frame returns payload with its length in front.
func Frame(payload []byte) []byte { return AppendFrame(nil, payload) }

// AppendFrame appends a length-prefixed frame holding payload to dst.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// RequestFrame returns a whole request frame.
func RequestFrame(xid int32, op jute.OpCode, body []byte) []byte {
	h := jute.RequestHeader{Xid: xid, Type: op}
	return Frame(append(h.Append(nil), body...))
}

// ConnectFrame returns a ConnectRequest frame with the readOnly byte; a nil
// passwd is sixteen zero bytes.
func ConnectFrame(timeoutMs int32, sid int64, passwd []byte) []byte {
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	req := jute.ConnectRequest{TimeOut: timeoutMs, SessionID: sid, Passwd: passwd, HasReadOnly: true}
	return Frame(req.Append(nil))
}

// Encode returns rec's encoding, or nil for a nil record: a request body.
func Encode(rec jute.Record) []byte {
	if rec == nil {
		return nil
	}
	return rec.Append(nil)
}
