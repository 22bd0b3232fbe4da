package zkcheck

import (
	"os"
	"testing"

	"zkd/internal/testutil"
)

// TestMain removes the zkd binary the tests build once.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBuild()
	os.Exit(code)
}
