package replica

import (
	"slices"
	"sync"
	"time"

	"zkd/jute"
)

// tracker is the leader's session expiry: a deadline per live session, pushed
// back by its client's activity (here or, through touch batches, on any member).
// Only an armed tracker expires anything, and only the leader arms it.
type tracker struct {
	mu       sync.Mutex
	armed    bool                               // guarded by mu
	sessions map[jute.SessionID]*trackedSession // guarded by mu; empty unless armed
}

type trackedSession struct {
	timeout  time.Duration
	deadline time.Time
	closing  bool // a closeSession is proposed; not expired twice
}

func (t *tracker) init() { t.sessions = make(map[jute.SessionID]*trackedSession) }

// promote arms the tracker with every session of the tree, each with a full
// timeout from now.
func (t *tracker) promote(sessions map[jute.SessionID]int32, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armed = true
	clear(t.sessions)
	for id, ms := range sessions {
		d := time.Duration(ms) * time.Millisecond
		t.sessions[id] = &trackedSession{timeout: d, deadline: now.Add(d)}
	}
}

func (t *tracker) demote() {
	t.mu.Lock()
	t.armed = false
	clear(t.sessions)
	t.mu.Unlock()
}

func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sessions)
}

// touchOne records a session created or attached, with its timeout.
func (t *tracker) touchOne(id jute.SessionID, timeoutMs int32, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.armed {
		return
	}
	d := time.Duration(timeoutMs) * time.Millisecond
	t.sessions[id] = &trackedSession{timeout: d, deadline: now.Add(d)}
}

// touch pushes back the deadlines of sessions heard from.
func (t *tracker) touch(ids []jute.SessionID, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.armed {
		return
	}
	for _, id := range ids {
		if s := t.sessions[id]; s != nil && !s.closing {
			s.deadline = now.Add(s.timeout)
		}
	}
}

func (t *tracker) remove(id jute.SessionID) {
	t.mu.Lock()
	delete(t.sessions, id)
	t.mu.Unlock()
}

// expired marks and returns the sessions past their deadline, in id order.
func (t *tracker) expired(now time.Time) []expiry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.armed {
		return nil
	}
	var out []expiry
	for id, s := range t.sessions {
		if !s.closing && now.After(s.deadline) {
			s.closing = true
			out = append(out, expiry{id: id, timeout: s.timeout})
		}
	}
	slices.SortFunc(out, func(a, b expiry) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return out
}

// retry unmarks a session whose closeSession was dropped, so it expires again.
func (t *tracker) retry(id jute.SessionID) {
	t.mu.Lock()
	if s := t.sessions[id]; s != nil {
		s.closing = false
	}
	t.mu.Unlock()
}

type expiry struct {
	id      jute.SessionID
	timeout time.Duration
}

// isArmed reports whether the tracker runs: this member leads and has applied an
// entry of its own term, so everything committed before it is applied here.
func (t *tracker) isArmed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.armed
}
