package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent sets the collector's target (GOGC) for a command whose
// allocation rate is high and whose live heap is small, unless the user
// set GOGC: then theirs applies. GOMEMLIMIT, when set, still caps the heap.
func defaultGCPercent(pct int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(pct)
	}
}
