// Package quorum owns zkd's write path: every change to the tree is an entry of an
// etcd raft log, and zxid = raft log index (DESIGN.md invariant 8). A standalone
// server is a raft group of one voter and runs exactly this code.
//
// One goroutine (run) owns the RawNode and drives it in the order the raft README
// requires: persist HardState and entries, send messages, apply committed entries,
// Advance. Proposals and sync requests from any goroutine are queued under a mutex
// and drained by run in arrival order, so the proposals of one session enter the log
// in the order the session made them.
//
// Each entry's data is | tag u64 | payload |: the tag names the proposal waiting for
// it on the node that proposed it, so the apply loop can hand the result back. The
// payload is a datatree.Txn, applied by the StateMachine. A proposal's done callback
// runs on the apply goroutine right after its entry is applied and before the next
// entry is, which is what lets the session layer answer reads queued behind a write
// against exactly the state that write produced (DESIGN.md invariant 3).
//
// Sync is a raft ReadIndex: requests are batched into one ReadIndex per loop turn,
// and each callback fires once the applied index reaches the read index.
//
// Storage is in memory for now (raft.MemoryStorage, compacted as entries apply);
// the durable log is txnlog's job.
package quorum
