package datatree

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"unsafe"
)

// hugePageSize is the size of a transparent huge page on the platforms zkd
// runs on (x86-64 and arm64 with 4 KiB base pages).
const hugePageSize = 2 << 20

// adviseHugePages asks the kernel to back the 2 MiB-aligned stretches that
// [p, p+n) lies in with transparent huge pages when they are first touched
// (MADV_HUGEPAGE; it changes nothing when the system disables them, and is
// what they already get where the system enables them for everything). The
// memory is the Go heap's, given out by new: the advice covers neighbours of
// the allocation too, which only changes how their pages are backed
// (khugepaged may fill the free pages of a stretch it collapses: a
// million-znode restart settles about 4 MB higher), and the runtime never
// advises against it. last is the end of the stretch advised before, so that
// consecutive chunks cost one call per 2 MiB; it returns the new end.
func adviseHugePages(p unsafe.Pointer, n uintptr, last uintptr) uintptr {
	lo := uintptr(p) &^ (hugePageSize - 1)
	hi := (uintptr(p) + n + hugePageSize - 1) &^ (hugePageSize - 1)
	if hi <= last && lo >= last-hugePageSize {
		return last
	}
	// Addresses, not pointers: the stretch reaches past the allocation.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, syscall.MADV_HUGEPAGE)
	return hi
}

// restoreBytesPerNode is about what restoring a znode, and replaying the log
// after it, asks of the heap: the node's slot (96 bytes), its share of the
// tables (32), its path and data (130 in a benchmark's tree), and the load's
// transient buffers. An estimate: memory past it is backed as the system's
// default decides.
const restoreBytesPerNode = 512

// ReserveHeap readies the heap for restoring a snapshot of nodes znodes: it
// has the runtime map the memory the restore will use in one stretch, advises
// transparent huge pages for it, and leaves it free for the restore's
// allocations. Where huge pages are left to madvise (the default on Debian and
// Ubuntu), the runtime maps its heap a few megabytes at a time as it grows, and
// none of it is advised: a million-znode restart then took a page fault per 4
// KiB touched (41,000-47,000 of them), each costing microseconds on a virtual
// machine.
//
// Nothing is touched here, so RSS grows only as the restore uses the memory:
// the allocation must come from memory the runtime maps for it, which it need
// not zero. A heap with a quarter of that free already (a follower's second
// snapshot, a benchmark's loop) could be zeroed through instead, so it is left
// alone. A memory limit caps the reservation at half of it, and the machine's
// memory at a quarter (the count comes from a snapshot's trailer, checked only
// once the body is read).
func ReserveHeap(nodes int) {
	if nodes < PrefaultFrom {
		return
	}
	n := uint64(nodes) * restoreBytesPerNode
	idle := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(idle)
	var free uint64
	for _, s := range idle {
		if s.Value.Kind() != metrics.KindUint64 {
			return
		}
		free += s.Value.Uint64()
	}
	if free > n/4 {
		return
	}
	if limit := debug.SetMemoryLimit(-1); limit > 0 {
		n = min(n, uint64(limit)/2)
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return
	}
	n = min(n, uint64(si.Totalram)*uint64(si.Unit)/4)
	b := make([]byte, n) // untouched: fresh memory needs no zeroing
	adviseHugePages(unsafe.Pointer(unsafe.SliceData(b)), uintptr(n), 0)
	runtime.KeepAlive(b)
	runtime.GC() // frees it now, before the restore allocates
}
