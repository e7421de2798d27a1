package server

import (
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/searchlimit"
)

// searchLimits turns the search section of the configuration into the
// limiter's bounds.
func searchLimits(c config.Search) searchlimit.Limits {
	wait := c.QueueWait
	if wait == 0 {
		wait = -1 // the configuration's 0: refused at once, no waiting
	}
	return searchlimit.Limits{
		MaxConcurrent: c.MaxConcurrent,
		MaxPerUser:    c.MaxConcurrentPerUser,
		QueueWait:     wait,
		MaxQueued:     c.MaxQueued,
		Timeout:       c.Timeout,
		MaxGroups:     c.MaxGroups,
		MaxBytes:      int64(c.MaxQueryMemory),
	}
}
