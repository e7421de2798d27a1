package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/vuln/findings"
)

// registerVulns opens the vulnerability findings (internal/vuln/findings:
// the advisory database in vulnerabilities.db, default DATA/vulndb),
// mounts their API, and starts the check of lapsed risk acceptances and
// SLA breaches, which raises breaches as alerts.
func (s *Server) registerVulns(mux *http.ServeMux, apiSrv *api.API) error {
	cfg := s.cfg.Vulnerabilities
	dir := cfg.DB
	if dir == "" {
		dir = filepath.Join(s.cfg.Data, "vulndb")
	}
	svc, err := findings.Open(findings.Options{DB: s.Store.Meta(), VulnDB: dir, SLA: cfg.SLA, Alerts: s.Recorder,
		Log: s.log.With("component", "vulnerabilities")})
	if err != nil {
		return fmt.Errorf("vulnerabilities: %w", err)
	}
	svc.Register(mux, findings.HTTPOptions{Require: apiSrv.Require, Audit: apiSrv.Audit, Actor: vulnActor})
	s.Vulns = svc
	s.group.Go("vulnerability SLA check", func(ctx context.Context) error {
		svc.Run(ctx, cfg.CheckInterval)
		return nil
	})
	return nil
}

// vulnActor names the caller in a finding's history and for the
// two-person rule of risk acceptances: a user by name, a token by name
// and id (two tokens of one name are two actors).
func vulnActor(r *http.Request) string {
	p := api.PrincipalFrom(r.Context())
	switch {
	case p == nil:
		return "unknown"
	case p.TokenID != "":
		return "token:" + p.Name + "/" + p.TokenID
	}
	return "user:" + p.Name
}
