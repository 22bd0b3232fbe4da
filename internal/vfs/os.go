package vfs

import (
	"os"
	"slices"
)

// OS returns the FS of the operating system.
func OS() FS { return osFS{} }

type osFS struct{}

// Permissions of what zkd creates: its data is readable by the operator's group
// tools (zkCli snapshots, backups) but writable only by the server.
const (
	filePerm = 0o644
	dirPerm  = 0o755
)

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, dirPerm) }

func (osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	slices.Sort(names) // os.ReadDir sorts already; the contract should not depend on it
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	// NB: fsync, not fdatasync: a directory's entries are its metadata.
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// osFile is an *os.File whose Sync is fdatasync and which can preallocate.
type osFile struct{ *os.File }

func (f osFile) Sync() error                    { return fdatasync(f.File) }
func (f osFile) Preallocate(off, n int64) error { return preallocate(f.File, off, n) }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
