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
//	  - Otherwise it is copied and queued. Writes and syncs are queued and handed to
//	    quorum at once, so one session's writes are pipelined through raft.
//	  - When a write is applied (or a sync catches up), quorum calls back on its
//	    apply goroutine, before the next entry applies. The callback marks the item
//	    done and drains the queue head: done items emit their replies, queued reads
//	    run right there, against exactly the state that write produced, and the drain
//	    stops at the first item still in flight.
//
// All output (replies and watch events) goes through one buffer per connection,
// guarded by its own mutex, so an event queued by the applier is never overtaken by
// a reply that reflects its change. Producers off the event loop call
// Transport.Wake, coalesced to one wake per flush.
//
// Lock order: Conn.pend -> datatree locks -> Conn.out; Server.mu is never held while
// calling into datatree or quorum.
package session
