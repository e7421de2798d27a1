package server

import (
	"log/slog"
	"net/http"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/httpin"
	"github.com/vigilsec/vigil/internal/metrics"
)

// ingestAuth adapts the token service to the HTTP inputs.
type ingestAuth struct{ s *auth.Service }

func (a ingestAuth) Authenticate(r *http.Request, token string) (httpin.Principal, error) {
	p, err := a.s.Authenticate(r.Context(), token)
	if err != nil {
		return httpin.Principal{}, err
	}
	return httpin.Principal{Name: p.Name, Tags: p.Tags, CanIngest: p.Can(auth.PermIngest)}, nil
}

func registerIngest(mux *http.ServeMux, cfg config.Config, sink ingest.Sink, a *auth.Service, m *metrics.Metrics, log *slog.Logger) {
	httpin.New(httpin.Config{MaxBodySize: int64(cfg.Ingest.MaxBodySize), ReadTimeout: cfg.Ingest.ReadTimeout, NoRoot: true}, sink, ingestAuth{a}, m, log).Register(mux)
}
