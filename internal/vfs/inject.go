package vfs

import (
	"errors"
	"strconv"
)

// OpKind names a mutating operation of a MemFS.
type OpKind uint8

// The mutating operations, in the order of the FS and File methods.
const (
	OpCreate OpKind = iota + 1
	OpRemove
	OpRename
	OpMkdirAll
	OpSyncDir
	OpWrite // File.Write and File.WriteAt
	OpSync
	OpTruncate
	OpPreallocate
)

var opNames = [...]string{OpCreate: "create", OpRemove: "remove", OpRename: "rename",
	OpMkdirAll: "mkdirall", OpSyncDir: "syncdir", OpWrite: "write", OpSync: "sync",
	OpTruncate: "truncate", OpPreallocate: "preallocate"}

func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return "op(" + strconv.Itoa(int(k)) + ")"
}

// Op describes one mutating operation to an Injector, before it happens.
type Op struct {
	N       int64  // ordinal among this FS's mutating operations, from 0; failed ones count
	Kind    OpKind //
	Path    string // the file or directory; for OpRename the old name
	Len     int    // bytes carried by an OpWrite; 0 otherwise
	Written int64  // bytes written by every earlier OpWrite
}

// Fault is what an Injector does to one operation. The zero Fault lets it run.
type Fault struct {
	// Err makes the operation fail with this error (wrapped in an *fs.PathError).
	// A failed Sync leaves the data written but not durable; any other failed
	// operation has no effect, except that a write first applies Keep bytes.
	Err error
	// Keep is how many bytes of a failing or crashing write land: a short write.
	Keep int
	// Crash kills the "process" at this operation: a write applies Keep bytes, then
	// this and every later call on the FS and its files returns ErrCrashed. What
	// survives is then read with CrashClone.
	Crash bool
}

// An Injector decides, for every mutating operation of a MemFS, whether it fails.
// It runs under the MemFS lock and must not call the MemFS.
type Injector func(op Op) Fault

// ErrCrashed is returned by every call on a MemFS (and its files) after an Injector
// crashed it.
var ErrCrashed = errors.New("vfs: filesystem crashed")

// FailOp returns an Injector that fails operation number n with err (a write keeps
// keep bytes first) and lets every other operation run.
func FailOp(n int64, err error, keep int) Injector {
	return func(op Op) Fault {
		if op.N == n {
			return Fault{Err: err, Keep: keep}
		}
		return Fault{}
	}
}

// FailKind returns an Injector that fails the nth (from 0) operation of kind k with
// err (a write keeps keep bytes first).
func FailKind(k OpKind, nth int, err error, keep int) Injector {
	seen := 0
	return func(op Op) Fault {
		if op.Kind != k {
			return Fault{}
		}
		seen++
		if seen-1 == nth {
			return Fault{Err: err, Keep: keep}
		}
		return Fault{}
	}
}

// CrashAfterBytes returns an Injector that crashes the FS once n bytes have been
// written in total: the write that crosses n lands only up to it.
func CrashAfterBytes(n int64) Injector {
	return func(op Op) Fault {
		if op.Kind == OpWrite && op.Written+int64(op.Len) > n {
			return Fault{Crash: true, Keep: int(n - op.Written)}
		}
		return Fault{}
	}
}
