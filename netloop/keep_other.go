//go:build !linux

package netloop

import (
	"errors"
	"net"
)

// keep gives the reserve up: without dup3, the handover to gnet is left to
// find the descriptor the reserve held.
func (r *reserveFD) keep(*net.TCPConn) bool {
	r.release()
	return false
}

func (*reserveFD) kept() bool { return false }

func (r *reserveFD) conn() (*net.TCPConn, error) {
	return nil, errors.New("netloop: no connection kept")
}
