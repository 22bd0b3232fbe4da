package replica

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"zkd/datatree"
	"zkd/jute"
)

// Tick runs the replica's periodic work; the server calls it every raft tick (a
// manual clock in tests). It gathers client activity and hands it to the leader
// (or, on the leader, to the tracker), expires sessions, reaps containers and TTL
// nodes, purges old snapshots, times out reconnect waits, and notices a long
// time without a leader.
func (r *Replica) Tick() {
	if r.stopped.Load() {
		return
	}
	r.ticker.Lock()
	defer r.ticker.Unlock()
	now := r.cfg.Clock.Now()
	r.applyWaiters.expire(now, ErrTimeout)
	r.waiters.expire(r.ticks.Add(1), ErrTimeout)

	lead := r.lead.Load()
	if lead == 0 {
		r.ticker.leaderless++
		switch {
		case r.cfg.ReadOnlyMode && !r.cfg.Standalone && r.ticker.leaderless >= r.cfg.ReadOnlyAfterTicks && !r.readOnly.Load():
			// ZooKeeper's follower shuts its server down and starts a read-only
			// one: its clients reconnect, and those that asked for read-only stay.
			r.readOnly.Store(true)
			r.ticker.lostSent = true
			r.log.Warn("no quorum: serving read-only clients only", "ticks", r.ticker.leaderless)
			if l := r.listen(); l != nil {
				l.DisconnectClients("no quorum: read-only mode")
			}
		case r.cfg.LeaderlessTicks > 0 && r.ticker.leaderless >= r.cfg.LeaderlessTicks && !r.ticker.lostSent:
			r.ticker.lostSent = true
			r.log.Warn("no leader for too long: closing client connections so that clients move to another server",
				"ticks", r.ticker.leaderless)
			if l := r.listen(); l != nil {
				l.DisconnectClients("no leader")
			}
		}
	} else {
		r.ticker.leaderless, r.ticker.lostSent = 0, false
		if r.readOnly.Swap(false) {
			// Read-only sessions end so that their clients reconnect read-write.
			r.log.Info("quorum regained: leaving read-only mode", "leader", r.label(lead))
			if l := r.listen(); l != nil {
				l.DisconnectClients("quorum regained: read-only sessions end")
			}
		}
	}

	switch refuses := r.RefusesClients(); {
	case refuses && !r.ticker.leadingSent:
		r.ticker.leadingSent = true
		if l := r.listen(); l != nil {
			l.DisconnectClients("leading with leaderServes=no: clients move to the other servers")
		}
	case !refuses:
		r.ticker.leadingSent = false
	}
	if l := r.listen(); l != nil {
		r.ticker.touched = l.CollectTouched(r.ticker.touched[:0])
	}
	if len(r.ticker.touched) > 0 {
		r.locals.touch(r.ticker.touched, now)
		switch {
		case lead == r.cfg.ID:
			r.tracker.touch(r.ticker.touched, now)
		case lead != 0 && r.cfg.Peers != nil:
			r.cfg.Peers.SendApp(lead, encodeTouch(r.ticker.touched))
		}
		clear(r.ticker.touched)
	}
	for _, e := range r.locals.expired(now) {
		r.locals.remove(e.id)
		r.log.Info(fmt.Sprintf("Expiring local session %s, timeout of %dms exceeded", e.id, e.timeout.Milliseconds()),
			"sessionid", e.id)
		if l := r.listen(); l != nil {
			l.LocalSessionExpired(e.id)
		}
	}
	if r.removed.Swap(false) {
		// A tick after the change, so that the reconfig's own answer has gone out.
		if l := r.listen(); l != nil {
			l.DisconnectClients("removed from the ensemble")
		}
	}
	if r.cfg.PurgeInterval > 0 && now.Sub(r.ticker.lastPurge) >= r.cfg.PurgeInterval {
		r.ticker.lastPurge = now
		r.purge()
	}
	if lead != r.cfg.ID {
		clear(r.ticker.behind)
		return
	}
	r.tickReconfig(r.tracker.isArmed()) // first: it notes whom raft heard from
	r.watchFollowers()
	for _, e := range r.tracker.expired(now) {
		r.expire(e)
	}
	if now.Sub(r.ticker.lastReap) >= r.cfg.ContainerCheckInterval {
		r.ticker.lastReap = now
		r.reap(now)
	}
}

// behindEntries is how far a follower's log may trail the commit index before
// the leader says so in its log.
const behindEntries = 10000

// watchFollowers logs, on the leader, every follower that starts or stops
// trailing the log or answering (ZooKeeper's leader logs its learners likewise).
// A follower is silent once the leader has not heard from it for an election
// timeout (coord.heard, or since it became leader): raft clears every
// follower's RecentActive at each quorum check, so a look at that flag alone
// just after one called every follower silent, every two seconds.
func (r *Replica) watchFollowers() {
	st := r.node.Status()
	if r.ticker.behind == nil {
		r.ticker.behind = make(map[uint64]string)
	}
	now, leading := r.ticks.Load(), r.leaderTick.Load()
	r.coord.mu.Lock()
	defer r.coord.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(st.Progress)) {
		if id == r.cfg.ID {
			continue
		}
		pr := st.Progress[id]
		state := ""
		switch {
		case now > max(r.coord.heard[id], leading)+uint64(r.cfg.Quorum.ElectionTicks):
			state = "not responding"
		case pr.Match+behindEntries < st.Commit:
			state = "behind"
		}
		if prev := r.ticker.behind[id]; state != prev {
			if state == "" {
				r.log.Info("follower caught up", "member", r.label(id), "match", pr.Match, "commit", st.Commit)
			} else {
				r.log.Warn("follower "+state, "member", r.label(id), "match", pr.Match, "commit", st.Commit)
			}
			r.ticker.behind[id] = state
		}
	}
	for id := range r.ticker.behind {
		if _, ok := st.Progress[id]; !ok {
			delete(r.ticker.behind, id) // no longer a member
		}
	}
}

func (r *Replica) expire(e expiry) {
	r.stats.expired.Add(1)
	r.log.Info(fmt.Sprintf("Expiring session %s, timeout of %dms exceeded", e.id, e.timeout.Milliseconds()),
		"sessionid", e.id)
	txn := datatree.Txn{Kind: datatree.KindCloseSession, Session: e.id, Time: r.cfg.Clock.Now().UnixMilli()}
	r.proposeServer(&txn, func(error) { r.tracker.retry(e.id) })
}

// reap proposes the deletion of empty containers and expired TTL nodes, as
// ZooKeeper's ContainerManager does, at most ContainerMaxPerMinute per minute.
func (r *Replica) reap(now time.Time) {
	perRun := max(1, int(float64(r.cfg.ContainerMaxPerMinute)*r.cfg.ContainerCheckInterval.Minutes()))
	ms := now.UnixMilli()
	// Seconds, rounded up: a container is never reaped sooner than asked.
	neverUsed := int32(min((r.cfg.ContainerMaxNeverUsed+time.Second-1)/time.Second, math.MaxInt32))
	for _, p := range r.Tree().ReapCandidates(ms, neverUsed, perRun) {
		txn := datatree.Txn{Kind: datatree.KindReap, Time: ms, Timeout: neverUsed, Body: []byte(p)}
		r.proposeServer(&txn, nil)
	}
}

// Replica messages between members (Peers), after a one-byte type:
//
//	msgForward: | entry ... |                          follower -> leader
//	msgDropped: | seq u64 |                            leader -> origin
//	msgTouch:   | count u32 | session id u64 ... |     member -> leader
const (
	msgForward byte = 1
	msgDropped byte = 2
	msgTouch   byte = 3
)

func encodeTouch(ids []jute.SessionID) []byte {
	b := make([]byte, 0, 5+8*len(ids))
	b = append(b, msgTouch)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
	}
	return b
}

// forward sends a client's entry to the leader.
func (r *Replica) forward(lead uint64, entry []byte) bool {
	if r.cfg.Peers == nil {
		return false
	}
	msg := make([]byte, 1+len(entry))
	msg[0] = msgForward
	copy(msg[1:], entry)
	return r.cfg.Peers.SendApp(lead, msg)
}

// HandleApp handles a replica message from member from. msg is the caller's
// until HandleApp returns.
func (r *Replica) HandleApp(from uint64, msg []byte) {
	if len(msg) == 0 || r.stopped.Load() {
		return
	}
	switch msg[0] {
	case msgForward:
		entry := append([]byte(nil), msg[1:]...)
		origin, seq, ok := entryOrigin(entry)
		if !ok {
			r.log.Warn("dropping a malformed forwarded entry", "from", from)
			return
		}
		conn := entryConn(entry)
		nack := func(error) {
			r.poison(conn)
			if r.cfg.Peers != nil {
				r.cfg.Peers.SendApp(origin, binary.BigEndian.AppendUint64([]byte{msgDropped}, seq))
			}
		}
		if !r.IsLeader() || r.isPoisoned(conn) {
			nack(ErrNoLeader)
			return
		}
		stampTime(entry, r.cfg.Clock.Now().UnixMilli())
		if r.intercept(entry, nack) {
			return
		}
		r.stats.proposed(len(entry))
		if err := r.node.Propose(entry, nack); err != nil {
			nack(err)
		}
	case msgDropped:
		if len(msg) == 9 {
			r.waiters.fail(binary.BigEndian.Uint64(msg[1:]), ErrDropped)
		}
	case msgTouch:
		if len(msg) < 5 {
			return
		}
		n := binary.BigEndian.Uint32(msg[1:])
		if uint64(n)*8 != uint64(len(msg)-5) {
			return
		}
		ids := make([]jute.SessionID, n)
		for i := range ids {
			ids[i] = jute.SessionID(binary.BigEndian.Uint64(msg[5+8*i:]))
		}
		r.tracker.touch(ids, r.cfg.Clock.Now())
	}
}
