package netloop_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/netloop"
	"zkd/replica/replicatest"
	"zkd/session"
)

// waitLimit bounds every network wait of these tests: a safety net against hangs,
// never an assertion about speed.
const waitLimit = 20 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// testServer is a tree, a one-voter raft group, a session.Server and a netloop
// listener on 127.0.0.1:0.
type testServer struct {
	addr    string
	tlsAddr string // "" without a TLS port
	tree    *datatree.Tree
	sess    *session.Server
	nl      *netloop.Server
}

// startServer starts a server; mutate may adjust both configurations. Everything
// is stopped by stop (registered with t.Cleanup by newServer).
func startServer(mutate func(*session.Config, *netloop.Config)) (*testServer, func(), error) {
	rep, err := replicatest.OpenStandalone(replicatest.StandaloneOptions{Logger: quiet})
	if err != nil {
		return nil, nil, err
	}
	scfg := session.DefaultConfig()
	scfg.Logger = quiet
	scfg.MaxClientCnxns = 0
	ncfg := netloop.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	ncfg.EventLoops = 2
	ncfg.Logger = quiet
	if mutate != nil {
		mutate(&scfg, &ncfg)
	}
	sess, err := session.NewServer(scfg, rep)
	if err != nil {
		rep.Stop()
		return nil, nil, err
	}
	rep.SetListener(sess)
	nl, err := netloop.Listen(ncfg, sess)
	if err != nil {
		rep.Stop()
		return nil, nil, err
	}
	tree := rep.Tree()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = nl.Stop(ctx)
		rep.Stop()
	}
	ts := &testServer{tree: tree, sess: sess, nl: nl}
	if a := nl.Addr(); a != nil {
		ts.addr = a.String()
	}
	if a := nl.TLSAddr(); a != nil {
		ts.tlsAddr = a.String()
	}
	return ts, stop, nil
}

func newServer(t testing.TB, mutate func(*session.Config, *netloop.Config)) *testServer {
	t.Helper()
	s, stop, err := startServer(mutate)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(stop)
	return s
}

// frame prefixes a payload with its length.
func frame(payload []byte) []byte {
	b, mark := jute.BeginFrame(nil)
	return jute.EndFrame(append(b, payload...), mark)
}

func connectFrame() []byte {
	return frame((&jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true}).Append(nil))
}

func requestFrame(xid int32, op jute.OpCode, rec jute.Record) []byte {
	b := (&jute.RequestHeader{Xid: xid, Type: op}).Append(nil)
	if rec != nil {
		b = rec.Append(b)
	}
	return frame(b)
}

// conn is a raw TCP client.
type conn struct {
	t testing.TB
	net.Conn
	sid jute.SessionID
}

func (s *testServer) dial(t testing.TB) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, waitLimit)
	if err != nil {
		t.Fatalf("dial %s: %v", s.addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	return &conn{t: t, Conn: c}
}

// connect dials and establishes a session.
func (s *testServer) connect(t testing.TB) *conn {
	t.Helper()
	c := s.dial(t)
	c.write(connectFrame())
	var resp jute.ConnectResponse
	p := c.readFrame()
	d := jute.NewDecoder(p)
	resp.Decode(&d)
	if d.Err() != nil || resp.SessionID == 0 || resp.TimeOut == 0 {
		t.Fatalf("ConnectResponse % x: %+v %v", p, resp, d.Err())
	}
	c.sid = jute.SessionID(resp.SessionID)
	return c
}

func (c *conn) write(b []byte) {
	c.t.Helper()
	if _, err := c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one frame payload.
func (c *conn) readFrame() []byte {
	c.t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		c.t.Fatalf("read frame length: %v", err)
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > jute.DefaultMaxBuffer {
		c.t.Fatalf("server sent frame length %d", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c, p); err != nil {
		c.t.Fatalf("read %d-byte frame: %v", n, err)
	}
	return p
}

// reply is a decoded reply frame.
type reply struct {
	hdr  jute.ReplyHeader
	body []byte
}

func parseReply(t testing.TB, p []byte) reply {
	t.Helper()
	var r reply
	d := jute.NewDecoder(p)
	r.hdr.Decode(&d)
	if d.Err() != nil {
		t.Fatalf("short reply % x", p)
	}
	r.body = d.Rest()
	return r
}

func (c *conn) readReply() reply {
	c.t.Helper()
	return parseReply(c.t, c.readFrame())
}

// call writes one request and reads its reply, which must be the next frame.
func (c *conn) call(xid int32, op jute.OpCode, rec jute.Record) reply {
	c.t.Helper()
	c.write(requestFrame(xid, op, rec))
	r := c.readReply()
	if r.hdr.Xid != xid && !(op == jute.OpPing && r.hdr.Xid == jute.XidPing) {
		c.t.Fatalf("%v xid %d: reply xid %d", op, xid, r.hdr.Xid)
	}
	return r
}

// readAll reads until the server closes the connection and returns what came.
// A reset after the server closed counts as closed.
func (c *conn) readAll() []byte {
	c.t.Helper()
	var buf bytes.Buffer
	_, err := io.Copy(&buf, c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		c.t.Fatalf("waiting for the server to close: %v (after %d bytes)", err, buf.Len())
	}
	return buf.Bytes()
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// netDial and readFrameErr are the goroutine-safe forms of dial and readFrame.
func netDial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	return c, nil
}

func readFrameErr(c net.Conn) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > jute.DefaultMaxBuffer {
		return nil, errors.New("bad frame length")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(c, p)
	return p, err
}
