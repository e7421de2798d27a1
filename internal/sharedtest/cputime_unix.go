//go:build unix

package sharedtest

import (
	"syscall"
	"time"
)

// ProcessCPU returns the CPU time (user + system, every thread) the process
// has used, so that benchmarks can report CPU cost per operation on a busy
// machine, where wall-clock ns/op includes time spent waiting for a core.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
