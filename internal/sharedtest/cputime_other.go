//go:build !unix

package sharedtest

import "time"

// ProcessCPU is not available here; benchmarks then report no CPU metric.
func ProcessCPU() time.Duration { return 0 }
