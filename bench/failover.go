package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"zkd/jute"
)

// runFailover measures an ensemble's leader failover under a write load: one
// writer per server, each a loop of setData (one in flight) that on any failure
// reconnects to the next server of the connect string with a new session. After
// the warm-up the leader (srvr "Mode: leader") is killed with SIGKILL; failover_s
// is the time from the kill to the first acknowledged write sent after it, and
// new_leader_s the time until a surviving server reports Mode: leader. The killed
// server is started again and the run ends once the ensemble is whole, so the next
// run finds it as this one did.
func runFailover(ctx context.Context, e *env) (*Result, error) {
	cfg := e.cfg
	ctl := cfg.Control
	if ctl == nil {
		return nil, fmt.Errorf("%w: failover kills the leader; zkd bench compare -ensemble 3 starts its own ensemble", ErrNoControl)
	}
	n := len(e.addrs)
	if n < 3 {
		return nil, fmt.Errorf("bench: failover needs an ensemble of at least 3 servers, the connect string has %d", n)
	}
	W, err := e.sessionCount("failover writers (one per server)", n, n, 0)
	if err != nil {
		return nil, err
	}
	leader, err := waitEnsemble(ctx, e.addrs, 60*time.Second)
	if err != nil {
		return nil, err
	}
	paths := make([]string, W)
	for i := range paths {
		paths[i] = e.root + "/fw" + strconv.Itoa(i)
	}
	c, err := e.dial(ctx, nil)
	if err != nil {
		return nil, err
	}
	err = createAll(ctx, c, paths, nil)
	c.Close()
	if err != nil {
		return nil, err
	}
	if err := e.barrier(ctx); err != nil {
		return nil, err
	}

	const (
		kSet = iota
		kFirst
	)
	k := kinds("setData", "first write after the kill").event("first write after the kill")
	res := &Result{Mode: "scenario", Clients: W}
	start := now()
	measureStart := start + int64(max(cfg.Warmup, 500*time.Millisecond))
	var killAt, firstAck atomic.Int64 // now(); 0 until set
	var stop atomic.Bool
	recs := make([]*recorder, W)
	for i := range recs {
		recs[i] = newRecorder(len(k.names), measureStart)
	}
	e.setLive(measureStart, 0, k, recs)
	data := payload(treeDataSize)

	var mu sync.Mutex
	conns := make([]*Conn, W) // guarded by mu: the writers' current sessions
	var wg sync.WaitGroup
	for i := range W {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := recs[i]
			next := i
			var conn *Conn
			defer func() {
				if conn != nil {
					conn.Abandon()
				}
			}()
			req := jute.SetDataRequest{Path: paths[i], Data: data, Version: -1}
			for !stop.Load() && ctx.Err() == nil {
				if conn == nil {
					c, err := Dial(ctx, e.addrOf(next), DialOptions{SessionTimeout: cfg.SessionTimeout, ConnectTimeout: time.Second, TLS: cfg.TLS})
					next++
					if err != nil {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					conn = c
					mu.Lock()
					conns[i] = c
					mu.Unlock()
				}
				sent := now()
				measured := sent >= measureStart
				// A server that keeps the connection but cannot commit (a follower
				// without a leader) is left after the client's read timeout, two
				// thirds of the session timeout, as ZooKeeper's clients do.
				dctx, cancel := context.WithTimeout(ctx, max(cfg.SessionTimeout*2/3, time.Second))
				r, err := conn.Do(dctx, jute.OpSetData, &req)
				cancel()
				code := r.Err
				if err != nil {
					code = jute.CodeConnectionLoss
				}
				rec.mu.Lock()
				if measured {
					rec.issuedLocked(kSet)
					rec.doneLocked(kSet, code, r.Done-sent, r.Done)
				} else {
					rec.seenLocked()
				}
				rec.mu.Unlock()
				if code == jute.CodeOK {
					if ka := killAt.Load(); ka != 0 && sent > ka {
						for {
							f := firstAck.Load()
							if (f != 0 && f <= r.Done) || firstAck.CompareAndSwap(f, r.Done) {
								break
							}
						}
					}
					continue
				}
				conn.Abandon() // any failure: move to the next server with a new session
				conn = nil
			}
		}()
	}

	sleepUntil(ctx, measureStart)
	var win window
	win.begin(e.pids())
	others := make([]string, 0, n-1)
	for _, a := range e.addrs {
		if a != leader {
			others = append(others, a)
		}
	}
	killAt.Store(now())
	killErr := ctl.Kill(leader)
	newLeader, newLeaderAt := "", int64(0)
	limit := time.Now().Add(60 * time.Second)
	for time.Now().Before(limit) && ctx.Err() == nil && killErr == nil {
		if newLeader == "" {
			for _, a := range others {
				if ServerMode(ctx, a) == ModeLeader {
					newLeader, newLeaderAt = a, now()
					break
				}
			}
		}
		if firstAck.Load() != 0 && newLeader != "" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A little load after the first write shows the writers settling again.
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	if !waitTimeout(&wg, 10*time.Second) {
		mu.Lock()
		for _, c := range conns {
			if c != nil {
				c.Abandon()
			}
		}
		mu.Unlock()
		wg.Wait()
	}
	end := now()
	win.end(res)

	ka := killAt.Load()
	res.Metrics = map[string]float64{"servers": float64(n), "failover_s": -1, "new_leader_s": -1}
	if f := firstAck.Load(); f != 0 {
		recs[0].event(kFirst, f-ka)
		res.Metrics["failover_s"] = float64(f-ka) / 1e9
	} else if killErr == nil {
		res.Problems = append(res.Problems, "no write acknowledged within 60s of killing the leader")
	}
	if newLeaderAt != 0 {
		res.Metrics["new_leader_s"] = float64(newLeaderAt-ka) / 1e9
	}
	merge(res, k, recs...)
	res.ElapsedSec = float64(end-measureStart) / 1e9
	res.WarmupSec = float64(measureStart-start) / 1e9
	res.Notes = append(res.Notes, fmt.Sprintf("leader %s killed with SIGKILL; new leader %s", leader, orDash(newLeader)))
	checkAccounting(res)

	// Bring the killed server back and wait for the whole ensemble.
	if err := ctl.Start(ctx, leader); err != nil {
		return nil, errors.Join(killErr, fmt.Errorf("restart %s: %w", leader, err))
	}
	if _, err := waitEnsemble(ctx, e.addrs, 120*time.Second); err != nil {
		return nil, errors.Join(killErr, fmt.Errorf("after the failover: %w", err))
	}
	if killErr != nil {
		return nil, fmt.Errorf("kill the leader %s: %w", leader, killErr)
	}
	return res, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// waitEnsemble polls srvr on every server until exactly one reports Mode: leader
// and all others follower or observer, and returns the leader.
func waitEnsemble(ctx context.Context, addrs []string, d time.Duration) (string, error) {
	limit := time.Now().Add(d)
	var ms []string
	for {
		ms = modes(ctx, addrs)
		leader, ok := "", true
		for i, m := range ms {
			switch m {
			case ModeLeader:
				if leader != "" {
					ok = false
				}
				leader = addrs[i]
			case ModeFollower, ModeObserver:
			default:
				ok = false
			}
		}
		if ok && leader != "" {
			return leader, nil
		}
		standalone := 0
		for _, m := range ms {
			if m == ModeStandalone {
				standalone++
			}
		}
		if standalone == len(addrs) {
			return "", fmt.Errorf("bench: every server of %v reports Mode: standalone: they did not form an ensemble from their server.N lines", addrs)
		}
		if time.Now().After(limit) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return "", fmt.Errorf("bench: no whole ensemble (one leader, the rest following) within %v; srvr modes: %v", d, quoteModes(ms))
}
