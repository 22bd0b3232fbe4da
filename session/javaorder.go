package session

import (
	"slices"
	"unicode/utf16"

	"zkd/datatree"
	"zkd/jute"
)

// ZooKeeper keeps a connection's ids in a set backed by a ConcurrentHashMap
// (ServerCnxn.authInfo), and whoami and the audit log list them in that set's
// order: by hash bucket, and within a bucket in the order added. A client sees
// the order in whoami's reply, so zkd lists them the same way.

// javaSetOrder returns ids in the order ZooKeeper's set of them iterates, given
// that they were added in the order of ids. The table holds 16 buckets and
// doubles once more than three quarters are used; past twelve ids a resize in
// Java may also reorder a bucket's entries, which this does not follow (no
// connection holds so many).
func javaSetOrder(ids datatree.Identity) datatree.Identity {
	if len(ids) < 2 {
		return ids
	}
	n := uint32(16)
	for uint32(len(ids)) > n/4*3 {
		n *= 2
	}
	out := slices.Clone(ids)
	slices.SortStableFunc(out, func(a, b jute.Id) int {
		return int(javaBucket(a, n)) - int(javaBucket(b, n))
	})
	return out
}

// javaBucket is the ConcurrentHashMap bucket of id in a table of n buckets: the
// spread of jute's Id.hashCode, masked.
func javaBucket(id jute.Id, n uint32) uint32 {
	h := uint32(37*(37*17+javaStringHash(id.Scheme)) + javaStringHash(id.ID))
	return (h ^ h>>16) & 0x7fffffff & (n - 1)
}

// javaStringHash is Java's String.hashCode: over UTF-16 code units, with int
// overflow.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r < 0x10000 {
			h = 31*h + int32(r)
			continue
		}
		hi, lo := utf16.EncodeRune(r)
		h = 31*(31*h+int32(hi)) + int32(lo)
	}
	return h
}
