// Package zkdisk reads and writes Apache ZooKeeper's on-disk formats, so that a
// ZooKeeper data directory can be imported into zkd and a zkd tree exported back
// to one (spec/disk.md; docs/migration.md for the commands built on it).
//
// It owns: the snapshot reader (plain, gzip, snappy-java framing; the 3.6+ digest
// section and the 3.9 trailer; every Adler-32 seal), the transaction log reader
// (every txn type ZooKeeper 3.4-3.9 logs, torn tails tolerated as ZooKeeper
// tolerates them), the replay of the logs after a snapshot with ZooKeeper's own
// rules (Load), the digest checks, the ZooKeeper 3.8 snapshot writer with the
// epoch files (WriteZooKeeperDataDir), the writer of a fresh zkd data directory
// (WriteZkdDataDir), the start-up check for ZooKeeper data (Detect) and progress
// reporting (Printer). It never writes to ZooKeeper's files; every output is
// staged in a temporary directory, fsynced and renamed into place.
//
// An online export (ExportOnline) takes the tree from a running zkd instead:
// Fetch downloads the AdminServer's snapshot command's stream (zkd's own
// snapshot format, package snapshot) into a hidden temporary file, checks its
// length against snapshot_size and every checksum of the format while building
// the tree, and the tree goes through the same Export as an offline one.
//
// # Snapshot file (version-2/snapshot.<zxid hex>[.gz|.snappy])
//
// The codec wraps a stream whose Adler-32 (of the uncompressed bytes) is sealed
// after the nodes and again after each later section:
//
//	| FileHeader: magic "ZKSN" i32 | version 2 i32 | dbid -1 i64 |
//	| sessions: count i32 | (id i64 | timeout i32)...          |
//	| ACL map:  count i32 | (index i64 | vector<ACL>)...        |
//	| nodes:    (path ustring | data buffer | acl index i64 |  |   root first, as "",
//	|            StatPersisted 60 bytes)...                     |   parents before children
//	| "/" (00 00 00 01 2F)                                      |
//	| seal 1: adler i64 | "/"                                   |
//	| digest: zxid i64 | version 2 i32 | digest i64 | seal 2   |   3.6+, optional
//	| lastProcessedZxid i64 | seal 3                            |   3.9 only, optional
//
//	StatPersisted = czxid mzxid ctime mtime i64 | version cversion aversion i32 |
//	                ephemeralOwner i64 | pzxid i64
//	snappy-java   = | 82 'SNAPPY' 00 | version 1 i32 | compatible 1 i32 |
//	                | (compressed length i32 | raw Snappy block of <= 32 KiB)... |
//
// # Transaction log file (version-2/log.<first zxid hex>)
//
//	| FileHeader: magic "ZKLG" i32 | version 2 i32 | dbid 0 i64 |
//	| record: adler32(txnEntry) i64 | txnEntry buffer | 'B' |...
//	| zeros (preallocated) ........................................ |
//
//	txnEntry = | clientId i64 | cxid i32 | zxid i64 | time i64 | type i32 |
//	           | body (by type) | [TxnDigest: version i32 | tree digest i64] |
//
// A zero length ends the data (the preallocated tail); so does a record that runs
// past the end of the file or lacks its 'B' (a torn write: ZooKeeper goes on with
// the next file, and so does Load, with a warning). A checksum mismatch, an
// unreasonable length or a record that does not decode is corruption: the reader
// stops with the file and the record's offset (*FileError).
//
// # Replay (Load)
//
// ZooKeeper snapshots are fuzzy: written while txns are applied, named after the
// last zxid applied when writing began, so they may hold effects of later txns.
// Load takes the newest snapshot that passes ZooKeeper's quick check and reads
// whole (falling back to older ones as ZooKeeper does), then applies every
// logged txn above its zxid exactly as DataTree.processTxn does, which makes the
// replay of an effect already present harmless: a create of an existing node
// only moves the parent's cversion and pzxid forward (type create only) and sets
// the node's ACL, a delete of a missing node still moves its parent's pzxid,
// setData and setACL carry the resulting version, and closeSession deletes the
// listed paths and whatever ephemerals the session still owns. After the replay,
// ephemerals of sessions no longer open are deleted, as ZooKeeper does at start.
// Beyond ZooKeeper, Load refuses a gap in the zxids of one epoch (a missing log
// file would otherwise go unnoticed) and a checksummed record that does not
// decode (ZooKeeper silently ends the file there).
//
// # Digest
//
// The tree digest is the sum, mod 2^64, of datatree.NodeDigest over all nodes
// (nodes under /zookeeper/ count 0). Load keeps it up to date through every
// change and compares it with what ZooKeeper stored: the snapshot's digest
// section once the replay has reached its zxid (at once when that zxid is the
// snapshot's own), then the TxnDigest of every later txn. A mismatch is
// ErrDigestMismatch naming the file and zxid, unless LoadOptions.NoVerifyDigest.
// One mismatch is expected: ZooKeeper records the snapshot's digest after writing
// the nodes, so the one txn being applied meanwhile may be in the nodes and not
// in the digest; such a snapshot digest is settled by the txn digests logged after
// it instead. The writer stores the digest of what it writes.
//
// # Zxids and epochs on export
//
// zkd's zxid is its raft log index, and an import writes its snapshot at index =
// the imported lastZxid, so zkd's zxids continue above ZooKeeper's, epoch bits
// included. An export writes the tree at zkd's current zxid Z unchanged and sets
// acceptedEpoch = currentEpoch = Z >> 32: the epoch ZooKeeper derives from the
// snapshot's zxid, so its start-up checks pass, and its next leader election
// moves to a higher epoch, whose zxids ((epoch+1) << 32 | n) are all above Z; a
// standalone ZooKeeper continues at Z + 1. Either way clients' lastZxidSeen (at
// most Z) stays valid.
//
// # Invariants
//
//   - Readers check every length against the limit (twice jute.maxbuffer, as
//     ZooKeeper 3.8 does) before allocating, and append vector elements as they
//     are read, so a corrupt count or length never allocates more than the input
//     backs up.
//   - A snapshot is read in one streaming pass (plus at most 4 KiB of trailer);
//     log records are read one at a time.
//   - Outputs appear whole or not at all: a temporary directory beside the
//     target, fsync of every file and directory, one rename, fsync of the parent.
//     An existing non-empty target is never overwritten (ErrTargetExists).
//
// Concurrency: the functions keep no global state; a DB or Printer is used by one
// goroutine (Printer.Update may be called from several).
package zkdisk
