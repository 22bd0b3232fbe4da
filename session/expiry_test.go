package session_test

import (
	"testing"
	"time"

	"zkd/jute"
	"zkd/session"
)

// connectWithTimeout establishes a session asking for timeout ms.
func (h *harness) connectWithTimeout(timeout int32) *client {
	h.t.Helper()
	cl := h.dial()
	resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: timeout, Passwd: make([]byte, 16), HasReadOnly: true})
	if !ok || resp.SessionID == 0 {
		h.t.Fatalf("handshake: %+v ok=%v", resp, ok)
	}
	cl.sid, cl.passwd, cl.timeout = jute.SessionID(resp.SessionID), resp.Passwd, resp.TimeOut
	return cl
}

// A session whose connection is gone expires after its timeout: a closeSession
// is replicated and its ephemerals are deleted (semantics.md §7.1). A session
// that keeps pinging, and one that is merely disconnected for less than its
// timeout, stay. No assertion here depends on how fast the machine is: the
// pinging session pings at a fifth of its timeout, and waits are bounded polls.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *session.Config) { c.TickTime = 100 * time.Millisecond })

	gone := h.connectWithTimeout(200)
	silent := h.connectWithTimeout(200)
	alive := h.connectWithTimeout(400)
	if gone.timeout != 200 || alive.timeout != 400 {
		t.Fatalf("negotiated %d and %d, want 200 and 400", gone.timeout, alive.timeout)
	}
	gone.create("/gone", nil, int32(jute.ModeEphemeral), jute.OpenACLUnsafe)
	silent.create("/silent", nil, int32(jute.ModeEphemeral), jute.OpenACLUnsafe)
	alive.create("/alive", nil, int32(jute.ModeEphemeral), jute.OpenACLUnsafe)
	if r := alive.call(jute.OpExists, &jute.PathWatchRequest{Path: "/gone", Watch: true}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("exists: %v", r)
	}
	gone.c.Closed()

	// Keep pinging alive until both short sessions have expired, and for at least
	// several of alive's timeouts.
	start := time.Now()
	expired := func(cl *client) bool {
		_, live := h.tree.Session(cl.sid)
		return !live
	}
	for !(expired(gone) && expired(silent)) || time.Since(start) < 2*time.Second {
		if time.Since(start) > waitLimit {
			t.Fatalf("sessions not expired within %v (gone %v, silent %v)", waitLimit, expired(gone), expired(silent))
		}
		alive.ping()
		time.Sleep(time.Duration(alive.timeout) * time.Millisecond / 5)
	}

	for _, p := range []string{"/gone", "/silent"} {
		if _, code := h.tree.Exists(p, nil, nil); code != jute.CodeNoNode {
			t.Errorf("ephemeral %s of an expired session: %v", p, code)
		}
	}
	if _, code := h.tree.Exists("/alive", nil, nil); code != jute.CodeOK {
		t.Errorf("ephemeral of the pinging session: %v", code)
	}
	if expired(alive) {
		t.Fatal("the pinging session expired")
	}
	if alive.closing || alive.tr.closes.Load() != 0 {
		t.Fatal("the pinging session's connection was closed")
	}
	// The expired session's still-open connection is closed.
	checkFor(t, "close of the silent session's connection", func() bool { silent.pull(); return silent.closing })
	// alive was told that /gone went away.
	alive.expectSilent()
	want := jute.WatcherEvent{Type: jute.EventNodeDeleted, State: jute.StateSyncConnected, Path: "/gone"}
	if len(alive.events) != 1 || alive.events[0] != want {
		t.Fatalf("alive got events %+v, want [%+v]", alive.events, want)
	}

	// Resuming the expired session is refused.
	cl := h.dial()
	resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: 200, SessionID: int64(gone.sid), Passwd: gone.passwd, HasReadOnly: true})
	if !ok || resp.TimeOut != 0 || resp.SessionID != 0 {
		t.Fatalf("resume of an expired session: %+v ok=%v", resp, ok)
	}
}

// Reconnecting within the timeout keeps a disconnected session alive.
func TestDisconnectedSessionResumedBeforeExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *session.Config) { c.TickTime = 100 * time.Millisecond })
	first := h.connectWithTimeout(400)
	first.create("/eph", nil, int32(jute.ModeEphemeral), jute.OpenACLUnsafe)
	first.c.Closed()

	cl := h.dial()
	resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: 400, SessionID: int64(first.sid), Passwd: first.passwd, HasReadOnly: true})
	if !ok || jute.SessionID(resp.SessionID) != first.sid {
		t.Fatalf("resume: %+v ok=%v", resp, ok)
	}
	// Several timeouts of pinging later the session and its node are still there.
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		cl.ping()
		time.Sleep(80 * time.Millisecond)
	}
	if _, live := h.tree.Session(first.sid); !live {
		t.Fatal("resumed session expired")
	}
	if _, code := h.tree.Exists("/eph", nil, nil); code != jute.CodeOK {
		t.Fatalf("ephemeral of the resumed session: %v", code)
	}
}
