//go:build !linux

package vfs

import "os"

// fdatasync falls back to fsync where fdatasync(2) is not available.
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate extends the file sparsely where fallocate(2) is not available.
func preallocate(f *os.File, off, n int64) error { return extend(f, off+n) }
