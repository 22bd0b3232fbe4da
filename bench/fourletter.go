package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// FourLetter sends a four-letter word (srvr, ruok, mntr, ...) to addr and returns
// the whole reply; the server closes the connection after it.
func FourLetter(ctx context.Context, addr, word string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if _, err := io.WriteString(nc, word); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(nc, 1<<20))
	if err != nil && len(b) == 0 {
		return "", err
	}
	return string(b), nil
}

// Server modes as `srvr` prints them after "Mode: ".
const (
	ModeLeader     = "leader"
	ModeFollower   = "follower"
	ModeObserver   = "observer"
	ModeStandalone = "standalone"
)

// srvrMode returns the "Mode:" of a `srvr` reply ("" when the server is not
// serving, e.g. an ensemble member without a quorum).
func srvrMode(reply string) string {
	for _, line := range strings.Split(reply, "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "Mode: "); ok {
			return strings.TrimSpace(m)
		}
	}
	return ""
}

// ServerMode asks addr for its mode with `srvr` ("" if it is down or not serving).
func ServerMode(ctx context.Context, addr string) string {
	reply, err := FourLetter(ctx, addr, "srvr")
	if err != nil {
		return ""
	}
	return srvrMode(reply)
}

// modes returns every address's mode.
func modes(ctx context.Context, addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = ServerMode(ctx, a)
	}
	return out
}

// resolveRoute returns the servers of connect string cs that have the route's
// role.
func resolveRoute(ctx context.Context, cs, route string) ([]string, error) {
	addrs, err := ParseConnectString(cs)
	if err != nil {
		return nil, err
	}
	if route == RouteAll {
		return addrs, nil
	}
	ms := modes(ctx, addrs)
	var out []string
	for i, m := range ms {
		if (route == RouteLeader && m == ModeLeader) || (route == RouteFollowers && m == ModeFollower) {
			out = append(out, addrs[i])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no server of %s is a %s (srvr modes: %s)", cs, strings.TrimSuffix(route, "s"), strings.Join(quoteModes(ms), ", "))
	}
	return out, nil
}

func quoteModes(ms []string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		if m == "" {
			m = "down"
		}
		out[i] = m
	}
	return out
}
