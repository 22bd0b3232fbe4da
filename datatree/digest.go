package datatree

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"unsafe"
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
	return new(digester).of(n.Path, n.Data, &persisted{czxid: n.Czxid, mzxid: n.Mzxid, pzxid: n.Pzxid,
		ctime: n.Ctime, mtime: n.Mtime, owner: n.Owner,
		version: n.Version, cversion: n.Cversion, aversion: n.Aversion})
}

// digester computes node digests into a buffer of its own: crc32 calls through a
// function value, so a buffer on the stack would escape, costing an allocation
// per digest. A digester is used by one goroutine at a time.
type digester struct{ b [60]byte }

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
	b := &d.b
	binary.BigEndian.PutUint64(b[0:], uint64(st.czxid))
	binary.BigEndian.PutUint64(b[8:], uint64(st.mzxid))
	binary.BigEndian.PutUint64(b[16:], uint64(st.pzxid))
	binary.BigEndian.PutUint64(b[24:], uint64(st.ctime))
	binary.BigEndian.PutUint64(b[32:], uint64(st.mtime))
	binary.BigEndian.PutUint32(b[40:], uint32(st.version))
	binary.BigEndian.PutUint32(b[44:], uint32(st.cversion))
	binary.BigEndian.PutUint32(b[48:], uint32(st.aversion))
	binary.BigEndian.PutUint64(b[52:], uint64(st.owner))
	crc := crc32.Update(0, crc32.IEEETable, unsafe.Slice(unsafe.StringData(path), len(path)))
	crc = crc32.Update(crc, crc32.IEEETable, data)
	return uint64(crc32.Update(crc, crc32.IEEETable, b[:]))
}

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
