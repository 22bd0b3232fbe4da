package session_test

import (
	"testing"

	"zkd/jute"
	"zkd/session"
)

// Throttled turns on when MaxOutstanding requests are unanswered, so netloop stops
// reading, and off again as replies drain (DESIGN.md invariant 10).
func TestThrottledAtMaxOutstanding(t *testing.T) {
	const limit = 4
	h := newHarness(t, func(c *session.Config) { c.MaxOutstanding = limit })
	cl := h.connect()
	if cl.c.Throttled() {
		t.Fatal("throttled with nothing outstanding")
	}
	// Reads answered at once never count.
	for i := 0; i < 2*limit; i++ {
		cl.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"})
	}
	if cl.c.Throttled() || cl.c.Outstanding() != 0 {
		t.Fatalf("throttled after immediate reads (outstanding %d)", cl.c.Outstanding())
	}

	h.gate.hold()
	var xids []int32
	for i := 0; i < limit; i++ {
		if cl.c.Throttled() {
			t.Fatalf("throttled with %d of %d outstanding", i, limit)
		}
		if i%2 == 0 {
			xids = append(xids, cl.send(jute.OpCreate, &jute.CreateRequest{Path: "/n" + string(rune('a'+i)), ACL: jute.OpenACLUnsafe}))
		} else {
			xids = append(xids, cl.send(jute.OpGetData, &jute.PathWatchRequest{Path: "/"})) // queued behind a write
		}
	}
	if !cl.c.Throttled() || cl.c.Outstanding() != limit {
		t.Fatalf("Throttled=%v Outstanding=%d with %d requests in flight", cl.c.Throttled(), cl.c.Outstanding(), limit)
	}
	cl.expectSilent()
	h.gate.release()
	for _, xid := range xids {
		if r := cl.nextReply(); r.hdr.Xid != xid || r.hdr.Err != jute.CodeOK {
			t.Fatalf("reply %v, want xid %d", r, xid)
		}
	}
	if cl.c.Throttled() || cl.c.Outstanding() != 0 {
		t.Fatalf("Throttled=%v Outstanding=%d after every reply", cl.c.Throttled(), cl.c.Outstanding())
	}
	if cl.tr.wakes.Load() == 0 {
		t.Fatal("replies produced off the event loop never woke it")
	}
}

// A client that lets more than MaxOutputBytes of output pile up is disconnected,
// and nothing more is queued for it.
func TestOutputOverLimitCloses(t *testing.T) {
	const limit = 1024
	h := newHarness(t, func(c *session.Config) { c.MaxOutputBytes = limit })
	cl := h.connect()
	// Pings are 20 bytes each on the wire; nobody takes the output.
	const pingBytes = 4 + jute.ReplyHeaderSize
	sent := 0
	for cl.tr.closes.Load() == 0 {
		if sent > 2*limit/pingBytes {
			t.Fatalf("%d pings (%d bytes) queued without a close", sent, sent*pingBytes)
		}
		cl.c.HandleFrame(request(jute.XidPing, jute.OpPing, nil))
		sent++
	}
	if sent*pingBytes <= limit {
		t.Fatalf("closed after %d bytes, limit %d", sent*pingBytes, limit)
	}
	if b, _ := cl.c.TakeOutput(); len(b) != 0 {
		t.Fatalf("%d bytes still queued after the close", len(b))
	}
	cl.c.HandleFrame(request(jute.XidPing, jute.OpPing, nil))
	if b, _ := cl.c.TakeOutput(); len(b) != 0 {
		t.Fatalf("output queued after the close: % x", b)
	}
	// Other connections are unaffected.
	other := h.connect()
	other.ping()
}
