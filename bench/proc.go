package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It is 100
// on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

// procSample is one reading of a process's CPU time and memory.
type procSample struct {
	ok      bool
	cpuSec  float64 // utime + stime
	rss     int64   // VmRSS, bytes
	peakRSS int64   // VmHWM, bytes
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status. A missing process or a
// system without /proc gives ok == false.
func readProc(pid int) procSample {
	if pid <= 0 {
		return procSample{}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}
	}
	// The command name (field 2) may hold spaces and parentheses; fields after the
	// last ')' are fixed: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procSample{}
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return procSample{}
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procSample{}
	}
	s := procSample{ok: true, cpuSec: float64(ut+st) / clockTicks}
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		line := sc.Text()
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(val) // "123456 kB"
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if key == "VmRSS" {
			s.rss = kb << 10
		} else {
			s.peakRSS = kb << 10
		}
	}
	return s
}

// selfCPU returns this process's user+system CPU seconds (getrusage).
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// window measures server and generator CPU between begin and end. With several
// server processes (an ensemble) their CPU time and memory are summed.
type window struct {
	pids     []int
	srvStart []procSample
	genStart float64
}

func (w *window) begin(pids []int) {
	w.pids = pids
	w.srvStart = make([]procSample, len(pids))
	for i, pid := range pids {
		w.srvStart[i] = readProc(pid)
	}
	w.genStart = selfCPU()
}

// end fills the process figures of res (-1 when a server could not be read).
func (w *window) end(res *Result) {
	res.GenCPUSec = selfCPU() - w.genStart
	res.ServerCPUSec, res.ServerRSSBytes, res.ServerPeakRSSBytes = -1, -1, -1
	if len(w.pids) == 0 {
		return
	}
	var cpu float64
	var rss, peak int64
	for i, pid := range w.pids {
		s := readProc(pid)
		if !s.ok || !w.srvStart[i].ok {
			return
		}
		cpu += s.cpuSec - w.srvStart[i].cpuSec
		rss += s.rss
		peak += s.peakRSS
	}
	res.ServerCPUSec, res.ServerRSSBytes, res.ServerPeakRSSBytes = cpu, rss, peak
}

// Machine describes where a report was made.
type Machine struct {
	NumCPU    int    `json:"num_cpu"`
	CPUModel  string `json:"cpu_model"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel,omitempty"`
}

// ThisMachine reads the CPU model from /proc/cpuinfo and the kernel release from
// /proc/sys/kernel/osrelease where present.
func ThisMachine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
