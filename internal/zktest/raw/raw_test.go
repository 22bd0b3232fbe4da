package raw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"zkd/jute"
)

// script is a fake server: it accepts one connection, reads n bytes, answers
// with reply, then closes. It reports what it read.
func script(t *testing.T, n int, reply []byte) (addr string, got <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, n)
		k, _ := readFull(c, b)
		ch <- b[:k]
		_, _ = c.Write(reply)
	}()
	return ln.Addr().String(), ch
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func replyFrame(xid int32, zxid jute.Zxid, code jute.Code, body []byte) []byte {
	return Frame(append(jute.AppendReplyHeader(nil, xid, zxid, code), body...))
}

func TestFramesAreLengthPrefixed(t *testing.T) {
	f := RequestFrame(7, jute.OpExists, []byte{1, 2, 3})
	if n := binary.BigEndian.Uint32(f); int(n) != len(f)-4 {
		t.Fatalf("length %d for a %d-byte payload", n, len(f)-4)
	}
	var h jute.RequestHeader
	d := jute.NewDecoder(f[4:])
	h.Decode(&d)
	if h.Xid != 7 || h.Type != jute.OpExists || !bytes.Equal(d.Rest(), []byte{1, 2, 3}) {
		t.Fatalf("header %+v rest % x", h, d.Rest())
	}
	var req jute.ConnectRequest
	d = jute.NewDecoder(ConnectFrame(4000, 0, nil)[4:])
	req.Decode(&d)
	if req.TimeOut != 4000 || len(req.Passwd) != 16 || !req.HasReadOnly {
		t.Fatalf("ConnectRequest %+v", req)
	}
	if Encode(nil) != nil {
		t.Fatal("Encode(nil) is not nil")
	}
}

// Call keeps the notifications that come before its reply, in order, with their
// zxids, and then returns the reply.
func TestCallKeepsNotificationsAheadOfItsReply(t *testing.T) {
	ev := func(typ jute.EventType, path string) []byte {
		return (&jute.WatcherEvent{Type: typ, State: jute.StateSyncConnected, Path: path}).Append(nil)
	}
	var out []byte
	out = append(out, replyFrame(jute.XidNotification, -1, jute.CodeOK, ev(jute.EventNodeCreated, "/a"))...)
	out = append(out, replyFrame(jute.XidNotification, -1, jute.CodeOK, ev(jute.EventNodeDeleted, "/b"))...)
	out = append(out, replyFrame(1, 42, jute.CodeNoNode, nil)...)
	req := RequestFrame(1, jute.OpExists, []byte("body"))
	addr, got := script(t, len(req), out)
	c, err := Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, body, err := c.Call(0, jute.OpExists, []byte("body"))
	if err != nil || h.Xid != 1 || h.Zxid != 42 || h.Err != jute.CodeNoNode || len(body) != 0 {
		t.Fatalf("reply %+v % x, %v", h, body, err)
	}
	if b := <-got; !bytes.Equal(b, req) {
		t.Fatalf("server read % x, want % x", b, req)
	}
	evs := c.TakeEvents()
	if len(evs) != 2 || evs[0].Path != "/a" || evs[0].Type != jute.EventNodeCreated || evs[0].Zxid != -1 ||
		evs[1].Path != "/b" || evs[1].Type != jute.EventNodeDeleted {
		t.Fatalf("events %+v", evs)
	}
	if len(c.Events()) != 0 {
		t.Fatal("TakeEvents did not forget")
	}
	// The server closed after its reply: the next read says so.
	if _, _, err := c.Next(); !IsClosed(err) {
		t.Fatalf("read after the server closed: %v", err)
	}
}

func TestCallRefusesAReplyToAnotherRequest(t *testing.T) {
	addr, _ := script(t, len(RequestFrame(1, jute.OpSync, nil)), replyFrame(9, 1, jute.CodeOK, nil))
	c, err := Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Call(0, jute.OpSync, nil); !errors.Is(err, ErrXid) {
		t.Fatalf("reply xid 9 to request 1: %v", err)
	}
}

// A refused session is not an error: the response says so and the Conn keeps no
// session.
func TestConnectReportsARefusedSession(t *testing.T) {
	resp := jute.ConnectResponse{Passwd: make([]byte, 16)}
	addr, _ := script(t, len(ConnectFrame(4000, 5, nil)), Frame(resp.Append(nil)))
	c, got, err := Connect(addr, 10*time.Second, 4000, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got.SessionID != 0 || got.TimeOut != 0 || c.SessionID != 0 || c.Passwd != nil {
		t.Fatalf("response %+v, conn session %#x", got, c.SessionID)
	}
	if b, err := c.ReadAll(); err != nil || len(b) != 0 {
		t.Fatalf("after the refusal: % x, %v", b, err)
	}
}

func TestReadFrameRefusesABadLength(t *testing.T) {
	addr, _ := script(t, 0, binary.BigEndian.AppendUint32(nil, 0xffffffff))
	c, err := Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ReadFrame(); !errors.Is(err, ErrFrameLength) {
		t.Fatalf("length -1: %v", err)
	}
}
