package zktest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
	"zkd/server"
	"zkd/zoocfg"
)

// ClusterOptions shape the ensemble StartCluster starts.
type ClusterOptions struct {
	// TickTime is every member's tickTime; 0 means 100 ms.
	TickTime time.Duration
	// Extra holds more zoo.cfg lines, for every member.
	Extra string
	// MultiAddress gives every member a second quorum and election port on
	// its server.N line (ZooKeeper's multiAddress: host:q:e|host:q2:e2), and
	// sets multiAddress.enabled.
	MultiAddress bool
}

// electionTimeout bounds the wait for a leader: a limit against hangs on a loaded
// machine, not an assertion on how fast an election is.
const electionTimeout = 30 * time.Second

// Cluster is an in-process ensemble: n members started from zoo.cfg text with
// server.N lines and a myid file, as an operator's n zoo.cfg files would describe
// them, on free loopback ports. Members are numbered from 0; member i has myid
// i+1. Its methods belong to the test's goroutine.
type Cluster struct {
	t       testing.TB
	texts   []string // each member's zoo.cfg
	dirs    []string // each member's dataDir, with its myid file
	addrs   []string // each member's client address
	members []*server.Server
	logs    []*LogBuffer
}

// StartCluster starts an n-member ensemble and returns once every member runs
// (not once a leader is elected: see Leader). It stops in Cleanup, printing the
// members' logs if the test failed.
func StartCluster(t testing.TB, n int, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.TickTime == 0 {
		opts.TickTime = 100 * time.Millisecond
	}
	c := &Cluster{t: t, members: make([]*server.Server, n)}
	var lines []string
	for i := range n {
		c.addrs = append(c.addrs, fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)))
		quorum := fmt.Sprintf("127.0.0.1:%d:%d", testutil.FreePort(t), testutil.FreePort(t))
		if opts.MultiAddress {
			quorum += fmt.Sprintf("|127.0.0.1:%d:%d", testutil.FreePort(t), testutil.FreePort(t))
		}
		lines = append(lines, fmt.Sprintf("server.%d=%s;%s", i+1, quorum, c.addrs[i]))
	}
	if opts.MultiAddress {
		opts.Extra += "\nmultiAddress.enabled=true\n"
	}
	for i := range n {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "myid"), fmt.Appendf(nil, "%d\n", i+1), 0o644); err != nil {
			t.Fatal(err)
		}
		c.dirs = append(c.dirs, dir)
		c.texts = append(c.texts, fmt.Sprintf("tickTime=%d\ninitLimit=10\nsyncLimit=5\ndataDir=%s\n"+
			"admin.enableServer=false\nmaxClientCnxns=0\npreAllocSize=1024\n4lw.commands.whitelist=*\n%s\n%s\n",
			opts.TickTime.Milliseconds(), dir, strings.Join(lines, "\n"), opts.Extra))
		c.logs = append(c.logs, &LogBuffer{})
	}
	t.Cleanup(func() {
		for i, s := range c.members {
			if s == nil {
				continue
			}
			if err := s.Stop(); err != nil {
				t.Errorf("member %d: stop: %v", i, err)
			}
		}
		if t.Failed() {
			for i, l := range c.logs {
				t.Logf("member %d (myid %d) log:\n%s", i, i+1, l.String())
			}
		}
	})
	// Together, as three operators would start them: a member's start does not
	// wait for the others, but they are up within one election timeout.
	errs := make(chan error, n)
	for i := range n {
		go func() {
			s, err := c.start(i)
			c.members[i] = s
			errs <- err
		}()
	}
	var failed []error
	for range n {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		t.Fatal(errors.Join(failed...))
	}
	return c
}

// start parses member i's zoo.cfg (which reads its myid file) and starts it.
func (c *Cluster) start(i int) (*server.Server, error) {
	cfg, err := zoocfg.Parse(filepath.Join(c.dirs[i], "zoo.cfg"), []byte(c.texts[i]))
	if err != nil {
		return nil, fmt.Errorf("member %d: %w", i, err)
	}
	s, err := Start(cfg, c.logs[i].Logger())
	if err != nil {
		return nil, fmt.Errorf("member %d: %w", i, err)
	}
	return s, nil
}

// N is the number of members.
func (c *Cluster) N() int { return len(c.texts) }

// Member returns member i's running instance; nil while it is stopped.
func (c *Cluster) Member(i int) *server.Server { return c.members[i] }

// Addr is member i's client address.
func (c *Cluster) Addr(i int) string { return c.addrs[i] }

// Log is member i's log, across its restarts.
func (c *Cluster) Log(i int) *LogBuffer { return c.logs[i] }

// ConnectString lists every member's client address, as a client is given them.
func (c *Cluster) ConnectString() string { return strings.Join(c.addrs, ",") }

// Leader waits until a running member leads and every other running member
// follows it, and returns its index.
func (c *Cluster) Leader() int {
	c.t.Helper()
	deadline := time.Now().Add(electionTimeout)
	for {
		if i := c.settledLeader(); i >= 0 {
			return i
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader elected within %v", electionTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledLeader returns the leading member once every other running member of
// the configuration follows it too (a follower that has not heard from a new
// leader yet refuses clients), or -1.
func (c *Cluster) settledLeader() int {
	lead := -1
	for i, s := range c.members {
		if s != nil && s.Replica().Mode() == "leader" {
			lead = i
		}
	}
	if lead < 0 {
		return -1
	}
	id := c.members[lead].Replica().Leader()
	for _, s := range c.members {
		if s != nil && s.Replica().Member() && s.Replica().Leader() != id {
			return -1
		}
	}
	return lead
}

// Stop stops member i; its data directory and ports stay its own.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if c.members[i] == nil {
		return
	}
	if err := c.members[i].Stop(); err != nil {
		c.t.Errorf("member %d: stop: %v", i, err)
	}
	c.members[i] = nil
}

// Restart stops member i if it runs and starts it again from the same zoo.cfg,
// data directory and ports.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	s, err := c.start(i)
	if err != nil {
		c.t.Fatal(err)
	}
	c.members[i] = s
}
