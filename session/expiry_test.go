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
// timeout, stay. Time is the replica's manual clock: nothing here depends on how
// fast the machine is.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	h := newManualHarness(t, func(c *session.Config) { c.TickTime = 100 * time.Millisecond })
	const step = 20 * time.Millisecond

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

	expired := func(cl *client) bool {
		_, live := h.tree.Session(cl.sid)
		return !live
	}
	// Just before the short timeout nothing has expired.
	h.rep.Advance(180*time.Millisecond, step)
	alive.ping()
	if expired(gone) || expired(silent) {
		t.Fatal("a session expired before its timeout")
	}
	// Ten of alive's timeouts, alive pinging at a fifth of its timeout.
	for range 50 {
		h.rep.Advance(80*time.Millisecond, step)
		alive.ping()
	}
	checkFor(t, "both short sessions to expire", func() bool { return expired(gone) && expired(silent) })
	alive.ping() // the event for /gone precedes this reply

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
	h := newManualHarness(t, func(c *session.Config) { c.TickTime = 100 * time.Millisecond })
	const step = 20 * time.Millisecond
	first := h.connectWithTimeout(400)
	first.create("/eph", nil, int32(jute.ModeEphemeral), jute.OpenACLUnsafe)
	first.c.Closed()
	h.rep.Advance(300*time.Millisecond, step)

	cl := h.dial()
	resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: 400, SessionID: int64(first.sid), Passwd: first.passwd, HasReadOnly: true})
	if !ok || jute.SessionID(resp.SessionID) != first.sid {
		t.Fatalf("resume: %+v ok=%v", resp, ok)
	}
	// Several timeouts of pinging later the session and its node are still there.
	for range 25 {
		h.rep.Advance(80*time.Millisecond, step)
		cl.ping()
	}
	if _, live := h.tree.Session(first.sid); !live {
		t.Fatal("resumed session expired")
	}
	if _, code := h.tree.Exists("/eph", nil, nil); code != jute.CodeOK {
		t.Fatalf("ephemeral of the resumed session: %v", code)
	}
	// Silent from now on, it expires after its timeout.
	h.rep.Advance(500*time.Millisecond, step)
	checkFor(t, "the silent resumed session to expire", func() bool {
		_, live := h.tree.Session(first.sid)
		return !live
	})
}
