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
		// Accept only while holding the reserve descriptor: at the limit the
		// accept itself fails and the connection stays in the backlog, and an
		// accepted connection becomes the reserve's if handing it over finds
		// no descriptor free (see enroll).
		var err error
		if reserve.kept() {
			err = s.enrollKept(&reserve) // a connection out of descriptors before
		} else if err = reserve.take(); err == nil {
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

// enroll hands tc to an event loop. EnrollContext duplicates the descriptor
// before it closes tc, so for a moment the connection needs two, and at the
// limit the duplicate can fail: any other open in the process (another accept
// loop accepting, or opening its reserve) may take the one descriptor that was
// free. So the reserve first becomes a second descriptor of the socket (keep);
// a handover that finds no descriptor free leaves the connection there, and
// the accept loop, after its pause, hands it over again (enrollKept) before it
// accepts anything else. Out of descriptors, a connection waits; it is not lost.
// An error other than running out of descriptors means the connection is closed.
func (s *Server) enroll(tc *net.TCPConn, reserve *reserveFD) error {
	kept := reserve.keep(tc)
	_, err := s.cli.EnrollContext(tc, nil) // closes tc, whatever happens
	if err == nil || !kept || !outOfDescriptors(err) {
		reserve.release()
	}
	if err != nil {
		return fmt.Errorf("netloop: hand connection to an event loop: %w", err)
	}
	return nil
}

// enrollKept hands the connection kept in reserve to an event loop, as enroll
// does.
func (s *Server) enrollKept(reserve *reserveFD) error {
	tc, err := reserve.conn()
	if err != nil {
		if !outOfDescriptors(err) {
			reserve.release()
		}
		return fmt.Errorf("netloop: hand connection to an event loop: %w", err)
	}
	return s.enroll(tc, reserve)
}

// outOfDescriptors reports whether err is the process's or the system's
// limit on open files.
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
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
