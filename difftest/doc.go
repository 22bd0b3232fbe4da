// Package difftest is a differential tester: it sends the same seeded random
// sequences of client operations to Apache ZooKeeper 3.8 and to zkd side by side and
// compares what each server answers and which watch events each session receives.
//
// Generate draws a sequence of Ops from a seed: creates of every kind (TTL too,
// and now and then with flags that do not match the opcode or a TTL out of range),
// deletes, setData and setACL with right and wrong versions, multis that fail at
// random positions, multiRead, reads of every kind, watches of every kind (exists,
// getData, getChildren, addWatch persistent and recursive, removeWatches,
// checkWatches), addauth digest (and an unknown scheme, which closes the
// connection), closeSession with ephemerals, on a few sessions and a small path
// space, so that ops collide. A few requests go out with a damaged body
// (Mangle): truncated, with trailing bytes, or with a negative ACL vector count.
//
// Run executes one sequence on two Targets. Both servers get a fresh root node (a
// distinct path per run, so one server process serves many runs) and fresh sessions
// (Config.Sessions, three by default). Every op runs on both servers in lock step, the
// same op on the same session slot:
//
//	for each op:
//	    zookeeper: send op on slot i, read its reply   | in parallel
//	    zkd:       send op on slot i, read its reply   |
//	    barrier: sync on every slot, so every notification the op caused has
//	             arrived (a server sends an event before any reply reflecting it);
//	             a slot whose connection the server closed is reattached, its
//	             session closed, and a new session opened in its place
//	    compare the normalised replies and each slot's events of this step
//
// A Target may also be an ensemble, named by its connect string: session slot i
// then always talks to member i mod n, so writes are forwarded by followers and
// reads are answered by them. The barrier needs nothing more there: a sync on a
// follower returns only once that follower has applied every write acknowledged
// before it, and a follower, as a single server, sends an event before the sync
// reply that follows the change. TestDifferentialEnsemble runs a 3-server zkd
// against a 3-server ZooKeeper this way.
//
// Normalisation (normalize.go) keeps what a client may rely on and nothing else:
//
//   - zxids become W<k>, the k-th successful write of the run on that server; reply
//     headers of reads and failed writes show only the last write before them
//     (~W<k>), because ZooKeeper logs failed writes as txns and zkd does not (README
//     compatibility table, row "failed writes");
//   - ctime and mtime are dropped; session ids (ephemeralOwner) become slot labels;
//   - child, ephemeral and whoAmI lists, the digest ids an "auth" ACL expands to,
//     and the events of one session close are compared as sets: ZooKeeper produces
//     them in hash order.
//
// Two behaviours in which zkd deliberately follows a later 3.8 patch release than the
// reference 3.8.0 are handled where they arise, each citing its README row: exists
// on a node without READ (run.go: the reference is probed and its Stat reported as
// NOAUTH, without registering the watch 3.8.0 would register), and the standalone
// check (gen.go: never generated). Everything else must be equal.
//
// Not covered: container and TTL reaping (timer-driven; both servers run with an
// hour-long reaper interval), reconnects with setWatches, reconfig, SASL.
//
// A server that does not answer within Config.IOTimeout is treated as having
// closed the connection, and the step is marked Stalled. A run whose first
// divergence is such a stall is run once more before it counts: a loaded machine
// can starve a JVM for seconds, but rarely at the same op twice, while a server
// that hangs hangs again.
//
// When a run diverges, Shrinker.Shrink removes ops (delta debugging), then sub-ops
// of multis, while the run still diverges with the same Trace.Signature, and
// Trace.Format prints what remains as a numbered reproducer with both servers'
// answers.
//
// The package is a client only: it imports jute, the repository's raw client
// (internal/zktest/raw) and the standard library, never a server package, so it
// judges zkd as any other client would. The tests in this directory start both
// servers as processes with internal/zktest (Debian's ZooKeeper with java run
// directly, and zkd built into a temporary directory), alone or as 3-server
// ensembles from zoo.cfg files with server.N lines, on 127.0.0.1 ports chosen by
// the kernel. Run drives the two targets from two goroutines, each owning its own
// connections; nothing else here is safe for concurrent use.
package difftest
