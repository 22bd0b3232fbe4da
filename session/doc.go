// Package session owns the ZooKeeper protocol above the socket: the handshake,
// sessions (ids, passwords, timeouts, expiry), authentication, dispatch of every
// opcode, and the ordered output of each connection.
//
// A Conn is one client connection; netloop creates it, feeds it whole frames on the
// connection's event loop, and writes out whatever TakeOutput returns.
//
// Ordering (DESIGN.md invariants 2 and 3). Each Conn has a pending queue of the
// requests it has not answered yet, in arrival order:
//
//		pending: [ write(in raft) | read(copied frame) | sync | write | ... ]
//
//	  - A read (or any request answered locally) that finds the queue empty runs at
//	    once on the event loop, straight from the read buffer.
//	  - Otherwise it is copied and queued. Writes are proposed at once, numbered in
//	    order (datatree.Txn.ConnSeq), so one connection's writes are pipelined
//	    through raft; a write sent after a sync still unanswered waits for it.
//	  - When a write is applied (or a sync catches up), the replica calls back on
//	    its apply goroutine. The callback marks the item done and emits the
//	    answered replies at the head; a queued read reaching the head makes the
//	    event loop drain the rest (TakeOutput). Reads run on the event loop, with
//	    one exception: right before one of the connection's writes is applied,
//	    the reads the client sent before that write run on the apply goroutine
//	    (beforeApply), so that no read sees a change the client asked for after it.
//
// All output (replies and watch events) goes through one buffer per connection,
// guarded by its own mutex, so an event queued by the applier is never overtaken by
// a reply that reflects its change. Producers off the event loop call
// Transport.Wake, coalesced to one wake per flush.
//
// Sessions. The replicated part of a session (id, timeout, ephemerals, the
// connection it is attached to) is in the tree; liveness is the leader's (the
// replica's tracker), fed by the touches CollectTouched reports. A handshake is a
// replicated createSession or attach; until it applies, the connection reads
// nothing more.
//
// Authentication (auth.go, secure.go). Every connection has its ip id; digest
// ids come from auth packets; x509 ids from the TLS handshake (netloop calls
// TLSHandshakeDone before the first frame); sasl ids from opcode-102 exchanges.
// AuthConfig says which providers are registered, as ZooKeeper's ProviderRegistry,
// and which schemes every request (other than auth and sasl) requires.
//
// Limits (limits.go). A connection stops reading while it has MaxOutstanding
// requests unanswered, or while the whole server has more than
// GlobalOutstandingLimit and some are its own.
//
// Lock order: Conn.pend -> datatree locks -> Conn.out; Conn.pend -> the replica's
// own locks (a connection's writes are proposed under Conn.pend, which orders
// them); Server.mu is never held while calling into datatree or the replica.
package session
