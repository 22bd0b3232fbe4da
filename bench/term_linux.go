package bench

import (
	"os"
	"syscall"
	"unsafe"
)

// IsTerminal reports whether f is a terminal (the TCGETS ioctl succeeds), for the
// progress line: rewritten in place on a terminal, plain lines elsewhere.
func IsTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
