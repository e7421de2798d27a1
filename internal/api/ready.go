package api

// DegradedError is a Ready error for a server that runs but cannot do all
// of its work (the event store cannot write, say, while search still
// works): /readyz answers 503 with status "degraded" and Reason, so that a
// load balancer stops sending events while operators see why.
type DegradedError struct {
	// Reason says what is wrong, for the client: no file paths.
	Reason string
}

func (e *DegradedError) Error() string { return e.Reason }
