package main

import (
	"os"
	"testing"

	"zkd/internal/testutil"
)

// TestMain removes the zkd binary that process-level tests build once.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBuild()
	os.Exit(code)
}
