package datatree

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"sync"
)

// DigestVersion is the version of ZooKeeper's digest scheme NodeDigest follows;
// ZooKeeper writes it beside every digest it stores (spec/disk.md §5).
const DigestVersion = 2

// NodeDigest is ZooKeeper's digest of one znode (DigestCalculator, version 2): the
// CRC-32 of the path, the data and the stored stat. Nodes under /zookeeper/
// contribute 0, and the root is digested under the path "", so the sum of
// NodeDigest over a tree equals the tree digest ZooKeeper 3.6+ prints in `hash`
// and stores in its snapshots and log records.
//
// Reference: ZooKeeper DigestCalculator.calculateDigest.
func NodeDigest(n *NodeImage) uint64 {
	d := digesters.Get().(*digester)
	sum := d.of(n.Path, n.Data, &persisted{czxid: n.Czxid, mzxid: n.Mzxid, pzxid: n.Pzxid,
		ctime: n.Ctime, mtime: n.Mtime, owner: n.Owner,
		version: n.Version, cversion: n.Cversion, aversion: n.Aversion})
	digesters.Put(d)
	return sum
}

// digesters keeps NodeDigest's buffers: an import digests every node and every
// transaction's nodes, a million calls for a million znodes.
var digesters = sync.Pool{New: func() any { return new(digester) }}

// digester computes node digests into a buffer of its own, reused: crc32 calls
// through a function value, so a buffer on the stack would escape, costing an
// allocation per digest. Path, data and stat go through crc32 as one run of
// bytes: the hardware path (CLMUL) takes only runs of 64 bytes or more, and the
// path and the stat alone are shorter, so three calls spent most of their time
// in the table-driven loop. A digester is used by one goroutine at a time.
type digester struct{ b []byte }

// node is NodeDigest of a stored node.
func (d *digester) node(n *node) uint64 {
	st := n.stored()
	return d.of(n.path(), n.data(), &st)
}

func (d *digester) of(path string, data []byte, st *persisted) uint64 {
	if strings.HasPrefix(path, "/zookeeper/") {
		return 0
	}
	if path == "/" {
		path = ""
	}
	if len(data) >= inPlaceDigestData {
		// Long data is fast through crc32 on its own: checksum it where it is
		// rather than copy it (up to a MiB) into the buffer.
		b := append(d.b[:0], path...)
		crc := crc32.Update(0, crc32.IEEETable, b)
		crc = crc32.Update(crc, crc32.IEEETable, data)
		b = appendStat(b[:0], st)
		d.keep(b)
		return uint64(crc32.Update(crc, crc32.IEEETable, b))
	}
	b := append(d.b[:0], path...)
	b = appendStat(append(b, data...), st)
	d.keep(b)
	return uint64(crc32.ChecksumIEEE(b))
}

// keep makes b the digester's buffer for the next digest, unless it is large.
func (d *digester) keep(b []byte) {
	if cap(b) <= maxKeptDigestBuf {
		d.b = b
	}
}

// inPlaceDigestData is the data length from which a digest checksums the data in
// place instead of copying it beside the path and the stat.
const inPlaceDigestData = 4 << 10

// appendStat appends the 60 bytes of stat a node digest covers, in ZooKeeper's
// order.
func appendStat(b []byte, st *persisted) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(st.czxid))
	b = binary.BigEndian.AppendUint64(b, uint64(st.mzxid))
	b = binary.BigEndian.AppendUint64(b, uint64(st.pzxid))
	b = binary.BigEndian.AppendUint64(b, uint64(st.ctime))
	b = binary.BigEndian.AppendUint64(b, uint64(st.mtime))
	b = binary.BigEndian.AppendUint32(b, uint32(st.version))
	b = binary.BigEndian.AppendUint32(b, uint32(st.cversion))
	b = binary.BigEndian.AppendUint32(b, uint32(st.aversion))
	return binary.BigEndian.AppendUint64(b, uint64(st.owner))
}

// maxKeptDigestBuf bounds the buffer a digester keeps between digests: a node
// of 1 MiB of data should not pin a megabyte to the applier.
const maxKeptDigestBuf = 64 << 10

// fullDigest recomputes the tree digest from every node. It reads without locks:
// for the applier (the only writer) and for trees no reader can see yet.
func (t *Tree) fullDigest() uint64 {
	var sum uint64
	d := new(digester)
	for i := range t.stripes {
		t.stripes[i].each(func(id nodeID) { sum += d.node(t.nodes.at(id)) })
	}
	return sum
}
