package datatree

import (
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
