package zkcheck

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// serveOnlyPings accepts sessions on ln and then answers nothing but pings: a
// server that keeps its connections alive and never answers a request.
func serveOnlyPings(t *testing.T, ln net.Listener) {
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sid := int64(1); ; sid++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				t.Cleanup(func() { c.Close() })
				var n [4]byte
				for first := true; ; first = false {
					if _, err := io.ReadFull(c, n[:]); err != nil {
						return
					}
					body := make([]byte, binary.BigEndian.Uint32(n[:]))
					if _, err := io.ReadFull(c, body); err != nil {
						return
					}
					var reply []byte
					switch {
					case first: // ConnectResponse: protocol 0, 4000 ms, the session, a 16-byte password
						reply = binary.BigEndian.AppendUint32(nil, 0)
						reply = binary.BigEndian.AppendUint32(reply, 4000)
						reply = binary.BigEndian.AppendUint64(reply, uint64(sid))
						reply = append(binary.BigEndian.AppendUint32(reply, 16), make([]byte, 16)...)
					case int32(binary.BigEndian.Uint32(body)) == -2: // a ping: xid -2, zxid 0, ok
						reply = append(binary.BigEndian.AppendUint32(nil, uint32(0xfffffffe)), make([]byte, 12)...)
					default:
						continue
					}
					if _, err := c.Write(frame(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// A request the server never answers, on a connection it keeps alive, ends its
// client's part after OpTimeout instead of holding the recording: the client is
// reported, a write's outcome is unknown, and Run and ReadBack return.
func TestRecorderAbandonsAnUnansweredRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOnlyPings(t, ln)
	r, err := NewRecorder(RecorderConfig{Servers: []string{ln.Addr().String()}, Seed: 3, Clients: 3,
		Root: "/abandon", RootMade: true, Duration: time.Minute, OpTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Run(context.Background())
	r.ReadBack()
	if got := r.Abandoned(); len(got) != 3 {
		t.Fatalf("abandoned: %q, want one per client", got)
	}
	for _, op := range r.History().Ops {
		if !op.In.Kind.IsWrite() || !op.Out.Unknown {
			t.Fatalf("recorded %v: only writes of unknown outcome can come from a server that answers nothing", op)
		}
	}
}
