package zkcheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Cluster is an ensemble under test, whatever runs it: the recorder needs only its
// connect string, the faults only these methods. Servers are named by their myid,
// 1..Size(). Methods may be called from several goroutines.
type Cluster interface {
	// Size returns the number of servers.
	Size() int
	// ConnectString returns every server's client address, comma-separated, as a
	// ZooKeeper client takes it.
	ConnectString() string
	// Leader returns the server that says it leads (srvr: "Mode: leader"), or
	// ErrNoLeader when none does, or more than one does.
	Leader() (int, error)
	// Kill stops server id at once, as kill -9 does.
	Kill(id int) error
	// Restart starts a killed server again on its data directory.
	Restart(id int) error
	// Pause stops server id's process without killing it (SIGSTOP); Resume
	// continues it (SIGCONT).
	Pause(id int) error
	Resume(id int) error
	// Partition cuts the peer links between servers of different groups; a server
	// in no group is cut off from all others. Client connections are untouched.
	Partition(groups ...[]int) error
	// DropLink drops the peer traffic from server from to server to, one way.
	DropLink(from, to int) error
	// DelayLink delays the peer traffic from server from to server to by d.
	DelayLink(from, to int, d time.Duration) error
	// Heal ends every Partition, DropLink and DelayLink.
	Heal() error
}

// ErrNoLeader is returned by Cluster.Leader when no single server says it leads.
var ErrNoLeader = errors.New("zkcheck: no single leader")

// ErrNotEnsemble is returned by Ensemble.WaitHealthy when a server given server.N
// lines runs standalone: its kind cannot form an ensemble.
var ErrNotEnsemble = errors.New("zkcheck: server runs standalone")

// ErrServerState is returned by a Cluster method asked to act on a server in the
// wrong state: restarting a running server, pausing a killed one, an id out of range.
var ErrServerState = errors.New("zkcheck: server not in a state for this")

// FourLetterWord sends word to the server at addr and returns its reply, giving up
// after timeout (a paused server accepts the connection and never answers).
func FourLetterWord(addr, word string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, word); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return string(b), err
	}
	return string(b), nil
}

// Mode returns the "Mode:" line of the server at addr's srvr reply: leader,
// follower, observer or standalone.
func Mode(addr string, timeout time.Duration) (string, error) {
	reply, err := FourLetterWord(addr, "srvr", timeout)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(strings.NewReader(reply))
	for sc.Scan() {
		if mode, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok {
			return strings.TrimSpace(mode), nil
		}
	}
	return "", fmt.Errorf("zkcheck: srvr reply of %s has no Mode line: %q", addr, reply)
}
