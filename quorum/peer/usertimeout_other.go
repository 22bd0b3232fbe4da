//go:build !linux

package peer

import (
	"syscall"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not available: a
// silently dead link is then found by WriteTimeout and keep-alives alone.
func setUserTimeout(syscall.RawConn, time.Duration) error { return nil }
