//go:build !unix

package netloop

import (
	"errors"
	"net"
)

// reserveFD holds nothing where descriptors are not a small per-process number.
type reserveFD struct{}

func (*reserveFD) take() error { return nil }
func (*reserveFD) release()    {}

// maxFDs returns -1: there is no such limit to report.
func maxFDs() int64 { return -1 }

// peekByte is not available: port unification needs MSG_PEEK.
func peekByte(*net.TCPConn) (byte, error) {
	return 0, errors.New("netloop: port unification is not supported on this platform")
}

// setBacklog is not available: the OS default backlog stays.
func setBacklog(*net.TCPListener, int) error {
	return errors.New("netloop: clientPortListenBacklog is not supported on this platform")
}
