package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"zkd/datatree"
)

// nodeCoder writes and reads version 3's node records, each relative to the
// record before it: the path as the length it shares with the path before and
// the rest, the data length plus one (0 for null), the ACL index, and the stat
// as varints of differences (czxid and ctime from the node before, mzxid and
// pzxid from czxid, mtime from ctime), the versions and the owner as they are.
// Nodes come in creation order, so most of these are a byte or two: the fixed
// 8-byte fields of version 2 were a third of an uncompressed record and, to a
// compressor without an entropy stage, nearly incompressible. An encoder and a
// decoder each keep one nodeCoder for the whole body.
type nodeCoder struct {
	path  []byte
	czxid int64
	ctime int64
}

func (c *nodeCoder) append(buf []byte, n *datatree.NodeImage, acl uint32) []byte {
	shared := 0
	for shared < len(c.path) && shared < len(n.Path) && c.path[shared] == n.Path[shared] {
		shared++
	}
	buf = binary.AppendUvarint(buf, uint64(shared))
	buf = binary.AppendUvarint(buf, uint64(len(n.Path)-shared))
	buf = append(buf, n.Path[shared:]...)
	c.path = append(c.path[:0], n.Path...)
	if n.Data == nil {
		buf = append(buf, 0)
	} else {
		buf = binary.AppendUvarint(buf, uint64(len(n.Data))+1)
		buf = append(buf, n.Data...)
	}
	buf = binary.AppendUvarint(buf, uint64(acl))
	buf = binary.AppendVarint(buf, n.Czxid-c.czxid)
	buf = binary.AppendVarint(buf, n.Mzxid-n.Czxid)
	buf = binary.AppendVarint(buf, n.Pzxid-n.Czxid)
	buf = binary.AppendVarint(buf, n.Ctime-c.ctime)
	buf = binary.AppendVarint(buf, n.Mtime-n.Ctime)
	buf = binary.AppendVarint(buf, int64(n.Version))
	buf = binary.AppendVarint(buf, int64(n.Cversion))
	buf = binary.AppendVarint(buf, int64(n.Aversion))
	buf = binary.AppendVarint(buf, n.Owner)
	c.czxid, c.ctime = n.Czxid, n.Ctime
	return buf
}

// read reads the rest of a node record (after its tag) onto buf and fills img,
// whose path and data alias buf, but for its ACL, whose index it returns. A
// failure is left in r.err.
func (c *nodeCoder) read(r *bodyReader, buf []byte, img *datatree.NodeImage) ([]byte, int64) {
	shared, rest := r.uvarint(), r.uvarint()
	if r.err == nil && (shared > uint64(len(c.path)) || rest > maxField) {
		r.err = fmt.Errorf("path of %d bytes shared and %d more after a path of %d", shared, rest, len(c.path))
	}
	if r.err != nil {
		return buf, 0
	}
	start := len(buf)
	buf = append(buf, c.path[:shared]...)
	buf = r.appendN(buf, int(rest))
	pathEnd := len(buf)
	c.path = append(c.path[:0], buf[start:pathEnd]...)
	dataLen := r.uvarint()
	if r.err == nil && dataLen > maxField+1 {
		r.err = fmt.Errorf("field length %d", dataLen-1)
	}
	if dataLen > 0 {
		buf = r.appendN(buf, int(dataLen-1))
	}
	acl := r.uvarint()
	czxid := c.czxid + r.varint()
	mzxid, pzxid := czxid+r.varint(), czxid+r.varint()
	ctime := c.ctime + r.varint()
	mtime := ctime + r.varint()
	version, cversion, aversion := r.int32v(), r.int32v(), r.int32v()
	owner := r.varint()
	if r.err != nil {
		return buf, 0
	}
	c.czxid, c.ctime = czxid, ctime
	*img = datatree.NodeImage{
		Czxid: czxid, Mzxid: mzxid, Pzxid: pzxid, Ctime: ctime, Mtime: mtime,
		Version: version, Cversion: cversion, Aversion: aversion, Owner: owner,
	}
	aliasPathData(img, buf, start, pathEnd, dataLen > 0)
	return buf, int64(min(acl, 1<<62))
}

var errVarint = errors.New("malformed varint")

// uvarint reads a varint from the buffered body without a call per byte.
func (b *bodyReader) uvarint() uint64 {
	if b.err != nil {
		return 0
	}
	p, _ := b.r.Peek(binary.MaxVarintLen64) // short only at the body's end
	v, n := binary.Uvarint(p)
	switch {
	case n == 0:
		b.err = io.ErrUnexpectedEOF
		return 0
	case n < 0:
		b.err = errVarint
		return 0
	}
	_, _ = b.r.Discard(n)
	return v
}

func (b *bodyReader) varint() int64 {
	u := b.uvarint()
	return int64(u>>1) ^ -int64(u&1) // binary.PutVarint's zig-zag
}

// int32v reads a varint that must fit an int32 (a version).
func (b *bodyReader) int32v() int32 {
	v := b.varint()
	if v != int64(int32(v)) && b.err == nil {
		b.err = fmt.Errorf("version %d out of range", v)
	}
	return int32(v)
}
