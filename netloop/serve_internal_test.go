package netloop

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"testing"

	"github.com/panjf2000/gnet/v2"
)

// bufLink is a link over byte slices: input the client sent, output written.
type bufLink struct {
	in, out []byte
}

func (l *bufLink) InboundBuffered() int { return len(l.in) }
func (l *bufLink) Peek(n int) ([]byte, error) {
	if n > len(l.in) {
		return nil, errors.New("short")
	}
	return l.in[:n], nil
}
func (l *bufLink) Discard(n int) (int, error)  { l.in = l.in[n:]; return n, nil }
func (l *bufLink) OutboundBuffered() int       { return 0 }
func (l *bufLink) Write(b []byte) (int, error) { l.out = append(l.out, b...); return len(b), nil }
func (l *bufLink) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// pausedConn is a session that reads nothing while a request of its own is in
// flight; onPause runs when netloop finds it paused.
type pausedConn struct {
	inflight int
	output   []byte
	handled  int
	onPause  func()
}

func (p *pausedConn) Started() bool   { return true }
func (p *pausedConn) Throttled() bool { return p.inflight > 0 }
func (p *pausedConn) HandleFrame([]byte) bool {
	p.handled++
	return true
}
func (p *pausedConn) FourLetterWord(string) string { return "" }
func (p *pausedConn) TakeOutput() ([]byte, bool) {
	b := p.output
	p.output = nil
	return b, false
}
func (p *pausedConn) ReturnOutput([]byte) {}
func (p *pausedConn) QueuedOutput() int   { return len(p.output) }
func (p *pausedConn) Closed()             {}
func (p *pausedConn) NoteThrottled() {
	if f := p.onPause; f != nil {
		p.onPause = nil
		f()
	}
}
func (p *pausedConn) NoteDropped()  {}
func (p *pausedConn) SetUnsent(int) {}

// The reply that unpauses a connection can be queued between readFrames finding
// the connection paused and flush taking the output, while the wake that runs
// this serve is still pending, so the reply wakes nothing. The client's next
// request, already buffered, must still be read in this serve: otherwise it
// waits unread until the client sends something more (its ping, seconds later).
func TestReplyQueuedWhilePausedUnpausesInTheSameServe(t *testing.T) {
	s := &Server{cfg: DefaultConfig(), noter: nopNoter{}, log: slog.New(slog.DiscardHandler)}
	frame := binary.BigEndian.AppendUint32(nil, 8)
	frame = append(frame, 0, 0, 0, 2, 0, 0, 0, 4) // xid 2, getData: only its length matters here
	link := &bufLink{in: frame}
	sc := &pausedConn{inflight: 1}
	sc.onPause = func() {
		// The apply goroutine answers the request in flight now.
		sc.output = append(sc.output, "reply-1"...)
		sc.inflight = 0
	}
	if action := s.serve(link, &conn{sc: sc}); action != gnet.None {
		t.Fatalf("serve: %v", action)
	}
	if string(link.out) != "reply-1" {
		t.Fatalf("written %q, want the queued reply", link.out)
	}
	if sc.handled != 1 || len(link.in) != 0 {
		t.Fatalf("the buffered request was left unread (handled %d, %d bytes unread)", sc.handled, len(link.in))
	}

	// Still paused after the flush: serve returns, leaving the frame for the
	// wake of the reply that unpauses it.
	link.in = frame
	sc.inflight = 2
	sc.onPause = func() { sc.inflight = 1 }
	if action := s.serve(link, &conn{sc: sc}); action != gnet.None {
		t.Fatalf("serve: %v", action)
	}
	if sc.handled != 1 || len(link.in) != len(frame) {
		t.Fatalf("a frame was read while the connection was paused (handled %d)", sc.handled)
	}
}
