package replica

import (
	"errors"
	"maps"
	"slices"

	"zkd/jute"
	"zkd/zoocfg"
)

// A server that is not yet a member of the ensemble asks the members, on a
// connection of its own (the peer transport's ask), to be known: JoinRequest
// names it, and each member records it (the leader adds it when a reconfig
// names its server id) and answers with its JoinView. A new server also asks
// before it starts, to decide whether to bootstrap a new ensemble or join a
// running one (see doc.go).
//
// A member that has had no leader for a while asks the same way, for the view
// only (the answering member records nothing): a member removed by a reconfig
// while it was down or cut off never gets the entry that removes it, and learns
// of it from a view whose newer configuration no longer names it (NoteView).
//
//	request: | version u8 (1) | myid i64 | raft id u64 | quorum address ustring |
//	         | version u8 (2) | myid i64 | raft id u64 | quorum address ustring | flags u8 |
//	view:    | version u8 (1) | status u8 | raft id u64 | leader u64 | config buffer |
//	         | count i32 | ( raft id u64 | quorum address ustring ) ... |
//
// A plain request keeps version 1, which every zkd reads; a member of a version
// without view-only requests refuses one, and the asker learns nothing from it.

// JoinRequest is a server asking to be known by the members.
type JoinRequest struct {
	MyID int64
	ID   uint64 // its raft id (a fresh incarnation)
	Addr string // its quorum address
	// ViewOnly asks for the member's view without being recorded as a server
	// that wants to join.
	ViewOnly bool
}

// JoinStatus is how a server answering a JoinRequest stands.
type JoinStatus uint8

const (
	// JoinMember: a running member; the view says what it knows.
	JoinMember JoinStatus = 1
	// JoinStarting: a server with state that is not yet running (replaying its
	// log); ask again.
	JoinStarting JoinStatus = 2
	// JoinFresh: a server with no state, still deciding, as the asker is.
	JoinFresh JoinStatus = 3
)

// JoinView is a member's answer to a JoinRequest.
type JoinView struct {
	Status JoinStatus
	ID     uint64 // the answering server's raft id
	Leader uint64 // the leader it follows (0: none known)
	// Config is its /zookeeper/config text.
	Config []byte
	// Members maps the raft id of every member it knows (itself included) to its
	// quorum address.
	Members map[uint64]string
}

var errBadJoin = errors.New("replica: malformed join message")

const (
	joinVersion = 1
	// joinFlagsVersion is the request's version with a flags byte at its end.
	joinFlagsVersion = 2
	joinViewOnly     = 1 // flag: ViewOnly
)

// Marshal encodes q.
func (q JoinRequest) Marshal() []byte {
	version := byte(joinVersion)
	if q.ViewOnly {
		version = joinFlagsVersion
	}
	b := []byte{version}
	b = jute.AppendLong(b, q.MyID)
	b = jute.AppendLong(b, int64(q.ID))
	b = jute.AppendString(b, q.Addr)
	if q.ViewOnly {
		b = append(b, joinViewOnly)
	}
	return b
}

// UnmarshalJoinRequest decodes what JoinRequest.Marshal wrote.
func UnmarshalJoinRequest(b []byte) (JoinRequest, error) {
	if len(b) == 0 || b[0] != joinVersion && b[0] != joinFlagsVersion {
		return JoinRequest{}, errBadJoin
	}
	d := jute.NewDecoder(b[1:])
	q := JoinRequest{MyID: d.Long(), ID: uint64(d.Long()), Addr: jute.Clone(d.String())}
	if b[0] == joinFlagsVersion {
		flags := d.Byte()
		q.ViewOnly = flags&joinViewOnly != 0
		if flags&^joinViewOnly != 0 {
			return JoinRequest{}, errBadJoin
		}
	}
	if d.Err() != nil || d.Remaining() != 0 || q.ID == 0 || ServerID(q.ID) != q.MyID {
		return JoinRequest{}, errBadJoin
	}
	return q, nil
}

// Marshal encodes v.
func (v JoinView) Marshal() []byte {
	b := []byte{joinVersion, byte(v.Status)}
	b = jute.AppendLong(b, int64(v.ID))
	b = jute.AppendLong(b, int64(v.Leader))
	b = jute.AppendBuffer(b, v.Config)
	b = jute.AppendInt(b, int32(len(v.Members)))
	for _, id := range slices.Sorted(maps.Keys(v.Members)) {
		b = jute.AppendLong(b, int64(id))
		b = jute.AppendString(b, v.Members[id])
	}
	return b
}

// UnmarshalJoinView decodes what JoinView.Marshal wrote.
func UnmarshalJoinView(b []byte) (JoinView, error) {
	if len(b) < 2 || b[0] != joinVersion {
		return JoinView{}, errBadJoin
	}
	v := JoinView{Status: JoinStatus(b[1])}
	d := jute.NewDecoder(b[2:])
	v.ID, v.Leader = uint64(d.Long()), uint64(d.Long())
	v.Config = slices.Clone(d.Buffer())
	n := d.Int()
	if n < 0 || int(n) > d.Remaining()/12 {
		return JoinView{}, errBadJoin
	}
	v.Members = make(map[uint64]string, n)
	for range n {
		id := uint64(d.Long())
		v.Members[id] = jute.Clone(d.String())
	}
	if d.Err() != nil || d.Remaining() != 0 || v.Status < JoinMember || v.Status > JoinFresh {
		return JoinView{}, errBadJoin
	}
	return v, nil
}

// MemberID returns the raft id the view knows for server id myid, if any.
func (v JoinView) MemberID(myid int64) (uint64, bool) {
	for id := range v.Members {
		if ServerID(id) == myid {
			return id, true
		}
	}
	return 0, false
}

// ConfigVersion returns the version of the view's /zookeeper/config (0 when it
// has none).
func (v JoinView) ConfigVersion() int64 {
	m, err := zoocfg.ParseMembership(string(v.Config))
	if err != nil {
		return 0
	}
	return m.Version
}

// joinFreshTicks is how long a join request counts as the server being up: a
// server that stopped asking may have stopped running, and adding it would only
// wait for it in vain.
const joinFreshTicks = 100

type joiner struct {
	id   uint64
	addr string
	tick uint64 // r.ticks when last heard
}

// HandleJoin records a server asking to join and returns this member's
// JoinView. The server transport's ask calls it on its own goroutine.
func (r *Replica) HandleJoin(req []byte) []byte {
	q, err := UnmarshalJoinRequest(req)
	if err != nil {
		r.log.Warn("ignoring a malformed join request", "err", err)
		return nil
	}
	if q.ViewOnly {
		return r.JoinView().Marshal()
	}
	c := &r.coord
	c.mu.Lock()
	prev, known := c.joiners[q.MyID]
	c.joiners[q.MyID] = joiner{id: q.ID, addr: q.Addr, tick: r.ticks.Load()}
	c.mu.Unlock()
	if !known || prev.id != q.ID || prev.addr != q.Addr {
		r.log.Info("a server asks to join the ensemble", "server", r.label(q.ID), "addr", q.Addr)
	}
	return r.JoinView().Marshal()
}

// JoinView returns what this member answers a server asking to join.
func (r *Replica) JoinView() JoinView {
	e := r.Ensemble()
	v := JoinView{Status: JoinMember, ID: r.cfg.ID, Leader: r.lead.Load(), Config: e.Config,
		Members: maps.Clone(e.Peers)}
	if v.Members == nil {
		v.Members = make(map[uint64]string)
	}
	if e.Self != "" {
		v.Members[r.cfg.ID] = e.Self
	}
	return v
}

// joinerOf returns the fresh join request of server id myid (REQUIRES c.mu).
func (c *coordinator) joinerOf(myid int64, now uint64) (joiner, bool) {
	j, ok := c.joiners[myid]
	if !ok || now > j.tick+joinFreshTicks {
		return joiner{}, false
	}
	return j, true
}

// NoteView takes in a member's view, asked for while this server has had no
// leader for a while (JoinRequest.ViewOnly). When the view holds a newer
// configuration that no longer names this server's raft id, the server was
// removed by a reconfig whose entry never reached it: it leaves the ensemble as
// if it had applied that entry (it stops serving and drops its clients). Raft
// ids are never reused, so a configuration that dropped this one never names
// it again. It reports whether the view removed this server.
func (r *Replica) NoteView(v JoinView) bool {
	e := r.Ensemble()
	if v.Status != JoinMember || !e.Member || len(e.Members.Servers) == 0 || len(v.Members) == 0 {
		return false
	}
	version := v.ConfigVersion()
	if _, named := v.Members[r.cfg.ID]; named || version <= e.Version {
		return false
	}
	if r.evicted.Swap(true) {
		return true
	}
	r.log.Warn("a member holds a newer configuration that does not name this server: it was removed from the ensemble",
		"member", r.label(v.ID), "config_version", "0x"+formatHex(version), "own_config_version", "0x"+formatHex(e.Version))
	r.enqueue(applyItem{call: r.updateEnsemble})
	return true
}
