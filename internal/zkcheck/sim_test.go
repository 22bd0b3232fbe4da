package zkcheck

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// simBug names a defect the simulated ensemble can have; "" is a correct one.
type simBug string

const (
	bugNone simBug = ""
	// bugStaleSync: sync returns without the server catching up with the leader.
	bugStaleSync simBug = "stale-sync"
	// bugMoveBack: a session reconnects to a server behind what it has seen.
	bugMoveBack simBug = "move-back"
	// bugEarlyAck: a write is answered before the session's server applied it.
	bugEarlyAck simBug = "early-ack"
	// bugLoseAcked: the leader forgets the last committed write at times (a new
	// leader without it), after the write was acknowledged.
	bugLoseAcked simBug = "lose-acked"
)

// simSession is one client session of the simulation.
type simSession struct {
	id       int   // model session number
	server   int   // the server it is connected to
	lastSeen int   // index into states of the newest state it has observed
	op       *Op   // running operation, nil when idle
	commit   int   // index of the running write's state once committed, -1 before
	syncAt   int   // for a sync read: index the server must reach, -1 before the sync
	giveUp   bool  // the running write will end Unknown
	done     bool  // the running op has its result; it returns at ret or later
	ret      int64 // earliest time the reply may go out
}

// simulate runs a small ZooKeeper-like ensemble in lock step and records what its
// clients see: one write order (states), servers that apply it with lag, sessions
// that read from their server, sync that catches a server up, writes that the
// client gives up on and that may land later or never. Without a bug every history
// it makes satisfies ZooKeeper's guarantees, by construction.
//
// One write in giveUp (0: none) ends unknown to its client.
func simulate(seed uint64, bug simBug, nOps, giveUp int) *History {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	const keys, servers, clients = 4, 3, 4
	states := []namespace{{}} // states[i]: the namespace after i writes
	applied := make([]int, servers)
	var limbo []Input // writes given up on that may still land
	sessions := make([]*simSession, clients)
	for c := range sessions {
		sessions[c] = &simSession{id: c, server: rng.IntN(servers), commit: -1, syncAt: -1}
	}
	nextSession := clients
	h := &History{Seed: int64(seed), Keys: keys}
	now := int64(0)
	writes := 0
	commitWrite := func(in Input) (Code, int32, int32) {
		next, code, ver, seq := apply(states[len(states)-1], in)
		states = append(states, next)
		return code, ver, seq
	}
	for len(h.Ops) < nOps {
		now++
		c := rng.IntN(clients)
		s := sessions[c]
		switch r := rng.IntN(10); {
		case r < 2: // a server catches up one write
			j := rng.IntN(servers)
			if applied[j] < len(states)-1 {
				applied[j]++
			}
			continue
		case r < 3 && len(limbo) > 0: // a write given up on lands, or is dropped
			i := rng.IntN(len(limbo))
			if rng.IntN(2) == 0 {
				commitWrite(limbo[i])
			}
			limbo = append(limbo[:i], limbo[i+1:]...)
			continue
		case r < 4 && bug == bugLoseAcked && len(states) > 2 && rng.IntN(8) == 0:
			// The newest write vanishes from every server.
			states = states[:len(states)-1]
			for j := range applied {
				applied[j] = min(applied[j], len(states)-1)
			}
			for _, o := range sessions {
				o.lastSeen = min(o.lastSeen, len(states)-1)
				o.commit = min(o.commit, len(states)-1)
				o.syncAt = min(o.syncAt, len(states)-1)
			}
			continue
		}
		if s.op == nil {
			if rng.IntN(10) == 0 { // reconnect elsewhere, or expire
				if rng.IntN(4) == 0 {
					s.id, s.lastSeen = nextSession, 0
					nextSession++
				}
				for try := 0; try < 5; try++ {
					j := rng.IntN(servers)
					if applied[j] >= s.lastSeen || bug == bugMoveBack {
						s.server = j
						break
					}
				}
				continue
			}
			in := simInput(rng, s.id, keys, &writes)
			s.op = &Op{Client: c, In: in, Call: now}
			s.commit, s.syncAt, s.done = -1, -1, false
			s.giveUp = in.Kind.IsWrite() && giveUp > 0 && rng.IntN(giveUp) == 0
			s.ret = now + int64(rng.IntN(5))
			continue
		}
		op := s.op
		srv := &applied[s.server]
		switch {
		case s.done:
		case s.giveUp:
			limbo = append(limbo, op.In)
			op.Out = Output{Unknown: true}
		case op.In.Kind == KindGet:
			n := states[*srv].nodes[op.In.Key]
			op.Out = readOutput(n)
			s.lastSeen = max(s.lastSeen, *srv)
		case op.In.Kind == KindSyncGet:
			if s.syncAt < 0 {
				s.syncAt = len(states) - 1
				if bug == bugStaleSync {
					s.syncAt = *srv
				}
				continue
			}
			if *srv < s.syncAt {
				*srv++ // sync makes the server catch up
				continue
			}
			op.Out = readOutput(states[*srv].nodes[op.In.Key])
			s.lastSeen = max(s.lastSeen, *srv)
		default: // writes
			if s.commit < 0 {
				code, ver, seq := commitWrite(op.In)
				s.commit = len(states) - 1
				op.Out = Output{Code: code, Version: ver, Seq: seq}
				continue
			}
			if *srv < s.commit && bug != bugEarlyAck {
				*srv++
				continue
			}
			if bug != bugEarlyAck {
				s.lastSeen = max(s.lastSeen, s.commit)
			}
		}
		s.done = true
		if now < s.ret {
			continue
		}
		op.Return = now
		h.Ops = append(h.Ops, *op)
		s.op = nil
	}
	// Writes still running have had their effect, or may have it: the history
	// must hold them, as unknown.
	for _, s := range sessions {
		if s.op != nil && s.op.In.Kind.IsWrite() {
			s.op.Out, s.op.Return = Output{Unknown: true}, now
			h.Ops = append(h.Ops, *s.op)
		}
	}
	sortByCall(h.Ops)
	return h
}

func readOutput(n znode) Output {
	if !n.exists {
		return Output{Code: CodeNoNode}
	}
	return Output{Code: CodeOK, Data: n.data, Version: n.version}
}

// simInput draws an operation as the recorder does, on few keys so that they
// collide.
func simInput(rng *rand.Rand, session, keys int, writes *int) Input {
	in := Input{Session: session, Key: rng.IntN(keys), Version: -1}
	in.Key2 = PairOf(in.Key, keys)
	data := func() string { *writes++; return fmt.Sprintf("w%d", *writes) }
	switch r := rng.IntN(20); {
	case r < 6:
		in.Kind = KindGet
	case r < 8:
		in.Kind = KindSyncGet
	case r < 10:
		in.Kind, in.Data = KindCreate, data()
	case r < 11:
		in.Kind, in.Data = KindCreateSeq, data()
	case r < 15:
		in.Kind, in.Data, in.Version = KindSet, data(), int32(rng.IntN(4))-1
	case r < 17:
		in.Kind, in.Version = KindDelete, int32(rng.IntN(3))-1
	default:
		in.Kind, in.Data, in.Version = KindMulti, data(), int32(rng.IntN(3))
	}
	return in
}

// TestCheckAcceptsSimulatedZooKeeper is the no-false-alarm property: histories of a
// simulated ensemble that keeps every guarantee, with stale reads, lagging servers,
// reconnects, expiries and writes of unknown outcome, all pass. The checks run
// without a time limit; the whole-history check gets histories with few unknown
// outcomes, as its search grows with them.
func TestCheckAcceptsSimulatedZooKeeper(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		h := simulate(seed, bugNone, 600, 10)
		if err := h.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if got := CheckPairs(h, 0); got != porcupine.Ok {
			t.Errorf("seed %d: CheckPairs = %v on a correct simulated ensemble", seed, got)
			logShrunk(t, h)
		}
		h = simulate(seed, bugNone, 300, 100)
		if got := CheckWhole(h, 0); got != porcupine.Ok {
			t.Errorf("seed %d: CheckWhole = %v on a correct simulated ensemble", seed, got)
			logShrunk(t, h)
		}
	}
}

func logShrunk(t *testing.T, h *History) {
	t.Helper()
	s := Shrink(h, 10*time.Second, 20*time.Second)
	for _, op := range s.Ops {
		t.Logf("  [%d,%d] %v", op.Call, op.Return, op)
	}
}

// TestCheckCatchesSimulatedBugs is the non-vacuity property: an ensemble with one
// defect makes histories the checker rejects. Not every history shows a defect
// (a stale sync needs a lagging server and a later read of a key written
// meanwhile, say), so each must show in a quarter of the seeds at least. The
// per-pair check alone is enough; it finds a violation fast, while proving there
// is none in a whole illegal history may take the whole-history search long.
func TestCheckCatchesSimulatedBugs(t *testing.T) {
	const seeds = 20
	for _, bug := range []simBug{bugStaleSync, bugMoveBack, bugEarlyAck, bugLoseAcked} {
		t.Run(string(bug), func(t *testing.T) {
			caught := 0
			for seed := uint64(1); seed <= seeds; seed++ {
				if CheckPairs(simulate(seed, bug, 400, 0), 2*time.Minute) == porcupine.Illegal {
					caught++
				}
			}
			t.Logf("%s: %d of %d histories rejected", bug, caught, seeds)
			if caught < seeds/4 {
				t.Errorf("%s: only %d of %d histories rejected", bug, caught, seeds)
			}
		})
	}
}
