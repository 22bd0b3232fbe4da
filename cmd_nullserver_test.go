package main

import (
	"io"
	"testing"
)

// zkd bench null-server: -h succeeds, a bad flag is a usage error, an address
// it cannot listen on a failure.
func TestBenchNullServerCommandFlags(t *testing.T) {
	if code := benchNullServer([]string{"-h"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("-h exited %d", code)
	}
	if code := benchNullServer([]string{"-no-such-flag"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("a bad flag exited %d, want 2", code)
	}
	if code := benchNullServer([]string{"-addr", "not an address"}, io.Discard, io.Discard); code != 1 {
		t.Fatalf("a bad address exited %d, want 1", code)
	}
}
