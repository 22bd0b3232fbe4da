package zkdisk

import (
	"bytes"
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// VersionDir is the directory ZooKeeper keeps its files in under dataDir and
// dataLogDir; the name encodes on-disk format version 2.
const VersionDir = "version-2"

const (
	snapPrefix = "snapshot"
	logPrefix  = "log"
)

// Codec is a snapshot's stream encoding, chosen by its file name's extension.
type Codec int

const (
	// CodecPlain is an uncompressed snapshot (ZooKeeper's "CHECKED" mode).
	CodecPlain Codec = iota
	// CodecGzip is a gzip-compressed snapshot (".gz").
	CodecGzip
	// CodecSnappy is a snapshot in snappy-java's SnappyOutputStream framing (".snappy").
	CodecSnappy
)

func (c Codec) String() string {
	switch c {
	case CodecGzip:
		return "gz"
	case CodecSnappy:
		return "snappy"
	}
	return "plain"
}

// suffix is the file name extension ZooKeeper gives the codec.
func (c Codec) suffix() string {
	switch c {
	case CodecGzip:
		return ".gz"
	case CodecSnappy:
		return ".snappy"
	}
	return ""
}

// ParseCodec maps ZooKeeper's zookeeper.snapshot.compression.method values to a
// Codec; "" and anything unknown is plain, as in ZooKeeper.
func ParseCodec(s string) Codec {
	switch strings.ToLower(s) {
	case "gz":
		return CodecGzip
	case "snappy":
		return CodecSnappy
	}
	return CodecPlain
}

// SnapshotFile is one snapshot file of a version-2 directory.
type SnapshotFile struct {
	Path  string
	Zxid  int64 // from the file name: the last zxid applied when it was started
	Codec Codec
	Size  int64
}

// LogFile is one transaction log file of a version-2 directory.
type LogFile struct {
	Path string
	Zxid int64 // from the file name: the zxid of the first txn written to it
	Size int64
}

// zxidFromName parses ZooKeeper's file names as Util.getZxidFromName does: split
// on ".", part 0 must be the prefix and part 1 a (signed 64-bit) hex number.
func zxidFromName(name, prefix string) (int64, bool) {
	parts := strings.Split(name, ".")
	if len(parts) < 2 || parts[0] != prefix {
		return 0, false
	}
	z, err := strconv.ParseInt(parts[1], 16, 64)
	if err != nil {
		return 0, false
	}
	return z, true
}

// codecOf picks the codec from the last "."-component, as SnapStream.getStreamMode.
func codecOf(name string) Codec {
	parts := strings.Split(name, ".")
	if len(parts) > 1 {
		return ParseCodec(parts[len(parts)-1])
	}
	return CodecPlain
}

// SnapshotName is ZooKeeper's file name for a snapshot of zxid with codec c.
func SnapshotName(zxid int64, c Codec) string {
	return snapPrefix + "." + strconv.FormatInt(zxid, 16) + c.suffix()
}

// LogName is ZooKeeper's file name for a log whose first txn is zxid.
func LogName(zxid int64) string { return logPrefix + "." + strconv.FormatInt(zxid, 16) }

// readDirNames lists dir; a missing directory has no entries.
func readDirNames(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	return ents, err
}

// ListSnapshots returns the snapshots in a version-2 directory, newest first
// (by zxid; for equal zxids, by name).
func ListSnapshots(dir string) ([]SnapshotFile, error) {
	ents, err := readDirNames(dir)
	if err != nil {
		return nil, err
	}
	var out []SnapshotFile
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		z, ok := zxidFromName(e.Name(), snapPrefix)
		if !ok {
			continue
		}
		var size int64
		if info, err := e.Info(); err == nil {
			size = info.Size()
		}
		out = append(out, SnapshotFile{Path: filepath.Join(dir, e.Name()), Zxid: z, Codec: codecOf(e.Name()), Size: size})
	}
	slices.SortStableFunc(out, func(a, b SnapshotFile) int {
		if a.Zxid != b.Zxid {
			if a.Zxid > b.Zxid {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
	return out, nil
}

// ListLogs returns the transaction logs in a version-2 directory, oldest first.
func ListLogs(dir string) ([]LogFile, error) {
	ents, err := readDirNames(dir)
	if err != nil {
		return nil, err
	}
	var out []LogFile
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		z, ok := zxidFromName(e.Name(), logPrefix)
		if !ok {
			continue
		}
		var size int64
		if info, err := e.Info(); err == nil {
			size = info.Size()
		}
		out = append(out, LogFile{Path: filepath.Join(dir, e.Name()), Zxid: z, Size: size})
	}
	slices.SortStableFunc(out, func(a, b LogFile) int {
		switch {
		case a.Zxid < b.Zxid:
			return -1
		case a.Zxid > b.Zxid:
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
	return out, nil
}

// endMarker is the ustring "/" that ends the node list and every seal.
var endMarker = []byte{0, 0, 0, 1, '/'}

// snappyMagic opens a snappy-java stream.
var snappyMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// QuickCheck is ZooKeeper's cheap test of a snapshot file before parsing it
// (SnapStream.isValidSnapshot): a plain file ends with the end marker, a gzip file
// starts with the gzip magic, a snappy file with snappy-java's magic. It returns
// nil or why the file fails.
func QuickCheck(s SnapshotFile) error {
	f, err := os.Open(s.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	switch s.Codec {
	case CodecGzip:
		var b [2]byte
		if _, err := f.ReadAt(b[:], 0); err != nil || b[0] != 0x1f || b[1] != 0x8b {
			return errors.New("no gzip magic")
		}
	case CodecSnappy:
		var b [8]byte
		if _, err := f.ReadAt(b[:], 0); err != nil || !bytes.Equal(b[:], snappyMagic) {
			return errors.New("no snappy-java magic")
		}
	default:
		if info.Size() < 10 {
			return errors.New("shorter than 10 bytes")
		}
		var b [5]byte
		if _, err := f.ReadAt(b[:], info.Size()-5); err != nil || !bytes.Equal(b[:], endMarker) {
			return errors.New(`does not end with the "/" marker (written only in part?)`)
		}
	}
	return nil
}
