package zkdisk

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is returned (wrapped in a *FileError) by the snapshot and log
	// readers when a file fails a checksum or does not parse.
	ErrCorrupt = errors.New("zkdisk: corrupt")
	// ErrTruncated is returned (wrapped in a *FileError) by the snapshot reader when
	// a snapshot ends before its first seal.
	ErrTruncated = errors.New("zkdisk: truncated")
	// ErrTooLarge is returned (wrapped in a *FileError) when a length field exceeds
	// the configured limit (jute.maxbuffer and its extra), checked before allocating.
	ErrTooLarge = errors.New("zkdisk: length over the limit")
	// ErrDigestMismatch is returned by Load when the tree digest after a replayed
	// txn, or after loading a snapshot, differs from the one ZooKeeper stored.
	ErrDigestMismatch = errors.New("zkdisk: digest mismatch")
	// ErrLogGap is returned by Load when the logs lack txns between the snapshot
	// and the last logged zxid (a purged or missing log file).
	ErrLogGap = errors.New("zkdisk: transactions missing from the logs")
	// ErrNoData is returned by Load when a directory holds no ZooKeeper snapshot
	// or log.
	ErrNoData = errors.New("zkdisk: no ZooKeeper data")
	// ErrNoSnapshot is returned by Load when there are logs but no snapshot and
	// LoadOptions.TrustEmptySnapshot is not set (ZooKeeper refuses the same).
	ErrNoSnapshot = errors.New("zkdisk: transaction logs without a snapshot")
	// ErrTargetExists is returned by the directory writers when the target already
	// holds data they would overwrite.
	ErrTargetExists = errors.New("zkdisk: target already holds data")
)

// FileError locates a failure in a file: the file, the byte offset of the record
// or field that failed, and the cause (ErrCorrupt, ErrTruncated, ErrTooLarge or
// an I/O error). For compressed snapshots the offset is in the decompressed
// stream and Raw says roughly how far into the file the reader had got.
type FileError struct {
	File   string
	Offset int64
	// Decoded is set when Offset counts decompressed bytes (gzip, snappy).
	Decoded bool
	Raw     int64
	Err     error
}

func (e *FileError) Error() string {
	if e.Decoded {
		return fmt.Sprintf("%s: at offset %d of the decompressed stream (about byte %d of the file): %v",
			e.File, e.Offset, e.Raw, e.Err)
	}
	return fmt.Sprintf("%s: at offset %d: %v", e.File, e.Offset, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }
