package zktest

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// ListenBacklog returns the accept queue length the kernel gives the listening
// TCP socket of this process bound to port: for a listening socket Linux
// reports it in TCP_INFO's tcpi_sacked field.
func ListenBacklog(port int) (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if acc, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN); err != nil || acc != 1 {
			continue // not a socket, or not listening
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			continue
		}
		switch a := sa.(type) {
		case *syscall.SockaddrInet4:
			if a.Port != port {
				continue
			}
		case *syscall.SockaddrInet6:
			if a.Port != port {
				continue
			}
		default:
			continue
		}
		var info syscall.TCPInfo
		size := uint32(unsafe.Sizeof(info))
		if _, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0); errno != 0 {
			return 0, fmt.Errorf("TCP_INFO of descriptor %d: %w", fd, errno)
		}
		return int(info.Sacked), nil
	}
	return 0, fmt.Errorf("no listening socket of this process on port %d", port)
}

// SoMaxConn is the kernel's cap on every listen backlog, net.core.somaxconn.
func SoMaxConn() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b[:len(b)-1]))
}
