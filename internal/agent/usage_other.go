//go:build !linux

package agent

// usage is measured on Linux only; elsewhere the agent reports 0.
func usage() (rss int64, cpuSeconds float64) { return 0, 0 }
