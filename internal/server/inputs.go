package server

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/httpin"
	"github.com/vigilsec/vigil/internal/metrics"
)

// A streamInput is an input that reads on its own (from the network, from
// files) into the pipeline: syslog, the file tailers. Each registers
// itself from its own file (input_NAME.go), so adding an input is adding
// that file and its test; the listeners actor opens every registered
// input the configuration enables, and shuts them down together. (The
// HTTP ingest endpoints are handlers on the main listener:
// newIngestHTTP.)
type streamInput struct {
	// Name names the input in logs and errors.
	Name string
	// Open starts the input when cfg enables it, delivering to sink, and
	// returns its handle (nil: not enabled). ctx ends when the input
	// must stop at once (a failed start).
	Open func(ctx context.Context, s *Server, sink ingest.Sink) (inputHandle, error)
}

// inputHandle is a started input.
type inputHandle interface {
	// Shutdown stops accepting new data, hands what was already received
	// to the sink by ctx's deadline, and returns once the input's
	// goroutines have ended.
	Shutdown(ctx context.Context) error
}

var streamInputs []streamInput

// registerInput adds an input; inputs open in the order of their names.
func registerInput(in streamInput) {
	streamInputs = append(streamInputs, in)
	slices.SortFunc(streamInputs, func(a, b streamInput) int { return strings.Compare(a.Name, b.Name) })
}

// ingestAuth adapts the token service to the HTTP inputs.
type ingestAuth struct{ s *auth.Service }

func (a ingestAuth) Authenticate(r *http.Request, token string) (httpin.Principal, error) {
	p, err := a.s.Authenticate(r.Context(), token)
	if err != nil {
		return httpin.Principal{}, err
	}
	return httpin.Principal{Name: p.Name, Tags: p.Tags, CanIngest: p.Can(auth.PermIngest)}, nil
}

// newIngestHTTP returns the HTTP ingest handlers of the ingest section,
// without their GET / (the console's overview shares that path and routes
// shippers to Root).
func newIngestHTTP(cfg config.Config, sink ingest.Sink, a *auth.Service, m *metrics.Metrics, log *slog.Logger) *httpin.Handlers {
	c := cfg.Ingest
	c.NoRoot = true
	return httpin.New(c, sink, ingestAuth{a}, m, log)
}
