package snapshot

import (
	"bufio"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
)

// Info describes one snapshot file.
type Info struct {
	Name  string // file name within the directory
	Index uint64 // the zxid it reflects
	Size  int64
	Nodes int64
}

const (
	filePrefix = "snap-"
	tmpSuffix  = ".tmp"
)

func fileName(index uint64) string { return fmt.Sprintf("%s%016x", filePrefix, index) }

// parseName returns the index of a snapshot file name, or false for other files.
func parseName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, filePrefix) || len(name) != len(filePrefix)+16 {
		return 0, false
	}
	v, err := strconv.ParseUint(name[len(filePrefix):], 16, 64)
	return v, err == nil
}

// Write streams im to dir as the snapshot of meta.Index: into a temporary file,
// fsync, rename, fsync of the directory. A crash at any point leaves either no new
// snapshot or a complete one.
func Write(fs vfs.FS, dir string, meta Meta, im *datatree.Image) (Info, error) {
	if err := fs.MkdirAll(dir); err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	name := fileName(meta.Index)
	tmp := filepath.Join(dir, name+tmpSuffix)
	f, err := fs.Create(tmp)
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	fail := func(err error) (Info, error) {
		f.Close()
		_ = fs.Remove(tmp)
		return Info{}, fmt.Errorf("snapshot: write %s: %w", tmp, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	nodes, err := Encode(bw, meta, im)
	if err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	size, err := f.Size()
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = fs.Remove(tmp)
		return Info{}, fmt.Errorf("snapshot: close %s: %w", tmp, err)
	}
	// The rename must reach the disk before the log below this index is released,
	// or a crash could leave neither the snapshot nor the entries it replaces.
	if err := fs.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return Info{}, fmt.Errorf("snapshot: sync %s: %w", dir, err)
	}
	return Info{Name: name, Index: meta.Index, Size: size, Nodes: nodes}, nil
}

// List returns the snapshots in dir, newest first. A missing dir has none.
func List(fs vfs.FS, dir string) ([]Info, error) {
	names, err := fs.ReadDir(dir)
	if err != nil {
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var out []Info
	for i := len(names) - 1; i >= 0; i-- { // ReadDir sorts; fixed-width hex sorts by index
		if idx, ok := parseName(names[i]); ok {
			out = append(out, Info{Name: names[i], Index: idx})
		}
	}
	return out, nil
}

// Load rebuilds the tree from the newest snapshot in dir that reads back whole. An
// unreadable newest snapshot is skipped with a warning and the one before it is
// used, so one bad file costs replay time, not data (the log still holds what the
// older snapshot lacks, because the log is released only below the oldest kept
// snapshot). With no snapshot at all it returns a nil tree and no error. Leftover
// temporary files from a crash during Write are removed.
func Load(fs vfs.FS, dir string, cfg datatree.Config, log *slog.Logger) (*datatree.Tree, Meta, error) {
	if names, err := fs.ReadDir(dir); err == nil {
		for _, n := range names {
			if strings.HasSuffix(n, tmpSuffix) {
				_ = fs.Remove(filepath.Join(dir, n))
			}
		}
	}
	infos, err := List(fs, dir)
	if err != nil {
		return nil, Meta{}, err
	}
	var failures []string
	for _, info := range infos {
		path := filepath.Join(dir, info.Name)
		start := time.Now()
		f, size, err := open(fs, path)
		if err == nil {
			var tree *datatree.Tree
			var meta Meta
			last := start
			tree, meta, err = decode(f, size, cfg, func(nodes uint64, consumed, total int) {
				// Large data sets take a while: say how far along, every few seconds.
				if time.Since(last) < 2*time.Second {
					return
				}
				last = time.Now()
				secs := time.Since(start).Seconds()
				eta := time.Duration(secs * float64(total-consumed) / float64(max(consumed, 1)) * float64(time.Second))
				log.Info("loading snapshot", "file", path, "znodes", nodes,
					"znodes_per_sec", int64(float64(nodes)/secs),
					"mb_per_sec", fmt.Sprintf("%.1f", float64(consumed)/1e6/secs),
					"percent", 100*consumed/max(total, 1), "eta", eta.Round(100*time.Millisecond))
			})
			f.Close()
			if err == nil && meta.Index != info.Index {
				err = fmt.Errorf("%w: file name says index %d, header says %d", ErrCorrupt, info.Index, meta.Index)
			}
			if err == nil {
				secs := time.Since(start).Seconds()
				log.Info("loaded snapshot", "file", path, "zxid", fmt.Sprintf("0x%x", meta.Index),
					"znodes", tree.NodeCount(), "bytes", size, "seconds", fmt.Sprintf("%.3f", secs),
					"znodes_per_sec", int64(float64(tree.NodeCount())/max(secs, 1e-9)))
				return tree, meta, nil
			}
		}
		log.Warn("skipping unreadable snapshot; falling back to the one before", "file", path, "err", err)
		failures = append(failures, fmt.Sprintf("%s: %v", path, err))
	}
	if len(failures) > 0 {
		return nil, Meta{}, fmt.Errorf("snapshot: no readable snapshot in %s: %s", dir, strings.Join(failures, "; "))
	}
	return nil, Meta{}, nil
}

// open opens a snapshot for decode, which streams it: the file is never read
// into memory whole.
func open(fs vfs.FS, path string) (vfs.File, int64, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, 0, err
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// Purge removes all but the newest retain snapshots (autopurge.snapRetainCount;
// ZooKeeper keeps at least 3) and returns the index of the oldest one kept, below
// which the log may be released.
func Purge(fs vfs.FS, dir string, retain int) (oldestKept uint64, err error) {
	retain = max(retain, 1)
	infos, err := List(fs, dir)
	if err != nil || len(infos) == 0 {
		return 0, err
	}
	keep := infos[:min(retain, len(infos))]
	for _, info := range infos[len(keep):] {
		if err := fs.Remove(filepath.Join(dir, info.Name)); err != nil {
			return 0, fmt.Errorf("snapshot: purge: %w", err)
		}
	}
	if len(infos) > len(keep) {
		if err := fs.SyncDir(dir); err != nil {
			return 0, fmt.Errorf("snapshot: purge: %w", err)
		}
	}
	return keep[len(keep)-1].Index, nil
}
