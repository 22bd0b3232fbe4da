package session_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/replica"
	"zkd/replica/replicatest"
	"zkd/session"
)

// waitLimit bounds every wait of these tests. It is a safety net against hangs,
// never an assertion about speed.
const waitLimit = 20 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// fakeTransport stands in for netloop: it records Wake and Close calls and lets
// the test pull output with TakeOutput, as OnTraffic does.
type fakeTransport struct {
	wakeC  chan struct{} // one pending signal; Wake never blocks
	wakes  atomic.Int64
	closes atomic.Int64
}

func newFakeTransport() *fakeTransport { return &fakeTransport{wakeC: make(chan struct{}, 1)} }

func (f *fakeTransport) Wake() {
	f.wakes.Add(1)
	select {
	case f.wakeC <- struct{}{}:
	default:
	}
}

func (f *fakeTransport) Close() {
	f.closes.Add(1)
	f.Wake()
}

// gatedReplica wraps the real replica. While held, proposals and syncs queue up
// in order and reach it only on release, so a test can pile requests up behind
// writes that are still in flight.
type gatedReplica struct {
	session.Replica
	readOnly   atomic.Bool // what ReadOnly reports: a read-only server without an ensemble to lose
	notServing atomic.Bool // Mode reports "": an ensemble member without a leader

	mu struct {
		sync.Mutex
		held    bool
		waiting []func() // guarded by mu; in call order
	}
}

func (g *gatedReplica) ReadOnly() bool { return g.readOnly.Load() }

func (g *gatedReplica) Mode() string {
	if g.notServing.Load() {
		return ""
	}
	return g.Replica.Mode()
}

func (g *gatedReplica) hold() {
	g.mu.Lock()
	g.mu.held = true
	g.mu.Unlock()
}

// release hands every queued call to the replica, in order, and stops holding.
func (g *gatedReplica) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.mu.waiting {
		f()
	}
	g.mu.waiting, g.mu.held = nil, false
}

func (g *gatedReplica) Propose(txn datatree.Txn, applying func(), done replica.DoneFunc) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.mu.held {
		return g.Replica.Propose(txn, applying, done)
	}
	txn.Body = bytes.Clone(txn.Body)
	g.mu.waiting = append(g.mu.waiting, func() {
		if err := g.Replica.Propose(txn, applying, done); err != nil {
			done(0, datatree.Result{}, err)
		}
	})
	return nil
}

func (g *gatedReplica) Sync(done func(error)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.mu.held {
		return g.Replica.Sync(done)
	}
	g.mu.waiting = append(g.mu.waiting, func() {
		if err := g.Replica.Sync(done); err != nil {
			done(err)
		}
	})
	return nil
}

// harness is one session.Server over a real tree and a one-voter raft group.
type harness struct {
	t     testing.TB
	srv   *session.Server
	tree  *datatree.Tree
	rep   *replicatest.Standalone
	gate  *gatedReplica
	ports atomic.Int32
}

// newHarness starts a standalone replica and a session.Server configured by
// mutate.
func newHarness(t testing.TB, mutate func(*session.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, replicatest.StandaloneOptions{Logger: quiet}, mutate)
}

// newManualHarness is newHarness on a manual clock: nothing expires unless the
// test moves time (h.rep.Advance).
func newManualHarness(t testing.TB, mutate func(*session.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, replicatest.StandaloneOptions{Logger: quiet, Clock: replicatest.NewManualClock()}, mutate)
}

func newHarnessWith(t testing.TB, opts replicatest.StandaloneOptions, mutate func(*session.Config)) *harness {
	t.Helper()
	rep := replicatest.NewStandalone(t, opts)
	gate := &gatedReplica{Replica: rep.Replica}
	cfg := session.DefaultConfig()
	cfg.Logger = quiet
	cfg.MaxClientCnxns = 0
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := session.NewServer(cfg, gate)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	rep.SetListener(srv)
	t.Cleanup(gate.release)
	h := &harness{t: t, srv: srv, tree: rep.Tree(), rep: rep, gate: gate}
	h.ports.Store(40000)
	return h
}

// client drives one session.Conn the way netloop does.
type client struct {
	t  testing.TB
	h  *harness
	c  *session.Conn
	tr *fakeTransport

	remote  string
	in      []byte // output taken but not yet parsed into frames
	closing bool   // TakeOutput asked for the connection to be closed

	sid     jute.SessionID
	passwd  []byte
	timeout int32
	xid     int32
	events  []jute.WatcherEvent // notifications ping skipped over
}

// dial opens a connection without a handshake.
func (h *harness) dial() *client {
	h.t.Helper()
	tr := newFakeTransport()
	remote := fmt.Sprintf("127.0.0.1:%d", h.ports.Add(1))
	c, err := h.srv.NewConn(tr, "127.0.0.1", remote)
	if err != nil {
		h.t.Fatalf("NewConn: %v", err)
	}
	return &client{t: h.t, h: h, c: c, tr: tr, remote: remote}
}

// connect opens a connection and establishes a new session with a 3.x-style
// ConnectRequest (readOnly byte present).
func (h *harness) connect() *client {
	h.t.Helper()
	cl := h.dial()
	resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true})
	if !ok {
		h.t.Fatal("handshake refused")
	}
	if resp.SessionID == 0 || resp.TimeOut == 0 {
		h.t.Fatalf("new session refused: %+v", resp)
	}
	cl.sid, cl.passwd, cl.timeout = jute.SessionID(resp.SessionID), resp.Passwd, resp.TimeOut
	return cl
}

// handshake sends req as the first frame and decodes the ConnectResponse. ok is
// false when HandleFrame asked for the connection to be dropped at once.
func (cl *client) handshake(req jute.ConnectRequest) (resp jute.ConnectResponse, ok bool) {
	cl.t.Helper()
	if !cl.c.HandleFrame(req.Append(nil)) {
		return resp, false
	}
	payload := cl.next()
	d := jute.NewDecoder(payload)
	resp.Decode(&d)
	if d.Err() != nil || d.Remaining() != 0 {
		cl.t.Fatalf("bad ConnectResponse % x: err=%v remaining=%d", payload, d.Err(), d.Remaining())
	}
	return resp, true
}

// reply is one decoded server frame after the handshake.
type reply struct {
	hdr  jute.ReplyHeader
	body []byte
}

func (r reply) String() string {
	return fmt.Sprintf("{xid=%d zxid=%v err=%d body=%d bytes}", r.hdr.Xid, r.hdr.Zxid, r.hdr.Err, len(r.body))
}

// event decodes a notification body.
func (r reply) event(t testing.TB) jute.WatcherEvent {
	t.Helper()
	if r.hdr.Xid != jute.XidNotification {
		t.Fatalf("expected a notification, got %v", r)
	}
	var ev jute.WatcherEvent
	d := jute.NewDecoder(r.body)
	ev.Decode(&d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("bad WatcherEvent % x", r.body)
	}
	return ev
}

// decode decodes the body into rec and checks that nothing is left over.
func (r reply) decode(t testing.TB, rec jute.Record) {
	t.Helper()
	if r.hdr.Err != jute.CodeOK {
		t.Fatalf("reply %v: want a successful reply", r)
	}
	d := jute.NewDecoder(r.body)
	rec.Decode(&d)
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("reply body % x does not decode as %T: err=%v remaining=%d", r.body, rec, d.Err(), d.Remaining())
	}
}

// request encodes a request payload: header, then the record if any.
func request(xid int32, op jute.OpCode, rec jute.Record) []byte {
	b := (&jute.RequestHeader{Xid: xid, Type: op}).Append(nil)
	if rec != nil {
		b = rec.Append(b)
	}
	return b
}

// nextXid returns the next client xid (1, 2, ...).
func (cl *client) nextXid() int32 {
	cl.xid++
	return cl.xid
}

// send hands one request to the connection and returns its xid.
func (cl *client) send(op jute.OpCode, rec jute.Record) int32 {
	cl.t.Helper()
	xid := cl.nextXid()
	if !cl.c.HandleFrame(request(xid, op, rec)) {
		cl.t.Fatalf("HandleFrame(%v xid=%d) asked to drop the connection", op, xid)
	}
	return xid
}

// call sends one request and returns its reply, which must be the next frame.
func (cl *client) call(op jute.OpCode, rec jute.Record) reply {
	cl.t.Helper()
	xid := cl.send(op, rec)
	r := cl.nextReply()
	if r.hdr.Xid != xid {
		cl.t.Fatalf("%v: reply %v, want xid %d", op, r, xid)
	}
	return r
}

// pull moves whatever the connection has queued into cl.in, as OnTraffic does.
func (cl *client) pull() int {
	b, closeAfter := cl.c.TakeOutput()
	n := len(b)
	cl.in = append(cl.in, b...)
	cl.c.ReturnOutput(b)
	if closeAfter {
		cl.closing = true
	}
	return n
}

// popFrame removes one complete frame payload from cl.in, if there is one.
func (cl *client) popFrame() ([]byte, bool) {
	if len(cl.in) < 4 {
		return nil, false
	}
	n := int(int32(binary.BigEndian.Uint32(cl.in)))
	if n < 0 {
		cl.t.Fatalf("server wrote a negative frame length %d", n)
	}
	if len(cl.in) < 4+n {
		return nil, false
	}
	payload := bytes.Clone(cl.in[4 : 4+n])
	cl.in = cl.in[4+n:]
	return payload, true
}

// next returns the next frame payload the server writes, waiting for a Wake if
// nothing is queued yet.
func (cl *client) next() []byte {
	cl.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		if p, ok := cl.popFrame(); ok {
			return p
		}
		if cl.pull() > 0 {
			continue
		}
		select {
		case <-cl.tr.wakeC:
		case <-deadline.C:
			cl.t.Fatalf("no frame from the server within %v (wakes=%d closes=%d closing=%v)",
				waitLimit, cl.tr.wakes.Load(), cl.tr.closes.Load(), cl.closing)
		}
	}
}

// nextReply returns the next frame as a reply or notification.
func (cl *client) nextReply() reply {
	cl.t.Helper()
	p := cl.next()
	var r reply
	d := jute.NewDecoder(p)
	r.hdr.Decode(&d)
	if d.Err() != nil {
		cl.t.Fatalf("frame too short for a ReplyHeader: % x", p)
	}
	r.body = d.Rest()
	return r
}

// expectSilent fails if the server queued any output.
func (cl *client) expectSilent() {
	cl.t.Helper()
	cl.pull()
	if len(cl.in) != 0 {
		cl.t.Fatalf("unexpected output % x", cl.in)
	}
}

// ping sends a ping with the Java client's xid and checks its reply. Watch events
// that arrive first are kept in cl.events.
func (cl *client) ping() reply {
	cl.t.Helper()
	if !cl.c.HandleFrame(request(jute.XidPing, jute.OpPing, nil)) {
		cl.t.Fatal("ping dropped the connection")
	}
	r := cl.nextReply()
	for r.hdr.Xid == jute.XidNotification {
		cl.events = append(cl.events, r.event(cl.t))
		r = cl.nextReply()
	}
	if r.hdr.Xid != jute.XidPing || r.hdr.Err != jute.CodeOK || len(r.body) != 0 {
		cl.t.Fatalf("ping reply %v", r)
	}
	return r
}

// create makes a node and fails the test on error.
func (cl *client) create(path string, data []byte, flags int32, acl []jute.ACL) {
	cl.t.Helper()
	r := cl.call(jute.OpCreate, &jute.CreateRequest{Path: path, Data: data, ACL: acl, Flags: flags})
	if r.hdr.Err != jute.CodeOK {
		cl.t.Fatalf("create %s: %v", path, r)
	}
}

// checkFor polls cond until it holds or waitLimit passes.
func checkFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
