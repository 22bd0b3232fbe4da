package zktest

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// CheckFor polls f every interval until it returns nil, failing the test with f's
// last error once timeout has passed.
func CheckFor(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// FourLetterWord sends a four-letter word (and any argument bytes) on a new
// connection and reads the reply until the server closes the connection.
func FourLetterWord(addr, word string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, IOTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(IOTimeout))
	if _, err := c.Write([]byte(word)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// Mode is the "Mode:" line of srvr at addr: standalone, leader, follower or
// observer; "" if srvr did not answer with one.
func Mode(addr string) string {
	out, err := FourLetterWord(addr, "srvr")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(out, "\n") {
		if m, ok := strings.CutPrefix(line, "Mode: "); ok {
			return strings.TrimSpace(m)
		}
	}
	return ""
}

// nopLogger silences go-zookeeper, whose goroutines may log after a test ends.
type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// NopLogger is a go-zookeeper logger that prints nothing.
var NopLogger zk.Logger = nopLogger{}

// Events records a go-zookeeper client's session events. go-zookeeper drops
// events when its own channel is full, so they are taken from the event callback.
type Events struct{ ch chan zk.Event }

// ConnectZK opens a go-zookeeper session to addr (a connect string: host:port
// pairs separated by commas) and waits until it has a session. The client is
// closed in Cleanup.
func ConnectZK(t testing.TB, addr string, timeout time.Duration) (*zk.Conn, *Events) {
	t.Helper()
	ev := &Events{ch: make(chan zk.Event, 4096)}
	record := func(e zk.Event) {
		if e.Type != zk.EventSession {
			return
		}
		select {
		case ev.ch <- e:
		default:
		}
	}
	c, _, err := zk.Connect(strings.Split(addr, ","), timeout,
		zk.WithLogger(NopLogger), zk.WithLogInfo(false), zk.WithEventCallback(record))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	t.Cleanup(c.Close)
	ev.Wait(t, zk.StateHasSession)
	return c, ev
}

// Wait reads session events until one reports want.
func (e *Events) Wait(t testing.TB, want zk.State) {
	t.Helper()
	timer := time.NewTimer(IOTimeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-e.ch:
			if ev.State == want {
				return
			}
		case <-timer.C:
			t.Fatalf("no %v within %v", want, IOTimeout)
		}
	}
}

// WaitEvent returns the event delivered on a watch channel.
func WaitEvent(t testing.TB, ch <-chan zk.Event) zk.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(IOTimeout):
		t.Fatalf("no watch event within %v", IOTimeout)
	}
	return zk.Event{}
}

// ExpectEvent waits for a watch event and checks its type and path.
func ExpectEvent(t testing.TB, ch <-chan zk.Event, typ zk.EventType, path string) {
	t.Helper()
	ev := WaitEvent(t, ch)
	if ev.Type != typ || ev.Path != path || ev.Err != nil {
		t.Fatalf("event = %+v, want %v on %s", ev, typ, path)
	}
}

// NoEvent checks that nothing is pending on a watch channel right now.
func NoEvent(t testing.TB, ch <-chan zk.Event) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}
