// Package zkcheck checks that a ZooKeeper ensemble keeps ZooKeeper's consistency
// guarantees under faults, the way Jepsen and Knossos check databases: real clients
// record a history of concurrent operations while servers are killed, paused and
// cut off from each other, and porcupine (github.com/anishathalye/porcupine)
// searches for an order of the history that a model of ZooKeeper accepts. It is
// test-side code: tests of any package import it, nothing in the server does.
//
//	Recorder (N go-zookeeper clients, own sessions) --ops--> History --> Check --> Verdict
//	        |                                                                  |
//	        +-- connect string --> Cluster <-- faults (Nemesis)                 +--> Shrink, Dump (JSON + HTML)
//	                               (Ensemble: ZooKeeper 3.8 or zkd processes,
//	                                peer links through fault-injecting proxies)
//
// # What is checked
//
// A history's operations are on a few key nodes k0..k<n-1> under a fresh root, and
// sequential children of root/seq: create, create-sequential, setData with an
// expected version or -1, delete with a version, multi(check k, setData k'), getData
// (a plain read) and sync followed by getData (Kind). ZooKeeper promises
// (spec/semantics.md §11):
//
//   - writes are linearizable: one total order, consistent with real time;
//   - a plain read is sequentially consistent per session: it sees some state of
//     that order (a prefix), never one older than the session has already seen, and
//     always including the session's own completed writes; it may be stale;
//   - sync then read on the same session is linearizable;
//   - a session's requests take effect in the order sent.
//
// # How: one model, the read guarantee inside it
//
// Porcupine checks linearizability only, so the weaker read guarantee is put into
// the model's state rather than checked beside it. A model state holds the write
// order tried so far as a chain of namespace states (each snap points to the one
// before it, shared between model states), and for each session a cursor: the
// index of the last state that session observed. Every operation is a porcupine
// operation with its real [call, return] interval, and steps the model at its
// linearization point:
//
//   - a write applies to the newest state, must give the result the client saw, and
//     moves its session's cursor to the state after it. A failed write (BADVERSION,
//     NONODE, NODEEXISTS) moves the cursor too: ZooKeeper orders it like any write
//     and answers it only after the session's server has applied it, so the
//     session has seen that state;
//   - sync+get must match the newest state and moves the cursor to it;
//   - a plain get must match some state between its session's cursor and the newest
//     state, and moves the cursor to the oldest such state (the oldest leaves the
//     session's later reads the most room, so trying only it loses nothing).
//
// A plain read is thus linearized somewhere in its interval but may show an older
// state: never older than the session's cursor (monotonic reads, read-your-writes),
// never newer than its linearization point (no reading the future). A history passes
// if and only if there is one order of all writes, consistent with real time,
// under which every session's reads are explained this way. That is what ZooKeeper
// promises, with nothing picked in advance: porcupine searches all write orders, so
// a read that one order cannot explain and another can is not a false alarm.
//
// Writes with unknown outcome (connection loss, session expiry, no server: the
// client cannot tell whether the write took effect) have no return: the write may
// take effect at any point after its call, or never, which porcupine expresses as a
// return after everything else (a write linearized last is seen by nobody). Its
// session's cursor does not move. Two rewrites shrink porcupine's search without
// changing the verdict: an unknown write whose unique data some read returned must
// have taken effect before the first such read returned, so it returns then; and
// the cursor of a session with no more operations is dropped, so that states that
// differ only in a finished session's view compare equal.
//
// # Two checks
//
// Check runs the model twice (Verdict). Pairs partitions the history into key pairs
// (k0,k1), (k2,k3), ... (a multi checks one key of a pair and sets the other, see
// PairOf) and the sequential creates. Linearizability is a local property (Herlihy
// and Wing), so the writes and sync reads pass per partition exactly when they pass
// as a whole; plain reads are judged per session within their pair. This check is
// fast. Whole runs the same model on the history at once, which adds what crosses
// pairs: a session's plain read of k2 must not show a state older than what its
// read of k0, or its own write to k0, already showed. Its search grows with the
// unknown writes that overlap, so it may run out of time; a Verdict whose Whole is
// Unknown is still reported as passing, with the cross-pair order unchecked.
//
// The checker must not pass vacuously: its tests feed hand-written histories with a
// stale read after sync, a lost acknowledged write, a read going back in time (on
// one key and across pairs), a session's writes reordered, a multi applied in part,
// a read of the future and an unknown write that appears and then disappears, and
// each must be rejected; their correct twins must pass. A simulated ensemble (lagging
// servers, reconnects, expiries, writes given up on) must always pass, and the same
// simulation with one defect (sync that does not catch up, a session moving back to
// a lagging server, an early acknowledgement, a lost write) must be caught.
//
// # What each kind promises
//
// Apache ZooKeeper 3.8 keeps every guarantee above but one: its leader answers a
// sync from what it has committed itself, without a quorum, so a leader paused
// long enough to be replaced answers syncs with state its successor has already
// overwritten, until its next quorum check (ZOOKEEPER-1675; TestSyncAfterLeaderPause
// catches it in about half its rounds). zkd's sync is a ReadIndex round and is
// linearizable. ServerKind.LinearizableSync says which, and Judge holds a history
// to its kind's promise: as recorded, and for ZooKeeper, if that fails, again with
// every sync+get judged as a plain read, so that only a violation of what
// ZooKeeper promises fails its reference test. ZooKeeper 3.8.0 also breaks what it
// promises, rarely: in 2 of 50 runs of that test its digest check found a
// follower diverged, and in the history kept its leader answered a sequential
// create with NODEEXISTS.
// Ensemble.Diverged reads such reports from the servers' logs, and the test then
// records another history rather than blame the model.
//
// # Recording
//
// NewRecorder connects Clients go-zookeeper clients, each with its own session and
// the whole connect string, and makes a fresh root; Run has each client issue a
// seeded random mix of the operations on Keys keys, one at a time, timing each on
// the monotonic clock, until MaxOps, Duration or its context; ReadBack has every
// client sync and read every key once the faults are over, so that a lost write
// shows. Each write stores data no other write uses, so a read names the write it
// saw. A write answered by an error that leaves its fate open (connection loss,
// session expiry) is recorded as unknown; one go-zookeeper never sent (no server)
// is left out, as is a read without an answer. When a client's ZooKeeper session
// changes (expiry), its later operations belong to a new model session: the read
// guarantees hold per session only.
//
// # Clusters and faults
//
// The checker knows a cluster only through the Cluster interface (connect string,
// Leader, Kill, Restart, Pause, Resume, Partition, DropLink, DelayLink, Heal).
// Ensemble implements it with server processes on loopback, each started from its
// own zoo.cfg (ZooKeeper's keys, server.N lines) and data/myid; a ServerKind says
// only which command runs a server from its directory: ZooKeeper runs Apache
// ZooKeeper 3.8 from Debian's jars with java, Zkd runs `zkd <dir>/zoo.cfg`. Every
// peer connection crosses a testutil.LinkProxy, because each server's zoo.cfg
// lists the others at proxy ports (see Ensemble). Nemesis applies faults to any
// Cluster and logs them on the history's clock; Random draws a seeded campaign of
// them. TestChaos (make chaos) runs such campaigns on a chosen kind of ensemble.
//
// # Reporting a violation
//
// Shrink cuts a failing history to the shortest failing prefix (every operation
// still running at the cut becomes unknown, which only removes constraints) and then
// drops reads and failed writes while it still fails, so the witness it returns is a
// real violation, not one the shrinking made. Dump writes it as JSON (Load reads it
// back) and as porcupine's HTML visualization.
package zkcheck
