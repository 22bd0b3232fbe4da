package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// writePIDFile writes the process id to path, creating its directory, as
// zkServer.sh does with $ZOOPIDFILE. The returned func removes the file; zkd calls
// it on a clean stop.
func writePIDFile(path string) (remove func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(path, []byte(pid+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	return func() {
		// Only remove the file if it is still ours: a second zkd may have replaced it.
		if b, err := os.ReadFile(path); err == nil && string(b) == pid+"\n" {
			_ = os.Remove(path)
		}
	}, nil
}
