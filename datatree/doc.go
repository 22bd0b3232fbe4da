// Package datatree owns ZooKeeper's data model: znodes and their stats, ACLs,
// ephemeral ownership, container and TTL nodes, the replicated session table,
// watches, and the apply function that turns a committed entry into a new tree.
//
// Concurrency. Many event loops read while exactly one goroutine (the applier)
// writes. Nodes live in lock stripes chosen by xxhash of the full path:
//
//		stripe[i] = { RWMutex; map[path]*node }      i = xxhash(path) % numStripes
//
//	  - A reader holds at most one stripe lock at a time, so the applier, which may
//	    hold many, can never deadlock with readers.
//	  - The applier takes the write lock of every stripe an entry touches and keeps
//	    them all until the entry is fully applied and its watch events are queued.
//	    A reader therefore sees all of an entry (multi included) or none of it
//	    (DESIGN.md invariant 4).
//	  - Watches are registered by a reader while it still holds the node's stripe
//	    lock, and fired by the applier while it holds the stripe locks of the
//	    change; so a read either sees the old value and gets the event, or sees the
//	    new value (no lost events), and an event is queued on a connection before
//	    any reply that reflects its change (invariant 2).
//
// Lock order: stripe locks -> sessions.mu -> watches.mu -> the Watcher's own lock.
//
// Determinism. Apply is a pure function of (tree, entry): time, session ids and the
// caller's identities travel in the entry, and sequence numbers come from the
// parent's stored cversion at apply time, so every replica builds the same tree.
//
// Stats. Each node stores ZooKeeper's StatPersisted; the client-visible Stat is
// derived on read (cversion = 2*stored - numChildren, container and TTL markers
// hidden from ephemeralOwner), as spec/semantics.md §3 describes.
package datatree
