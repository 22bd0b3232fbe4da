// Package quorum is zkd's raft loop and nothing of ZooKeeper: one etcd raft
// RawNode, its storage over the write-ahead log, and the seams an ensemble needs
// (a Transport to peers, ticks and messages fed by the owner, committed entries
// handed to an Applier). zxid = raft log index (DESIGN.md invariant 8); a
// standalone server is a group of one voter and runs exactly this code.
//
// One goroutine (run) owns the RawNode; every exported method only queues work
// for it under Node.mu and wakes it (Manual mode leaves the owner to call
// Process, which is how quorumtest drives a whole cluster deterministically).
// Each Process handles, in order: ticks, inbound messages, snapshot and
// reachability reports, proposals, ReadIndex rounds, then every Ready as the raft
// README requires:
//
//	leader:   send messages | hand up durable | persist (one write, one fdatasync) | hand up the rest | Advance
//	follower: hand up durable | persist | send messages | hand up the rest | Advance
//
// A leader sends before its own write (Raft thesis §10.2.1); a follower never
// acknowledges what is not durable. Committed entries already in the log here
// (written by an earlier Ready, and not rewritten by this one) are handed up
// before this Ready's write, so they do not wait for the next batch's sync; an
// entry is never handed up before it is durable on this member, so a snapshot
// never runs ahead of the local log. A Ready that only moves the commit index is
// not written on its own: the commit index rides on the next write (see
// Node.persist), so a write costs one fdatasync.
//
// Storage. raft.Storage is served straight from txnlog (which caches recent
// entries) and the newest snapshot's metadata: there is no second copy of the log
// in memory. A new data directory starts from a bootstrap snapshot at index 1
// holding the initial membership (written by the layer above), so every member of
// a new ensemble starts from the same configuration without conf-change entries.
//
// Entries. Proposals are stored verbatim; raft's conf changes get a kind byte
// (see storage.go), so a proposal must not start with one. Conf changes are
// ConfChangeV2 (joint consensus when more than one voter changes), applied on the
// raft goroutine as they commit and handed up with the resulting Membership.
//
// Restart. Before Start, the owner applies what the log already knows to be
// committed through Replay (batches read ahead of the applier, up to the first
// conf change) and passes the index it reached as Config.Applied; raft then hands
// up only what follows. Committed entries are final, so this holds on any member.
//
// ReadIndex. Requests queued together share one round; every round, and every
// retry after a leader change or ReadIndexRetryTicks, uses a context never used
// before (design/consensus.md §1 pitfall (c)).
//
// Settings: CheckQuorum and PreVote on, ReadOnlySafe, proposals never forwarded
// by raft (the replica forwards writes over its own FIFO stream), a removed
// leader steps down. A member without a vote (an observer, a removed member)
// forgets a leader it has not heard from for an election timeout: raft has only
// candidates clear their leader, and a learner never campaigns.
package quorum
