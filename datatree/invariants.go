package datatree

import "fmt"

// maxCheckedNodes bounds the trees whose digest is recomputed after every entry
// under -tags invariants: a full recomputation is O(nodes).
const maxCheckedNodes = 2048

// checkDigest panics if the incrementally maintained digest differs from a full
// recomputation, or a stripe slot's copy of a blob pointer from its node's.
// Applier only (it reads the nodes without locks).
func (t *Tree) checkDigest() {
	if t.nodeCount.Load() > maxCheckedNodes {
		return
	}
	for i := range t.stripes {
		for _, e := range t.stripes[i].slots {
			if e.blob != nil && e.blob != t.nodes.at(e.id).blob {
				panic(fmt.Sprintf("datatree: stripe slot of %q holds a stale blob", t.nodes.at(e.id).path()))
			}
		}
	}
	if full := t.fullDigest(); full != t.work || t.digest.Load() != t.work {
		panic(fmt.Sprintf("datatree: digest at zxid %d: incremental %#x, published %#x, recomputed %#x",
			t.lastZxid.Load(), t.work, t.digest.Load(), full))
	}
}
