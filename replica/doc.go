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
// wakes the client's event loop.
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
// Lock order: waiters.mu, tracker.mu (the leader's tracker and the local
// sessions'), applyWaiters.mu, poisoned.mu and the stats' sizes.mu are leaves;
// none is held while calling into quorum, datatree or the Listener. Tick holds
// ticker.mu while it calls the Listener.
package replica
