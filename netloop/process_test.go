package netloop_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"zkd/internal/testutil"
	"zkd/internal/zktest"
	"zkd/internal/zktest/raw"
	"zkd/jute"
)

// Tests that need real file-descriptor limits and a real process run the zkd
// binary; TestMain removes it afterwards.
func TestMain(m *testing.M) { testutil.Main(m) }

// zkdProc is a zkd child process with its client port and Prometheus endpoint.
type zkdProc struct {
	*zktest.Process
	addr    string // client port, 127.0.0.1:port
	metrics string // http://127.0.0.1:port/metrics
}

// startZkdProcess runs the zkd binary standalone with every four-letter word and
// the Prometheus endpoint on; maxFDs (if > 0) lowers its RLIMIT_NOFILE.
func startZkdProcess(t *testing.T, maxFDs int) *zkdProc {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's descriptors and memory from /proc")
	}
	mport := testutil.FreePort(t)
	p := zktest.StartProcess(t, zktest.ProcessOptions{MaxOpenFiles: maxFDs, Extra: fmt.Sprintf("4lw.commands.whitelist=*\n"+
		"metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n"+
		"metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=%d\n", mport)})
	return &zkdProc{Process: p, addr: p.ConnectString(), metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)}
}

// dialSession connects and completes a handshake; safe off the test goroutine.
func dialSession(addr string) (*raw.Conn, error) {
	c, resp, err := raw.Connect(addr, waitLimit, 30000, 0, nil)
	if err != nil {
		return nil, err
	}
	if resp.SessionID == 0 {
		c.Close()
		return nil, fmt.Errorf("handshake refused: %+v", resp)
	}
	return c, nil
}

// ping sends a ping on a session connection and waits for its reply.
func ping(c *raw.Conn) error {
	hdr, _, err := c.Call(jute.XidPing, jute.OpPing, nil)
	if err != nil {
		return err
	}
	if hdr.Xid != jute.XidPing || hdr.Err != jute.CodeOK {
		return fmt.Errorf("ping reply %+v", hdr)
	}
	return nil
}

// prober measures a healthy client's request latency while something else goes
// on: one ping at a time, back to back with a short pause.
type prober struct {
	mu    sync.Mutex
	lat   []time.Duration // guarded by mu
	err   error           // guarded by mu; the first failure ends the probe
	stopC chan struct{}
	doneC chan struct{}
}

func startProber(c *raw.Conn) *prober {
	p := &prober{stopC: make(chan struct{}), doneC: make(chan struct{})}
	go func() {
		defer close(p.doneC)
		for {
			select {
			case <-p.stopC:
				return
			case <-time.After(2 * time.Millisecond):
			}
			start := time.Now()
			err := ping(c)
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			p.lat = append(p.lat, time.Since(start))
			p.mu.Unlock()
		}
	}()
	return p
}

// stop ends the probe and returns the latencies, sorted, or the first failure.
func (p *prober) stop() ([]time.Duration, error) {
	close(p.stopC)
	<-p.doneC
	slices.Sort(p.lat)
	return p.lat, p.err
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// openFDs counts the descriptors of process pid.
func openFDs(t *testing.T, pid int) (fds descriptors) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("count descriptors: %v", err)
	}
	for _, e := range ents {
		if target, _ := os.Readlink(filepath.Join(dir, e.Name())); target == os.DevNull {
			fds.devNull++
		} else {
			fds.other++
		}
	}
	return fds
}

// descriptors counts a process's open descriptors. Those on /dev/null are
// counted apart: the accept loop's reserve is one, and it is given up for a
// moment around every accept, so a count taken then lacks it.
type descriptors struct{ devNull, other int }

// leaked reports whether d holds more than base plus extra other descriptors,
// or more than base's /dev/null ones plus the reserve.
func (d descriptors) leaked(base descriptors, extra int) bool {
	return d.other > base.other+extra || d.devNull > base.devNull+1
}

// fdTargets lists what process pid's descriptors point at, for a failure to show.
func fdTargets(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+"->"+target)
	}
	return out
}

// rssBytes reads VmRSS of process pid.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// mntrValue returns one zk_ key of mntr.
func mntrValue(t *testing.T, addr, key string) int64 {
	t.Helper()
	out, err := zktest.FourLetterWord(addr, "mntr")
	if err != nil {
		t.Fatalf("mntr: %v", err)
	}
	return statValue(t, out, "zk_"+key, "\t")
}

// metricValue returns one unlabelled sample of the Prometheus scrape.
func metricValue(t *testing.T, url, name string) int64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return statValue(t, string(b), name, " ")
}

func statValue(t *testing.T, text, key, sep string) int64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && k == key {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s = %q", key, v)
			}
			return int64(f)
		}
	}
	t.Fatalf("no %s in:\n%s", key, text)
	return 0
}

// isOpen reports whether the server still holds c open: a read finds nothing
// to read rather than the end of the stream or a reset.
func isOpen(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// logHas reports whether the process log contains s, in any case.
func logHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(strings.ToLower(string(b)), strings.ToLower(s))
}

// Out of file descriptors, the client port backs off and keeps serving, as
// ZooKeeper's AcceptThread does: every established connection stays, a
// connected client keeps its answers, the failure is logged and counted, and
// connections are accepted again once descriptors are free. (gnet's own acceptor
// shut the whole engine down on the first EMFILE.)
func TestOutOfFileDescriptorsKeepsServing(t *testing.T) {
	const limit, idle = 256, 300
	p := startZkdProcess(t, limit)
	// The log prepares its next segment in the background, on a descriptor of
	// its own: the baseline counts it once it is there.
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(10 * time.Millisecond) {
		if tmp, _ := filepath.Glob(filepath.Join(p.DataDir(), "zkd", "log", "*.tmp")); len(tmp) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log never prepared its next segment")
		}
	}
	baseFDs := openFDs(t, p.PID())
	baseTargets := fdTargets(p.PID())

	healthy, err := dialSession(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.Close()
	probe := startProber(healthy)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle {
		c, err := net.DialTimeout("tcp", p.addr, waitLimit)
		if err != nil {
			t.Fatalf("dial idle connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	deadline := time.Now().Add(waitLimit)
	for !logHas(p.LogPath(), "Too many open files") {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections under a limit of %d: no \"Too many open files\" in the log", idle, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Stay out of descriptors a little longer: the accept loop retries meanwhile
	// (not a wait for anything to happen; there is nothing to poll).
	time.Sleep(200 * time.Millisecond)

	lat, err := probe.stop()
	if err != nil {
		t.Fatalf("the connected client lost its answers while descriptors ran out: %v", err)
	}
	closed := 0
	for _, c := range conns {
		if !isOpen(c) {
			closed++
		}
	}
	if closed > 0 {
		t.Fatalf("the server dropped %d of %d idle connections when descriptors ran out", closed, idle)
	}
	if err := ping(healthy); err != nil {
		t.Fatalf("ping after the storm: %v", err)
	}
	t.Logf("healthy client during the storm: %d pings, p50 %v, p99 %v, max %v",
		len(lat), quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1))

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	freed := time.Now()
	var again *raw.Conn
	for deadline := time.Now().Add(waitLimit); again == nil; {
		if c, err := dialSession(p.addr); err == nil {
			again = c
		} else if time.Now().After(deadline) {
			t.Fatalf("no new session within %v of the descriptors being freed: %v", waitLimit, err)
		}
	}
	defer again.Close()
	t.Logf("a new session was accepted %v after the idle connections closed", time.Since(freed).Round(time.Millisecond))

	// Everything the storm took is given back: two sessions, their two sockets.
	var fds descriptors
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(10 * time.Millisecond) {
		if fds = openFDs(t, p.PID()); !fds.leaked(baseFDs, 2) || time.Now().After(deadline) {
			break
		}
	}
	if fds.leaked(baseFDs, 2) {
		t.Errorf("open descriptors: %+v after the storm, %+v before it (+2 sessions and the reserve at most)\nbefore: %v\nafter:  %v",
			fds, baseFDs, baseTargets, fdTargets(p.PID()))
	}
	sessions, alive := mntrValue(t, p.addr, "global_sessions"), mntrValue(t, p.addr, "num_alive_connections")
	if sessions != 2 {
		t.Errorf("global_sessions = %d, want 2", sessions)
	}
	if n := metricValue(t, p.metrics, "zkd_accept_errors_total"); n < 1 {
		t.Errorf("zkd_accept_errors_total = %d, want the failures counted", n)
	}
	if err := loggedOncePerBurst(readFile(t, p.LogPath())); err != nil {
		t.Error(err)
	}
	t.Logf("after the storm: %+v descriptors (%+v before), %d sessions, %d connections (the mntr one included)",
		fds, baseFDs, sessions, alive)
}

// loggedOncePerBurst checks that log has one "Too many open files" line for
// each run of failed accepts, however many fail in it: each is followed by the
// "accepting client connections again" that ends its run before the next one,
// and the first run, the storm, ended with more than one failure under its one
// line. There may be more runs than one: as the idle connections close, the
// accept loops can take the freed descriptors for connections waiting in the
// backlog faster than the event loops free the rest, and run out again.
func loggedOncePerBurst(log string) error {
	warned, ended := 0, 0
	firstRun := -1 // failed accepts the first run ended with
	for line := range strings.Lines(log) {
		switch {
		case strings.Contains(line, "Too many open files"):
			if warned > ended {
				return fmt.Errorf("\"Too many open files\" logged twice in one run of failed accepts:\n%s", log)
			}
			warned++
		case strings.Contains(line, "accepting client connections again"):
			ended++
			if firstRun < 0 {
				_, n, _ := strings.Cut(line, "failed_accepts=")
				n, _, _ = strings.Cut(n, " ")
				firstRun, _ = strconv.Atoi(n)
			}
		}
	}
	switch {
	case warned == 0:
		return errors.New("no \"Too many open files\" in the log")
	case firstRun < 2:
		return fmt.Errorf("the storm's run of failed accepts ended after %d failures, want several under one line:\n%s", firstRun, log)
	}
	return nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A client that floods requests without reading its replies does not grow the
// server's memory with what it sends (zkd used to read it all into one buffer:
// 800 MB of requests took RSS from 20 MB to 3.3 GB), and another client's
// requests are answered throughout.
func TestFloodWithoutReadingKeepsServerMemoryBounded(t *testing.T) {
	const (
		floodMax = 200 << 20
		rssBound = 128 << 20 // over the idle server's RSS; generous
	)
	p := startZkdProcess(t, 0)
	w, err := dialSession(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	create := requestFrame(1, jute.OpCreate, &jute.CreateRequest{Path: "/flood",
		Data: make([]byte, 4<<10), ACL: jute.OpenACLUnsafe})
	if err := w.Write(create); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	base, err := rssBytes(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	probe := startProber(w)

	f, err := dialSession(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := flood(f.NetConn(), "/flood", floodMax)
	peak, sent := base, 0
	for waiting := true; waiting; {
		select {
		case sent = <-done:
			waiting = false
		case <-time.After(10 * time.Millisecond):
		}
		if rss, err := rssBytes(p.PID()); err == nil {
			peak = max(peak, rss)
		}
	}
	f.Close()
	lat, err := probe.stop()
	if err != nil {
		t.Fatalf("the other client lost its answers during the flood: %v", err)
	}
	// Give the runtime a moment to return freed pages; this is a figure, not a test.
	time.Sleep(2 * time.Second)
	after, _ := rssBytes(p.PID())
	t.Logf("flood of %.0f MiB unread: RSS %.0f MiB before, %.0f MiB peak, %.0f MiB 2 s after; other client: %d pings, p50 %v, p99 %v, max %v",
		float64(sent)/(1<<20), float64(base)/(1<<20), float64(peak)/(1<<20), float64(after)/(1<<20),
		len(lat), quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1))
	if peak > base+rssBound {
		t.Fatalf("RSS rose from %d MiB to %d MiB during a %d MiB unread flood", base>>20, peak>>20, sent>>20)
	}
}
