package netloop_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"zkd/internal/zktest"
	"zkd/internal/zktest/raw"
	"zkd/jute"
	"zkd/netloop"
	"zkd/session"
)

// splitStream is a ConnectRequest and a session's whole life as one byte stream.
// Its replies do not depend on the session id or zxids once normalized.
func splitStream() []byte {
	var b []byte
	b = append(b, connectFrame()...)
	b = append(b, requestFrame(1, jute.OpCreate, &jute.CreateRequest{Path: "/split", Data: []byte("x"),
		ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModeEphemeral)})...)
	b = append(b, requestFrame(2, jute.OpGetData, &jute.PathWatchRequest{Path: "/split"})...)
	b = append(b, requestFrame(3, jute.OpGetChildren, &jute.PathWatchRequest{Path: "/split"})...)
	b = append(b, requestFrame(4, jute.OpExists, &jute.PathWatchRequest{Path: "/nope", Watch: true})...)
	b = append(b, requestFrame(jute.XidPing, jute.OpPing, nil)...)
	b = append(b, requestFrame(5, jute.OpSync, &jute.PathRequest{Path: "/"})...)
	b = append(b, requestFrame(6, jute.OpDelete, &jute.PathVersionRequest{Path: "/split", Version: -1})...)
	b = append(b, requestFrame(7, jute.OpCloseSession, nil)...)
	return b
}

// splitWant is what splitStream must produce, normalized by normalizeReplies.
var splitWant = []string{
	"connect timeout=30000 passwd=16 readOnly=false",
	"xid=1 err=0 body=000000062f73706c6974",      // "/split"
	"xid=2 err=0 data=78 version=0 dataLength=1", // "x"
	"xid=3 err=0 body=00000000",                  // no children
	"xid=4 err=-101 body=",                       // NONODE
	"xid=-2 err=0 body=",                         // ping
	"xid=5 err=0 body=000000012f",                // "/"
	"xid=6 err=0 body=",                          // delete
	"xid=7 err=0 body=",                          // closeSession
	"closed",
}

// normalizeReplies decodes everything a splitStream connection received (until the
// server closed it), dropping what legitimately differs between sessions: the
// session id and password, zxids, and stats other than version and length.
func normalizeReplies(t *testing.T, stream []byte) []string {
	t.Helper()
	var out []string
	for first := true; len(stream) > 0; first = false {
		if len(stream) < 4 {
			t.Fatalf("trailing %d bytes", len(stream))
		}
		n := int(binary.BigEndian.Uint32(stream))
		if len(stream) < 4+n {
			t.Fatalf("truncated frame: %d of %d bytes", len(stream)-4, n)
		}
		p := stream[4 : 4+n]
		stream = stream[4+n:]
		if first {
			var resp jute.ConnectResponse
			d := jute.NewDecoder(p)
			resp.Decode(&d)
			out = append(out, fmt.Sprintf("connect timeout=%d passwd=%d readOnly=%v", resp.TimeOut, len(resp.Passwd), resp.ReadOnly))
			continue
		}
		r := parseReply(t, p)
		if r.hdr.Xid == 2 && r.hdr.Err == jute.CodeOK {
			var resp jute.GetDataResponse
			d := jute.NewDecoder(r.body)
			resp.Decode(&d)
			out = append(out, fmt.Sprintf("xid=2 err=0 data=%x version=%d dataLength=%d", resp.Data, resp.Stat.Version, resp.Stat.DataLength))
			continue
		}
		out = append(out, fmt.Sprintf("xid=%d err=%d body=%x", r.hdr.Xid, r.hdr.Err, r.body))
	}
	return append(out, "closed")
}

func (s *testServer) runSplit(t *testing.T, stream []byte, pieces [][]byte, pause time.Duration) []string {
	t.Helper()
	c := s.dial(t)
	for i, p := range pieces {
		if i > 0 && pause > 0 {
			time.Sleep(pause) // let the server see the pieces in separate reads
		}
		c.Write(p)
	}
	got := normalizeReplies(t, c.ReadAll())
	c.Close()
	return got
}

// Every split of the stream into two writes, and one byte per write, gives the
// same replies (STYLE.md rule 32).
func TestFramingAcrossArbitraryTCPSplits(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	stream := splitStream()
	check := func(name string, got []string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(splitWant, "\n") {
			t.Fatalf("%s: replies\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(splitWant, "\n"))
		}
	}
	check("one write", s.runSplit(t, stream, [][]byte{stream}, 0))
	for i := 1; i < len(stream); i++ {
		check(fmt.Sprintf("split at %d", i), s.runSplit(t, stream, [][]byte{stream[:i], stream[i:]}, 200*time.Microsecond))
	}
	bytewise := make([][]byte, len(stream))
	for i := range stream {
		bytewise[i] = stream[i : i+1]
	}
	check("one byte per write", s.runSplit(t, stream, bytewise, 50*time.Microsecond))
	if n := s.sess.SessionCount(); n != 0 {
		t.Fatalf("%d sessions left after every stream closed its session", n)
	}
}

// Frames over jute.maxbuffer, and negative lengths, close the connection as soon
// as the length is read: no reply, no waiting for the payload. Other connections
// are not affected (DESIGN.md invariant 9).
func TestOversizeOrNegativeFrameClosesWithoutReply(t *testing.T) {
	t.Parallel()
	const maxFrame = 1024
	s := newServer(t, func(_ *session.Config, n *netloop.Config) { n.MaxFrame = maxFrame })
	good := s.connect(t)
	call(good, 1, jute.OpCreate, &jute.CreateRequest{Path: "/n", ACL: jute.OpenACLUnsafe})

	length := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	for _, tc := range []struct {
		name      string
		handshake bool
		hdr       []byte
	}{
		{"first frame, len=maxFrame+1", false, length(maxFrame + 1)},
		{"first frame, len=-1", false, length(-1)},
		{"first frame, len=MinInt32", false, length(-1 << 31)},
		{"after handshake, len=maxFrame+1", true, length(maxFrame + 1)},
		{"after handshake, len=1GiB", true, length(1 << 30)},
		{"after handshake, len=-16", true, length(-16)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c *zktest.Client
			if tc.handshake {
				c = s.connect(t)
			} else {
				c = s.dial(t)
			}
			c.Write(tc.hdr) // the length only: the payload is never sent
			if got := c.ReadAll(); len(got) != 0 {
				t.Fatalf("server answered % x", got)
			}
		})
	}

	// A frame of exactly maxFrame is accepted.
	hdr := (&jute.RequestHeader{Xid: 2, Type: jute.OpSetData}).Append(nil)
	req := &jute.SetDataRequest{Path: "/n", Version: -1}
	req.Data = make([]byte, maxFrame-len(req.Append(hdr)))
	payload := req.Append(hdr)
	if len(payload) != maxFrame {
		t.Fatalf("test frame is %d bytes", len(payload))
	}
	good.Write(raw.Frame(payload))
	if r := readReply(good); r.hdr.Xid != 2 || r.hdr.Err != jute.CodeOK {
		t.Fatalf("setData of a maxFrame-byte frame: %+v", r.hdr)
	}
	// The first connection kept working throughout.
	if r := call(good, 3, jute.OpGetData, &jute.PathWatchRequest{Path: "/n"}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("getData on the good connection: %+v", r.hdr)
	}
	if r := call(good, jute.XidPing, jute.OpPing, nil); r.hdr.Xid != jute.XidPing {
		t.Fatalf("ping on the good connection: %+v", r.hdr)
	}
}

func fourLetterWord(t *testing.T, s *testServer, word string) string {
	t.Helper()
	c := s.dial(t)
	c.Write([]byte(word))
	return string(c.ReadAll())
}

// A four-letter word as the first bytes is answered in plain text, then closed.
func TestFourLetterWordOnFreshConnection(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *session.Config, _ *netloop.Config) { c.FourLetterWords = []string{"*"} })
	if got := fourLetterWord(t, s, "ruok"); got != "imok" {
		t.Fatalf("ruok = %q, want imok", got)
	}
	s.connect(t) // one session, so that srvr has something to count
	srvr := fourLetterWord(t, s, "srvr")
	lines := strings.Split(srvr, "\n")
	if !strings.HasPrefix(lines[0], "Zookeeper version: 3.8.") || !strings.HasSuffix(srvr, "\n") {
		t.Fatalf("srvr:\n%s", srvr)
	}
	for _, want := range []string{"Connections: 2", "Mode: standalone", "Outstanding: 0"} {
		if !strings.Contains(srvr, "\n"+want+"\n") {
			t.Errorf("srvr lacks %q:\n%s", want, srvr)
		}
	}
	// A word split across reads is still a word.
	for i := 1; i < 4; i++ {
		c := s.dial(t)
		c.Write([]byte("ruok"[:i]))
		time.Sleep(time.Millisecond)
		c.Write([]byte("ruok"[i:]))
		if got := string(c.ReadAll()); got != "imok" {
			t.Fatalf("ruok split at %d = %q", i, got)
		}
	}
	// Bytes after the word are ignored; the connection still closes.
	c := s.dial(t)
	c.Write([]byte("ruokruok\x00\x00\x00\x05"))
	if got := string(c.ReadAll()); got != "imok" {
		t.Fatalf("ruok followed by more bytes = %q", got)
	}
	// The connection counter drops back: the 4lw connections are gone.
	checkConns(t, s, 1)
}

func TestFourLetterWordDefaultWhitelist(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	if got, want := fourLetterWord(t, s, "ruok"), "ruok is not executed because it is not in the whitelist.\n"; got != want {
		t.Fatalf("ruok = %q, want %q", got, want)
	}
	if got := fourLetterWord(t, s, "srvr"); !strings.HasPrefix(got, "Zookeeper version: ") {
		t.Fatalf("srvr = %q", got)
	}
}

// A word is only a word before the handshake; afterwards those bytes are a length.
func TestFourLetterWordAfterHandshakeIsAFrameLength(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *session.Config, _ *netloop.Config) { c.FourLetterWords = []string{"*"} })
	c := s.connect(t)
	c.Write([]byte("ruok"))
	if got := c.ReadAll(); len(got) != 0 {
		t.Fatalf("server answered % x", got)
	}
}

func checkConns(t *testing.T, s *testServer, want int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for s.sess.ConnCount() != want {
		if time.Now().After(deadline) {
			t.Fatalf("ConnCount = %d, want %d", s.sess.ConnCount(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A reply queued before the server decided to close reaches the client even when
// more requests were pipelined behind it in the same read.
func TestReplyBeforeCloseSurvivesPipelinedFrames(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	for _, tc := range []struct {
		name string
		op   jute.OpCode
		rec  jute.Record
		code jute.Code
	}{
		{"unknown opcode", 999, nil, jute.CodeUnimplemented},
		{"standalone check", jute.OpCheck, &jute.PathVersionRequest{Path: "/", Version: -1}, jute.CodeUnimplemented},
		{"sasl", jute.OpSASL, &jute.BufferRecord{Token: []byte{1}}, jute.CodeAuthFailed},
		{"auth unknown scheme", jute.OpAuth, &jute.AuthPacket{Scheme: "nope"}, jute.CodeAuthFailed},
		{"closeSession", jute.OpCloseSession, nil, jute.CodeOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.connect(t)
			var b []byte
			b = append(b, requestFrame(1, jute.OpExists, &jute.PathWatchRequest{Path: "/"})...)
			b = append(b, requestFrame(2, tc.op, tc.rec)...)
			b = append(b, requestFrame(3, jute.OpGetData, &jute.PathWatchRequest{Path: "/"})...)
			b = append(b, requestFrame(jute.XidPing, jute.OpPing, nil)...)
			c.Write(b)
			out := c.ReadAll()
			var got []string
			for len(out) >= 4 {
				n := int(binary.BigEndian.Uint32(out))
				if len(out) < 4+n {
					break
				}
				r := parseReply(t, out[4:4+n])
				got = append(got, fmt.Sprintf("xid=%d err=%d", r.hdr.Xid, r.hdr.Err))
				out = out[4+n:]
			}
			want := []string{"xid=1 err=0", fmt.Sprintf("xid=2 err=%d", tc.code)}
			if strings.Join(got, ",") != strings.Join(want, ",") || len(out) != 0 {
				t.Fatalf("replies %v (+%d stray bytes), want %v then close", got, len(out), want)
			}
		})
	}
}

// With MaxOutstanding 2, a burst of 200 pipelined requests is read in slices as
// replies drain, and every reply comes back in order (DESIGN.md invariant 10).
func TestThrottledConnectionResumesAndKeepsOrder(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *session.Config, _ *netloop.Config) { c.MaxOutstanding = 2 })
	c := s.connect(t)
	const n = 100
	var b []byte
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("/t%03d", i)
		b = append(b, requestFrame(int32(2*i+1), jute.OpCreate, &jute.CreateRequest{Path: path, Data: []byte(path), ACL: jute.OpenACLUnsafe})...)
		b = append(b, requestFrame(int32(2*i+2), jute.OpGetData, &jute.PathWatchRequest{Path: path})...)
	}
	c.Write(b)
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("/t%03d", i)
		if r := readReply(c); r.hdr.Xid != int32(2*i+1) || r.hdr.Err != jute.CodeOK {
			t.Fatalf("reply %d: %+v, want create xid %d", 2*i, r.hdr, 2*i+1)
		}
		r := readReply(c)
		var resp jute.GetDataResponse
		d := jute.NewDecoder(r.body)
		resp.Decode(&d)
		if r.hdr.Xid != int32(2*i+2) || r.hdr.Err != jute.CodeOK || string(resp.Data) != path {
			t.Fatalf("reply %d: %+v data %q, want getData xid %d data %q", 2*i+1, r.hdr, resp.Data, 2*i+2, path)
		}
	}
}

// A client that sends requests but never reads is disconnected once its unsent
// replies pass MaxOutboundBytes, instead of growing the server's memory.
func TestSlowReaderIsDisconnected(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	s := newServer(t, func(_ *session.Config, n *netloop.Config) { n.MaxOutboundBytes = limit })
	w := s.connect(t)
	data := bytes.Repeat([]byte("z"), 128<<10)
	if r := call(w, 1, jute.OpCreate, &jute.CreateRequest{Path: "/big", Data: data, ACL: jute.OpenACLUnsafe}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("create: %+v", r.hdr)
	}
	c := s.connect(t)
	const n = 200 // 25 MiB of replies: far more than socket buffers hold
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, requestFrame(int32(i+1), jute.OpGetData, &jute.PathWatchRequest{Path: "/big"})...)
	}
	c.Write(b)
	got := c.ReadAll()
	if len(got) >= n*len(data) {
		t.Fatalf("slow reader got all %d bytes; want a disconnect", len(got))
	}
	// Others are unaffected.
	if r := call(w, jute.XidPing, jute.OpPing, nil); r.hdr.Err != jute.CodeOK {
		t.Fatalf("ping: %+v", r.hdr)
	}
}

// Many clients at once each create a node and read it back.
func TestManyConcurrentConnections(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	const clients = 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- manyClient(s, i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := s.tree.NodeCount(); got != 4+clients {
		t.Errorf("NodeCount = %d, want %d", got, 4+clients)
	}
}

// manyClient runs one client of TestManyConcurrentConnections. It reports errors
// instead of calling t.Fatal, which must not be called off the test goroutine.
func manyClient(s *testServer, i int) error {
	c, err := raw.Dial(s.addr, waitLimit)
	if err != nil {
		return err
	}
	defer c.Close()
	path := fmt.Sprintf("/many%03d", i)
	var b []byte
	b = append(b, connectFrame()...)
	b = append(b, requestFrame(1, jute.OpCreate, &jute.CreateRequest{Path: path, Data: []byte(path), ACL: jute.OpenACLUnsafe})...)
	b = append(b, requestFrame(2, jute.OpGetData, &jute.PathWatchRequest{Path: path})...)
	if err := c.Write(b); err != nil {
		return fmt.Errorf("client %d: write: %w", i, err)
	}
	var frames [3][]byte
	for k := range frames {
		if frames[k], err = c.ReadFrame(); err != nil {
			return fmt.Errorf("client %d: frame %d: %w", i, k, err)
		}
	}
	var resp jute.ConnectResponse
	d := jute.NewDecoder(frames[0])
	resp.Decode(&d)
	if resp.SessionID == 0 {
		return fmt.Errorf("client %d: session refused", i)
	}
	var hdr jute.ReplyHeader
	d = jute.NewDecoder(frames[1])
	hdr.Decode(&d)
	if hdr.Xid != 1 || hdr.Err != jute.CodeOK {
		return fmt.Errorf("client %d: create reply %+v", i, hdr)
	}
	d = jute.NewDecoder(frames[2])
	hdr.Decode(&d)
	var data jute.GetDataResponse
	data.Decode(&d)
	if hdr.Xid != 2 || hdr.Err != jute.CodeOK || string(data.Data) != path {
		return fmt.Errorf("client %d: getData reply %+v %q", i, hdr, data.Data)
	}
	return nil
}

// rawBody is a request body given byte for byte, for bodies no record encodes.
type rawBody []byte

func (b rawBody) Append(dst []byte) []byte { return append(dst, b...) }
func (rawBody) Decode(*jute.Decoder)       {}

// An ACL vector with a count below -1 reads as an empty list, as ZooKeeper's jute
// reads it, so create and setACL fail ZooKeeper's ACL check (INVALIDACL) instead of
// being malformed (MARSHALLINGERROR), and the connection stays.
func TestNegativeACLCountIsInvalidACL(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c := s.connect(t)
	for _, tc := range []struct {
		name string
		op   jute.OpCode
		body string // hex
	}{
		{"create ACL count -5", jute.OpCreate, "00000004 2f6e6567 00000000 fffffffb 00000000"},
		{"create2 ACL count min int", jute.OpCreate2, "00000004 2f6e6567 00000000 80000000 00000000"},
		{"setACL ACL count -2", jute.OpSetACL, "00000001 2f fffffffe ffffffff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := hex.DecodeString(strings.ReplaceAll(tc.body, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			if r := call(c, 1, tc.op, rawBody(body)); r.hdr.Err != jute.CodeInvalidACL {
				t.Fatalf("%v: err %d, want INVALIDACL (%d)", tc.op, r.hdr.Err, jute.CodeInvalidACL)
			}
		})
	}
	if r := call(c, jute.XidPing, jute.OpPing, nil); r.hdr.Err != jute.CodeOK {
		t.Fatalf("ping: %+v", r.hdr)
	}
}
