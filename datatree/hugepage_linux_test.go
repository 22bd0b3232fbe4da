package datatree

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"zkd/internal/testutil"
)

// reserveChildEnv names the case a child process runs: ReserveHeap acts only
// on a heap that has not been used yet, which a test process's is not.
const reserveChildEnv = "ZKD_TEST_RESERVE_HEAP"

func TestMain(m *testing.M) {
	if c := os.Getenv(reserveChildEnv); c != "" {
		if err := reserveChild(c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const reserveNodes = 100_000 // 51 MB at restoreBytesPerNode

// totalAlloc is the bytes the process has allocated on the heap so far.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// heapMapped is the heap memory the runtime has mapped.
func heapMapped() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapSys
}

// advisedBytes sums the mappings the kernel backs with huge pages on request
// (VmFlags hg).
func advisedBytes() (uint64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total, size uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "Size:"):
			kb, _ := strconv.ParseUint(strings.Fields(l)[1], 10, 64)
			size = kb << 10
		case strings.HasPrefix(l, "VmFlags:"):
			for _, fl := range strings.Fields(l)[1:] {
				if fl == "hg" {
					total += size
				}
			}
		}
	}
	return total, sc.Err()
}

func reserveChild(c string) error {
	n := uint64(reserveNodes * restoreBytesPerNode)
	switch c {
	case "limit":
		debug.SetMemoryLimit(int64(n / 2))
	case "used":
		b := make([]byte, 2*n)
		for i := range b {
			b[i] = 1
		}
		runtime.KeepAlive(b)
		runtime.GC()
	}
	nodes := reserveNodes
	if c == "small" {
		nodes = PrefaultFrom - 1
	}
	mapped0, rss0 := heapMapped(), testutil.ProcStatusMB("VmRSS:")
	advised0, err := advisedBytes()
	if err != nil {
		return err
	}

	alloc0 := totalAlloc()
	ReserveHeap(nodes)
	reserved := totalAlloc() - alloc0

	grown := heapMapped() - mapped0
	rssGrowth := uint64(max(testutil.ProcStatusMB("VmRSS:")-rss0, 0) * (1 << 20))
	advised, err := advisedBytes()
	if err != nil {
		return err
	}
	advised -= advised0
	switch c {
	case "fresh":
		if grown < n {
			return fmt.Errorf("fresh heap: the runtime mapped %d bytes more, want at least %d", grown, n)
		}
		if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err == nil && advised < n-2*hugePageSize {
			return fmt.Errorf("fresh heap: %d bytes newly advised for huge pages, want about %d", advised, n)
		}
	// What ReserveHeap allocated, not what the runtime mapped meanwhile: the
	// runtime maps its heap in chunks of 4 MiB, and a chunk more for anything
	// else the process allocates was as large as the small case's reservation.
	case "limit":
		if reserved < 1<<20 || reserved > n/4+1<<20 { // 1 MiB for its own small allocations
			return fmt.Errorf("memory limit %d: reserved %d bytes, want some and at most half the limit", n/2, reserved)
		}
	case "used", "small":
		if reserved > 1<<20 {
			return fmt.Errorf("%s: reserved %d bytes, want none", c, reserved)
		}
	default:
		return fmt.Errorf("unknown case %q", c)
	}
	if !raceEnabled && rssGrowth > n/8 {
		return fmt.Errorf("%s: RSS grew by %d bytes: the reservation was touched", c, rssGrowth)
	}
	return nil
}

// ReserveHeap maps a restore's memory without touching it, advised for huge
// pages, on a fresh heap only, within half a memory limit, and not at all for a
// small tree.
func TestReserveHeap(t *testing.T) {
	for _, c := range []string{"fresh", "limit", "used", "small"} {
		t.Run(c, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), reserveChildEnv+"="+c)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		})
	}
}
