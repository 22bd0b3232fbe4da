// Package snapshot owns zkd's snapshot files: a consistent image of the tree, its
// sessions and the raft metadata at one applied index, streamed to disk while
// clients keep reading and writing (datatree.Image is copy-on-write), compressed
// with S2 and checksummed.
//
// File layout (snap-<index as 16 hex digits>):
//
//	| magic "ZKDSNAP3" | header len u32 | header | header crc32c u32 |
//	| S2 stream: body ....................................... |
//	| trailer: magic "ZKDSEND1" | nodes u64 | body crc32c u32 |
//
//	header = | index u64 | term u64 | membership len u32 | membership (opaque) |
//	body   = | sessions u32 | (id i64 | timeout i32 | conn u64 | lastSeq u64)... |
//	         | record... | tag 0 |
//	record = | tag 2 | acl list vector<ACL> |          defines the next ACL index
//	       | | tag 1 | shared uvarint | rest uvarint | path bytes after the shared |
//	                 | data length + 1 uvarint (0: null) | data | acl index uvarint |
//	                 | czxid - czxid before | mzxid - czxid | pzxid - czxid |
//	                 | ctime - ctime before | mtime - ctime | version | cversion |
//	                 | aversion | owner |                  (signed varints)
//
// A node record is relative to the one before it (nodeCoder): the path's first
// shared bytes are the previous path's, and the stat is mostly small differences,
// since nodes come in creation order.
//
// Version 2 files ("ZKDSNAP2") have a zstd body whose node records are | tag 1 |
// path ustring | data buffer | acl index u32 | czxid mzxid ctime mtime i64 |
// version cversion aversion i32 | owner i64 | pzxid i64 |; version 1 files
// ("ZKDSNAP1") are version 2 with header | index | term | voters u32 | ids u64... |
// and sessions without conn and lastSeq. Both are still read. Version 3 traded
// zstd for S2 because a snapshot is written while the server is busy, and zstd's
// fastest level was two thirds of the writer's CPU; S2, which has no entropy
// stage, made the fixed stat fields the bulk of the file, so they became varints
// of differences. The writer's CPU for a million znodes went from 0.61 to 0.11 s
// (BenchmarkSnapshotWrite1M); the preload-1m benchmark's last snapshot from 9.1 to
// 0.9 MB (its data repeats), and a tree restored from an older snapshot, whose
// nodes are in no particular order, from 20.8 to 17.6 bytes a znode.
//
// The body checksum covers the uncompressed body, so a decompressor bug or a
// flipped bit anywhere is caught; the trailer also proves the file was written to
// the end. Files are written as tmp -> fsync -> rename -> fsync(dir), so a crash
// leaves either the old set of snapshots or the new one, never a half file under a
// snapshot name. CRC32C (hardware-accelerated) is used because the checksum must
// catch corruption, not resist an adversary.
//
// Encode and Decode are pure stream functions; Write, Load and Purge add the file
// handling. None of them keep state; concurrent snapshots are prevented by
// datatree.Freeze.
//
// Loading streams: the header and trailer are read with ReadAt, and the body
// flows through the decompressor into a parser goroutine that hands the tree
// builder (datatree.Restore, on the caller's goroutine) batches of nodes, so a
// load holds no copy of the file and uses two cores.
package snapshot
