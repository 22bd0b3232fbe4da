package netloop

import (
	"net"
	"os"
	"syscall"
)

// keep makes the held reserve descriptor a second descriptor of tc's socket, in
// one step that needs no free descriptor (dup3 over the reserve), so that the
// connection outlives a handover to gnet that fails for want of one. It returns
// false, with the reserve given up, when it cannot.
func (r *reserveFD) keep(tc *net.TCPConn) bool {
	if r.fd == 0 {
		return false
	}
	if r.socket {
		return true // kept already: tc is a duplicate of it (conn)
	}
	rc, err := tc.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) { err = syscall.Dup3(int(fd), r.fd-1, syscall.O_CLOEXEC) })
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		r.release()
		return false
	}
	r.socket = true
	return true
}

// kept reports whether the reserve holds a connection (keep).
func (r *reserveFD) kept() bool { return r.socket }

// conn returns a new connection on a duplicate of the kept socket; the reserve
// keeps its own.
func (r *reserveFD) conn() (*net.TCPConn, error) {
	syscall.ForkLock.RLock() // no exec between the dup and its close-on-exec
	fd, err := syscall.Dup(r.fd - 1)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	f := os.NewFile(uintptr(fd), "kept connection")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}
