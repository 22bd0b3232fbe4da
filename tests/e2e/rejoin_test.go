package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"zkd/internal/zktest"
)

// A follower whose data directory is wiped (all but myid) while it is down
// rejoins the ensemble from the leader's snapshot, as ZooKeeper's follower
// would with a SNAP: it ends up with the same tree (a sample of the nodes,
// their count, the digests), and the leader counts the snapshot it sent (mntr
// zk_snap_count) and logs whom it sent it to.
func TestWipedFollowerRejoinsFromASnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three zkd processes")
	}
	// A small snapCount makes the members snapshot while the test writes.
	c := zktest.StartProcessCluster(t, 3, ensembleOptions("snapCount=100\n"))
	lead := c.Leader()
	wiped := (lead + 1) % 3
	waitServing(t, c, 0, 1, 2)
	w, _ := zktest.ConnectZK(t, c.Member(lead).ConnectString(), 10*time.Second)
	if _, err := w.Create("/wipe", nil, 0, openACL); err != nil {
		t.Fatal(err)
	}
	const before, after = 200, 200
	for i := range before {
		if _, err := w.Create(fmt.Sprintf("/wipe/n%d", i), []byte(strconv.Itoa(i)), 0, openACL); err != nil {
			t.Fatal(err)
		}
	}
	readThrough(t, c.Member(wiped).ConnectString(), fmt.Sprintf("/wipe/n%d", before-1), strconv.Itoa(before-1))

	c.Member(wiped).Kill()
	dir := c.Member(wiped).DataDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, e := range entries {
		if e.Name() == "myid" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
		removed++
	}
	if removed == 0 {
		t.Fatalf("the follower's data directory %s held nothing but myid", dir)
	}
	// More writes while it is away, so that it has something to catch up on
	// beyond the point it last had.
	for i := before; i < before+after; i++ {
		p := fmt.Sprintf("/wipe/n%d", i)
		mustRetry(t, "create "+p, createOnce(w, p, []byte(strconv.Itoa(i))))
	}
	snapsBefore := mntr(t, c.Member(lead).ConnectString())["snap_count"]

	c.Member(wiped).Restart()
	last := before + after - 1
	readThrough(t, c.Member(wiped).ConnectString(), fmt.Sprintf("/wipe/n%d", last), strconv.Itoa(last))
	r, _ := zktest.ConnectZK(t, c.Member(wiped).ConnectString(), 10*time.Second)
	var kids []string
	mustRetry(t, "children /wipe", func() (err error) { kids, _, err = r.Children("/wipe"); return err })
	if len(kids) != before+after {
		t.Fatalf("the rejoined follower lists %d children of /wipe, want %d", len(kids), before+after)
	}
	for i := 0; i < before+after; i += 7 {
		p := fmt.Sprintf("/wipe/n%d", i)
		var data []byte
		mustRetry(t, "get "+p, func() (err error) { data, _, err = r.Get(p); return err })
		if string(data) != strconv.Itoa(i) {
			t.Fatalf("the rejoined follower reads %s = %q", p, data)
		}
	}
	counts := map[string]int{}
	for m := range c.N() {
		counts[mntr(t, c.Member(m).ConnectString())["znode_count"]]++
	}
	if len(counts) != 1 {
		t.Fatalf("zk_znode_count differs between members: %v", counts)
	}

	snapsAfter := mntr(t, c.Member(lead).ConnectString())["snap_count"]
	nb, _ := strconv.Atoi(snapsBefore)
	na, err := strconv.Atoi(snapsAfter)
	if err != nil || na <= nb {
		t.Fatalf("leader's zk_snap_count went from %q to %q: no snapshot was sent to the wiped follower", snapsBefore, snapsAfter)
	}
	// The leader's log names the member it sent the snapshot to.
	sent := false
	for _, l := range strings.Split(c.Member(lead).Log(), "\n") {
		sent = sent || strings.Contains(l, `msg="snapshot sent"`) && strings.Contains(l, fmt.Sprintf("peer=server.%d ", wiped+1))
	}
	if !sent {
		t.Fatalf("the leader's log has no \"snapshot sent\" line for server.%d", wiped+1)
	}

	// From the snapshot on, the rejoined member computes the same tree digests
	// as the others (one per 128 zxids: 130 writes make one more for all).
	for i := range 130 {
		mustRetry(t, "set /wipe", setAny(w, "/wipe", []byte(strconv.Itoa(i))))
	}
	var addrs []string
	for m := range c.N() {
		readThrough(t, c.Member(m).ConnectString(), "/wipe", "129")
		addrs = append(addrs, c.Member(m).ConnectString())
	}
	checkDigestsAgree(t, addrs)
}
