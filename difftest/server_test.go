package difftest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"zkd/internal/zktest"
)

// containerCheckMs is the container/TTL reaper interval of both servers: an hour, so
// that no node is reaped during a test. Reaping runs on a timer, at moments the
// lock-step driver cannot line up between the two servers.
const containerCheckMs = 3_600_000

// zkFlags are the JVM flags of every Apache ZooKeeper the tests start.
var zkFlags = []string{
	// The tests' data is throwaway: no fsync per txn.
	"-Dzookeeper.forceSync=no",
	"-Dzookeeper.extendedTypesEnabled=true",
	"-Dznode.container.checkIntervalMs=" + strconv.Itoa(containerCheckMs),
}

// zkdExtra are the zoo.cfg lines of every zkd the tests start: the same settings.
var zkdExtra = "forceSync=no\nautopurge.purgeInterval=0\nextendedTypesEnabled=true\n" +
	"znode.container.checkIntervalMs=" + strconv.Itoa(containerCheckMs) + "\n"

// startZooKeeper starts Apache ZooKeeper 3.8 from Debian's jars (java run directly)
// with TTL nodes enabled, and returns its address.
func startZooKeeper(t *testing.T) string {
	t.Helper()
	z := zktest.StartZooKeeper(t, zktest.ZooKeeperOptions{JVMFlags: zkFlags})
	return z.Addr
}

// startZkd builds zkd from the module root into a temporary directory and starts it
// from a zoo.cfg with TTL nodes enabled, and returns its address. Both servers run
// with a 2 s tick, within whose bounds the 30 s session timeout falls.
func startZkd(t *testing.T) string {
	t.Helper()
	p := zktest.StartProcess(t, zktest.ProcessOptions{Extra: zkdExtra, Args: []string{"-log-level", "warn"}})
	return p.ConnectString()
}

// ensembleTick is the tickTime of both ensembles: ZooKeeper's default, so the
// 30 s session timeout lies within both servers' bounds (2 to 20 ticks), and
// long enough that a loaded machine does not make zkd's followers (election
// after one to two ticks without the leader) start elections in the middle
// of a run.
const ensembleTick = 2 * time.Second

// ensembleWait bounds the wait for every member of an ensemble to report its
// role: a limit against hangs, not an assertion.
const ensembleWait = 60 * time.Second

// startZooKeeperEnsemble starts a 3-server Apache ZooKeeper 3.8 ensemble with the
// settings of startZooKeeper and returns its connect string once it has a leader
// and two followers.
func startZooKeeperEnsemble(t *testing.T) string {
	t.Helper()
	e := zktest.StartZooKeeperEnsemble(t, 3, zktest.ZooKeeperOptions{TickTime: ensembleTick, JVMFlags: zkFlags})
	return e.ConnectString()
}

// startZkdEnsemble starts a 3-server zkd ensemble with the settings of startZkd
// and returns its connect string once one member reports Mode: leader and the
// others Mode: follower.
func startZkdEnsemble(t *testing.T) string {
	t.Helper()
	c := zktest.StartProcessCluster(t, 3, zktest.ProcessOptions{
		TickTime: ensembleTick, Extra: zkdExtra, Args: []string{"-log-level", "warn"}})
	c.Leader()
	zktest.CheckFor(t, ensembleWait, 50*time.Millisecond, func() error {
		var modes []string
		leaders := 0
		for i := range c.N() {
			m := zktest.Mode(c.Member(i).ConnectString())
			modes = append(modes, m)
			switch m {
			case "leader":
				leaders++
			case "follower":
			default:
				return fmt.Errorf("zkd ensemble modes %s", strings.Join(modes, ","))
			}
		}
		if leaders != 1 {
			return fmt.Errorf("zkd ensemble modes %s", strings.Join(modes, ","))
		}
		return nil
	})
	return c.ConnectString()
}
