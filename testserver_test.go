package main

// Helpers shared by the integration and bad-input tests: an in-process server on a
// loopback port, go-zookeeper clients, a raw jute client for byte-level checks, a
// severable TCP proxy and checkFor.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/jute"
	"zkd/server"
	"zkd/zoocfg"
)

// testTick is the tickTime of test servers: sessions may time out after 2 ticks.
const testTick = 200 * time.Millisecond

// ioTimeout bounds every blocking socket read or wait in these tests. It is a limit
// against hangs, never an assertion on how fast the server is.
const ioTimeout = 10 * time.Second

// syncBuffer is a goroutine-safe log sink; the server's log is printed only when a
// test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is a running in-process zkd with its address and log.
type testServer struct {
	*server.Server
	addr string
	log  *syncBuffer
}

// startServer starts a standalone zkd on 127.0.0.1:0 with a temporary data dir and
// a 200 ms tick; edit adjusts the configuration first. The server stops in Cleanup.
func startServer(t *testing.T, edit ...func(*zoocfg.Config)) *testServer {
	t.Helper()
	cfg := zoocfg.Default()
	cfg.Admin.Enabled = false // tests never touch the default 8080
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.TickTime = testTick
	cfg.MaxClientCnxns = 0
	cfg.FourLetterWords = []string{"*"}
	for _, f := range edit {
		f(&cfg)
	}
	sink := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	in, err := startInstance(cfg, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	s := &testServer{Server: in, addr: in.Addr().String(), log: sink}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", sink.String())
		}
	})
	return s
}

// checkFor polls f every interval until it returns nil, failing the test with f's
// last error once timeout has passed.
func checkFor(t *testing.T, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// nopLogger silences go-zookeeper, whose goroutines may log after a test ends.
type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// zkEvents records a go-zookeeper client's session events. go-zookeeper drops
// events when its own channel is full, so they are taken from the event callback.
type zkEvents struct{ ch chan zk.Event }

// connectZK opens a go-zookeeper session to addr and waits until it has a session.
// The client is closed in Cleanup.
func connectZK(t *testing.T, addr string, timeout time.Duration) (*zk.Conn, *zkEvents) {
	t.Helper()
	ev := &zkEvents{ch: make(chan zk.Event, 4096)}
	record := func(e zk.Event) {
		if e.Type != zk.EventSession {
			return
		}
		select {
		case ev.ch <- e:
		default:
		}
	}
	c, _, err := zk.Connect([]string{addr}, timeout,
		zk.WithLogger(nopLogger{}), zk.WithLogInfo(false), zk.WithEventCallback(record))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	t.Cleanup(c.Close)
	ev.wait(t, zk.StateHasSession)
	return c, ev
}

// wait reads session events until one reports want.
func (e *zkEvents) wait(t *testing.T, want zk.State) {
	t.Helper()
	timer := time.NewTimer(ioTimeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-e.ch:
			if ev.State == want {
				return
			}
		case <-timer.C:
			t.Fatalf("no %v within %v", want, ioTimeout)
		}
	}
}

// waitEvent returns the event delivered on a watch channel.
func waitEvent(t *testing.T, ch <-chan zk.Event) zk.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(ioTimeout):
		t.Fatalf("no watch event within %v", ioTimeout)
	}
	return zk.Event{}
}

// expectEvent waits for a watch event and checks its type and path.
func expectEvent(t *testing.T, ch <-chan zk.Event, typ zk.EventType, path string) {
	t.Helper()
	ev := waitEvent(t, ch)
	if ev.Type != typ || ev.Path != path || ev.Err != nil {
		t.Fatalf("event = %+v, want %v on %s", ev, typ, path)
	}
}

// noEvent checks that nothing is pending on a watch channel right now.
func noEvent(t *testing.T, ch <-chan zk.Event) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// --- raw protocol client ---

// appendFrame appends a length-prefixed frame holding payload.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// requestFrame builds a whole request frame.
func requestFrame(xid int32, op jute.OpCode, body []byte) []byte {
	h := jute.RequestHeader{Xid: xid, Type: op}
	payload := append(h.Append(nil), body...)
	return appendFrame(nil, payload)
}

// readFrame reads one frame payload, waiting at most ioTimeout.
func readFrame(conn net.Conn) ([]byte, error) {
	if err := conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > 16<<20 {
		return nil, fmt.Errorf("server sent frame length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(conn, b); err != nil {
		return nil, err
	}
	return b, nil
}

// isClosed reports whether err means the peer closed the connection (FIN or RST).
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// expectClosedSilently reads from conn until the server closes it and fails if any
// byte arrives first.
func expectClosedSilently(t *testing.T, conn net.Conn) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if n > 0 {
		t.Fatalf("server sent %d bytes (% x) before closing; want a close without reply", n, buf[:n])
	}
	if !isClosed(err) {
		t.Fatalf("read: %v; want the connection closed", err)
	}
}

// dial opens a TCP connection to addr, closed in Cleanup.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rawClient speaks the protocol with hand-built frames.
type rawClient struct {
	t       *testing.T
	conn    net.Conn
	sid     int64
	passwd  []byte
	timeout int32
	xid     int32
	// events holds notifications read while waiting for replies, in arrival order.
	events []jute.WatcherEvent
}

// connectRequest returns a ConnectRequest frame (with the readOnly byte, as 3.x
// clients send it).
func connectRequest(timeoutMs int32, sid int64, passwd []byte) []byte {
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	req := jute.ConnectRequest{TimeOut: timeoutMs, SessionID: sid, Passwd: passwd, HasReadOnly: true}
	return appendFrame(nil, req.Append(nil))
}

// handshake sends a ConnectRequest on conn and decodes the response.
func handshake(t *testing.T, conn net.Conn, timeoutMs int32, sid int64, passwd []byte) jute.ConnectResponse {
	t.Helper()
	if _, err := conn.Write(connectRequest(timeoutMs, sid, passwd)); err != nil {
		t.Fatalf("write ConnectRequest: %v", err)
	}
	b, err := readFrame(conn)
	if err != nil {
		t.Fatalf("read ConnectResponse: %v", err)
	}
	var resp jute.ConnectResponse
	d := jute.NewDecoder(b)
	resp.Decode(&d)
	if d.Err() != nil {
		t.Fatalf("decode ConnectResponse % x: %v", b, d.Err())
	}
	resp.Passwd = bytes.Clone(resp.Passwd)
	return resp
}

// newRaw opens a new session on addr.
func newRaw(t *testing.T, addr string, timeoutMs int32) *rawClient {
	t.Helper()
	conn := dial(t, addr)
	resp := handshake(t, conn, timeoutMs, 0, nil)
	if resp.SessionID == 0 || resp.TimeOut <= 0 {
		t.Fatalf("new session refused: %+v", resp)
	}
	return &rawClient{t: t, conn: conn, sid: resp.SessionID, passwd: resp.Passwd, timeout: resp.TimeOut}
}

// resumeRaw reattaches session sid on a new connection; the response says whether
// the server accepted it.
func resumeRaw(t *testing.T, addr string, sid int64, passwd []byte, timeoutMs int32) (*rawClient, jute.ConnectResponse) {
	t.Helper()
	conn := dial(t, addr)
	resp := handshake(t, conn, timeoutMs, sid, passwd)
	return &rawClient{t: t, conn: conn, sid: resp.SessionID, passwd: resp.Passwd, timeout: resp.TimeOut}, resp
}

func (c *rawClient) nextXid() int32 {
	c.xid++
	return c.xid
}

// write sends raw bytes.
func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes one request and returns its xid.
func (c *rawClient) send(op jute.OpCode, body []byte) int32 {
	c.t.Helper()
	xid := c.nextXid()
	c.write(requestFrame(xid, op, body))
	return xid
}

// readAny reads the next frame of any kind and splits off its ReplyHeader.
func (c *rawClient) readAny() (jute.ReplyHeader, []byte) {
	c.t.Helper()
	b, err := readFrame(c.conn)
	if err != nil {
		c.t.Fatalf("session %#x: read: %v", c.sid, err)
	}
	var h jute.ReplyHeader
	d := jute.NewDecoder(b)
	h.Decode(&d)
	if d.Err() != nil {
		c.t.Fatalf("short reply % x", b)
	}
	return h, d.Rest()
}

// decodeEvent decodes a notification body.
func decodeEvent(t *testing.T, body []byte) jute.WatcherEvent {
	t.Helper()
	var ev jute.WatcherEvent
	d := jute.NewDecoder(body)
	ev.Decode(&d)
	if d.Err() != nil {
		t.Fatalf("bad notification body % x: %v", body, d.Err())
	}
	ev.Path = jute.Clone(ev.Path)
	return ev
}

// reply returns the next reply that is not a notification, recording notifications
// in c.events on the way.
func (c *rawClient) reply() (jute.ReplyHeader, []byte) {
	c.t.Helper()
	for {
		h, body := c.readAny()
		if h.Xid != jute.XidNotification {
			return h, body
		}
		c.events = append(c.events, decodeEvent(c.t, body))
	}
}

// call sends a request and returns its reply, checking the xid.
func (c *rawClient) call(op jute.OpCode, body []byte) (jute.ReplyHeader, []byte) {
	c.t.Helper()
	xid := c.send(op, body)
	h, rb := c.reply()
	if h.Xid != xid {
		c.t.Fatalf("%v: reply xid %d, want %d", op, h.Xid, xid)
	}
	return h, rb
}

// mustCall is call that also requires err == want.
func (c *rawClient) mustCall(op jute.OpCode, body []byte, want jute.Code) []byte {
	c.t.Helper()
	h, rb := c.call(op, body)
	if h.Err != want {
		c.t.Fatalf("%v: err %d (%v), want %d (%v)", op, h.Err, h.Err, want, want)
	}
	if h.Err != jute.CodeOK && len(rb) != 0 {
		c.t.Fatalf("%v: error reply carries a %d-byte body; want header only", op, len(rb))
	}
	return rb
}

// Request bodies.

func createBody(path string, data []byte, acl []jute.ACL, flags jute.CreateMode) []byte {
	r := jute.CreateRequest{Path: path, Data: data, ACL: acl, Flags: int32(flags)}
	return r.Append(nil)
}

func pathWatchBody(path string, watch bool) []byte {
	r := jute.PathWatchRequest{Path: path, Watch: watch}
	return r.Append(nil)
}

func pathBody(path string) []byte {
	r := jute.PathRequest{Path: path}
	return r.Append(nil)
}

func pathVersionBody(path string, version int32) []byte {
	r := jute.PathVersionRequest{Path: path, Version: version}
	return r.Append(nil)
}

func setDataBody(path string, data []byte, version int32) []byte {
	r := jute.SetDataRequest{Path: path, Data: data, Version: version}
	return r.Append(nil)
}

func setACLBody(path string, acl []jute.ACL, version int32) []byte {
	r := jute.SetACLRequest{Path: path, ACL: acl, Version: version}
	return r.Append(nil)
}

// Raw operations that fail the test on an unexpected code.

func (c *rawClient) create(path string, data []byte, flags jute.CreateMode) string {
	c.t.Helper()
	rb := c.mustCall(jute.OpCreate, createBody(path, data, jute.OpenACLUnsafe, flags), jute.CodeOK)
	var r jute.PathRequest
	d := jute.NewDecoder(rb)
	r.Decode(&d)
	return jute.Clone(r.Path)
}

func (c *rawClient) getData(path string) ([]byte, jute.Stat) {
	c.t.Helper()
	rb := c.mustCall(jute.OpGetData, pathWatchBody(path, false), jute.CodeOK)
	var r jute.GetDataResponse
	d := jute.NewDecoder(rb)
	r.Decode(&d)
	if d.Err() != nil {
		c.t.Fatalf("getData reply: %v", d.Err())
	}
	return bytes.Clone(r.Data), r.Stat
}

func (c *rawClient) exists(path string) (jute.Stat, bool) {
	c.t.Helper()
	h, rb := c.call(jute.OpExists, pathWatchBody(path, false))
	switch h.Err {
	case jute.CodeNoNode:
		return jute.Stat{}, false
	case jute.CodeOK:
	default:
		c.t.Fatalf("exists %s: %v", path, h.Err)
	}
	var st jute.Stat
	d := jute.NewDecoder(rb)
	st.Decode(&d)
	return st, true
}

func (c *rawClient) children(path string) []string {
	c.t.Helper()
	rb := c.mustCall(jute.OpGetChildren, pathWatchBody(path, false), jute.CodeOK)
	d := jute.NewDecoder(rb)
	names := d.Strings()
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = jute.Clone(n)
	}
	slices.Sort(out)
	return out
}

// close sends closeSession and waits for the server to close the connection.
func (c *rawClient) closeSession() {
	c.t.Helper()
	c.mustCall(jute.OpCloseSession, nil, jute.CodeOK)
	expectClosedSilently(c.t, c.conn)
}

// --- severable TCP proxy ---
