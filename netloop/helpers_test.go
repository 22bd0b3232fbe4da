package netloop_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/internal/zktest"
	"zkd/internal/zktest/raw"
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
// listener on 127.0.0.1:0. It is assembled here, not with zktest.StartServer,
// because these tests set netloop.Config and session.Config fields that no
// zoo.cfg key reaches and read netloop.Server's own Stats; the client side is
// internal/zktest's.
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

// dial opens a connection with no handshake; the raw client is internal/zktest's.
func (s *testServer) dial(t testing.TB) *zktest.Client { return zktest.Dial(t, s.addr) }

// connect dials and establishes a session with a 30 s timeout.
func (s *testServer) connect(t testing.TB) *zktest.Client { return zktest.Connect(t, s.addr, 30000) }

// connectFrame is a ConnectRequest for a new 30 s session.
func connectFrame() []byte { return raw.ConnectFrame(30000, 0, nil) }

// requestFrame is a whole request frame with rec (nil: none) as its body.
func requestFrame(xid int32, op jute.OpCode, rec jute.Record) []byte {
	return raw.RequestFrame(xid, op, raw.Encode(rec))
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

// call writes one request with rec as its body and reads its reply.
func call(c *zktest.Client, xid int32, op jute.OpCode, rec jute.Record) reply {
	c.T.Helper()
	h, body := c.CallXid(xid, op, raw.Encode(rec))
	return reply{hdr: h, body: body}
}

// readReply reads the next frame, whatever it is, as a reply.
func readReply(c *zktest.Client) reply {
	c.T.Helper()
	h, body := c.Next()
	return reply{hdr: h, body: body}
}
