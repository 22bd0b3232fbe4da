package difftest

import (
	"os"
	"testing"

	"zkd/internal/testutil"
)

// TestMain removes the zkd binary the differential test builds once.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBuild()
	os.Exit(code)
}
