// Package replica is zkd's replicated ZooKeeper state machine: it sits between
// the session layer and the raft loop, and owns what makes a log of entries into
// a ZooKeeper server that any member of an ensemble can run.
//
//	session --Propose/Sync/Touch--> replica --Propose/ReadIndex--> quorum (raft loop)
//	   ^                              |  ^                              |
//	   +-- Listener (closed sessions, |  +------ Apply(entries) --------+
//	       leader lost, touches)      v
//	                               datatree (apply goroutine)
//
// Entry envelope. Every proposal is one raft entry:
//
//	| format u8 (0x5A) | origin u64 | seq u64 | datatree.Txn ... |
//
// origin is the raft id of the server whose client asked for the entry, and seq
// its number among that server's proposals, starting from a value drawn at
// process start so that an entry proposed before a restart can never complete a
// waiter registered after it. A server completes a waiter only for an applied
// entry with its own origin and a seq it is waiting for: followers apply the
// leader's entries without mistaking them for their own (design/consensus.md
// §5.4). Entries of the previous format (| 0 | tag u64 | legacy Txn |) are still
// applied, as entries of no origin.
//
// Goroutines. quorum calls Apply and LeaderChanged on the raft goroutine; the
// replica queues both and returns at once, and its apply goroutine applies the
// entries to the tree in order, completes waiters, fires apply-index waiters
// (sync, reconnects), keeps the session tracker in step and schedules snapshots.
// The raft goroutine never runs state-machine or client work, and the apply
// goroutine never runs client reads: a completion only marks a reply ready and
// wakes the client's event loop. At a restart, Open applies the log's committed
// entries itself (quorum.Replay) before the apply goroutine and the node start,
// so that the tree is never written by two goroutines.
//
// Writes. A leader proposes its clients' writes itself. A follower or observer
// forwards them to the leader over the peer stream (Peers), which is FIFO per
// peer, so one connection's writes reach the log in the order sent; the leader
// stamps its own clock into the entry and proposes it, and tells the origin if
// raft drops it. On any leader change every waiter still pending fails: its
// client connection is closed and the client sees CONNECTIONLOSS, as with
// ZooKeeper. Apply refuses a write that comes out of its connection's sequence
// (datatree.Txn.Conn, ConnSeq), so a lost write is never overtaken by a later one
// of the same session.
//
// Sessions. createSession, closeSession and attach (a reconnect) are entries;
// pings are not. Only the leader keeps expiry deadlines (the tracker): its own
// clients' activity and the touch batches followers send every tick feed them,
// and an expired session gets a closeSession entry. A new leader arms the tracker
// only once it has applied an entry of its own term, and then gives every session
// a full timeout from that moment (ZooKeeper's SessionTrackerImpl, etcd's lessor
// Promote). The leader also reaps empty containers and expired TTL nodes.
//
// Snapshots. Every SnapCount entries (randomised, as ZooKeeper does) the apply
// goroutine freezes the tree (copy-on-write, O(sessions)) and a background
// goroutine writes it with the raft membership as of that entry; quorum is then
// told it can serve it. autopurge keeps SnapRetain snapshots and releases the log
// below the oldest kept.
//
// Membership. Raft ids are RaftID(myid, incarnation): the server id of
// /zookeeper/config's server.N lines in the high half, so each raft member maps
// to one line, and an incarnation below it, 1 for the members a new ensemble
// bootstraps with and a fresh one for every server a reconfig adds, so that a
// myid used again never reuses a raft id. /zookeeper/config holds ZooKeeper's
// membership text from the start (the bootstrap snapshot is written with it) and
// always names the same servers as raft's membership, with participants as
// voters and observers as learners; the only other raft members are learners a
// reconfig is adding. The ConfigListener hears of every change (the server
// rewrites its dynamic configuration file and its peer set). With
// reconfigEnabled the first leader gives a version-0 configuration the zxid of a
// membership change that changes nothing raft knows, as ZooKeeper's first leader
// does; a data directory written before zkd kept the node gets the leader's
// zoo.cfg membership written to it the same way.
//
// Reconfig (reconfig.go). A client's reconfig is a write that the leader does
// not propose as it is: its coordinator checks it in ZooKeeper's order and then
// either proposes a refusal (the client's entry with the code in place of the
// request, applied with the connection's order check and answered like any
// write) or carries it out as raft membership changes whose contexts say what
// they are for (confctx.go):
//
//	wait for the connection's earlier writes  (a change cannot be undone at apply)
//	stage: new participants join as learners  (one change; a snapshot is taken
//	                                           so that raft can send them one)
//	catch up: each keeps up with the log      (CatchUpTicks, else NEWCONFIGNOQUORUM)
//	final: one ConfChangeV2                    (joint consensus when more than
//	       with the client's write and the     one voter changes or a voter
//	       new /zookeeper/config text          leaves; applied on every member:
//	                                           the config node at version = zxid,
//	                                           the answer at the origin)
//
// The connection's later writes are held back on the leader until the outcome
// is in the log, so they keep their order. A leader change drops the reconfig
// (its client sees its connection close, as for any write in flight); learners
// that were staged and not promoted are then removed by the next leader, once it
// has applied everything before its term (the cleanup change), so that the
// membership changes all or nothing.
//
// Joining (join.go). A server that a reconfig will add runs before it is added:
// it starts with an empty data directory, no membership and a fresh incarnation,
// and keeps asking the members (the peer transport's ask connections, which any
// server may open) with a JoinRequest; every member records it and answers with
// its JoinView (its raft id, leader, /zookeeper/config and the members'
// addresses), from which the joining server learns whom to accept raft messages
// from. A reconfig naming that server id takes the raft id from the recorded
// request (a server that has not asked recently is refused: NEWCONFIGNOQUORUM).
// Once added as a learner, the server gets the leader's snapshot and follows the
// log; it serves clients only once /zookeeper/config names it. A removed server
// stops serving, drops its clients and never asks to join again under its old
// raft id. One removed while down or cut off never gets the entry that removes
// it; without a leader it asks the members for their views only (nothing is
// recorded), and a newer configuration without its raft id removes it
// (NoteView): raft ids are never reused, so no later configuration names it.
//
// Invariant: a member leaves only on a committed configuration that does not
// name it, applied here or seen applied by another member (NoteView).
//
// Lock order: coord.mu is taken before the tree's locks (its checks read the
// tree); waiters.mu, tracker.mu (the leader's tracker and the local sessions'),
// applyWaiters.mu, poisoned.mu and the stats' sizes.mu are leaves; none is held
// while calling the Listener or a waiter. Tick holds ticker.mu while it calls
// the Listener. coord.mu is held while queueing
// proposals into quorum (which only appends to its inbox), so that a
// connection's held writes are proposed before any later one of it.
package replica
