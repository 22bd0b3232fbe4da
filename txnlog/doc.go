// Package txnlog is zkd's write-ahead log: the raft log and HardState, on disk.
// Every write of zkd is a raft entry, and its zxid is the entry's index (DESIGN.md
// invariant 8), so this log is also ZooKeeper's transaction log. It knows nothing of
// raft or jute: entries are opaque {Index, Term, Data}, plus one HardState.
//
// # Lifecycle
//
//	l, err := txnlog.Open(fs, dir, txnlog.Options{SnapshotIndex: snap}) // creates or replays
//	for rd := range readies {
//		err = l.Save(rd.HardState, rd.Entries) // one write + one fdatasync
//		...
//	}
//	err = l.Compact(snapshotIndex) // after a snapshot
//	err = l.Close()
//
// Save is group commit: the HardState and entries of one raft Ready become one
// batch, written with one write and made durable with one fdatasync; a HardState
// change is always synced, entries or not (raft's MustSync ignores Commit; see
// design/consensus.md §1). Entries whose first index is <= LastIndex replace the
// log's suffix from that index. A failed write or sync is sticky: the batch is not
// acknowledged and every later Save and Compact returns the same error, since after
// a failed fdatasync the kernel may have dropped the data; the caller must stop.
//
// # On-disk format
//
//	dir/
//	  0000000000000007-00000000000a1f00.log      segment 7: <seq>-<next index at creation>
//	  0000000000000008-00000000000a4c31.log      ... the last segment is the active one
//	  0000000000000009-0000000000000000.log.tmp  the next segment, being prepared
//
//	segment (Options.SegmentSize bytes, allocated and zero-filled in advance under
//	the .tmp name; renamed once its header is durable, then the directory is fsynced;
//	a .tmp file is never part of the log, and Open deletes it):
//	+----------------+---------+-----------+-----+---------+----------------------+
//	| segment header | batch b | batch b+1 | ... | batch n | zeros (preallocated) |
//	+----------------+---------+-----------+-----+---------+----------------------+
//	batch: the frames of one Save (entries in order, then the HardState if it
//	changed) or of one Compact; every frame carries the batch number, the last one
//	flagCommit. Batch numbers go up by one across the whole log, headers included.
//
//	frame (little-endian, 8-byte aligned):
//	0        4        8        12     13      14      16                  16+len
//	+--------+--------+--------+------+-------+-------+-------------------+---------+
//	| crc32c | len    | batch  | type | flags | 0   0 | payload (len B)   | 0 pad 8 |
//	+--------+--------+--------+------+-------+-------+-------------------+---------+
//	crc32c: CRC-32C (Castagnoli) of bytes [4, end of padding); flags bit 0: commit
//
//	type 1 segment header: "zkdtxnlg" | version u32 (1) | 0 u32 | seq u64 |
//	                       compacted u64 | term u64 | vote u64 | commit u64
//	type 2 entry:          index u64 | term u64 | data
//	type 3 hard state:     term u64 | vote u64 | commit u64
//	type 4 compact:        index u64 (every entry <= index is released)
//
// A segment header repeats the HardState and the compaction point as they were when
// the segment was created, so Compact can delete older segments without losing them.
//
// Why CRC-32C and not xxhash64: hash/crc32 computes it with the CPU's CRC
// instructions (SSE4.2, ARMv8), many GB/s, against one fdatasync per batch; it is in
// the standard library, and txnlog may import no third-party module (STYLE §0); CRC-32C
// detects
// every burst error up to 32 bits and every odd number of flipped bits, which is how
// media and DMA damage looks, where a hash only promises a 2^-32 miss on random
// damage; and it is what etcd's WAL, LevelDB/Pebble logs and ext4 use. The check
// guards each frame on its own, so 32 bits suffice.
//
// # Recovery
//
// Open replays the segments oldest first and applies a batch only once its commit
// frame is read, so a Save survives whole or not at all. Replay applies the rules
// Save checks: an entry must be above the compaction point and at most LastIndex+1,
// and an entry at or below LastIndex drops the entries from its index on.
//
// Replay stops at the first frame that is not valid (bad checksum, impossible
// length, past the end of the file) or at the zeroed space after the last frame.
// Because every batch is synced before the next one is written, that point is a torn
// tail exactly when no valid frame of another batch follows it in the segment
// (frames of the torn batch itself may follow: writeback can lose an earlier sector
// and keep a later one). A torn tail is only possible in the last segment; Open cuts
// it, zero-fills the rest of the segment, and syncs. Anything else (a bad frame with
// durable data after it, a bad segment header, a frame out of sequence, a missing
// segment) is corruption: Open returns a *CorruptError, which unwraps to ErrCorrupt
// and names the file and offset (DESIGN.md invariant 7). One case cannot be told
// apart: damage inside the last batch of the log looks torn and loses that batch.
//
// Options.SnapshotIndex (the newest snapshot's index) relaxes that for what the
// restart does not need. A segment's name carries the entry index the log expected
// when it was created, and every entry still live in the older segments is below
// it; so when segment k's name says at most SnapshotIndex+1, segments before k hold
// nothing above the snapshot. Damage to them, or their absence, is then skipped
// with a warning naming the files, replay starts at segment k with the state its
// header repeats, and the next Compact deletes the skipped files. Damage to a
// segment holding anything above the snapshot, or to the last one, still stops
// Open.
//
// A missing newest segment leaves no gap in the numbering. Open finds it two ways,
// and reports a *CorruptError naming it (<seq>-*.log): the log ends below
// SnapshotIndex (every entry up to the snapshot was durable here before it was
// applied, and Compact never passes it), or a prepared .tmp segment is numbered two
// or more past the last segment (the next segment is prepared only after a roll).
//
// Preparing the next segment happens in the background; when it fails (a full
// disk, most often) the log warns at once and counts it (PreallocFailures,
// PreallocError), removes the half-written .tmp file to give the space back, and
// tries again when it rolls. Only a roll that still cannot prepare the segment
// fails the write, stickily.
//
// Segments are written twice, once with zeros and once with records: fdatasync
// over written zeros flushes data only, where over fallocate's "unwritten" extents
// every first write into one costs a journal commit (PostgreSQL's wal_init_zero).
// The zero-fill happens off the write path, in the background, between rolls,
// and is synced a MiB at a time so that the active segment's commits never queue
// behind one flush of the whole segment.
//
// Compact(i) appends a compact record and syncs it, then deletes whole segments
// holding no entry above i, oldest first, syncing the directory after each, so a
// crash leaves the retained segments consecutive and Open knows where the log starts.
//
// # Concurrency
//
// One goroutine, the raft loop, is the writer: it alone calls Save, Compact and
// Close. Entries, Term, FirstIndex, LastIndex and HardState may be called from any
// goroutine, concurrently with the writer. The log runs one goroutine of its own,
// started by Open and after each roll, that prepares the next segment file and
// hands it over on a channel; it touches nothing else, and Close waits for it. The writer does its IO without
// holding Log.mu and publishes each change under it only once the change is durable,
// so readers never see an entry that is not synced. Entries copies the positions it
// needs under the read lock, then reads the segments without it; each segment is
// reference-counted, so one that Compact deletes meanwhile stays readable until
// those reads finish.
//
// Entries serves recent entries from a cache of Options.CacheSize bytes (the Data
// slices Save was given, which the caller must leave unmodified, as raft does) and
// older ones from the segments, checking every frame's checksum.
package txnlog
