package snapshot

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"

	"zkd/datatree"
	"zkd/internal/vfs"
)

// Open opens the snapshot of index in dir for reading, to stream it to another
// member, and returns its size.
func Open(fs vfs.FS, dir string, index uint64) (vfs.File, int64, error) {
	f, err := fs.Open(filepath.Join(dir, fileName(index)))
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	return f, size, nil
}

// Receive stores a snapshot streamed from another member as the snapshot of
// index in dir, with Write's guarantees (temporary file, fsync, rename, fsync of
// the directory), and checks that it reads back whole as a snapshot of index.
// It returns the tree the file holds, so that installing it need not read it again.
func Receive(fs vfs.FS, dir string, index uint64, r io.Reader, cfg datatree.Config) (*datatree.Tree, Meta, error) {
	if err := fs.MkdirAll(dir); err != nil {
		return nil, Meta{}, fmt.Errorf("snapshot: %w", err)
	}
	name := fileName(index)
	tmp := filepath.Join(dir, name+tmpSuffix)
	f, err := fs.Create(tmp)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("snapshot: %w", err)
	}
	fail := func(err error) (*datatree.Tree, Meta, error) {
		f.Close()
		_ = fs.Remove(tmp)
		return nil, Meta{}, fmt.Errorf("snapshot: receive %s: %w", tmp, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.Copy(bw, r); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = fs.Remove(tmp)
		return nil, Meta{}, fmt.Errorf("snapshot: close %s: %w", tmp, err)
	}
	tree, meta, err := LoadFile(fs, tmp, cfg)
	if err == nil && meta.Index != index {
		err = fmt.Errorf("%w: received as index %d, holds index %d", ErrCorrupt, index, meta.Index)
	}
	if err != nil {
		_ = fs.Remove(tmp)
		return nil, Meta{}, fmt.Errorf("snapshot: received snapshot: %w", err)
	}
	if err := fs.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return nil, Meta{}, fmt.Errorf("snapshot: %w", err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return nil, Meta{}, fmt.Errorf("snapshot: sync %s: %w", dir, err)
	}
	return tree, meta, nil
}

// LoadFile rebuilds the tree from one snapshot file.
func LoadFile(fs vfs.FS, path string, cfg datatree.Config) (*datatree.Tree, Meta, error) {
	f, size, err := open(fs, path)
	if err != nil {
		return nil, Meta{}, err
	}
	defer f.Close()
	return decode(f, size, cfg, nil)
}

// LoadIndex rebuilds the tree from the snapshot of index in dir.
func LoadIndex(fs vfs.FS, dir string, index uint64, cfg datatree.Config) (*datatree.Tree, Meta, error) {
	return LoadFile(fs, filepath.Join(dir, fileName(index)), cfg)
}
