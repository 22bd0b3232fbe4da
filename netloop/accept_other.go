//go:build !unix

package netloop

// reserveFD holds nothing where descriptors are not a small per-process number.
type reserveFD struct{}

func (*reserveFD) take() error { return nil }
func (*reserveFD) release()    {}

// maxFDs returns -1: there is no such limit to report.
func maxFDs() int64 { return -1 }
