package netloop_test

import (
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"

	"zkd/jute"
	"zkd/netloop"
	"zkd/session"
)

// flood writes getData requests for path on c, never reading, until the server
// closes the connection or max bytes are out (or a write is stuck for
// waitLimit). It reports how much was written.
func flood(c net.Conn, path string, max int) <-chan int {
	var chunk []byte
	for len(chunk) < 64<<10 {
		chunk = append(chunk, requestFrame(1, jute.OpGetData, &jute.PathWatchRequest{Path: path})...)
	}
	done := make(chan int, 1)
	go func() {
		n := 0
		for n < max {
			_ = c.SetWriteDeadline(time.Now().Add(waitLimit))
			k, err := c.Write(chunk)
			n += k
			if err != nil {
				break
			}
		}
		done <- n
	}()
	return done
}

// heapInUse returns the heap in use after two collections (the second empties the
// sync.Pools the first moved to their victim caches).
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// A client that sends requests without reading the replies is paused, and cut
// off once it has MaxInboundBytes waiting: the server never holds more unread
// input than that for it, another client is answered meanwhile, and the memory
// is given back once the flooder is gone.
func TestFloodWithoutReadingHoldsBoundedInput(t *testing.T) {
	const (
		inboundLimit = 4 << 20
		floodMax     = 256 << 20 // without a bound the server would hold all of it
	)
	s := newServer(t, func(_ *session.Config, n *netloop.Config) { n.MaxInboundBytes = inboundLimit })
	w := s.connect(t)
	data := bytes.Repeat([]byte("f"), 4<<10)
	if r := call(w, 1, jute.OpCreate, &jute.CreateRequest{Path: "/flood", Data: data, ACL: jute.OpenACLUnsafe}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("create: %+v", r.hdr)
	}
	before := heapInUse()

	f := s.connect(t)
	done := flood(f.NetConn(), "/flood", floodMax)
	var sent int
	for {
		if r := call(w, jute.XidPing, jute.OpPing, nil); r.hdr.Err != jute.CodeOK {
			t.Fatalf("ping during the flood: %+v", r.hdr)
		}
		select {
		case sent = <-done:
		case <-time.After(10 * time.Millisecond):
			continue
		}
		break
	}
	if sent >= floodMax {
		t.Fatalf("the flooder wrote all %d MiB without being cut off", floodMax>>20)
	}
	f.ReadAll() // the server closed it
	checkConns(t, s, 1)

	st := s.nl.Stats()
	// A read of up to 64 KiB lands before the check that closes the connection.
	if limit := int64(inboundLimit + 64<<10); st.PeakUnread > limit {
		t.Errorf("the server held %d bytes of the flooder's input, over the %d-byte bound", st.PeakUnread, limit)
	}
	if st.InputLimitCloses != 1 || s.sess.NetStats().InputLimitCloses != 1 {
		t.Errorf("input-limit closes: netloop %d, session %d; want 1", st.InputLimitCloses, s.sess.NetStats().InputLimitCloses)
	}
	if st.UnreadBytes != 0 || s.sess.NetStats().UnreadBytes != 0 {
		t.Errorf("unread-input gauge %d (session %d) with no request in flight, want 0", st.UnreadBytes, s.sess.NetStats().UnreadBytes)
	}
	after := heapInUse()
	t.Logf("flooder cut off after %.1f MiB; peak unread %.1f MiB; heap in use %.1f MiB before, %.1f MiB after",
		float64(sent)/(1<<20), float64(st.PeakUnread)/(1<<20), float64(before)/(1<<20), float64(after)/(1<<20))
	if after > before+8<<20 {
		t.Errorf("heap in use %d MiB after the flooder left, %d MiB before it came", after>>20, before>>20)
	}
	if r := call(w, jute.XidPing, jute.OpPing, nil); r.hdr.Err != jute.CodeOK {
		t.Fatalf("ping after the flood: %+v", r.hdr)
	}
}
