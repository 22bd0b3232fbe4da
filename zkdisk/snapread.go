package zkdisk

import (
	"bufio"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/klauspost/compress/gzip"

	"zkd/datatree"
	"zkd/jute"
)

// Magic numbers of ZooKeeper's FileHeader.
const (
	SnapMagic   int32 = 0x5A4B534E // "ZKSN"
	LogMagic    int32 = 0x5A4B4C47 // "ZKLG"
	FileVersion int32 = 2
)

// ReadOptions bound and observe the readers.
type ReadOptions struct {
	// MaxBuffer is jute.maxbuffer (0: DefaultMaxBuffer). Strings, buffers and log
	// records up to twice this are accepted, as ZooKeeper 3.8 accepts them.
	MaxBuffer int
	// Progress, when set, is called periodically while reading.
	Progress func(Progress)
}

func (o ReadOptions) limit() int {
	m := o.MaxBuffer
	if m <= 0 {
		m = DefaultMaxBuffer
	}
	return 2 * m
}

// StatPersisted is a znode's stat as ZooKeeper stores it (cversion counts creates;
// ephemeralOwner holds the raw container and TTL markers).
type StatPersisted struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	Pzxid          int64
}

// SnapNode is one node of a snapshot, as the reader hands it over. Path is as
// stored ("" for the root). Path, Data and ACL are owned by the receiver; the
// SnapNode itself is reused for the next node.
type SnapNode struct {
	Path     string
	Data     []byte // nil: null data
	ACLIndex int64  // -1: OPEN_ACL_UNSAFE
	ACL      []jute.ACL
	Stat     StatPersisted
}

// ZxidDigest is a tree digest and the zxid it was taken at.
type ZxidDigest struct {
	Zxid    int64
	Version int32
	Digest  uint64
}

// SnapshotInfo is everything in a snapshot but its nodes.
type SnapshotInfo struct {
	File     string
	Codec    Codec
	Magic    int32
	Version  int32
	DBID     int64
	Sessions []datatree.SessionImage
	ACLs     map[int64][]jute.ACL
	Nodes    int64
	// Digest is the digest section (3.6+), nil when absent or empty (zxid 0).
	Digest *ZxidDigest
	// LastProcessedZxid is the 3.9 trailer; HasLastProcessedZxid says it is there.
	LastProcessedZxid    int64
	HasLastProcessedZxid bool
	// Bytes is the length of the (decompressed) stream.
	Bytes int64
}

// progressEvery is how many nodes or txns pass between Progress calls.
const progressEvery = 1 << 14

// maxTail bounds what is read after the first seal: the digest section, the 3.9
// trailer and their seals take 54 bytes.
const maxTail = 4096

// ReadSnapshotFile reads a snapshot file, choosing the codec from its name, and
// calls onNode for every node in file order.
func ReadSnapshotFile(path string, opt ReadOptions, onNode func(*SnapNode) error) (*SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var total int64
	if st, err := f.Stat(); err == nil {
		total = st.Size()
	}
	return readSnapshot(f, codecOf(filepath.Base(path)), path, total, opt, onNode)
}

// ReadSnapshot reads a snapshot stream in the given codec; name labels errors.
func ReadSnapshot(r io.Reader, codec Codec, name string, opt ReadOptions, onNode func(*SnapNode) error) (*SnapshotInfo, error) {
	return readSnapshot(r, codec, name, 0, opt, onNode)
}

func readSnapshot(r io.Reader, codec Codec, name string, total int64, opt ReadOptions, onNode func(*SnapNode) error) (*SnapshotInfo, error) {
	raw := &countingReader{r: r}
	info := &SnapshotInfo{File: name, Codec: codec, ACLs: map[int64][]jute.ACL{}}
	var src io.Reader
	switch codec {
	case CodecGzip:
		zr, err := gzip.NewReader(bufio.NewReaderSize(raw, 64<<10))
		if err != nil {
			return nil, &FileError{File: name, Decoded: true, Raw: raw.n.Load(), Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
		}
		defer zr.Close()
		src = zr
	case CodecSnappy:
		src = newSnappyReader(bufio.NewReaderSize(raw, 64<<10))
	default:
		src = raw
	}
	f := newFieldReader(src, opt.limit())
	fail := func(at int64, err error) (*SnapshotInfo, error) {
		fe := &FileError{File: name, Offset: at, Err: err}
		if codec != CodecPlain {
			fe.Decoded, fe.Raw = true, raw.n.Load()
		}
		return nil, fe
	}
	// failRead turns the reader's sticky error into a located one.
	failRead := func(what string) (*SnapshotInfo, error) {
		err := f.err
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			err = fmt.Errorf("%w: ends inside %s", ErrTruncated, what)
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrTooLarge):
			err = fmt.Errorf("%s: %w", what, err)
		default:
			// A decompressor's complaint (bad gzip data, checksum) is corruption.
			if !isIOError(err) {
				err = fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
			}
		}
		return fail(f.errAt, err)
	}

	info.Magic, info.Version, info.DBID = f.int(), f.int(), f.long()
	if f.err != nil {
		return failRead("the file header")
	}
	if info.Magic != SnapMagic {
		return fail(0, fmt.Errorf("%w: magic %#x, not a ZooKeeper snapshot (want %#x \"ZKSN\")", ErrCorrupt, uint32(info.Magic), SnapMagic))
	}
	n := f.count()
	for i := 0; i < n && f.err == nil; i++ {
		id, to := f.long(), f.int()
		info.Sessions = append(info.Sessions, datatree.SessionImage{ID: jute.SessionID(id), Timeout: to})
	}
	if f.err != nil {
		return failRead("the session list")
	}
	n = f.count()
	for i := 0; i < n && f.err == nil; i++ {
		at := f.offset()
		idx := f.long()
		cnt := f.count()
		if f.err == nil && cnt < 0 {
			return fail(at, fmt.Errorf("%w: ACL map entry %d has a null list", ErrCorrupt, idx))
		}
		var l []jute.ACL
		for j := 0; j < cnt && f.err == nil; j++ {
			perms := f.int()
			scheme, id := f.str(), f.str()
			l = append(l, jute.ACL{Perms: perms, ID: jute.Id{Scheme: scheme, ID: id}})
		}
		if f.err == nil {
			if _, dup := info.ACLs[idx]; dup {
				return fail(at, fmt.Errorf("%w: ACL map index %d twice", ErrCorrupt, idx))
			}
			info.ACLs[idx] = l
		}
	}
	if f.err != nil {
		return failRead("the ACL map")
	}
	var node SnapNode
	for {
		at := f.offset()
		path := f.str()
		if f.err != nil {
			return failRead("the node list")
		}
		if path == "/" {
			break
		}
		node = SnapNode{Path: path, Data: f.buffer(), ACLIndex: f.long()}
		s := &node.Stat
		s.Czxid, s.Mzxid, s.Ctime, s.Mtime = f.long(), f.long(), f.long(), f.long()
		s.Version, s.Cversion, s.Aversion = f.int(), f.int(), f.int()
		s.EphemeralOwner, s.Pzxid = f.long(), f.long()
		if f.err != nil {
			return failRead(fmt.Sprintf("node %q", path))
		}
		if node.ACLIndex == -1 {
			node.ACL = jute.OpenACLUnsafe
		} else if l, ok := info.ACLs[node.ACLIndex]; ok {
			node.ACL = l
		} else {
			return fail(at, fmt.Errorf("%w: node %q refers to ACL %d, not in the ACL map", ErrCorrupt, path, node.ACLIndex))
		}
		if err := onNode(&node); err != nil {
			var fe *FileError
			if errors.As(err, &fe) {
				return nil, err
			}
			return fail(at, err)
		}
		info.Nodes++
		if opt.Progress != nil && info.Nodes%progressEvery == 0 {
			opt.Progress(Progress{Phase: PhaseSnapshot, File: name, Nodes: info.Nodes, Bytes: raw.n.Load(), Total: total})
		}
	}
	// Seal 1: the Adler-32 of everything before it.
	at := f.offset()
	want := f.checksum()
	got, marker := f.long(), f.str()
	if f.err != nil {
		return failRead("the first seal")
	}
	if marker != "/" || uint32(got) != want || got>>32 != 0 {
		return fail(at, fmt.Errorf("%w: seal checksum %#x, computed %#x (ZooKeeper: CRC corruption)", ErrCorrupt, got, want))
	}
	tailAt := f.offset()
	f.checksum()
	sum := f.adler // the running checksum, now covering seal 1
	tail, more := f.rest(maxTail)
	if f.err != nil {
		return failRead("the digest section")
	}
	if err := info.parseTail(tail, sum); err != nil {
		return fail(tailAt, err)
	}
	if more {
		return fail(tailAt, fmt.Errorf("%w: more than %d bytes after the first seal", ErrCorrupt, maxTail))
	}
	info.Bytes = f.offset()
	if opt.Progress != nil {
		opt.Progress(Progress{Phase: PhaseSnapshot, File: name, Nodes: info.Nodes, Bytes: raw.n.Load(), Total: total})
	}
	return info, nil
}

// parseTail reads what may follow the first seal: the digest section with its
// seal (3.6+), then the lastProcessedZxid trailer with its seal (3.9). Either may
// be absent; ZooKeeper tells them apart the same way, by whether they parse. sum
// is the running Adler-32 up to the end of seal 1.
func (info *SnapshotInfo) parseTail(b []byte, sum hash.Hash32) error {
	rest := b
	// section parses one section (its body, then a seal) from rest; ok is false,
	// and nothing is consumed, if the bytes do not form one.
	section := func(body func(*jute.Decoder) bool) (ok bool, err error) {
		d := jute.NewDecoder(rest)
		if !body(&d) {
			return false, nil
		}
		bodyLen := len(rest) - d.Remaining()
		seal, marker := d.Long(), d.String()
		if d.Err() != nil || marker != "/" {
			return false, nil
		}
		used := len(rest) - d.Remaining()
		// The seal covers every byte before it: the running sum goes on.
		sum.Write(rest[:bodyLen])
		if want := sum.Sum32(); uint32(seal) != want || seal>>32 != 0 {
			return true, fmt.Errorf("%w: seal checksum %#x, computed %#x (ZooKeeper: CRC corruption)", ErrCorrupt, seal, want)
		}
		sum.Write(rest[bodyLen:used])
		rest = rest[used:]
		return true, nil
	}
	var dg ZxidDigest
	ok, err := section(func(d *jute.Decoder) bool {
		dg.Zxid, dg.Version = d.Long(), d.Int()
		if dg.Version >= 2 {
			dg.Digest = uint64(d.Long())
			return d.Err() == nil
		}
		// Digest version 1 stored the value as a hex string.
		s := d.String()
		v, perr := strconv.ParseUint(s, 16, 64)
		dg.Digest = v
		return d.Err() == nil && (perr == nil || s == "")
	})
	if err != nil {
		return err
	}
	if ok && dg.Zxid > 0 {
		info.Digest = &dg
	}
	var last int64
	ok, err = section(func(d *jute.Decoder) bool { last = d.Long(); return d.Err() == nil })
	if err != nil {
		return err
	}
	if ok {
		info.LastProcessedZxid, info.HasLastProcessedZxid = last, true
	}
	if len(rest) > 0 {
		// No writer leaves anything else: a section cut short, or damage.
		return fmt.Errorf("%w: %d bytes after the first seal are neither a digest section nor a 3.9 trailer", ErrCorrupt, len(rest))
	}
	return nil
}

// isIOError reports whether err came from the operating system rather than from
// the bytes read.
func isIOError(err error) bool {
	var pe *os.PathError
	var se interface{ Timeout() bool }
	return errors.As(err, &pe) || errors.As(err, &se)
}
