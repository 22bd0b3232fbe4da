//go:build unix

package netloop

import (
	"fmt"
	"os"
	"syscall"
)

// reserveFD is one descriptor held open (on /dev/null) so that the accept loop
// can tell it is at the limit before accepting. Accept goroutine only.
type reserveFD struct{ fd int } // fd+1: 0 when none is held

// take opens the reserve descriptor unless it is held.
func (r *reserveFD) take() error {
	if r.fd != 0 {
		return nil
	}
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netloop: open reserve descriptor: %w", err)
	}
	r.fd = fd + 1
	return nil
}

// release closes the reserve descriptor if it is held.
func (r *reserveFD) release() {
	if r.fd != 0 {
		_ = syscall.Close(r.fd - 1)
		r.fd = 0
	}
}

// maxFDs returns the soft limit on open files, or -1.
func maxFDs() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return -1
	}
	return int64(rl.Cur)
}
