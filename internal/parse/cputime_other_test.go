//go:build !unix

package parse

import "time"

// processCPU is not available here; benchmarks then report no CPU metric.
func processCPU() time.Duration { return 0 }
