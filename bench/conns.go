package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

// ErrHandshakeDropped is returned (wrapped) by Dial when the server closes or
// resets the connection before answering the session handshake. The usual cause
// is its per-IP connection limit, maxClientCnxns: ZooKeeper resets a connection
// past it on accept, zkd closes it.
var ErrHandshakeDropped = errors.New("bench: connection dropped during the session handshake")

// ErrNotListening is returned (wrapped) by Dial when nothing accepts connections on
// the address.
var ErrNotListening = errors.New("bench: connection refused")

// ErrTooManySessions is returned by a workload whose explicitly requested sessions
// do not fit Config.MaxConns.
var ErrTooManySessions = errors.New("bench: more sessions than -max-conns allows")

// connLimitHint names the likely cause of a dropped handshake and what to change.
const connLimitHint = "the likely cause is the server's per-IP connection limit, maxClientCnxns " +
	"(60 by default in ZooKeeper and zkd): raise maxClientCnxns in its zoo.cfg (0 = no limit) " +
	"and pass -max-conns with the new limit, or ask for fewer sessions (-clients)"

// classifyDialError turns a connect or handshake failure into an error that says
// what probably happened; handshake reports whether the TCP connection was up.
func classifyDialError(addr string, err error, handshake bool) error {
	switch {
	case !handshake && errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w by %s: nothing is listening there (is the server running?): %w", ErrNotListening, addr, err)
	// A reset can beat even connect() back: the server accepted and reset at once.
	case errors.Is(err, syscall.ECONNRESET) || (handshake && (errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))):
		return fmt.Errorf("%w by %s (%v); %s", ErrHandshakeDropped, addr, err, connLimitHint)
	case handshake:
		return fmt.Errorf("bench: handshake with %s: %w", addr, err)
	}
	return fmt.Errorf("bench: connect to %s: %w", addr, err)
}

// reservedConns are the connections a run holds besides its workload's sessions:
// the run's own session (root znode and cleanup) and one spare for a session of
// the previous run that the server may not have finished closing.
const reservedConns = 2

// sessionCount decides how many sessions a workload opens. want is the explicit
// setting (0: none) under the flag named flagName, def the workload's default,
// and extra the other connections the workload holds at the same time. A default
// is reduced to fit MaxConns per server (with a note); an explicit value that does
// not fit is an error naming the flags to change.
func (e *env) sessionCount(flagName string, want, def, extra int) (int, error) {
	fit := e.sessionsThatFit(extra)
	if want > 0 {
		if fit > 0 && want > fit {
			return 0, fmt.Errorf("%w: %s %d needs %d connections over %d server(s), more than -max-conns %d each allows "+
				"after %d for the run itself: ZooKeeper and zkd refuse connections past maxClientCnxns (default 60) per client IP; "+
				"raise maxClientCnxns in the server's zoo.cfg (0 = no limit) and pass -max-conns to match, or lower %s",
				ErrTooManySessions, flagName, want, want+extra, len(e.addrs), e.cfg.MaxConns, reservedConns, flagName)
		}
		return want, nil
	}
	if fit > 0 && def > fit {
		e.note(fmt.Sprintf("%d sessions instead of the default %d, to stay within -max-conns %d per server (maxClientCnxns); "+
			"for the full shape raise the server's maxClientCnxns and pass -max-conns 0", fit, def, e.cfg.MaxConns))
		return fit, nil
	}
	return def, nil
}

// sessionsThatFit is how many workload sessions fit over every server of the
// connect string beside extra other connections of the workload (0: no limit).
// Sessions go round robin, but the run's own connections and the workload's extra
// ones may all land on one server, so each server keeps room for all of them.
func (e *env) sessionsThatFit(extra int) int {
	if e.cfg.MaxConns <= 0 {
		return 0
	}
	return max(len(e.addrs)*(e.cfg.MaxConns-reservedConns-extra), 1)
}

// dialRetries are the pauses before retrying a dropped handshake: a burst of
// sessions closing (the previous run's) may leave the server's per-IP count over
// its limit for a moment.
var dialRetries = []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond}

// dialRetrying dials addr, retrying a dropped handshake after each dialRetries pause.
func dialRetrying(ctx context.Context, addr string, opt DialOptions) (*Conn, error) {
	for i := 0; ; i++ {
		c, err := Dial(ctx, addr, opt)
		if err == nil || !errors.Is(err, ErrHandshakeDropped) || i >= len(dialRetries) {
			return c, err
		}
		select {
		case <-time.After(dialRetries[i]):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// Controller stops and starts the servers under test, by client address. Compare
// implements it for the servers it starts; workloads that restart or kill a server
// (mem-1m, restart-1m, failover) need one.
type Controller interface {
	// Kill ends the server with SIGKILL (a crash) and returns once it has exited.
	Kill(addr string) error
	// Start runs the server again on the same address with the same data; it returns
	// once the process runs, not once it serves.
	Start(ctx context.Context, addr string) error
	// PID is the server's process id (0 if not running or unknown).
	PID(addr string) int
	// DataDirs are the server's data and log directories.
	DataDirs(addr string) []string
}
