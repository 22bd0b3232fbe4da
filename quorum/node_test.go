package quorum

import (
	"errors"
	"sync"
	"testing"

	"zkd/datatree"
	"zkd/jute"
)

// recordingSM records the entries it applies, in order.
type recordingSM struct {
	mu      sync.Mutex
	entries []string
	zxids   []jute.Zxid
}

func (r *recordingSM) Apply(zxid jute.Zxid, entry []byte) datatree.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(entry) > 0 {
		r.entries = append(r.entries, string(entry))
		r.zxids = append(r.zxids, zxid)
	}
	return datatree.Result{Body: append([]byte("ok:"), entry...)}
}

func (r *recordingSM) Freeze() (*datatree.Image, error) { return nil, errors.New("no snapshots here") }

func TestProposalsApplyInOrderWithIncreasingZxids(t *testing.T) {
	sm := &recordingSM{}
	n, err := Start(DefaultConfig(), sm)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	const count = 200
	type outcome struct {
		zxid jute.Zxid
		body string
	}
	results := make(chan outcome, count)
	for i := 0; i < count; i++ {
		entry := []byte{byte(i), byte(i >> 8)}
		if err := n.Propose(append(EntryBuffer(len(entry)), entry...), func(z jute.Zxid, res datatree.Result, err error) {
			if err != nil {
				t.Errorf("proposal failed: %v", err)
			}
			results <- outcome{z, string(res.Body)}
		}); err != nil {
			t.Fatal(err)
		}
	}
	var last jute.Zxid
	for i := 0; i < count; i++ {
		o := <-results
		if o.zxid <= last {
			t.Fatalf("zxid %v not after %v", o.zxid, last)
		}
		last = o.zxid
		want := "ok:" + string([]byte{byte(i), byte(i >> 8)})
		if o.body != want {
			t.Fatalf("result %d = %q, want %q (callbacks out of order)", i, o.body, want)
		}
	}
	if n.Applied() < last {
		t.Fatalf("Applied %v < last result zxid %v", n.Applied(), last)
	}
}

func TestSyncFiresAfterEarlierProposalsApply(t *testing.T) {
	sm := &recordingSM{}
	n, err := Start(DefaultConfig(), sm)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	var proposed jute.Zxid
	var mu sync.Mutex
	done := make(chan jute.Zxid, 1)
	for i := 0; i < 50; i++ {
		_ = n.Propose(append(EntryBuffer(1), 1), func(z jute.Zxid, _ datatree.Result, _ error) {
			mu.Lock()
			proposed = z
			mu.Unlock()
		})
	}
	if err := n.Sync(func() { done <- n.Applied() }); err != nil {
		t.Fatal(err)
	}
	applied := <-done
	mu.Lock()
	defer mu.Unlock()
	if applied < proposed {
		t.Fatalf("sync fired at applied %v before proposal at %v", applied, proposed)
	}
}

func TestStopFailsLaterProposals(t *testing.T) {
	n, err := Start(DefaultConfig(), &recordingSM{})
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	if err := n.Propose(append(EntryBuffer(1), 1), func(jute.Zxid, datatree.Result, error) {}); err != ErrStopped {
		t.Fatalf("Propose after Stop = %v, want ErrStopped", err)
	}
	n.Stop() // idempotent
}
