package api

import (
	"context"
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

// checkDependencies runs check with a short deadline and returns each
// dependency's state for the client ("ok" or "unavailable": the reason
// stays in the server's log, /readyz is unauthenticated) and whether all
// are ok.
func checkDependencies(ctx context.Context, check func(context.Context) []Dependency) (map[string]string, []Dependency, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	deps := check(ctx)
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
