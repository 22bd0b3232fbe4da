package zkcheck

import (
	"testing"

	"zkd/internal/testutil"
)

// TestMain removes the zkd binary the tests build once.
func TestMain(m *testing.M) { testutil.Main(m) }
