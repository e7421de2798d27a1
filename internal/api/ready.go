package api

import (
	"context"
	"sync"
	"time"
)

// DegradedError is a Ready error for a server that runs but cannot do all
// of its work (the event store cannot write, say, while search still
// works): /readyz answers 503 with status "degraded" and Reason, so that a
// load balancer stops sending events while operators see why.
type DegradedError struct {
	// Reason says what is wrong, for the client: no file paths.
	Reason string
}

func (e *DegradedError) Error() string { return e.Reason }

// Dependency is one thing the server needs, checked by /readyz: the
// metadata database, the event store, the NATS bus. Err is nil when it
// answers.
type Dependency struct {
	Name string
	Err  error
}

// depCheckTTL is how long a check of the dependencies answers /readyz:
// the endpoint is unauthenticated, and each check pings the database and
// the events server, so callers share one check a second.
const depCheckTTL = time.Second

// depCache holds the last check of the dependencies; the mutex also makes
// concurrent callers wait for one check rather than run their own.
type depCache struct {
	mu   sync.Mutex
	at   time.Time
	deps []Dependency
}

// get returns the dependencies' states, checking them when the last
// check is older than depCheckTTL.
func (c *depCache) get(check func(context.Context) []Dependency, now time.Time) []Dependency {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deps == nil || now.Sub(c.at) >= depCheckTTL {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.deps, c.at = check(ctx), now
	}
	return c.deps
}

// checkDependencies returns each dependency's state for the client ("ok"
// or "unavailable": the reason stays in the server's log, /readyz is
// unauthenticated), the failing ones, and whether all are ok.
func checkDependencies(deps []Dependency) (map[string]string, []Dependency, bool) {
	out := make(map[string]string, len(deps))
	ok := true
	var failed []Dependency
	for _, d := range deps {
		if d.Err != nil {
			out[d.Name] = "unavailable"
			ok = false
			failed = append(failed, d)
			continue
		}
		out[d.Name] = "ok"
	}
	return out, failed, ok
}
