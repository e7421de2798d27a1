package searchlimit

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/bytesize"
)

// Config is the search section of the server's configuration (search: in
// YAML, VIGIL_SEARCH_* in the environment): what searches may cost the
// server. The API's and the console's searches run through one limiter
// (docs/security.md, "Search limits").
type Config struct {
	// MaxGroups bounds the groups (rows before sort and limit) of one
	// stats or timechart; past it the search fails with "too many groups"
	// (default 1000000).
	MaxGroups int `koanf:"max_groups"`
	// MaxQueryMemory is one search's memory budget: group keys,
	// aggregate state, distinct values and buffered events, estimated
	// (default 256MiB).
	MaxQueryMemory bytesize.Size `koanf:"max_query_memory"`
	// Timeout stops a search that runs longer (default 30s).
	Timeout time.Duration `koanf:"timeout"`
	// MaxConcurrent bounds the searches running at once, all users
	// together (default 4); MaxConcurrentPerUser those of one user or API
	// token (default 3).
	MaxConcurrent        int `koanf:"max_concurrent"`
	MaxConcurrentPerUser int `koanf:"max_concurrent_per_user"`
	// QueueWait is how long a search past either bound waits for a turn
	// before it is answered 429 with Retry-After (default 2s; 0 answers at
	// once); at most MaxQueued wait at a time (default 64).
	QueueWait time.Duration `koanf:"queue_wait"`
	MaxQueued int           `koanf:"max_queued"`
}

// DefaultConfig returns the search section's defaults (Defaults).
func DefaultConfig() Config {
	d := Defaults()
	return Config{MaxGroups: d.MaxGroups, MaxQueryMemory: bytesize.Size(d.MaxBytes), Timeout: d.Timeout,
		MaxConcurrent: d.MaxConcurrent, MaxConcurrentPerUser: d.MaxPerUser, QueueWait: d.QueueWait, MaxQueued: d.MaxQueued}
}

// Validate reports every field out of its range, one error per field
// named by its key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.MaxGroups < 1 {
		add("max_groups: must be at least 1")
	}
	if c.MaxQueryMemory < 1<<20 {
		add("max_query_memory: must be at least 1MiB")
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > time.Hour {
		add("timeout: %v is outside 100ms..1h", c.Timeout)
	}
	if c.MaxConcurrent < 1 {
		add("max_concurrent: must be at least 1")
	}
	if c.MaxConcurrentPerUser < 1 || c.MaxConcurrentPerUser > c.MaxConcurrent {
		add("max_concurrent_per_user: %d is outside 1..search.max_concurrent (%d)", c.MaxConcurrentPerUser, c.MaxConcurrent)
	}
	if c.QueueWait < 0 || c.QueueWait > time.Minute {
		add("queue_wait: %v is outside 0..1m", c.QueueWait)
	}
	if c.MaxQueued < 1 {
		add("max_queued: must be at least 1")
	}
	return errors.Join(errs...)
}

// Limits returns the limiter's bounds for the section. The section's
// queue_wait 0 means "refused at once", the limiter's negative QueueWait.
func (c Config) Limits() Limits {
	wait := c.QueueWait
	if wait == 0 {
		wait = -1
	}
	return Limits{MaxConcurrent: c.MaxConcurrent, MaxPerUser: c.MaxConcurrentPerUser, QueueWait: wait,
		MaxQueued: c.MaxQueued, Timeout: c.Timeout, MaxGroups: c.MaxGroups, MaxBytes: int64(c.MaxQueryMemory)}
}
