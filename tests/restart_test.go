package tests

import (
	"fmt"
	"testing"
	"time"

	"zkd/internal/zktest"
	"zkd/jute"
	"zkd/zoocfg"
)

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
	// snapCount below the number of entries: the restart reads a snapshot and
	// then replays the log written after it.
	in := zktest.StartServer(t, func(c *zoocfg.Config) { c.SnapCount, c.PreAllocSize = 60, 4<<20 })
	addr := in.ConnectString()
	c := zktest.Connect(t, addr, 30000)
	c.Create("/big", nil, jute.ModePersistent)
	for p := 0; p < parents; p++ {
		var req jute.MultiRequest
		req.Ops = append(req.Ops, jute.MultiOp{Type: jute.OpCreate, Path: fmt.Sprintf("/big/p%03d", p), ACL: jute.OpenACLUnsafe})
		for i := 0; i < perParent-1; i++ {
			req.Ops = append(req.Ops, jute.MultiOp{Type: jute.OpCreate,
				Path: fmt.Sprintf("/big/p%03d/n%04d", p, i), Data: []byte("0123456789"), ACL: jute.OpenACLUnsafe})
		}
		body := c.MustCall(jute.OpMulti, req.Append(nil), jute.CodeOK)
		var resp jute.MultiResponse
		d := jute.NewDecoder(body)
		resp.Decode(&d)
		for i, r := range resp.Results {
			if r.Type == jute.OpError {
				t.Fatalf("multi %d op %d: %v", p, i, r.Err)
			}
		}
	}
	seq := c.Create("/big/s-", nil, jute.ModePersistentSequential)
	var sessions []*zktest.Client
	for i := 0; i < 10; i++ {
		s := zktest.Connect(t, addr, 30000)
		s.Create(fmt.Sprintf("/big/eph%d", i), nil, jute.ModeEphemeral)
		sessions = append(sessions, s)
	}
	count := in.Replica().Tree().NodeCount()
	zxid := in.Replica().Tree().LastZxid()
	if want := int64(4 + 1 + parents*perParent + 1 + 10); count != want {
		t.Fatalf("%d znodes before restart, want %d", count, want)
	}
	if err := in.Stop(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	in.Restart() // the same data directory
	in2 := in
	t.Logf("restart with %d znodes took %v", count, time.Since(start).Round(time.Millisecond))
	if got := in2.Replica().Tree().NodeCount(); got != count {
		t.Fatalf("%d znodes after restart, want %d", got, count)
	}
	addr2 := in2.ConnectString()
	check := zktest.Connect(t, addr2, 30000)
	n, _ := check.GetData("/big/p042/n0998")
	if string(n) != "0123456789" {
		t.Fatalf("data after restart = %q", n)
	}
	// Every session resumes with its id and password and still owns its ephemeral.
	for i, s := range sessions {
		r, resp := zktest.Resume(t, addr2, s.SessionID(), s.Passwd(), 30000)
		if resp.SessionID != s.SessionID() || resp.TimeOut == 0 {
			t.Fatalf("session %d: resume answered %+v", i, resp)
		}
		_, st := r.GetData(fmt.Sprintf("/big/eph%d", i))
		if st.EphemeralOwner != s.SessionID() {
			t.Fatalf("ephemeral %d owner %#x, want %#x", i, st.EphemeralOwner, s.SessionID())
		}
	}
	next := check.Create("/big/s-", nil, jute.ModePersistentSequential)
	if next <= seq {
		t.Fatalf("sequence after restart %s, not after %s", next, seq)
	}
	if in2.Replica().Tree().LastZxid() <= zxid {
		t.Fatalf("zxid %v after restart, not after %v", in2.Replica().Tree().LastZxid(), zxid)
	}
}
