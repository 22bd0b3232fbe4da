package difftest

import (
	"testing"

	"zkd/internal/testutil"
)

// TestMain removes the zkd binary the differential test builds once.
func TestMain(m *testing.M) { testutil.Main(m) }
