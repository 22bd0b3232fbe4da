//go:build !linux

package bench

import "os"

// IsTerminal reports whether f is a character device, the best guess without
// a terminal ioctl.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
