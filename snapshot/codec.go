package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"zkd/datatree"
	"zkd/jute"
)

var (
	fileMagic    = [8]byte{'Z', 'K', 'D', 'S', 'N', 'A', 'P', '2'}
	fileMagicV1  = [8]byte{'Z', 'K', 'D', 'S', 'N', 'A', 'P', '1'}
	trailerMagic = [8]byte{'Z', 'K', 'D', 'S', 'E', 'N', 'D', '1'}
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
)

// ErrCorrupt is returned by Decode when a snapshot fails a checksum or does not
// parse; the error names what was wrong.
var ErrCorrupt = errors.New("snapshot: corrupt")

// Meta is the raft position a snapshot reflects.
type Meta struct {
	Index uint64 // the last applied entry (zxid)
	Term  uint64
	// Membership is the raft membership as of Index, encoded by the quorum layer
	// (opaque here). Empty when unknown, e.g. in a snapshot made by an import.
	Membership []byte
	// Voters is the membership of a version 1 snapshot, which knew only voters.
	Voters []uint64
}

const (
	tagEnd  = 0
	tagNode = 1
	tagACL  = 2 // defines the next ACL list index
)

// Encode writes a snapshot of im with meta to w and returns the number of nodes.
func Encode(w io.Writer, meta Meta, im *datatree.Image) (int64, error) {
	hdr := binary.BigEndian.AppendUint64(nil, meta.Index)
	hdr = binary.BigEndian.AppendUint64(hdr, meta.Term)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(meta.Membership)))
	hdr = append(hdr, meta.Membership...)
	head := append(fileMagic[:], binary.BigEndian.AppendUint32(nil, uint32(len(hdr)))...)
	head = append(head, hdr...)
	head = binary.BigEndian.AppendUint32(head, crc32.Checksum(hdr, castagnoli))
	if _, err := w.Write(head); err != nil {
		return 0, err
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return 0, err
	}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(zw, crc), 256<<10)
	var buf []byte

	sessions := im.Sessions()
	buf = jute.AppendInt(buf[:0], int32(len(sessions)))
	for _, s := range sessions {
		buf = jute.AppendLong(buf, int64(s.ID))
		buf = jute.AppendInt(buf, s.Timeout)
		buf = jute.AppendLong(buf, int64(s.Conn))
		buf = jute.AppendLong(buf, int64(s.LastSeq))
	}
	if _, err := bw.Write(buf); err != nil {
		return 0, err
	}

	// ACL lists are written once, the first time a node uses one, and nodes refer
	// to them by index, as ZooKeeper's ACL map does; the tree interns its lists, so
	// there are few. Nodes stream straight from the image: nothing is buffered.
	aclIndex := make(map[string]uint32)
	var key []byte
	var count int64
	err = im.Nodes(func(n *datatree.NodeImage) error {
		key = key[:0]
		for i := range n.ACL {
			key = n.ACL[i].Append(key)
		}
		idx, ok := aclIndex[string(key)]
		buf = buf[:0]
		if !ok {
			idx = uint32(len(aclIndex))
			aclIndex[string(key)] = idx
			buf = append(buf, tagACL)
			buf = jute.AppendACLs(buf, n.ACL)
		}
		buf = append(buf, tagNode)
		buf = jute.AppendString(buf, n.Path)
		buf = jute.AppendBuffer(buf, n.Data)
		buf = jute.AppendInt(buf, int32(idx))
		buf = jute.AppendLong(buf, n.Czxid)
		buf = jute.AppendLong(buf, n.Mzxid)
		buf = jute.AppendLong(buf, n.Ctime)
		buf = jute.AppendLong(buf, n.Mtime)
		buf = jute.AppendInt(buf, n.Version)
		buf = jute.AppendInt(buf, n.Cversion)
		buf = jute.AppendInt(buf, n.Aversion)
		buf = jute.AppendLong(buf, n.Owner)
		buf = jute.AppendLong(buf, n.Pzxid)
		count++
		_, err := bw.Write(buf)
		return err
	})
	if err != nil {
		return 0, err
	}
	if err := bw.WriteByte(tagEnd); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	trailer := append(trailerMagic[:], binary.BigEndian.AppendUint64(nil, uint64(count))...)
	trailer = binary.BigEndian.AppendUint32(trailer, crc.Sum32())
	if _, err := w.Write(trailer); err != nil {
		return 0, err
	}
	return count, nil
}

// trailerSize is the fixed size of the trailer.
const trailerSize = 8 + 8 + 4

// Decode reads a whole snapshot (data is the file's contents) and rebuilds the tree.
func Decode(data []byte, cfg datatree.Config) (*datatree.Tree, Meta, error) {
	return decode(data, cfg, nil)
}

// progressFunc is told, every progressEvery nodes, how many nodes are loaded and
// how many of the file's bytes have been consumed.
type progressFunc func(nodes uint64, consumed, total int)

const progressEvery = 1 << 16

func decode(data []byte, cfg datatree.Config, progress progressFunc) (*datatree.Tree, Meta, error) {
	var meta Meta
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(data) < 8+4+4+trailerSize {
		return nil, meta, corrupt("not a zkd snapshot (too short)")
	}
	v1 := bytes.Equal(data[:8], fileMagicV1[:])
	if !v1 && !bytes.Equal(data[:8], fileMagic[:]) {
		return nil, meta, corrupt("not a zkd snapshot (bad magic)")
	}
	hlen := int(binary.BigEndian.Uint32(data[8:12]))
	if hlen < 20 || 12+hlen+4 > len(data)-trailerSize {
		return nil, meta, corrupt("header length %d", hlen)
	}
	hdr := data[12 : 12+hlen]
	if crc32.Checksum(hdr, castagnoli) != binary.BigEndian.Uint32(data[12+hlen:]) {
		return nil, meta, corrupt("header checksum mismatch")
	}
	meta.Index = binary.BigEndian.Uint64(hdr[0:])
	meta.Term = binary.BigEndian.Uint64(hdr[8:])
	n := int(binary.BigEndian.Uint32(hdr[16:]))
	switch {
	case v1 && 20+8*n == hlen:
		for i := 0; i < n; i++ {
			meta.Voters = append(meta.Voters, binary.BigEndian.Uint64(hdr[20+8*i:]))
		}
	case !v1 && 20+n == hlen:
		meta.Membership = bytes.Clone(hdr[20:])
	default:
		return nil, meta, corrupt("header membership length %d", n)
	}
	trailer := data[len(data)-trailerSize:]
	if !bytes.Equal(trailer[:8], trailerMagic[:]) {
		return nil, meta, corrupt("missing trailer (file not written to the end)")
	}
	wantNodes := binary.BigEndian.Uint64(trailer[8:])
	wantCRC := binary.BigEndian.Uint32(trailer[16:])

	// zstd reads ahead on its own goroutine: progress reads the count atomically.
	compressed := &countingReader{r: bytes.NewReader(data[12+hlen+4 : len(data)-trailerSize])}
	zr, err := zstd.NewReader(compressed)
	if err != nil {
		return nil, meta, corrupt("zstd: %v", err)
	}
	defer zr.Close()
	crc := crc32.New(castagnoli)
	r := &bodyReader{r: bufio.NewReaderSize(io.TeeReader(zr, crc), 256<<10)}

	nSessions := r.count(12)
	sessions := make([]datatree.SessionImage, 0, nSessions)
	for i := 0; i < nSessions && r.err == nil; i++ {
		s := datatree.SessionImage{ID: jute.SessionID(r.long()), Timeout: r.int()}
		if !v1 {
			s.Conn, s.LastSeq = uint64(r.long()), uint64(r.long())
		}
		sessions = append(sessions, s)
	}
	if r.err != nil {
		return nil, meta, corrupt("sessions: %v", r.err)
	}
	var acls [][]jute.ACL
	var count uint64
	var img datatree.NodeImage
	next := func() (*datatree.NodeImage, error) {
		tag := r.byte()
		for tag == tagACL && r.err == nil {
			n := r.count(12)
			l := make([]jute.ACL, 0, n)
			for j := 0; j < n && r.err == nil; j++ {
				l = append(l, jute.ACL{Perms: r.int(), ID: jute.Id{Scheme: r.str(), ID: r.str()}})
			}
			acls = append(acls, l)
			tag = r.byte()
		}
		if r.err != nil {
			return nil, corrupt("node %d: %v", count, r.err)
		}
		if tag == tagEnd {
			return nil, nil
		}
		if tag != tagNode {
			return nil, corrupt("node %d: tag %d", count, tag)
		}
		img = datatree.NodeImage{Path: r.str(), Data: r.buffer()}
		ai := r.int()
		img.Czxid, img.Mzxid, img.Ctime, img.Mtime = r.long(), r.long(), r.long(), r.long()
		img.Version, img.Cversion, img.Aversion = r.int(), r.int(), r.int()
		img.Owner, img.Pzxid = r.long(), r.long()
		if r.err != nil {
			return nil, corrupt("node %d: %v", count, r.err)
		}
		if ai < 0 || int(ai) >= len(acls) {
			return nil, corrupt("node %q: acl index %d of %d", img.Path, ai, len(acls))
		}
		img.ACL = acls[ai]
		count++
		if progress != nil && count%progressEvery == 0 {
			progress(count, 12+hlen+4+int(compressed.n.Load()), len(data))
		}
		return &img, nil
	}
	tree, err := datatree.Restore(cfg, jute.Zxid(meta.Index), sessions, next)
	if err != nil {
		return nil, meta, err
	}
	if count != wantNodes {
		return nil, meta, corrupt("%d nodes, trailer says %d", count, wantNodes)
	}
	if crc.Sum32() != wantCRC {
		return nil, meta, corrupt("body checksum mismatch")
	}
	return tree, meta, nil
}

// bodyReader reads jute-style fields from the decompressed body with a sticky error.
type bodyReader struct {
	r   *bufio.Reader
	err error
	tmp [8]byte
}

func (b *bodyReader) full(n int) []byte {
	if b.err != nil {
		return nil
	}
	if _, err := io.ReadFull(b.r, b.tmp[:n]); err != nil {
		b.err = err
		return nil
	}
	return b.tmp[:n]
}

func (b *bodyReader) byte() byte {
	if p := b.full(1); p != nil {
		return p[0]
	}
	return 0
}

func (b *bodyReader) int() int32 {
	if p := b.full(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

func (b *bodyReader) long() int64 {
	if p := b.full(8); p != nil {
		return int64(binary.BigEndian.Uint64(p))
	}
	return 0
}

// maxField bounds one string or buffer: no znode field may exceed jute's limits by
// this much, so a corrupt length cannot make the loader allocate gigabytes.
const maxField = 64 << 20

func (b *bodyReader) bytesField(allowNull bool) []byte {
	n := b.int()
	if b.err != nil {
		return nil
	}
	if n == -1 && allowNull {
		return nil
	}
	if n < 0 || n > maxField {
		b.err = fmt.Errorf("field length %d", n)
		return nil
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(b.r, out); err != nil {
		b.err = err
		return nil
	}
	return out
}

func (b *bodyReader) buffer() []byte { return b.bytesField(true) }
func (b *bodyReader) str() string    { return string(b.bytesField(false)) }

// count reads a vector count, refusing counts that could not fit in any real tree.
func (b *bodyReader) count(minElem int) int {
	n := b.int()
	if b.err == nil && (n < 0 || int64(n)*int64(minElem) > 1<<36) {
		b.err = fmt.Errorf("count %d", n)
	}
	if b.err != nil {
		return 0
	}
	return int(n)
}

// countingReader counts the bytes read through it; n may be read from any goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
