//go:build unix

package session

import "syscall"

// maxFiles returns the soft limit on open file descriptors.
func maxFiles() (int64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return int64(r.Cur), true
}
