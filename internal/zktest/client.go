package zktest

import (
	"bytes"
	"net"
	"slices"
	"testing"
	"time"

	"zkd/internal/zktest/raw"
	"zkd/jute"
)

// IOTimeout bounds every blocking socket read or wait of a Client and of the
// helpers here. It is a limit against hangs, never an assertion on speed.
const IOTimeout = 10 * time.Second

// Client is a raw.Conn whose methods fail the test instead of returning errors.
// It belongs to the goroutine of its test; off it, use Raw.
type Client struct {
	// T is the test a failure is reported to; a subtest may set its own.
	T    testing.TB
	conn *raw.Conn
}

// Dial opens a TCP connection to addr with no handshake, closed in Cleanup.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := raw.Dial(addr, IOTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{T: t, conn: c}
}

// Wrap speaks over nc, an established connection (a TLS one, say), closed in
// Cleanup.
func Wrap(t testing.TB, nc net.Conn) *Client {
	c := raw.NewConn(nc, IOTimeout)
	t.Cleanup(func() { c.Close() })
	return &Client{T: t, conn: c}
}

// Connect opens a new session on addr, asking for timeoutMs; the server must
// accept it.
func Connect(t testing.TB, addr string, timeoutMs int32) *Client {
	t.Helper()
	c := Dial(t, addr)
	resp := c.Handshake(timeoutMs, 0, nil)
	if resp.SessionID == 0 || resp.TimeOut <= 0 {
		t.Fatalf("new session refused: %+v", resp)
	}
	return c
}

// Resume reattaches session sid on a new connection; the response says whether
// the server accepted it.
func Resume(t testing.TB, addr string, sid int64, passwd []byte, timeoutMs int32) (*Client, jute.ConnectResponse) {
	t.Helper()
	c := Dial(t, addr)
	return c, c.Handshake(timeoutMs, sid, passwd)
}

// Raw is the error-returning connection underneath.
func (c *Client) Raw() *raw.Conn { return c.conn }

// NetConn is the TCP connection (see raw.Conn.NetConn).
func (c *Client) NetConn() net.Conn { return c.conn.NetConn() }

// Close closes the connection without ending the session.
func (c *Client) Close() { c.conn.Close() }

// SessionID, Passwd and Timeout are the session as the server granted it.
func (c *Client) SessionID() int64 { return c.conn.SessionID }

// Passwd is the session's password.
func (c *Client) Passwd() []byte { return c.conn.Passwd }

// Timeout is the negotiated session timeout in ms.
func (c *Client) Timeout() int32 { return c.conn.TimeOut }

// Handshake sends a ConnectRequest and returns the decoded response.
func (c *Client) Handshake(timeoutMs int32, sid int64, passwd []byte) jute.ConnectResponse {
	c.T.Helper()
	resp, err := c.conn.Handshake(timeoutMs, sid, passwd)
	if err != nil {
		c.T.Fatal(err)
	}
	return resp
}

// NextXid returns a new xid for a request the test builds itself.
func (c *Client) NextXid() int32 { return c.conn.NextXid() }

// Xid is the last xid handed out.
func (c *Client) Xid() int32 { return c.conn.Xid() }

// Write sends raw bytes.
func (c *Client) Write(b []byte) {
	c.T.Helper()
	if err := c.conn.Write(b); err != nil {
		c.T.Fatalf("write: %v", err)
	}
}

// ReadFrame reads one frame payload.
func (c *Client) ReadFrame() []byte {
	c.T.Helper()
	b, err := c.conn.ReadFrame()
	if err != nil {
		c.T.Fatalf("session %#x: read frame: %v", c.conn.SessionID, err)
	}
	return b
}

// ReadAll reads until the server closes the connection and returns what came.
func (c *Client) ReadAll() []byte {
	c.T.Helper()
	b, err := c.conn.ReadAll()
	if err != nil {
		c.T.Fatalf("waiting for the server to close: %v (after %d bytes)", err, len(b))
	}
	return b
}

// Send writes one request with the next xid and returns the xid.
func (c *Client) Send(op jute.OpCode, body []byte) int32 {
	c.T.Helper()
	xid, err := c.conn.Send(0, op, body)
	if err != nil {
		c.T.Fatalf("write %v: %v", op, err)
	}
	return xid
}

// Next reads the next frame of any kind and splits off its ReplyHeader.
func (c *Client) Next() (jute.ReplyHeader, []byte) {
	c.T.Helper()
	h, body, err := c.conn.Next()
	if err != nil {
		c.T.Fatalf("session %#x: read: %v", c.conn.SessionID, err)
	}
	return h, body
}

// Reply returns the next reply that is not a notification, keeping the
// notifications on the way (Events).
func (c *Client) Reply() (jute.ReplyHeader, []byte) {
	c.T.Helper()
	h, body, err := c.conn.Reply()
	if err != nil {
		c.T.Fatalf("session %#x: read reply: %v", c.conn.SessionID, err)
	}
	return h, body
}

// Call sends a request with the next xid and returns its reply, checking the xid.
func (c *Client) Call(op jute.OpCode, body []byte) (jute.ReplyHeader, []byte) {
	c.T.Helper()
	return c.CallXid(0, op, body)
}

// CallXid is Call with a chosen xid (a ping's reply carries XidPing).
func (c *Client) CallXid(xid int32, op jute.OpCode, body []byte) (jute.ReplyHeader, []byte) {
	c.T.Helper()
	h, rb, err := c.conn.Call(xid, op, body)
	if err != nil {
		c.T.Fatalf("%v: %v", op, err)
	}
	return h, rb
}

// MustCall is Call that also requires the reply's error code to be want, and an
// error reply to carry no body.
func (c *Client) MustCall(op jute.OpCode, body []byte, want jute.Code) []byte {
	c.T.Helper()
	h, rb := c.Call(op, body)
	if h.Err != want {
		c.T.Fatalf("%v: err %d (%v), want %d (%v)", op, h.Err, h.Err, want, want)
	}
	if h.Err != jute.CodeOK && len(rb) != 0 {
		c.T.Fatalf("%v: error reply carries a %d-byte body; want header only", op, len(rb))
	}
	return rb
}

// Events returns the notifications read while waiting for replies, in order.
func (c *Client) Events() []jute.WatcherEvent {
	evs := c.conn.Events()
	out := make([]jute.WatcherEvent, len(evs))
	for i, e := range evs {
		out[i] = e.WatcherEvent
	}
	return out
}

// ClearEvents forgets the notifications read so far.
func (c *Client) ClearEvents() { c.conn.TakeEvents() }

// ExpectClosedSilently reads until the server closes the connection and fails if
// any byte arrives first.
func (c *Client) ExpectClosedSilently() {
	c.T.Helper()
	buf := make([]byte, 256)
	n, err := c.conn.Read(buf)
	if n > 0 {
		c.T.Fatalf("server sent %d bytes (% x) before closing; want a close without reply", n, buf[:n])
	}
	if !raw.IsClosed(err) {
		c.T.Fatalf("read: %v; want the connection closed", err)
	}
}

// Typed operations that fail the test on an unexpected code.

// Create creates path with OPEN_ACL_UNSAFE and returns the name the server gave.
func (c *Client) Create(path string, data []byte, flags jute.CreateMode) string {
	c.T.Helper()
	rb := c.MustCall(jute.OpCreate, CreateBody(path, data, jute.OpenACLUnsafe, flags), jute.CodeOK)
	d := jute.NewDecoder(rb)
	return jute.Clone(d.String())
}

// GetData returns the data and Stat of path, which must exist.
func (c *Client) GetData(path string) ([]byte, jute.Stat) {
	c.T.Helper()
	rb := c.MustCall(jute.OpGetData, PathWatchBody(path, false), jute.CodeOK)
	var r jute.GetDataResponse
	d := jute.NewDecoder(rb)
	r.Decode(&d)
	if d.Err() != nil {
		c.T.Fatalf("getData reply: %v", d.Err())
	}
	return bytes.Clone(r.Data), r.Stat
}

// Exists returns the Stat of path and whether it exists.
func (c *Client) Exists(path string) (jute.Stat, bool) {
	c.T.Helper()
	h, rb := c.Call(jute.OpExists, PathWatchBody(path, false))
	switch h.Err {
	case jute.CodeNoNode:
		return jute.Stat{}, false
	case jute.CodeOK:
	default:
		c.T.Fatalf("exists %s: %v", path, h.Err)
	}
	var st jute.Stat
	d := jute.NewDecoder(rb)
	st.Decode(&d)
	return st, true
}

// Children returns the children of path, sorted.
func (c *Client) Children(path string) []string {
	c.T.Helper()
	rb := c.MustCall(jute.OpGetChildren, PathWatchBody(path, false), jute.CodeOK)
	d := jute.NewDecoder(rb)
	names := d.Strings()
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = jute.Clone(n)
	}
	slices.Sort(out)
	return out
}

// CloseSession sends closeSession and waits for the server to close the
// connection.
func (c *Client) CloseSession() {
	c.T.Helper()
	c.MustCall(jute.OpCloseSession, nil, jute.CodeOK)
	c.ExpectClosedSilently()
}

// Request bodies.

// CreateBody is a CreateRequest.
func CreateBody(path string, data []byte, acl []jute.ACL, flags jute.CreateMode) []byte {
	r := jute.CreateRequest{Path: path, Data: data, ACL: acl, Flags: int32(flags)}
	return r.Append(nil)
}

// PathWatchBody is a path and a watch flag (getData, exists, getChildren).
func PathWatchBody(path string, watch bool) []byte {
	r := jute.PathWatchRequest{Path: path, Watch: watch}
	return r.Append(nil)
}

// PathBody is a bare path (sync, getACL, getEphemerals, ...).
func PathBody(path string) []byte {
	r := jute.PathRequest{Path: path}
	return r.Append(nil)
}

// PathVersionBody is a path and a version (delete, check).
func PathVersionBody(path string, version int32) []byte {
	r := jute.PathVersionRequest{Path: path, Version: version}
	return r.Append(nil)
}

// SetDataBody is a SetDataRequest.
func SetDataBody(path string, data []byte, version int32) []byte {
	r := jute.SetDataRequest{Path: path, Data: data, Version: version}
	return r.Append(nil)
}

// SetACLBody is a SetACLRequest.
func SetACLBody(path string, acl []jute.ACL, version int32) []byte {
	r := jute.SetACLRequest{Path: path, ACL: acl, Version: version}
	return r.Append(nil)
}
