// Package datatree owns ZooKeeper's data model: znodes and their stats, ACLs,
// ephemeral ownership, container and TTL nodes, the replicated session table,
// watches, and the apply function that turns a committed entry into a new tree.
//
// Memory layout. A znode is a 96-byte record in a slab of fixed-size chunks,
// named by a uint32 id, plus one allocation (its blob) holding the path and then
// the data. Each lock stripe indexes its nodes with an open-addressing table of
// 16-byte slots (32 bits of the path's hash, the id, and a copy of the blob
// pointer, so the path compare and the record load overlap), so the path is
// stored once, in the blob. Children are an intrusive doubly linked list through the child
// records (first child in the parent; next/prev in each child), so a parent has
// no per-node map. ACL lists are interned and named by a uint32 index. For 1M
// znodes of 100 bytes this is about 235 bytes per znode, data included, and two
// pointers per znode for the GC to follow (store.go).
//
// Concurrency. Many event loops read while exactly one goroutine (the applier)
// writes. Nodes live in lock stripes chosen by xxhash of the full path:
//
//		stripe[i] = { RWMutex; table path -> node id }   i = xxhash(path) % numStripes
//
//	  - A node's fields are guarded by its stripe's lock, except the links among
//	    siblings, guarded by the parent's stripe, and the blob, written with both
//	    stripes held (so GetChildren reads its children's names under one lock).
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
// Lock order: applyMu -> stripe locks -> sessions.mu -> watches.mu -> the
// Watcher's own lock.
//
// Snapshots. Freeze opens a copy-on-write Image; its writer copies the node slab
// in id order, a chunk at a time under applyMu (held by the applier for each
// whole entry), so it reads memory front to back, while the applier saves a
// node's freeze-time state before its first change to a node the writer has not
// reached (cowState). Readers are never held up by a snapshot.
//
// Determinism. Apply is a pure function of (tree, entry): time, session ids and the
// caller's identities travel in the entry, and sequence numbers come from the
// parent's stored cversion at apply time, so every replica builds the same tree.
//
// Stats. Each node stores ZooKeeper's StatPersisted; the client-visible Stat is
// derived on read (cversion = 2*stored - numChildren, container and TTL markers
// hidden from ephemeralOwner), as spec/semantics.md §3 describes.
//
// Digest. The applier keeps ZooKeeper's tree digest (the sum of NodeDigest over
// every node, mod 2^64) up to date: for every node an entry changes it subtracts
// the old node digest and adds the new one, and publishes the sum with the zxid
// (Tree.Digest). Restore recomputes it. Under -tags invariants every Apply on a
// small tree checks it against a full recomputation.
package datatree
