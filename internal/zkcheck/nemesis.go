package zkcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Nemesis injects faults into a Cluster and logs each with its time, measured from
// the same zero as the history it disturbs (Recorder.Start). Safe for concurrent use.
type Nemesis struct {
	c     Cluster
	start time.Time

	mu struct {
		sync.Mutex
		log    []string
		faults int
	}
}

// NewNemesis returns a nemesis for c whose log times count from start.
func NewNemesis(c Cluster, start time.Time) *Nemesis {
	return &Nemesis{c: c, start: start}
}

// Log returns the faults injected so far, one line each.
func (n *Nemesis) Log() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.mu.log...)
}

// Faults returns how many faults were injected (undoing one is not counted).
func (n *Nemesis) Faults() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.faults
}

// note logs one action; fault says whether it injects a fault or undoes one.
func (n *Nemesis) note(fault bool, err error, format string, args ...any) error {
	line := fmt.Sprintf("t=%.3fs ", time.Since(n.start).Seconds()) + fmt.Sprintf(format, args...)
	if err != nil {
		line += ": " + err.Error()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.log = append(n.mu.log, line)
	if fault && err == nil {
		n.mu.faults++
	}
	return err
}

// leaderOr returns the leader, or a server drawn from rng when none leads.
func (n *Nemesis) leaderOr(rng *rand.Rand) int {
	if id, err := n.c.Leader(); err == nil {
		return id
	}
	return 1 + rng.IntN(n.c.Size())
}

// followerOf returns a server other than leader, drawn from rng.
func (n *Nemesis) followerOf(leader int, rng *rand.Rand) int {
	id := 1 + rng.IntN(n.c.Size()-1)
	if id >= leader {
		id++
	}
	return id
}

// Kill kills server id (kill -9).
func (n *Nemesis) Kill(id int) error { return n.note(true, n.c.Kill(id), "kill -9 server %d", id) }

// Restart restarts killed server id.
func (n *Nemesis) Restart(id int) error {
	return n.note(false, n.c.Restart(id), "restart server %d", id)
}

// Pause stops server id with SIGSTOP.
func (n *Nemesis) Pause(id int) error { return n.note(true, n.c.Pause(id), "SIGSTOP server %d", id) }

// Resume continues server id with SIGCONT.
func (n *Nemesis) Resume(id int) error {
	return n.note(false, n.c.Resume(id), "SIGCONT server %d", id)
}

// Isolate cuts server id off from every other server.
func (n *Nemesis) Isolate(id int) error {
	var rest []int
	for i := 1; i <= n.c.Size(); i++ {
		if i != id {
			rest = append(rest, i)
		}
	}
	return n.note(true, n.c.Partition([]int{id}, rest), "isolate server %d from %v", id, rest)
}

// DropFrom drops everything server id sends to the others (it still hears them).
func (n *Nemesis) DropFrom(id int) error {
	var err error
	for i := 1; i <= n.c.Size(); i++ {
		if i != id {
			err = errors.Join(err, n.c.DropLink(id, i))
		}
	}
	return n.note(true, err, "drop traffic from server %d", id)
}

// DropTo drops everything the others send to server id (it is still heard).
func (n *Nemesis) DropTo(id int) error {
	var err error
	for i := 1; i <= n.c.Size(); i++ {
		if i != id {
			err = errors.Join(err, n.c.DropLink(i, id))
		}
	}
	return n.note(true, err, "drop traffic to server %d", id)
}

// Slow delays every link from and to server id by d.
func (n *Nemesis) Slow(id int, d time.Duration) error {
	var err error
	for i := 1; i <= n.c.Size(); i++ {
		if i != id {
			err = errors.Join(err, n.c.DelayLink(id, i, d), n.c.DelayLink(i, id, d))
		}
	}
	return n.note(true, err, "delay links of server %d by %v", id, d)
}

// networked is a Cluster whose servers are joined by several networks.
type networked interface {
	Networks() int
	DownNetwork(k int) error
}

// networks returns how many networks join the cluster's servers.
func (n *Nemesis) networks() int {
	if nc, ok := n.c.(networked); ok {
		return nc.Networks()
	}
	return 1
}

// DownNetwork cuts network k on every link; the others still join the servers.
func (n *Nemesis) DownNetwork(k int) error {
	nc, ok := n.c.(networked)
	if !ok {
		return n.note(true, fmt.Errorf("%w: one network only", ErrServerState), "take network %d down", k)
	}
	return n.note(true, nc.DownNetwork(k), "take network %d down", k)
}

// Heal ends every network fault.
func (n *Nemesis) Heal() error { return n.note(false, n.c.Heal(), "heal the network") }

// RandomConfig shapes Nemesis.Random.
type RandomConfig struct {
	Seed int64
	// Hold is how long a fault lasts, drawn from [Hold/2, Hold); Gap how long the
	// cluster runs clean between faults, from [Gap/2, Gap). Defaults 4 s and 3 s.
	Hold, Gap time.Duration
}

// Random injects seeded random faults, one at a time, until ctx ends, and undoes
// the one in force before it returns: kill -9 and restart, SIGSTOP and SIGCONT,
// isolation, one-way drops and slow links, each aimed at the leader or at a
// follower, and, where several networks join the servers, one network down.
// The seed fixes the plan (which fault, which role, how long); what the
// cluster does meanwhile is its own.
func (n *Nemesis) Random(ctx context.Context, cfg RandomConfig) {
	if cfg.Hold == 0 {
		cfg.Hold = 4 * time.Second
	}
	if cfg.Gap == 0 {
		cfg.Gap = 3 * time.Second
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6e656d))
	between := func(d time.Duration) time.Duration { return d/2 + time.Duration(rng.Int64N(int64(d/2)+1)) }
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for sleep(between(cfg.Gap)) {
		leader := n.leaderOr(rng)
		target := leader
		if rng.IntN(2) == 0 {
			target = n.followerOf(leader, rng)
		}
		hold := between(cfg.Hold)
		var undo func() error
		kinds := 6
		if n.networks() > 1 {
			kinds++ // drawn only then, so that one network's plans stay as they were
		}
		switch rng.IntN(kinds) {
		case 0:
			if n.Kill(target) == nil {
				undo = func() error { return n.Restart(target) }
			}
		case 1:
			if n.Pause(target) == nil {
				undo = func() error { return n.Resume(target) }
			}
		case 2:
			_ = n.Isolate(target)
			undo = n.Heal
		case 3:
			_ = n.DropFrom(target)
			undo = n.Heal
		case 4:
			_ = n.DropTo(target)
			undo = n.Heal
		case 5:
			_ = n.Slow(target, time.Duration(50+rng.IntN(450))*time.Millisecond)
			undo = n.Heal
		case 6:
			_ = n.DownNetwork(rng.IntN(n.networks()))
			undo = n.Heal
		}
		sleep(hold)
		if undo != nil {
			_ = undo()
		}
	}
}
