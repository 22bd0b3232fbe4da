package e2e

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/zktest"
)

// ensembleOptions are the zoo.cfg settings of the ensemble tests: every
// four-letter word allowed (mntr, hash), and extra lines.
func ensembleOptions(extra string) zktest.ProcessOptions {
	return zktest.ProcessOptions{Extra: "4lw.commands.whitelist=*\n" + extra}
}

// waitServing waits until each listed member reports a mode in srvr: it has a
// leader and serves clients (a member without one closes their connections).
func waitServing(t *testing.T, c *zktest.ProcessCluster, members ...int) {
	t.Helper()
	zktest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		for _, m := range members {
			if zktest.Mode(c.Member(m).ConnectString()) == "" {
				return fmt.Errorf("member %d does not serve yet", m)
			}
		}
		return nil
	})
}

// mntr returns the mntr figures of the server at addr, keyed without the zk_
// prefix.
func mntr(t *testing.T, addr string) map[string]string {
	t.Helper()
	m, err := readMntr(addr)
	if err != nil {
		t.Fatalf("mntr %s: %v", addr, err)
	}
	return m
}

// readMntr is mntr for a caller that waits for a server to answer.
func readMntr(addr string) (map[string]string, error) {
	out, err := zktest.FourLetterWord(addr, "mntr")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok {
			m[strings.TrimPrefix(k, "zk_")] = v
		}
	}
	return m, nil
}

// digests returns the tree digests the server at addr remembers (the hash
// four-letter word), by zxid.
func digests(t *testing.T, addr string) map[string]string {
	t.Helper()
	out, err := zktest.FourLetterWord(addr, "hash")
	if err != nil {
		t.Fatalf("hash %s: %v", addr, err)
	}
	d := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		zxid, digest, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("hash %s: unexpected line %q in %q", addr, line, out)
		}
		d[zxid] = digest
	}
	return d
}

// checkDigestsAgree checks that wherever two members remember a digest for the
// same zxid they remember the same one, and that at least one zxid is
// remembered by every member (so the comparison covers them all).
func checkDigestsAgree(t *testing.T, addrs []string) {
	t.Helper()
	seen := map[string]map[string]string{} // zxid -> digest -> first member with it
	count := map[string]int{}
	for _, a := range addrs {
		for zxid, digest := range digests(t, a) {
			if seen[zxid] == nil {
				seen[zxid] = map[string]string{}
			}
			if _, ok := seen[zxid][digest]; !ok {
				seen[zxid][digest] = a
			}
			count[zxid]++
		}
	}
	common := 0
	for zxid, ds := range seen {
		if len(ds) != 1 {
			t.Fatalf("members disagree on the tree digest at zxid 0x%s: %v (digest: member)", zxid, ds)
		}
		if count[zxid] == len(addrs) {
			common++
		}
	}
	if common == 0 {
		t.Fatalf("no zxid whose digest every member remembers: %v", count)
	}
	t.Logf("tree digests agree at %d zxids remembered by all %d members", common, len(addrs))
}

// loadWriter writes /load/w<id>/n<k> = k and then sets /load/w<id> = k, for k =
// 1, 2, ..., each operation tried again until it is acknowledged, so that the
// tree it leaves is exactly known: nodes n1..nK and the counter at K, where K
// is acked once it stops.
type loadWriter struct {
	id    int
	conn  *zk.Conn
	acked atomic.Int64
	err   error // why it gave up; read after done
	done  chan struct{}
}

// opDeadline bounds how long one write is retried: far above an election on a
// loaded machine, so reaching it means the ensemble stopped taking writes.
const opDeadline = 45 * time.Second

func (w *loadWriter) run(stop <-chan struct{}) {
	defer close(w.done)
	base := fmt.Sprintf("/load/w%d", w.id)
	for k := int64(1); ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		data := []byte(strconv.FormatInt(k, 10))
		if err := retry(createOnce(w.conn, fmt.Sprintf("%s/n%d", base, k), data)); err != nil {
			w.err = fmt.Errorf("create %s/n%d: %w", base, k, err)
			return
		}
		if err := retry(setAny(w.conn, base, data)); err != nil {
			w.err = fmt.Errorf("set %s = %d: %w", base, k, err)
			return
		}
		w.acked.Store(k)
	}
}

// retry calls op until it succeeds, fails with an error other than a lost
// connection or session (isConnErr: the request may or may not have landed),
// or opDeadline passes.
func retry(op func() error) error {
	deadline := time.Now().Add(opDeadline)
	for {
		err := op()
		if err == nil || !isConnErr(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustRetry runs an operation with retry, failing the test if it never
// succeeds: after a kill a leader may change (and on a loaded machine step down
// once more), which closes connections with writes in flight, and a member
// without a leader for long closes all its connections; clients try again, as
// ZooKeeper's do after CONNECTIONLOSS.
func mustRetry(t *testing.T, what string, op func() error) {
	t.Helper()
	if err := retry(op); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// createOnce returns a create for mustRetry: a node that exists counts as
// created by an earlier attempt that landed unanswered, so path must be one
// only this caller creates.
func createOnce(conn *zk.Conn, path string, data []byte) func() error {
	return func() error {
		_, err := conn.Create(path, data, 0, openACL)
		if errors.Is(err, zk.ErrNodeExists) {
			return nil
		}
		return err
	}
}

// setAny returns a setData of any version for mustRetry.
func setAny(conn *zk.Conn, path string, data []byte) func() error {
	return func() error { _, err := conn.Set(path, data, -1); return err }
}

// A five-server ensemble under write load from three clients loses the leader
// (kill -9) and then a follower, and gets both back on their own data
// directories: every acknowledged write is on every member afterwards, the
// members hold the same number of znodes, and their tree digests agree.
func TestFiveServersKeepEveryAcknowledgedWriteAcrossKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs five zkd processes")
	}
	c := zktest.StartProcessCluster(t, 5, ensembleOptions(""))
	lead := c.Leader()
	setup, _ := zktest.ConnectZK(t, c.ConnectString(), 10*time.Second)
	if _, err := setup.Create("/load", nil, 0, openACL); err != nil {
		t.Fatal(err)
	}
	const writers = 3
	stop := make(chan struct{})
	var ws []*loadWriter
	for i := range writers {
		if _, err := setup.Create(fmt.Sprintf("/load/w%d", i), []byte("0"), 0, openACL); err != nil {
			t.Fatal(err)
		}
		conn, _ := zktest.ConnectZK(t, c.ConnectString(), 10*time.Second)
		w := &loadWriter{id: i, conn: conn, done: make(chan struct{})}
		ws = append(ws, w)
		go w.run(stop)
	}
	stopped := false
	stopWriters := func() {
		if !stopped {
			stopped = true
			close(stop)
		}
		for _, w := range ws {
			<-w.done
		}
	}
	defer stopWriters()
	// progress waits until every writer has n more acknowledged iterations.
	progress := func(what string, n int64) {
		t.Helper()
		target := make([]int64, len(ws))
		for i, w := range ws {
			target[i] = w.acked.Load() + n
		}
		zktest.CheckFor(t, 2*opDeadline, 20*time.Millisecond, func() error {
			for i, w := range ws {
				select {
				case <-w.done:
					t.Fatalf("%s: writer %d gave up: %v", what, i, w.err)
				default:
				}
				if w.acked.Load() < target[i] {
					return fmt.Errorf("%s: writer %d at %d of %d", what, i, w.acked.Load(), target[i])
				}
			}
			return nil
		})
	}

	progress("before any kill", 30)
	c.Member(lead).Kill()
	next := c.Leader()
	if next == lead {
		t.Fatal("the killed member still leads")
	}
	progress("after the leader's kill", 30)
	follower := -1
	for i := range c.N() {
		if i != lead && i != next {
			follower = i
			break
		}
	}
	c.Member(follower).Kill()
	progress("with two of five members down", 30)
	c.Member(lead).Restart()
	c.Member(follower).Restart()
	// Enough entries after both restarts that every member applies a zxid whose
	// digest it remembers (one per 128).
	progress("after both restarts", 50)
	stopWriters()
	for i, w := range ws {
		if w.err != nil {
			t.Fatalf("writer %d: %v", i, w.err)
		}
	}

	var counts []string
	var addrs []string
	for m := range c.N() {
		addr := c.Member(m).ConnectString()
		addrs = append(addrs, addr)
		conn, _ := zktest.ConnectZK(t, addr, 10*time.Second)
		if _, err := conn.Sync("/load"); err != nil {
			t.Fatalf("member %d: sync: %v", m, err)
		}
		for i, w := range ws {
			k := w.acked.Load()
			base := fmt.Sprintf("/load/w%d", i)
			data, _, err := conn.Get(base)
			if err != nil || string(data) != strconv.FormatInt(k, 10) {
				t.Fatalf("member %d: %s = %q, %v; want %d, the last acknowledged", m, base, data, err, k)
			}
			kids, _, err := conn.Children(base)
			if err != nil || int64(len(kids)) != k {
				t.Fatalf("member %d: %s has %d children (%v); want %d", m, base, len(kids), err, k)
			}
			for j := int64(1); j <= k; j++ {
				p := fmt.Sprintf("%s/n%d", base, j)
				data, _, err := conn.Get(p)
				if err != nil || string(data) != strconv.FormatInt(j, 10) {
					t.Fatalf("member %d: acknowledged %s = %d reads %q, %v", m, p, j, data, err)
				}
			}
		}
		conn.Close()
		counts = append(counts, mntr(t, addr)["znode_count"])
	}
	for m, n := range counts {
		if n == "" || n != counts[0] {
			t.Fatalf("zk_znode_count per member: %v (member %d differs)", counts, m)
		}
	}
	checkDigestsAgree(t, addrs)
	var total int64
	for _, w := range ws {
		total += w.acked.Load()
	}
	t.Logf("%d acknowledged iterations (create + setData) checked on each of %d members; %s znodes each", total, c.N(), counts[0])
}

// orderedHosts is a go-zookeeper HostProvider that tries its servers in the
// order given to it (zk.Connect shuffles the list it passes to Init), so a test
// knows which member a session starts on and which it moves to.
type orderedHosts struct {
	mu      sync.Mutex
	servers []string
	curr    int
	last    int
}

func newOrderedHosts(servers ...string) *orderedHosts {
	return &orderedHosts{servers: servers, curr: -1, last: -1}
}

// Init checks that zk.Connect was given the same servers.
func (h *orderedHosts) Init(servers []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Equal(slices.Sorted(slices.Values(servers)), slices.Sorted(slices.Values(h.servers))) {
		return fmt.Errorf("orderedHosts holds %v, zk.Connect was given %v", h.servers, servers)
	}
	return nil
}

func (h *orderedHosts) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.servers)
}

func (h *orderedHosts) Next() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.curr = (h.curr + 1) % len(h.servers)
	return h.servers[h.curr], h.curr == h.last
}

func (h *orderedHosts) Connected() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = h.curr
}
