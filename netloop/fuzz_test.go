package netloop_test

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"testing"
	"time"

	"zkd/internal/zktest/raw"
	"zkd/jute"
	"zkd/netloop"
	"zkd/session"
)

// FuzzFrameSplitter writes arbitrary bytes, split at an arbitrary point, as the
// opening of a fresh connection, then half-closes it. Whatever the bytes are, the
// server must not crash, must close that connection, and must keep answering a
// well-formed client on another connection (DESIGN.md invariant 9).
func FuzzFrameSplitter(f *testing.F) {
	s := newServer(f, func(c *session.Config, _ *netloop.Config) {
		c.FourLetterWords = []string{"*"}
		c.MaxSessionTimeout = 24 * time.Hour // the well-formed session must outlive any fuzzing pause
	})
	good := s.dial(f)
	good.Write(raw.Frame((&jute.ConnectRequest{TimeOut: math.MaxInt32, Passwd: make([]byte, 16), HasReadOnly: true}).Append(nil)))
	good.ReadFrame()

	length := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	f.Add(splitStream(), uint16(50))
	f.Add([]byte("ruok"), uint16(2))
	f.Add([]byte("srvrsrvr"), uint16(0))
	f.Add(length(-1), uint16(1))
	f.Add(append(length(jute.DefaultMaxBuffer), 1, 2, 3), uint16(4))
	f.Add(append(connectFrame(), 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 3, 1, 2, 3), uint16(45))
	f.Add(append(connectFrame(), requestFrame(1, 999, nil)...), uint16(49))
	f.Add(append(connectFrame(), raw.Frame([]byte{0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 9})...), uint16(60))
	f.Add(append(connectFrame(), requestFrame(1, jute.OpCreate, &jute.CreateRequest{Path: "/f", ACL: jute.OpenACLUnsafe, Flags: 77})...), uint16(3))
	f.Add(raw.Frame([]byte{0, 0, 0, 0}), uint16(3))
	f.Add([]byte{}, uint16(0))

	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		if len(data) > 1<<14 {
			data = data[:1<<14] // keep each iteration fast
		}
		k := int(split) % (len(data) + 1)
		rc, err := raw.Dial(s.addr, waitLimit)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer rc.Close()
		c := rc.NetConn()
		_ = c.SetDeadline(time.Now().Add(waitLimit))
		// Write errors are fine: the server may close before the second piece.
		if _, err := c.Write(data[:k]); err == nil {
			_, _ = c.Write(data[k:])
		}
		_ = c.(*net.TCPConn).CloseWrite()
		// Read until the server closes (a reset counts).
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("server kept the connection open after EOF (input % x, split %d)", data, k)
		}

		// A well-formed client is still served: a local read and a sync through quorum.
		good.T = t
		if r := call(good, jute.XidPing, jute.OpPing, nil); r.hdr.Err != jute.CodeOK {
			t.Fatalf("ping after fuzz input: %+v", r.hdr)
		}
		if r := call(good, 1, jute.OpSync, &jute.PathRequest{Path: "/"}); r.hdr.Err != jute.CodeOK {
			t.Fatalf("sync after fuzz input: %+v", r.hdr)
		}
	})
}
