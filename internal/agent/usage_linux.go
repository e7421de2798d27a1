package agent

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// usage returns the agent's resident memory (from /proc/self/statm) and
// the CPU time it has used (getrusage), user plus system.
func usage() (rss int64, cpuSeconds float64) {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := bytes.Fields(b); len(f) >= 2 {
			if pages, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil {
				rss = pages * int64(os.Getpagesize())
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpuSeconds = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	return rss, cpuSeconds
}
