package zkcheck

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"zkd/internal/testutil"
)

var (
	chaos          = flag.Bool("chaos", false, "run the chaos campaign (make chaos)")
	chaosCluster   = flag.String("cluster", "zookeeper", "chaos: the kind of ensemble: zookeeper or zkd")
	chaosZkd       = flag.String("zkd", "", "chaos: the zkd binary for -cluster=zkd (default: built from the module)")
	chaosSeeds     = flag.Int("seeds", 10, "chaos: histories to record, one per seed")
	chaosFirst     = flag.Int64("first-seed", 1, "chaos: the first seed; seeds run first-seed, first-seed+1, ...")
	chaosDuration  = flag.Duration("duration", time.Minute, "chaos: how long each history records under faults")
	chaosClients   = flag.Int("clients", 5, "chaos: concurrent clients")
	chaosServers   = flag.Int("servers", 3, "chaos: servers in the ensemble, observers included")
	chaosObservers = flag.Int("observers", 0, "chaos: how many of the servers are observers")
	chaosNetworks  = flag.Int("networks", 1, "chaos: networks joining the servers (more than 1: multiAddress server lines, and a network goes down among the faults)")
	chaosOut       = flag.String("out", "", "chaos: directory for violating histories (default: a temporary one, kept)")
)

// TestChaos is the long seeded campaign of `make chaos`: one ensemble of the chosen
// kind, and for each seed a fresh history recorded while a seeded nemesis kills,
// pauses, isolates, slows and half-cuts servers, then a read-back once the
// ensemble has recovered, then the check. It prints one line per history and a
// summary; every violation is shrunk and dumped (JSON and porcupine's HTML) with
// its seed. Without -chaos it is skipped: the bounded run of every `go test` is
// TestZooKeeperEnsembleHistoryUnderFaults.
func TestChaos(t *testing.T) {
	if !*chaos {
		t.Skip("the chaos campaign runs with -chaos (make chaos)")
	}
	var kind ServerKind
	switch *chaosCluster {
	case "zookeeper":
		kind = ZooKeeper(t)
	case "zkd":
		bin := *chaosZkd
		if bin == "" {
			bin = testutil.BuildZkd(t)
		}
		kind = Zkd(bin)
	default:
		t.Fatalf("-cluster=%q: want zookeeper or zkd", *chaosCluster)
	}
	out := *chaosOut
	if out == "" {
		var err error
		if out, err = os.MkdirTemp("", "zkcheck-chaos-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	say := func(format string, args ...any) { fmt.Fprintf(os.Stdout, "chaos: "+format+"\n", args...) }

	e := StartEnsemble(t, EnsembleConfig{Kind: kind, Size: *chaosServers, Observers: *chaosObservers, Networks: *chaosNetworks})
	say("cluster=%s observers=%d networks=%d servers=%s out=%s seeds=%d..%d duration=%v", kind.Name(), *chaosObservers,
		e.Networks(), e.ConnectString(), out,
		*chaosFirst, *chaosFirst+int64(*chaosSeeds)-1, *chaosDuration)
	var histories, ops, faults, violations, unchecked int
	for seed := *chaosFirst; seed < *chaosFirst+int64(*chaosSeeds); seed++ {
		if err := e.Recover(2 * time.Minute); err != nil {
			t.Fatalf("seed %d: the ensemble did not recover: %v", seed, err)
		}
		r, err := NewRecorder(RecorderConfig{Servers: strings.Split(e.ConnectString(), ","), Seed: seed,
			Clients: *chaosClients, Duration: *chaosDuration, MaxOps: 500_000})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		n := NewNemesis(e, r.Start())
		ctx, cancel := context.WithTimeout(context.Background(), *chaosDuration)
		done := make(chan struct{})
		go func() { defer close(done); n.Random(ctx, RandomConfig{Seed: seed}) }()
		r.Run(ctx)
		cancel()
		<-done
		if err := e.Recover(2 * time.Minute); err != nil {
			r.Close()
			t.Fatalf("seed %d: the ensemble did not recover: %v; faults: %q", seed, err, n.Log())
		}
		r.ReadBack()
		r.Close()
		reportAbandoned(t, kind, r.Abandoned())
		h := r.History()
		h.Faults = n.Log()
		nops, writes, unknown := h.Count()
		histories++
		ops += nops
		faults += n.Faults()
		v, judged, excused, err := Judge(h, kind, 2*time.Minute)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		say("seed=%d ops=%d writes=%d unknown=%d sessions=%d faults=%d pairs=%v whole=%v stale-sync-excused=%v",
			seed, nops, writes, unknown, h.Sessions(), n.Faults(), v.Pairs, v.Whole, excused)
		if v.Whole == porcupine.Unknown || v.Pairs == porcupine.Unknown {
			unchecked++
		}
		if v.Result() != porcupine.Illegal {
			continue
		}
		violations++
		full := filepath.Join(out, fmt.Sprintf("history-%s-seed%d.json", kind.Name(), seed))
		if err := h.Save(full); err != nil {
			t.Error(err)
		}
		s := Shrink(judged, time.Minute, 5*time.Minute)
		jp, hp, err := Dump(s, out, fmt.Sprintf("violation-%s-seed%d", kind.Name(), seed), 5*time.Minute)
		if err != nil {
			t.Error(err)
		}
		say("VIOLATION seed=%d: shrunk to %d of %d ops: %s %s (whole history %s); servers that said they diverged: %q",
			seed, len(s.Ops), nops, jp, hp, full, e.Diverged())
		t.Errorf("seed %d: %s ensemble violates ZooKeeper's guarantees; see %s", seed, kind.Name(), hp)
	}
	say("cluster=%s histories=%d operations=%d faults=%d violations=%d not-fully-checked=%d",
		kind.Name(), histories, ops, faults, violations, unchecked)
}
