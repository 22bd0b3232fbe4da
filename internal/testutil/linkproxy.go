package testutil

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Direction names one way of the traffic through a LinkProxy.
type Direction int

const (
	// Forward is the traffic from the side that dialled the proxy to the target.
	Forward Direction = iota
	// Backward is the traffic from the target back to the dialling side.
	Backward
)

// LinkProxy forwards TCP connections from a loopback port to a target, as Proxy
// does, with the faults of a network link between two servers:
//
//   - Cut: every forwarded connection is closed and new ones are closed on accept,
//     until Heal (a partition);
//   - Drop(dir): bytes going one way are discarded, the other way still flows (a
//     one-way link); connections that lost bytes are closed at Heal, since their
//     streams are no longer whole;
//   - Delay(dir, d): bytes going one way arrive d later, in order.
//
// Each direction of each connection is a reader goroutine that stamps chunks and a
// writer goroutine that releases them when due, over a bounded queue, so a delay
// holds up bytes without slowing the link's throughput, and a stalled receiver
// pushes back on the sender as a real socket would. Safe for concurrent use.
type LinkProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		cut   bool
		drop  [2]bool
		delay [2]time.Duration
		conns map[*linkConn]struct{} // live forwarded connections
	}
}

// linkConn is one forwarded connection: both sockets, and whether a Drop has
// discarded any of its bytes.
type linkConn struct {
	down, up net.Conn // the dialling side, the target side
	lossy    bool     // guarded by LinkProxy.mu
}

// linkChunkQueue bounds the chunks in flight per direction: with 32 KiB reads, at
// most 2 MiB held by a delay before the sender is pushed back.
const linkChunkQueue = 64

// StartLinkProxy listens on 127.0.0.1:0 and forwards to target; it stops in Cleanup.
func StartLinkProxy(t testing.TB, target string) *LinkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &LinkProxy{ln: ln, target: target}
	p.mu.conns = map[*linkConn]struct{}{}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the address the dialling side uses.
func (p *LinkProxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *LinkProxy) Target() string { return p.target }

// Close stops the proxy and closes every forwarded connection.
func (p *LinkProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	conns := p.takeConnsLocked(func(*linkConn) bool { return true })
	p.mu.Unlock()
	closeAll(conns)
	p.wg.Wait()
}

func (p *LinkProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.mu.cut
		p.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		lc := &linkConn{down: c, up: up}
		p.mu.Lock()
		if p.mu.cut { // cut while dialling
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.mu.conns[lc] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(lc, Forward, up, c)
		go p.pipe(lc, Backward, c, up)
	}
}

// chunk is bytes read from one side, with the time they arrived.
type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst for one direction of lc, applying the direction's faults.
func (p *LinkProxy) pipe(lc *linkConn, dir Direction, dst, src net.Conn) {
	defer p.wg.Done()
	q := make(chan chunk, linkChunkQueue)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for c := range q {
			p.mu.Lock()
			d := p.mu.delay[dir]
			p.mu.Unlock()
			if wait := time.Until(c.at.Add(d)); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(c.b); err != nil {
				break
			}
		}
		// Drain so the reader never blocks on a dead writer.
		for range q {
		}
	}()
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := p.mu.drop[dir]
			if drop {
				lc.lossy = true
			}
			p.mu.Unlock()
			if !drop {
				q <- chunk{b: buf[:n], at: time.Now()}
			}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-writerDone
	// NB: close both sockets only after the writer is done, so that bytes read
	// before EOF still reach the other side before it sees the close.
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.mu.conns, lc)
	p.mu.Unlock()
}

// Cut closes every forwarded connection and closes new ones on accept, until Heal.
func (p *LinkProxy) Cut() {
	p.mu.Lock()
	p.mu.cut = true
	conns := p.takeConnsLocked(func(*linkConn) bool { return true })
	p.mu.Unlock()
	closeAll(conns)
}

// Drop starts discarding the bytes going in direction dir, until Heal.
func (p *LinkProxy) Drop(dir Direction) {
	p.mu.Lock()
	p.mu.drop[dir] = true
	p.mu.Unlock()
}

// Delay holds the bytes going in direction dir for d after they arrive before
// passing them on; 0 ends the delay. A change applies to bytes still queued too.
func (p *LinkProxy) Delay(dir Direction, d time.Duration) {
	p.mu.Lock()
	p.mu.delay[dir] = d
	p.mu.Unlock()
}

// Heal ends every fault: new connections are forwarded again, nothing is dropped
// or delayed, and connections that lost bytes to a Drop are closed so that both
// ends start clean streams.
func (p *LinkProxy) Heal() {
	p.mu.Lock()
	p.mu.cut = false
	p.mu.drop = [2]bool{}
	p.mu.delay = [2]time.Duration{}
	conns := p.takeConnsLocked(func(lc *linkConn) bool { return lc.lossy })
	p.mu.Unlock()
	closeAll(conns)
}

// takeConnsLocked removes the connections for which pick is true and returns their
// sockets for closing outside the lock.
func (p *LinkProxy) takeConnsLocked(pick func(*linkConn) bool) []net.Conn {
	var out []net.Conn
	for lc := range p.mu.conns {
		if pick(lc) {
			out = append(out, lc.down, lc.up)
			delete(p.mu.conns, lc)
		}
	}
	return out
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}
