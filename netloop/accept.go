package netloop

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// Pauses between accept attempts after a failure: doubling from the first to the
// last. A failed accept leaves the connection queued in the kernel's backlog, so
// retrying at once would spin; ZooKeeper's AcceptThread pauses 10 ms each time.
// The cap bounds how long the port stays deaf after descriptors are freed.
const (
	acceptPauseMin = 5 * time.Millisecond
	acceptPauseMax = 100 * time.Millisecond
)

// plainAcceptors returns how many goroutines accept the plain port at once, for
// loops event loops. Handing a connection over waits until its event loop has
// registered it (a wake of the loop and back), and one goroutine doing that alone
// capped the connect rate: under 16 clients connecting in a loop to the null
// server, connects waited in the backlog 1.56 ms (p50), 1.19 ms with two
// acceptors, 0.92 with four and 0.84 with eight. Each holds a reserve descriptor.
func plainAcceptors(loops int) int { return min(max(loops, 4), 16) }

// acceptLoop accepts connections of ln until Stop and hands each to handle
// (enroll for the plain port, serveTLS for the TLS port); several may run on one
// listener, sharing bursts. A failure (out of file descriptors, most often) never
// ends it: it is counted, logged once per burst, and followed by a pause;
// existing connections are not touched, and the connections waiting in the
// backlog stay there until descriptors are free again. It returns when the
// listener is closed.
func (s *Server) acceptLoop(ln *net.TCPListener, handle func(*net.TCPConn, *reserveFD) error, b *sharedBurst) {
	defer s.acceptW.Done()
	var (
		reserve reserveFD
		// failed: this goroutine's last accept failed. Only such a goroutine's
		// success ends a burst: at the limit, the others still each get one
		// connection in with their reserve, which says nothing of the limit.
		failed bool
	)
	defer reserve.release()
	for {
		// Accept only while holding the reserve descriptor (see enroll): at the
		// limit, the accept itself would take the last one and the connection
		// would then be lost.
		err := s.takeReserve(&reserve)
		if err == nil {
			var tc *net.TCPConn
			if tc, err = ln.AcceptTCP(); err == nil {
				err = handle(tc, &reserve)
			}
		}
		select {
		case <-s.stopC:
			return
		default:
		}
		if err == nil {
			if failed {
				failed = false
				if n, d := b.succeeded(time.Now()); n > 0 {
					s.log.Info("accepting client connections again", "failed_accepts", n, "paused", d.Round(time.Millisecond))
				}
			}
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		s.stats.acceptErrors.Add(1)
		s.noter.NoteAcceptError()
		failed = true
		pause, first := b.failed(time.Now())
		if first {
			// Reference: ZooKeeper NIOServerCnxnFactory.AcceptThread.doAccept logs
			// "Error accepting new connection: " + the exception's message, rate-limited.
			s.log.Warn("Error accepting new connection: "+acceptErrorText(err),
				"addr", ln.Addr().String(), "max_fds", maxFDs(), "err", err)
		}
		t := time.NewTimer(pause)
		select {
		case <-s.stopC:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// takeReserve takes the reserve descriptor unless it is held.
func (s *Server) takeReserve(reserve *reserveFD) error {
	if reserve.held() {
		return nil
	}
	return s.fdGate.take(reserve)
}

// enroll hands tc to an event loop. EnrollContext duplicates the descriptor
// before it closes tc, so for a moment the connection needs two; the reserve is
// given up for that moment. At the limit, another accept loop taking its own
// reserve then would take the one descriptor the duplicate needs, and the
// connection would be lost (TestOutOfFileDescriptorsKeepsServing lost one of
// its 300 in one run of 75): reserves are taken only while no connection is
// being enrolled (fdGate). Enrollments still overlap, since each waits for its
// event loop to register the connection.
func (s *Server) enroll(tc *net.TCPConn, reserve *reserveFD) error {
	s.fdGate.enter(reserve)
	_, err := s.cli.EnrollContext(tc, nil) // closes tc, whatever happens
	s.fdGate.leave()
	if err != nil {
		return fmt.Errorf("netloop: hand connection to an event loop: %w", err)
	}
	return nil
}

// sharedBurst is the acceptBurst of the accept goroutines of one listener.
type sharedBurst struct {
	mu sync.Mutex
	b  acceptBurst // guarded by mu
}

func (s *sharedBurst) failed(now time.Time) (pause time.Duration, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.failed(now)
}

func (s *sharedBurst) succeeded(now time.Time) (failures int, lasted time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.succeeded(now)
}

// acceptBurst tracks a run of failed accepts.
type acceptBurst struct {
	failures int           // in this burst; 0: not in one
	since    time.Time     // of the first failure of the burst
	pause    time.Duration // the next pause
}

// failed records one failure at now and returns how long to pause, and whether it
// opens a burst (and must be logged).
func (b *acceptBurst) failed(now time.Time) (pause time.Duration, first bool) {
	first = b.failures == 0
	if first {
		b.since, b.pause = now, acceptPauseMin
	}
	b.failures++
	pause = b.pause
	b.pause = min(2*b.pause, acceptPauseMax)
	return pause, first
}

// succeeded ends a burst, returning how many accepts failed in it and how long it
// lasted (0, 0 outside a burst).
func (b *acceptBurst) succeeded(now time.Time) (failures int, lasted time.Duration) {
	failures, lasted = b.failures, now.Sub(b.since)
	if failures == 0 {
		lasted = 0
	}
	*b = acceptBurst{}
	return failures, lasted
}

// acceptErrorText words an accept error as Java's IOException message does for the
// common errnos ("Too many open files"), so operators' greps for ZooKeeper's log
// line find zkd's too.
func acceptErrorText(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	msg := errno.Error()
	r, n := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[n:]
}

// fdGate keeps reserve descriptors from being taken while a connection is being
// enrolled. Enrollments do not wait for one another, nor for a loop waiting to
// take its reserve: that loop waits until none is in progress. Made by
// newFDGate.
type fdGate struct {
	mu        sync.Mutex
	none      sync.Cond // on mu; broadcast when enrolling drops to 0
	enrolling int       // guarded by mu
}

func newFDGate() *fdGate {
	g := &fdGate{}
	g.none.L = &g.mu
	return g
}

// take takes reserve once no enrollment is in progress.
func (g *fdGate) take(reserve *reserveFD) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.enrolling > 0 {
		g.none.Wait()
	}
	return reserve.take()
}

// enter starts an enrollment, giving reserve up.
func (g *fdGate) enter(reserve *reserveFD) {
	g.mu.Lock()
	g.enrolling++
	reserve.release()
	g.mu.Unlock()
}

// leave ends an enrollment.
func (g *fdGate) leave() {
	g.mu.Lock()
	if g.enrolling--; g.enrolling == 0 {
		g.none.Broadcast()
	}
	g.mu.Unlock()
}
