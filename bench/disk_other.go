//go:build !linux

package bench

import (
	"io/fs"
	"os"
	"path/filepath"
)

// fdatasync falls back to fsync where the system has no fdatasync.
func fdatasync(f *os.File) error { return f.Sync() }

func filesystemOf(string) string { return "" }

// diskUsage sums the sizes of the files below dirs; without block counts, used
// is the apparent size.
func diskUsage(dirs []string) (used, apparent int64, err error) {
	for _, d := range dirs {
		err = filepath.WalkDir(d, func(path string, de fs.DirEntry, err error) error {
			if err != nil || !de.Type().IsRegular() {
				return err
			}
			info, err := de.Info()
			if err != nil {
				return err
			}
			apparent += info.Size()
			return nil
		})
		if err != nil {
			break
		}
	}
	return apparent, apparent, err
}
