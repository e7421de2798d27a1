//go:build !unix

package intel

import "time"

// processCPU is not available here; benchmarks then report no CPU metric.
func processCPU() time.Duration { return 0 }
