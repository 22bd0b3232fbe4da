//go:build !linux

package datatree

import "time"

// threadCPU is not measured outside Linux; the cpu-ns/op metric reads 0.
func threadCPU() time.Duration { return 0 }
