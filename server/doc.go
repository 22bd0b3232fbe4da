// Package server assembles one zkd instance from a zoocfg.Config: the data
// directory lock, the write-ahead log, the replicated state machine, the session
// layer, the client port, and the operator endpoints; and takes them down again
// in the reverse order. main, the tests and the cluster harnesses all start
// servers through Start; nothing else wires the packages together.
//
// Start order, and why:
//
//  1. Validate the configuration, and read the security settings (security.go):
//     key and trust stores, the JAAS file, the authentication providers; what
//     zkd cannot honour is refused here, before anything is touched.
//  2. Lock the data directories (an exclusive lock on <dir>/zkd.lock holding the
//     owner's pid), before anything in them is read or written: a second instance
//     on the same directory fails at once, naming the holder (DESIGN.md
//     invariant 11).
//  3. For an ensemble member, decide how it starts (join.go): with state, as the
//     raft id it was given; with an empty data directory, by asking the other
//     servers of zoo.cfg whether they run an ensemble (bootstrap a new one, or
//     start empty and catch up or wait to be added). Then bind the quorum port
//     and the client port, refusing clients until the server is ready: a port
//     already in use fails the start before the log is opened, so a failed start
//     changes nothing on disk.
//  4. Open the log and the replica (snapshot load and log replay), the session
//     layer, the ticker that drives raft and the replica, then open the door.
//  5. The AdminServer and the metrics endpoint.
//
// Any failure undoes what was done, in reverse, through one deferred cleanup.
// Stop takes the instance down listener first, so no layer goes away while one
// above it still runs. Err reports a failure after which the instance cannot go
// on (the log could not be written): the caller stops it and exits, as ZooKeeper
// and etcd do.
package server
