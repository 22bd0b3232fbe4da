package testutil

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// The figures benchmarks report beside ns/op about their own process.

// ProcessCPU is the process's user plus system CPU time: on a shared machine a
// steadier measure of the work done than the wall clock, and the sum over every
// goroutine a piece of work spreads to.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcStatusMB reads a kB field of /proc/self/status ("VmRSS:", "VmHWM:") in
// MB, or 0 where there is none.
func ProcStatusMB(field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, field), "kB")), &kb)
			return kb / 1024
		}
	}
	return 0
}

// ResetPeakRSS resets VmHWM to the current RSS (Linux 4.0+), so that the peak
// read after it is the measured work's own.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
