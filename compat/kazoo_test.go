package compat

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestKazoo runs testdata/kazoo_compat.py: kazoo 2.8's recipes, watches, TreeCache,
// transactions, and session loss. For the last, the script's clients connect through
// a proxy the test cuts and heals when the script asks ("@cut", "@heal").
func TestKazoo(t *testing.T) {
	long(t)
	need(t, python3, kazooDir)
	script := testdata(t, "kazoo_compat.py")
	forEachServer(t, func(s *suite) {
		px := startProxy(s.t, s.server.addr)
		p, err := startProc(s.t, "kazoo_compat.py", []string{"PYTHONDONTWRITEBYTECODE=1"}, true,
			python3, "-u", script, s.server.addr, px.addr())
		if err != nil {
			s.t.Fatal(err)
		}
		s.runCheckLines(p, 3*time.Minute, func(word string) error {
			switch word {
			case "cut":
				px.sever()
			case "heal":
				px.heal()
			default:
				return fmt.Errorf("unknown request %q", word)
			}
			return p.send("ok")
		})
	})
}

// proxy forwards connections from 127.0.0.1:0 to a server. sever closes every
// forwarded connection and refuses new ones until heal.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool       // guarded by mu
	conns []net.Conn // guarded by mu; both ends of every live forwarded connection
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.sever()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.down { // severed while dialling
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// sever closes every forwarded connection and refuses new ones.
func (p *proxy) sever() {
	p.mu.Lock()
	p.down = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// heal lets new connections through again.
func (p *proxy) heal() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
