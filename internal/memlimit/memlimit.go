// Package memlimit keeps the server's Go heap within a soft limit (Go's
// GOMEMLIMIT), raised while a search holds a memory budget.
//
// Why: the server collects garbage at 2.5x its live heap (GOGC 150, see
// cmd/vigil/serve.go), which costs the least CPU per event. Its live heap
// is bounded by its queues and correlation state (~120 MB in normal
// traffic, ~150-190 MB under an attack wave of 100,000 addresses, mostly
// correlation groups), so 2.5x of it plus what the collector has not yet
// returned put the resident size of a 2-core server at 480-490 MiB under
// that wave. A soft limit makes the collector work harder only when the
// heap nears it: under the default (320 MiB) the same wave peaks at ~410
// MiB resident, at no measurable cost in ingest rate, with or without the
// wave (runs of vigil bench ingest with the limit off and on, in the same
// hour: docs/benchmarks.md).
//
// A search may legitimately use up to its memory budget (search
// max_query_memory) on top of the live heap; a fixed limit would then make
// the collector run back to back for as long as the search runs. So each
// running search reserves its budget, which raises the limit by as much
// until the search ends.
//
// The limit is soft: a live heap above it is never refused memory, the
// collector only runs more often (and Go caps its CPU share at about half).
package memlimit

import (
	"math"
	"runtime/debug"
	"sync"
)

// Limit is the process's soft memory limit. Its zero value is not usable;
// use New.
type Limit struct {
	mu       sync.Mutex
	base     int64 // 0: no limit of ours
	reserved int64
	set      func(int64) int64
}

// New applies base as the soft memory limit, in bytes. A base of 0 leaves
// the runtime's limit as it is (GOMEMLIMIT, or none), and reservations
// then change nothing.
func New(base int64) *Limit {
	l := &Limit{base: base, set: debug.SetMemoryLimit}
	l.apply()
	return l
}

// Reserve raises the limit by n bytes until the returned function is
// called (once; later calls do nothing).
func (l *Limit) Reserve(n int64) (release func()) {
	if n <= 0 || l.base == 0 {
		return func() {}
	}
	l.mu.Lock()
	l.reserved += n
	l.apply()
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.reserved -= n
			l.apply()
			l.mu.Unlock()
		})
	}
}

// Current returns the limit in force by this Limit (0: none of ours).
func (l *Limit) Current() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.base == 0 {
		return 0
	}
	return l.total()
}

func (l *Limit) total() int64 {
	if l.reserved > math.MaxInt64-l.base {
		return math.MaxInt64
	}
	return l.base + l.reserved
}

// apply sets the runtime's limit (l.mu held, or during New).
func (l *Limit) apply() {
	if l.base > 0 {
		l.set(l.total())
	}
}
