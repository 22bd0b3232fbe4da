package vfs

import (
	"errors"
	"os"
	"syscall"
)

// fdatasync flushes the data of f and the metadata needed to read it back.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// preallocate reserves [off, off+n) with fallocate(2) mode 0, which also extends the
// size. A filesystem without fallocate gets a sparse extension instead: the bytes
// still read as zero, but ENOSPC may then surface later, inside a write.
func preallocate(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fallocate(int(fd), 0, off, n); !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	switch {
	case serr == nil:
		return nil
	case errors.Is(serr, syscall.EOPNOTSUPP), errors.Is(serr, syscall.ENOSYS):
		return extend(f, off+n)
	default:
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: serr}
	}
}

// mapReadOnly maps the first n bytes of f shared and read-only.
func (f osFile) mapReadOnly(n int) ([]byte, func() error, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	var buf []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		buf, merr = syscall.Mmap(int(fd), 0, n, syscall.PROT_READ, syscall.MAP_SHARED)
	}); err != nil {
		return nil, nil, err
	}
	if merr != nil {
		return nil, nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: merr}
	}
	return buf, func() error { return syscall.Munmap(buf) }, nil
}
