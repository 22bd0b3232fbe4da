//go:build !linux

package datatree

import "unsafe"

// adviseHugePages is a no-op where transparent huge pages cannot be asked for.
func adviseHugePages(_ unsafe.Pointer, _ uintptr, last uintptr) uintptr { return last }

// ReserveHeap is a no-op where transparent huge pages cannot be asked for: the
// runtime maps its heap as it grows.
func ReserveHeap(int) {}
