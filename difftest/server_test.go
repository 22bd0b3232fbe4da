package difftest

import (
	"strconv"
	"testing"

	"zkd/internal/zktest"
)

// containerCheckMs is the container/TTL reaper interval of both servers: an hour, so
// that no node is reaped during a test. Reaping runs on a timer, at moments the
// lock-step driver cannot line up between the two servers.
const containerCheckMs = 3_600_000

// startZooKeeper starts Apache ZooKeeper 3.8 from Debian's jars (java run directly)
// with TTL nodes enabled, and returns its address.
func startZooKeeper(t *testing.T) string {
	t.Helper()
	z := zktest.StartZooKeeper(t, zktest.ZooKeeperOptions{JVMFlags: []string{
		// The tests' data is throwaway: no fsync per txn.
		"-Dzookeeper.forceSync=no",
		"-Dzookeeper.extendedTypesEnabled=true",
		"-Dznode.container.checkIntervalMs=" + strconv.Itoa(containerCheckMs),
	}})
	return z.Addr
}

// startZkd builds zkd from the module root into a temporary directory and starts it
// from a zoo.cfg with TTL nodes enabled, and returns its address. Both servers run
// with a 2 s tick, within whose bounds the 30 s session timeout falls.
func startZkd(t *testing.T) string {
	t.Helper()
	p := zktest.StartProcess(t, zktest.ProcessOptions{
		Extra: "autopurge.purgeInterval=0\nextendedTypesEnabled=true\n" +
			"znode.container.checkIntervalMs=" + strconv.Itoa(containerCheckMs) + "\n",
		Args: []string{"-log-level", "warn"},
	})
	return p.ConnectString()
}
