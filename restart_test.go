package main

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"zkd/jute"
	"zkd/server"
	"zkd/zoocfg"
)

// startAt starts a server on dataDir (which outlives it) and returns it with a
// stop function; unlike startServer it leaves stopping to the test, so the same
// directory can be opened again.
func startAt(t *testing.T, dataDir string, snapCount int) (*server.Server, func()) {
	t.Helper()
	cfg := zoocfg.Default()
	cfg.Admin.Enabled = false // tests never touch the default 8080
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.TickTime = testTick
	cfg.MaxClientCnxns = 0
	cfg.SnapCount = snapCount
	cfg.PreAllocSize = 4 << 20
	in, err := startInstance(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			if err := in.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return in, stop
}

// TestRestartWith100kZnodesAndOpenSessions fills a server with 100,000 znodes (in
// multis of 1,000 creates), leaves sessions open with ephemerals, stops it, and
// checks that a restart on the same data directory brings back every znode, every
// session with its ephemerals (resumable with its id and password), and continues
// sequence numbers and zxids.
func TestRestartWith100kZnodesAndOpenSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 100k znodes")
	}
	const parents, perParent = 100, 1000
	dir := t.TempDir()
	// snapCount below the number of entries: the restart reads a snapshot and
	// then replays the log written after it.
	in, stop := startAt(t, dir, 60)
	addr := in.Addr().String()
	c := newRaw(t, addr, 30000)
	c.create("/big", nil, jute.ModePersistent)
	for p := 0; p < parents; p++ {
		var req jute.MultiRequest
		req.Ops = append(req.Ops, jute.MultiOp{Type: jute.OpCreate, Path: fmt.Sprintf("/big/p%03d", p), ACL: jute.OpenACLUnsafe})
		for i := 0; i < perParent-1; i++ {
			req.Ops = append(req.Ops, jute.MultiOp{Type: jute.OpCreate,
				Path: fmt.Sprintf("/big/p%03d/n%04d", p, i), Data: []byte("0123456789"), ACL: jute.OpenACLUnsafe})
		}
		body := c.mustCall(jute.OpMulti, req.Append(nil), jute.CodeOK)
		var resp jute.MultiResponse
		d := jute.NewDecoder(body)
		resp.Decode(&d)
		for i, r := range resp.Results {
			if r.Type == jute.OpError {
				t.Fatalf("multi %d op %d: %v", p, i, r.Err)
			}
		}
	}
	seq := c.create("/big/s-", nil, jute.ModePersistentSequential)
	var sessions []*rawClient
	for i := 0; i < 10; i++ {
		s := newRaw(t, addr, 30000)
		s.create(fmt.Sprintf("/big/eph%d", i), nil, jute.ModeEphemeral)
		sessions = append(sessions, s)
	}
	count := in.Replica().Tree().NodeCount()
	zxid := in.Replica().Tree().LastZxid()
	if want := int64(4 + 1 + parents*perParent + 1 + 10); count != want {
		t.Fatalf("%d znodes before restart, want %d", count, want)
	}
	stop()

	start := time.Now()
	in2, _ := startAt(t, dir, 60)
	t.Logf("restart with %d znodes took %v", count, time.Since(start).Round(time.Millisecond))
	if got := in2.Replica().Tree().NodeCount(); got != count {
		t.Fatalf("%d znodes after restart, want %d", got, count)
	}
	addr2 := in2.Addr().String()
	check := newRaw(t, addr2, 30000)
	n, _ := check.getData("/big/p042/n0998")
	if string(n) != "0123456789" {
		t.Fatalf("data after restart = %q", n)
	}
	// Every session resumes with its id and password and still owns its ephemeral.
	for i, s := range sessions {
		r, resp := resumeRaw(t, addr2, s.sid, s.passwd, 30000)
		if resp.SessionID != s.sid || resp.TimeOut == 0 {
			t.Fatalf("session %d: resume answered %+v", i, resp)
		}
		_, st := r.getData(fmt.Sprintf("/big/eph%d", i))
		if st.EphemeralOwner != s.sid {
			t.Fatalf("ephemeral %d owner %#x, want %#x", i, st.EphemeralOwner, s.sid)
		}
	}
	next := check.create("/big/s-", nil, jute.ModePersistentSequential)
	if next <= seq {
		t.Fatalf("sequence after restart %s, not after %s", next, seq)
	}
	if in2.Replica().Tree().LastZxid() <= zxid {
		t.Fatalf("zxid %v after restart, not after %v", in2.Replica().Tree().LastZxid(), zxid)
	}
}
