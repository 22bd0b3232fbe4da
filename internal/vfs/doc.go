// Package vfs is the filesystem seam of zkd's durable state: txnlog and snapshot do
// every disk operation through FS, so that tests can run them on a filesystem that
// crashes, fills up or fails on purpose.
//
// It has two implementations:
//
//   - OS() is the operating system's filesystem. File.Sync is fdatasync(2) and
//     File.Preallocate is fallocate(2) (a sparse extension where that is missing).
//   - NewMem() is an in-memory filesystem for deterministic tests (STYLE rule 4).
//
// # What MemFS models
//
// Every file has the bytes a reader sees now and the bytes that are durable; every
// directory has the names visible now and the names that are durable:
//
//	            Write/WriteAt/Truncate/Preallocate          Sync
//	caller ----------------------------------> current -------> durable (file data)
//	            Create/Rename/Remove                        SyncDir
//	caller ----------------------------------> current -------> durable (names)
//	                                |
//	                                +--> pending: every change not yet durable,
//	                                     in the order it was made
//
// A crash (CrashClone) keeps the durable state and, as CrashOptions says, none of the
// pending changes, all of them, a prefix of them cut inside a write (a torn write),
// or a random subset of the sectors (512 bytes unless CrashOptions.Sector says
// otherwise) of the pending writes (out-of-order writeback). A removed file whose directory was not synced comes back; a created
// file whose directory was not synced is gone; a synced file keeps its data.
//
// Every mutating operation gets a number, Op.N, from 0, and lands in a history.
// CrashCloneAt rebuilds the disk at any CrashPoint of that history, down to one byte
// inside one write, and CrashPoints lists every distinct one: a test runs a workload
// once and then recovers from a crash at every instant of it.
//
// An Injector sees each mutating operation before it happens and can fail it with an
// error (ENOSPC, EIO, ...), land only part of a write (a short write), or crash the
// filesystem, after which every call returns ErrCrashed.
//
// # Lifecycle
//
// Open files are closed by their users; a MemFS needs no closing. CrashClone returns a
// new MemFS with no open files whose history starts from the crashed state; the old
// one keeps its state (crashed or not).
//
// # Concurrency
//
// OS() is as safe as the operating system: ReadAt and WriteAt on one file may run
// concurrently. MemFS and its files serialise every call under one mutex, so the same
// holds; an Injector runs under that mutex and must not call back into the MemFS.
package vfs
