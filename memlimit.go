package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimit picks the Go runtime's soft memory limit for a server whose live
// heap is its data: with a limit just above the live heap the collector keeps
// RSS close to it, where the default (GOGC=100, no limit) lets the heap grow to
// twice its live size before collecting. In order:
//
//   - GOMEMLIMIT in the environment: the runtime already applies it.
//   - -Xmx in the JVM flags an operator already gives ZooKeeper (on the command
//     line, SERVER_JVMFLAGS or JVMFLAGS): the same memory budget.
//   - the cgroup's memory.max (a container or systemd MemoryMax), less 10% for
//     what is not heap.
//
// It returns 0 and "" when none applies (no limit).
func memoryLimit(args []string, getenv func(string) string) (limit int64, source string) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, ""
	}
	var xmx string
	for _, src := range []string{getenv("JVMFLAGS"), getenv("SERVER_JVMFLAGS"), strings.Join(args, " ")} {
		for _, f := range strings.Fields(src) {
			if strings.HasPrefix(f, "-Xmx") {
				xmx = f // the last one wins, as for the JVM
			}
		}
	}
	if n, ok := parseJVMSize(strings.TrimPrefix(xmx, "-Xmx")); ok {
		return n, xmx
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n / 10 * 9, "cgroup memory.max"
		}
	}
	return 0, ""
}

// parseJVMSize reads a JVM size: a number with an optional k, m, g or t suffix.
func parseJVMSize(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	case 't', 'T':
		mult = 1 << 40
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n * mult, true
}

// applyMemoryLimit sets the runtime's soft memory limit as memoryLimit says.
func applyMemoryLimit(args []string, getenv func(string) string) (int64, string) {
	limit, source := memoryLimit(args, getenv)
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return limit, source
}
