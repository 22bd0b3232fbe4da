package zkdisk

import (
	"bufio"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"

	"zkd/datatree"
	"zkd/jute"
)

// SnapshotWriteInfo describes a snapshot written by WriteSnapshot.
type SnapshotWriteInfo struct {
	Nodes      int64
	Ephemerals int
	DataBytes  int64
	Digest     uint64 // tree digest, also stored in the digest section
	Bytes      int64  // bytes of the (uncompressed) stream
}

// ErrBadTree is returned by WriteSnapshot for nodes that do not form a tree.
var ErrBadTree = errors.New("zkdisk: nodes do not form a tree")

// WriteSnapshot writes a ZooKeeper 3.8 snapshot stream of the given tree state to
// w, in codec c:
//
//	FileHeader | sessions | ACL map | nodes from "" in parent-before-child order |
//	"/" | seal 1 | digest section (zxid, 2, digest) | seal 2
//
// nodes are sorted by path in place (a parent's path sorts before its children's,
// so sorted is parent-before-child); the root is written under "", ZooKeeper's
// name for it. Every node gets an ACL map index (ZooKeeper's built-in nodes use
// -1 for OPEN_ACL_UNSAFE; a real index reads back the same). zxid is both the
// snapshot's and its digest's: the state is not fuzzy, so ZooKeeper checks the
// digest as soon as it has loaded the file. progress, if set, is called every so
// many nodes.
func WriteSnapshot(w io.Writer, c Codec, zxid int64, sessions []datatree.SessionImage, nodes []datatree.NodeImage, progress func(Progress)) (SnapshotWriteInfo, error) {
	var info SnapshotWriteInfo
	slices.SortFunc(nodes, func(a, b datatree.NodeImage) int { return strings.Compare(a.Path, b.Path) })
	if len(nodes) == 0 || nodes[0].Path != "/" {
		return info, fmt.Errorf("%w: no root", ErrBadTree)
	}
	for i := 1; i < len(nodes); i++ {
		if nodes[i].Path == nodes[i-1].Path {
			return info, fmt.Errorf("%w: %q twice", ErrBadTree, nodes[i].Path)
		}
		if !datatree.ValidatePath(nodes[i].Path) {
			return info, fmt.Errorf("%w: bad path %q", ErrBadTree, nodes[i].Path)
		}
	}
	// The ACL map precedes the nodes: index every distinct list first.
	type aclEntry struct {
		index int64
		acl   []jute.ACL
	}
	var order []aclEntry
	byKey := make(map[string]int64)
	var key []byte
	indexOf := func(acl []jute.ACL) (int64, bool) {
		key = key[:0]
		for i := range acl {
			key = acl[i].Append(key)
		}
		idx, ok := byKey[string(key)]
		if !ok {
			idx = int64(len(order) + 1)
			byKey[string(key)] = idx
			order = append(order, aclEntry{idx, acl})
		}
		return idx, ok
	}
	for i := range nodes {
		indexOf(nodes[i].ACL)
	}

	var cw io.Writer = w
	var closer io.Closer
	switch c {
	case CodecGzip:
		zw := gzip.NewWriter(w)
		cw, closer = zw, zw
	case CodecSnappy:
		sw := newSnappyWriter(w)
		cw, closer = sw, sw
	}
	sum := adler32.New()
	counted := &countingWriter{w: io.MultiWriter(cw, sum)}
	bw := bufio.NewWriterSize(counted, 1<<20)
	var buf []byte
	buf = jute.AppendInt(buf, SnapMagic)
	buf = jute.AppendInt(buf, FileVersion)
	buf = jute.AppendLong(buf, -1)
	sorted := slices.Clone(sessions)
	slices.SortFunc(sorted, func(a, b datatree.SessionImage) int { return cmpInt(int64(a.ID), int64(b.ID)) })
	buf = jute.AppendInt(buf, int32(len(sorted)))
	for _, s := range sorted {
		buf = jute.AppendLong(buf, int64(s.ID))
		buf = jute.AppendInt(buf, s.Timeout)
	}
	buf = jute.AppendInt(buf, int32(len(order)))
	for _, e := range order {
		buf = jute.AppendLong(buf, e.index)
		buf = jute.AppendACLs(buf, e.acl)
	}
	if _, err := bw.Write(buf); err != nil {
		return info, err
	}
	for i := range nodes {
		n := &nodes[i]
		idx, _ := indexOf(n.ACL)
		path := n.Path
		if path == "/" {
			path = ""
		}
		buf = jute.AppendString(buf[:0], path)
		buf = jute.AppendBuffer(buf, n.Data)
		buf = jute.AppendLong(buf, idx)
		buf = jute.AppendLong(buf, n.Czxid)
		buf = jute.AppendLong(buf, n.Mzxid)
		buf = jute.AppendLong(buf, n.Ctime)
		buf = jute.AppendLong(buf, n.Mtime)
		buf = jute.AppendInt(buf, n.Version)
		buf = jute.AppendInt(buf, n.Cversion)
		buf = jute.AppendInt(buf, n.Aversion)
		buf = jute.AppendLong(buf, n.Owner)
		buf = jute.AppendLong(buf, n.Pzxid)
		if _, err := bw.Write(buf); err != nil {
			return info, err
		}
		info.Nodes++
		info.DataBytes += int64(len(n.Data))
		info.Digest += datatree.NodeDigest(n)
		if isSessionOwner(n.Owner) {
			info.Ephemerals++
		}
		if progress != nil && info.Nodes%progressEvery == 0 {
			progress(Progress{Phase: PhaseWrite, Nodes: info.Nodes, TotalNodes: int64(len(nodes)), Bytes: counted.n + int64(bw.Buffered())})
		}
	}
	if _, err := bw.Write(endMarker); err != nil {
		return info, err
	}
	seal := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		b := jute.AppendLong(nil, int64(sum.Sum32()))
		_, err := bw.Write(append(b, endMarker...))
		return err
	}
	if err := seal(); err != nil {
		return info, err
	}
	buf = jute.AppendLong(buf[:0], zxid)
	buf = jute.AppendInt(buf, datatree.DigestVersion)
	buf = jute.AppendLong(buf, int64(info.Digest))
	if _, err := bw.Write(buf); err != nil {
		return info, err
	}
	if err := seal(); err != nil {
		return info, err
	}
	if err := bw.Flush(); err != nil {
		return info, err
	}
	if closer != nil {
		if err := closer.Close(); err != nil {
			return info, err
		}
	}
	info.Bytes = counted.n
	if progress != nil {
		progress(Progress{Phase: PhaseWrite, Nodes: info.Nodes, TotalNodes: int64(len(nodes)), Bytes: counted.n})
	}
	return info, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
