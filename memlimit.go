package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
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

// The collector's headroom for a large live heap. Go's default, GOGC=100, lets
// the heap grow to twice what the last collection found live before the next:
// right for a small heap, but a server whose live heap is a million znodes
// (about 240 MB) would then hold about 480 MB for them. Past minHeadroom*4 of
// live heap, zkd lowers GOGC so that the heap may grow by a quarter of the
// live heap at most (never less than minHeadroom): more collections of a heap
// that changes little, for RSS near the data's size.
const (
	minHeadroom  = 64 << 20
	minGCPercent = 25
	// gcTuneEvery is how often the live heap is looked at.
	gcTuneEvery = time.Second
)

// gcPercentFor returns the GOGC for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return 100
	}
	headroom := max(minHeadroom, live/4)
	return int(min(100, max(minGCPercent, headroom*100/live)))
}

// tuneGC keeps GOGC at gcPercentFor the live heap, unless GOGC is in the
// environment (the operator's choice stands). It returns at once; the tuning
// runs until ctx is done.
func tuneGC(ctx context.Context, getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	go func() {
		t := time.NewTicker(gcTuneEvery)
		defer t.Stop()
		current := 100
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return // a runtime without the metric: keep Go's default
			}
			if p := gcPercentFor(sample[0].Value.Uint64()); p != current {
				debug.SetGCPercent(p)
				current = p
			}
		}
	}()
}
