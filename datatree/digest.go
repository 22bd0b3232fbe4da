package datatree

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
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
	path := n.Path
	if strings.HasPrefix(path, "/zookeeper/") {
		return 0
	}
	if path == "/" {
		path = ""
	}
	var b [60]byte
	binary.BigEndian.PutUint64(b[0:], uint64(n.Czxid))
	binary.BigEndian.PutUint64(b[8:], uint64(n.Mzxid))
	binary.BigEndian.PutUint64(b[16:], uint64(n.Pzxid))
	binary.BigEndian.PutUint64(b[24:], uint64(n.Ctime))
	binary.BigEndian.PutUint64(b[32:], uint64(n.Mtime))
	binary.BigEndian.PutUint32(b[40:], uint32(n.Version))
	binary.BigEndian.PutUint32(b[44:], uint32(n.Cversion))
	binary.BigEndian.PutUint32(b[48:], uint32(n.Aversion))
	binary.BigEndian.PutUint64(b[52:], uint64(n.Owner))
	crc := crc32.Update(0, crc32.IEEETable, []byte(path))
	crc = crc32.Update(crc, crc32.IEEETable, n.Data)
	return uint64(crc32.Update(crc, crc32.IEEETable, b[:]))
}
