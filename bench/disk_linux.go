package bench

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// fdatasync flushes f's data (and the metadata needed to read it back), as zkd's
// log does after each batch.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// filesystems names the statfs magic numbers of the file systems a benchmark may
// plausibly run on.
var filesystems = map[int64]string{
	0xef53: "ext4", 0x58465342: "xfs", 0x9123683e: "btrfs", 0x01021994: "tmpfs",
	0x794c7630: "overlayfs", 0x2fc12fc1: "zfs", 0x6969: "nfs", 0xf2f52010: "f2fs",
}

// filesystemOf names the file system holding dir ("" if unknown).
func filesystemOf(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return ""
	}
	if name, ok := filesystems[int64(st.Type)]; ok {
		return name
	}
	return ""
}

// diskUsage sums the files below dirs: used is what du reports (allocated
// blocks), apparent the sum of their sizes.
func diskUsage(dirs []string) (used, apparent int64, err error) {
	for _, d := range dirs {
		err = filepath.WalkDir(d, func(path string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(path, &st); err != nil {
				return err
			}
			used += st.Blocks * 512
			if de.Type().IsRegular() {
				apparent += st.Size
			}
			return nil
		})
		if err != nil {
			return used, apparent, err
		}
	}
	return used, apparent, nil
}
