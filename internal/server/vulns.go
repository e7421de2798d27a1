package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/vigilsec/vigil/internal/agents"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/vuln/findings"
	"github.com/vigilsec/vigil/internal/vuln/scan"
)

// registerVulns opens the vulnerability findings (internal/vuln/findings:
// the advisory database in vulnerabilities.db, default DATA/vulndb),
// mounts their API, and starts the check of lapsed risk acceptances and
// SLA breaches, which raises breaches as alerts, and the reconcile of
// s.vulnSources (the host agents' inventories, once an adapter is set
// there) every vulnerabilities.reconcile_interval.
func (s *Server) registerVulns(mux *http.ServeMux, apiSrv *api.API) error {
	cfg := s.cfg.Vulnerabilities
	dir := cfg.DB
	if dir == "" {
		dir = filepath.Join(s.cfg.Data, "vulndb")
	}
	svc, err := findings.Open(findings.Options{DB: s.Store.Meta(), VulnDB: dir, SLA: cfg.SLA, Alerts: s.Recorder,
		Log: s.log.With("component", "vulnerabilities"), WriteLock: s.metaWrites.Background()})
	if err != nil {
		return fmt.Errorf("vulnerabilities: %w", err)
	}
	svc.Register(mux, findings.HTTPOptions{Require: apiSrv.Require, Audit: apiSrv.Audit, Actor: vulnActor})
	s.Vulns = svc
	if s.agents != nil {
		s.vulnSources = append(s.vulnSources, agentInventories{s.agents})
	}
	s.group.Go("vulnerability SLA check", func(ctx context.Context) error {
		svc.Run(ctx, cfg.CheckInterval, cfg.ReconcileInterval, s.vulnSources...)
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

// agentStore is what agentInventories reads of *agents.Service.
type agentStore interface {
	AgentsWithPackages(ctx context.Context) ([]string, error)
	List(ctx context.Context) ([]agents.Agent, error)
	Packages(ctx context.Context, id string) ([]agents.Package, error)
}

// agentInventories is the host agents' OS packages as an inventory
// source of the findings: one asset per agent that reported packages
// (id agent:<agent id>, named by its hostname).
type agentInventories struct{ a agentStore }

var _ findings.InventorySource = agentInventories{}

// agentAssetPrefix starts an agent asset's id.
const agentAssetPrefix = findings.KindAgent + ":"

func (x agentInventories) Assets(ctx context.Context) ([]findings.Asset, error) {
	ids, err := x.a.AgentsWithPackages(ctx)
	if err != nil {
		return nil, err
	}
	all, err := x.a.List(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(all))
	for _, a := range all {
		names[a.ID] = a.Hostname
	}
	out := make([]findings.Asset, 0, len(ids))
	for _, id := range ids {
		a := findings.Asset{ID: agentAssetPrefix + id, Kind: findings.KindAgent, Name: names[id]}
		// The hostname is the agent's word: one the findings refuse
		// (empty, control characters, too long) gives way to the id.
		if err := a.Normalize(); err != nil {
			a = findings.Asset{ID: agentAssetPrefix + id, Kind: findings.KindAgent, Name: id}
			if err := a.Normalize(); err != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func (x agentInventories) Packages(ctx context.Context, a findings.Asset) ([]scan.Package, error) {
	pkgs, err := x.a.Packages(ctx, strings.TrimPrefix(a.ID, agentAssetPrefix))
	if err != nil {
		return nil, err
	}
	out := make([]scan.Package, len(pkgs))
	for i, p := range pkgs {
		out[i] = scan.Package{Ecosystem: p.Ecosystem, Name: p.Name, Version: p.Version, Source: p.Source,
			SourceVersion: p.SourceVersion, Kind: p.Kind, State: p.State, Location: "agent " + a.Name}
	}
	return out, nil
}
