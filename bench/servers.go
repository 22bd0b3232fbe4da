package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is one server process under test, which Compare can stop, kill and
// start again with the same command and data.
type server struct {
	label    string   // immutable: "zookeeper", "zkd", "null-server", "zookeeper.2"
	addr     string   // immutable: client host:port
	dir      string   // immutable: its directory (zoo.cfg, data, log, server.out)
	bin      string   // immutable: executable
	args     []string // immutable
	dataDirs []string // immutable: its data and log directories (for du)
	log      string   // immutable: stdout+stderr, appended over restarts

	mu struct {
		sync.Mutex
		cmd    *exec.Cmd     // guarded by mu; the current process
		exited chan struct{} // guarded by mu; closed when cmd has exited
	}
}

// launch starts the process; it does not wait for it to serve.
func (s *server) launch() error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's Ctrl-C goes to us; we stop it
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("bench: start %s: %w", s.label, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	s.mu.Lock()
	s.mu.cmd, s.mu.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// current returns the running process and its exit channel (nil, nil before launch).
func (s *server) current() (*exec.Cmd, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.cmd, s.mu.exited
}

// running reports whether the process is up.
func (s *server) running() bool {
	_, exited := s.current()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// pid is the running process's id, or 0.
func (s *server) pid() int {
	cmd, _ := s.current()
	if cmd == nil || !s.running() {
		return 0
	}
	return cmd.Process.Pid
}

// waitSession waits until a session handshake succeeds on the server's port (60 s
// at most), failing at once if the process exits.
func (s *server) waitSession(ctx context.Context, timeout time.Duration) error {
	_, exited := s.current()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := Dial(ctx, s.addr, DialOptions{SessionTimeout: timeout, ConnectTimeout: 2 * time.Second})
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("bench: %s exited while starting; log: %s\n%s", s.label, s.log, tail(s.log, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %s did not accept a session on %s within 60s; log: %s", s.label, s.addr, s.log)
		}
	}
}

// stop sends SIGTERM, waits up to 15 s, then SIGKILL.
func (s *server) stop() {
	cmd, exited := s.current()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// kill sends SIGKILL and waits for the exit.
func (s *server) kill() error {
	cmd, exited := s.current()
	if cmd == nil {
		return fmt.Errorf("bench: %s was never started", s.label)
	}
	select {
	case <-exited:
		return fmt.Errorf("bench: %s is not running", s.label)
	default:
	}
	if err := cmd.Process.Kill(); err != nil {
		return err
	}
	<-exited
	return nil
}

// serverSet is the servers of one side of a comparison: one standalone server or
// an ensemble. It is the Controller its runs get.
type serverSet struct {
	label   string
	members []*server
}

// connect is the connect string of every member.
func (ss *serverSet) connect() string {
	addrs := make([]string, len(ss.members))
	for i, m := range ss.members {
		addrs[i] = m.addr
	}
	return strings.Join(addrs, ",")
}

// ErrUnknownServer is returned by a serverSet's Controller methods for an address
// that is none of its members'.
var ErrUnknownServer = errors.New("bench: no such server")

func (ss *serverSet) find(addr string) (*server, error) {
	for _, m := range ss.members {
		if m.addr == addr {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w: %s is not one of %s", ErrUnknownServer, addr, ss.connect())
}

// Kill implements Controller.
func (ss *serverSet) Kill(addr string) error {
	m, err := ss.find(addr)
	if err != nil {
		return err
	}
	return m.kill()
}

// Start implements Controller.
func (ss *serverSet) Start(_ context.Context, addr string) error {
	m, err := ss.find(addr)
	if err != nil {
		return err
	}
	if m.running() {
		return nil
	}
	return m.launch()
}

// PID implements Controller.
func (ss *serverSet) PID(addr string) int {
	m, err := ss.find(addr)
	if err != nil {
		return 0
	}
	return m.pid()
}

// DataDirs implements Controller.
func (ss *serverSet) DataDirs(addr string) []string {
	m, err := ss.find(addr)
	if err != nil {
		return nil
	}
	return m.dataDirs
}

// alive returns an error naming a member that has exited.
func (ss *serverSet) alive() error {
	for _, m := range ss.members {
		if !m.running() {
			return fmt.Errorf("bench: %s exited during the comparison; log: %s\n%s", m.label, m.log, tail(m.log, 20))
		}
	}
	return nil
}

// stop stops every member, in parallel.
func (ss *serverSet) stop() {
	var wg sync.WaitGroup
	for _, m := range ss.members {
		wg.Add(1)
		go func() { defer wg.Done(); m.stop() }()
	}
	wg.Wait()
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Peer is one server.N of an ensemble's zoo.cfg: its id (the myid file), its
// directory and its three loopback ports.
type Peer struct {
	ID                                   int
	Dir                                  string
	ClientPort, QuorumPort, ElectionPort int
}

// Addr is the peer's client address.
func (p Peer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.ClientPort)) }

// PlanEnsemble gives n peers their directories dir/srv<id> and 3n distinct free
// loopback ports from port (freePort in use).
func PlanEnsemble(dir string, n int, port func() (int, error)) ([]Peer, error) {
	if n < 1 {
		return nil, errors.New("bench: an ensemble needs at least one server")
	}
	seen := map[int]bool{}
	next := func() (int, error) {
		for range 100 {
			p, err := port()
			if err != nil {
				return 0, err
			}
			if !seen[p] {
				seen[p] = true
				return p, nil
			}
		}
		return 0, errors.New("bench: no distinct free port after 100 tries")
	}
	peers := make([]Peer, n)
	for i := range peers {
		p := Peer{ID: i + 1, Dir: filepath.Join(dir, "srv"+strconv.Itoa(i+1))}
		var err error
		if p.ClientPort, err = next(); err != nil {
			return nil, err
		}
		if p.QuorumPort, err = next(); err != nil {
			return nil, err
		}
		if p.ElectionPort, err = next(); err != nil {
			return nil, err
		}
		peers[i] = p
	}
	return peers, nil
}

// ZooCfg is the zoo.cfg both servers get: the same keys for Apache ZooKeeper and
// zkd, fsync on, no per-IP connection limit (the generator opens hundreds of
// sessions from one address), four-letter words on, AdminServer off, and for an
// ensemble a server.N line per peer (the same lines in every member's file).
func ZooCfg(dir string, clientPort int, tick time.Duration, peers []Peer) string {
	var b strings.Builder
	fmt.Fprintf(&b, `tickTime=%d
initLimit=10
syncLimit=5
dataDir=%s
dataLogDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
autopurge.purgeInterval=0
forceSync=yes
`, tick.Milliseconds(), filepath.Join(dir, "data"), filepath.Join(dir, "log"), clientPort)
	for _, p := range peers {
		fmt.Fprintf(&b, "server.%d=127.0.0.1:%d:%d\n", p.ID, p.QuorumPort, p.ElectionPort)
	}
	return b.String()
}

// WriteEnsemble writes each peer's directory: zoo.cfg, data/myid, log/.
func WriteEnsemble(peers []Peer, tick time.Duration) error {
	for _, p := range peers {
		if err := prepareDir(p.Dir, ZooCfg(p.Dir, p.ClientPort, tick, peers)); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(p.Dir, "data", "myid"), []byte(strconv.Itoa(p.ID)+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// prepareDir makes dir, dir/data and dir/log and writes dir/zoo.cfg.
func prepareDir(dir, cfg string) error {
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
