package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"zkd/datatree"
	"zkd/jute"
)

var (
	fileMagic    = [8]byte{'Z', 'K', 'D', 'S', 'N', 'A', 'P', '3'}
	fileMagicV2  = [8]byte{'Z', 'K', 'D', 'S', 'N', 'A', 'P', '2'}
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
	// S2 rather than zstd (doc.go): a snapshot is written while the server is
	// busy. One encoder goroutine: the snapshot is background work and should
	// not take both cores from the requests.
	zw := s2.NewWriter(w, s2.WriterConcurrency(1))
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
	var prev nodeCoder
	var sinceYield int
	err := im.Nodes(func(n *datatree.NodeImage) error {
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
		buf = prev.append(buf, n, idx)
		count++
		if sinceYield += len(buf); sinceYield >= yieldBytes {
			sinceYield = 0
			runtime.Gosched()
		}
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

// yieldBytes is how much the encoder writes between giving up its core. Go's
// scheduler otherwise leaves a running goroutine its P for up to 10 ms while
// others wait for it: on two cores a snapshot of 100k znodes, written about once
// a second under setData load, held one for most of its 60 ms, and the requests
// in flight queued behind it. 32 KiB is some 256 znodes of 100 bytes, 50-75 us
// of encoding. A yield on an idle server wakes a thread to look for work (about
// 10 us): a snapshot of 1M znodes alone takes 0.04 CPU-s more (+38%); under load
// the core goes to a goroutine that was waiting for it.
const yieldBytes = 32 << 10

// trailerSize is the fixed size of the trailer.
const trailerSize = 8 + 8 + 4

// Decode reads a whole snapshot (data is the file's contents) and rebuilds the tree.
func Decode(data []byte, cfg datatree.Config) (*datatree.Tree, Meta, error) {
	return decode(bytes.NewReader(data), int64(len(data)), cfg, nil)
}

// progressFunc is told, every progressEvery nodes, how many nodes are loaded and
// how many of the file's bytes have been consumed.
type progressFunc func(nodes uint64, consumed, total int)

const progressEvery = 1 << 16

// decode reads a snapshot of size bytes from src. The file is streamed: only the
// header and the trailer are read whole, and the body passes through the S2 (or,
// before version 3, zstd) decoder in bounded buffers, so nothing the size of the
// file stays referenced.
// Decompression and parsing run on a goroutine of their own and hand the tree
// builder (datatree.Restore, on the caller's goroutine) batches of nodes, so the
// two halves of a load use two cores.
func decode(src io.ReaderAt, size int64, cfg datatree.Config, progress progressFunc) (*datatree.Tree, Meta, error) {
	var meta Meta
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	var prefix [12]byte
	if size < 8+4+4+trailerSize {
		return nil, meta, corrupt("not a zkd snapshot (too short)")
	}
	if _, err := src.ReadAt(prefix[:], 0); err != nil {
		return nil, meta, fmt.Errorf("snapshot: read header: %w", err)
	}
	v1 := bytes.Equal(prefix[:8], fileMagicV1[:])
	zstdBody := v1 || bytes.Equal(prefix[:8], fileMagicV2[:])
	if !zstdBody && !bytes.Equal(prefix[:8], fileMagic[:]) {
		if v := prefix[7]; bytes.Equal(prefix[:7], fileMagic[:7]) && v > fileMagic[7] && v <= '9' {
			return nil, meta, fmt.Errorf("snapshot: format version %c, newer than this zkd reads (%c): written by a later zkd", v, fileMagic[7])
		}
		return nil, meta, corrupt("not a zkd snapshot (bad magic)")
	}
	hlen := int(binary.BigEndian.Uint32(prefix[8:12]))
	if hlen < 20 || int64(12+hlen+4) > size-trailerSize {
		return nil, meta, corrupt("header length %d", hlen)
	}
	data := make([]byte, 12+hlen+4) // the header and its checksum
	if _, err := src.ReadAt(data, 0); err != nil {
		return nil, meta, fmt.Errorf("snapshot: read header: %w", err)
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
	trailer := make([]byte, trailerSize)
	if _, err := src.ReadAt(trailer, size-trailerSize); err != nil {
		return nil, meta, fmt.Errorf("snapshot: read trailer: %w", err)
	}
	if !bytes.Equal(trailer[:8], trailerMagic[:]) {
		return nil, meta, corrupt("missing trailer (file not written to the end)")
	}
	wantNodes := binary.BigEndian.Uint64(trailer[8:])
	wantCRC := binary.BigEndian.Uint32(trailer[16:])

	// The decompressor may read ahead on a goroutine of its own: progress reads
	// the count atomically.
	bodyStart := int64(12 + hlen + 4)
	compressed := &countingReader{r: io.NewSectionReader(src, bodyStart, size-trailerSize-bodyStart)}
	var plain io.Reader
	if zstdBody {
		zr, err := zstd.NewReader(compressed, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, meta, corrupt("zstd: %v", err)
		}
		defer zr.Close()
		plain = zr
	} else {
		plain = s2.NewReader(compressed)
	}
	crc := crc32.New(castagnoli)
	r := &bodyReader{r: bufio.NewReaderSize(io.TeeReader(plain, crc), 256<<10)}

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

	datatree.ReserveHeap(int(min(wantNodes, math.MaxInt32)))
	p := newParser(r, corrupt)
	p.compact = !zstdBody
	if wantNodes >= datatree.PrefaultFrom {
		stopPrefault := p.blobs.Prefault()
		defer stopPrefault() // after p.stop (deferred below): the arena is the parser's
	}
	go p.run()
	defer p.stop()
	var count uint64
	var cur *nodeBatch
	var pos int
	next := func() (*datatree.NodeImage, error) {
		for cur == nil || pos == len(cur.nodes) {
			if cur != nil {
				if cur.err != nil || cur.end {
					return nil, cur.err
				}
				p.free <- cur
			}
			cur, pos = <-p.full, 0
		}
		img := &cur.nodes[pos]
		pos++
		count++
		if progress != nil && count%progressEvery == 0 {
			progress(count, int(bodyStart)+int(compressed.n.Load()), int(size))
		}
		return img, nil
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

// nodeBatch is a run of parsed nodes. Their paths and data alias buf, so a batch
// is reused only once the builder has asked for the node after its last one (by
// then Restore has copied everything it keeps).
type nodeBatch struct {
	nodes []datatree.NodeImage
	buf   []byte
	end   bool  // the body's end tag was read; nodes holds the last ones
	err   error // parsing stopped here; nodes holds those before the error
}

const (
	batchNodes = 2048
	batchBytes = 512 << 10
	batches    = 4 // in flight between parser and builder
)

// parser decompresses and parses the node records on its own goroutine.
type parser struct {
	r       *bodyReader
	corrupt func(string, ...any) error
	acls    [][]jute.ACL
	compact bool               // version 3 node records (nodeCoder), else version 1 and 2's
	prev    nodeCoder          // the node before, for compact records
	blobs   datatree.BlobArena // the restored nodes' path and data
	count   uint64
	full    chan *nodeBatch // parsed, for the builder
	free    chan *nodeBatch // consumed, for the parser
	done    chan struct{}   // closed by stop: the builder has gone
	exitc   chan struct{}   // closed by run when it returns
}

func newParser(r *bodyReader, corrupt func(string, ...any) error) *parser {
	p := &parser{r: r, corrupt: corrupt, full: make(chan *nodeBatch, batches),
		free: make(chan *nodeBatch, batches), done: make(chan struct{}), exitc: make(chan struct{})}
	for range batches {
		p.free <- &nodeBatch{nodes: make([]datatree.NodeImage, 0, batchNodes), buf: make([]byte, 0, batchBytes)}
	}
	return p
}

// stop tells the parser that nothing more will be read, and waits for it to
// leave, so it never touches the decoder after decode has closed it.
func (p *parser) stop() {
	close(p.done)
	<-p.exitc
}

func (p *parser) run() {
	defer close(p.exitc)
	for {
		var b *nodeBatch
		select {
		case b = <-p.free:
		case <-p.done:
			return
		}
		b.nodes, b.buf = b.nodes[:0], b.buf[:0]
		p.fill(b)
		select {
		case p.full <- b:
		case <-p.done:
			return
		}
		if b.end || b.err != nil {
			return
		}
	}
}

// fill parses nodes into b until it is full, the body ends, or an error.
func (p *parser) fill(b *nodeBatch) {
	r := p.r
	for len(b.nodes) < batchNodes && len(b.buf) < batchBytes {
		tag := r.byte()
		for tag == tagACL && r.err == nil {
			n := r.count(12)
			l := make([]jute.ACL, 0, n)
			for j := 0; j < n && r.err == nil; j++ {
				l = append(l, jute.ACL{Perms: r.int(), ID: jute.Id{Scheme: r.str(), ID: r.str()}})
			}
			p.acls = append(p.acls, l)
			tag = r.byte()
		}
		if r.err != nil {
			b.err = p.corrupt("node %d: %v", p.count, r.err)
			return
		}
		if tag == tagEnd {
			b.end = true
			return
		}
		if tag != tagNode {
			b.err = p.corrupt("node %d: tag %d", p.count, tag)
			return
		}
		var img datatree.NodeImage
		var ai int64
		if p.compact {
			b.buf, ai = p.prev.read(r, b.buf, &img)
		} else {
			b.buf, ai = p.readFixed(b.buf, &img)
		}
		if r.err != nil {
			b.err = p.corrupt("node %d: %v", p.count, r.err)
			return
		}
		if ai < 0 || ai >= int64(len(p.acls)) {
			b.err = p.corrupt("node %q: acl index %d of %d", img.Path, ai, len(p.acls))
			return
		}
		img.ACL = p.acls[ai]
		img.Own(&p.blobs) // the node's copy happens here, off the builder's core
		b.nodes = append(b.nodes, img)
		p.count++
	}
}

// readFixed reads the rest of a version 1 or 2 node record onto buf, filling img
// (its path and data alias buf) but for its ACL, whose index it returns.
func (p *parser) readFixed(buf []byte, img *datatree.NodeImage) ([]byte, int64) {
	r := p.r
	start := len(buf)
	buf, _ = r.appendField(buf, false)
	pathEnd := len(buf)
	var null bool
	buf, null = r.appendField(buf, true)
	fixed := r.fixed()
	if r.err != nil {
		return buf, 0
	}
	*img = datatree.NodeImage{
		Czxid:    int64(binary.BigEndian.Uint64(fixed[4:])),
		Mzxid:    int64(binary.BigEndian.Uint64(fixed[12:])),
		Ctime:    int64(binary.BigEndian.Uint64(fixed[20:])),
		Mtime:    int64(binary.BigEndian.Uint64(fixed[28:])),
		Version:  int32(binary.BigEndian.Uint32(fixed[36:])),
		Cversion: int32(binary.BigEndian.Uint32(fixed[40:])),
		Aversion: int32(binary.BigEndian.Uint32(fixed[44:])),
		Owner:    int64(binary.BigEndian.Uint64(fixed[48:])),
		Pzxid:    int64(binary.BigEndian.Uint64(fixed[56:])),
	}
	aliasPathData(img, buf, start, pathEnd, !null)
	return buf, int64(int32(binary.BigEndian.Uint32(fixed[0:])))
}

// aliasPathData points img's path at buf[start:pathEnd] and, unless the data is
// null, its data at the rest of buf: a record's path and data are read onto buf
// one after the other, and the builder copies them into the tree's blobs.
func aliasPathData(img *datatree.NodeImage, buf []byte, start, pathEnd int, hasData bool) {
	img.Path = unsafe.String(unsafe.SliceData(buf[start:]), pathEnd-start)
	if hasData {
		img.Data = buf[pathEnd:len(buf):len(buf)]
	}
}

// bodyReader reads jute-style fields from the decompressed body with a sticky error.
type bodyReader struct {
	r   *bufio.Reader
	err error
	tmp [64]byte
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

// appendField reads a string or buffer onto dst; null reports a null buffer
// (length -1, allowed only when allowNull).
func (b *bodyReader) appendField(dst []byte, allowNull bool) (out []byte, null bool) {
	n := b.int()
	if b.err != nil {
		return dst, false
	}
	if n == -1 && allowNull {
		return dst, true
	}
	if n < 0 || n > maxField {
		b.err = fmt.Errorf("field length %d", n)
		return dst, false
	}
	return b.appendN(dst, int(n)), false
}

// appendN reads n bytes onto dst.
func (b *bodyReader) appendN(dst []byte, n int) []byte {
	if b.err != nil {
		return dst
	}
	dst = slices.Grow(dst, n)
	l := len(dst)
	if _, err := io.ReadFull(b.r, dst[l:l+n]); err != nil {
		b.err = err
		return dst
	}
	return dst[:l+n]
}

// fixed reads the 64 bytes that follow a node's data: acl index, czxid, mzxid,
// ctime, mtime, version, cversion, aversion, owner, pzxid. The result is valid
// until the next read.
func (b *bodyReader) fixed() []byte {
	if b.err != nil {
		return b.tmp[:]
	}
	if _, err := io.ReadFull(b.r, b.tmp[:]); err != nil {
		b.err = err
	}
	return b.tmp[:]
}
func (b *bodyReader) str() string { return string(b.bytesField(false)) }

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
