package testutil

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// startEcho runs a line echo server on 127.0.0.1:0 until the test ends.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends line on c and returns what comes back within timeout.
func roundTrip(c net.Conn, r *bufio.Reader, line string, timeout time.Duration) (string, error) {
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	got, err := r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func dialProxy(t *testing.T, p *LinkProxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestLinkProxyFaults(t *testing.T) {
	p := StartLinkProxy(t, startEcho(t))
	c, r := dialProxy(t, p)
	if got, err := roundTrip(c, r, "one", 5*time.Second); err != nil || got != "one" {
		t.Fatalf("healthy link: %q, %v", got, err)
	}

	// One way dropped: the request reaches the echo server, the echo is lost.
	p.Drop(Backward)
	if got, err := roundTrip(c, r, "lost", 300*time.Millisecond); err == nil {
		t.Fatalf("echo came back through a dropped direction: %q", got)
	}
	p.Heal() // the connection lost bytes: Heal closes it
	if _, err := roundTrip(c, r, "after", 5*time.Second); err == nil {
		t.Fatal("a connection that lost bytes survived Heal")
	}
	c, r = dialProxy(t, p)
	if got, err := roundTrip(c, r, "two", 5*time.Second); err != nil || got != "two" {
		t.Fatalf("after heal: %q, %v", got, err)
	}

	// Delay: the echo still arrives, whole and in order, no sooner than the delay.
	const d = 100 * time.Millisecond
	p.Delay(Forward, d)
	start := time.Now()
	for _, line := range []string{"a", "b", "c"} {
		if got, err := roundTrip(c, r, line, 5*time.Second); err != nil || got != line {
			t.Fatalf("delayed link: %q, %v, want %q", got, err, line)
		}
	}
	if took := time.Since(start); took < 3*d {
		t.Errorf("three delayed round trips took %v, want at least %v", took, 3*d)
	}
	p.Heal()

	// Cut: live connections close, new ones are closed on accept, until Heal.
	p.Cut()
	if _, err := roundTrip(c, r, "cut", 5*time.Second); err == nil {
		t.Fatal("a connection survived Cut")
	}
	c2, r2 := dialProxy(t, p)
	if _, err := roundTrip(c2, r2, "refused", 5*time.Second); err == nil {
		t.Fatal("a new connection was forwarded across a cut")
	}
	p.Heal()
	c, r = dialProxy(t, p)
	if got, err := roundTrip(c, r, "three", 5*time.Second); err != nil || got != "three" {
		t.Fatalf("after healing the cut: %q, %v", got, err)
	}
}
