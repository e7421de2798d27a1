package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"

	"github.com/vigilsec/vigil/internal/agents"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/clientip"
	"github.com/vigilsec/vigil/internal/ingest"
)

// registerAgents opens the host agents' service (its CA in DATA/agents,
// only when agents.listen is set) and mounts its API: enrollment tokens,
// enrollment, the list of agents, revocation.
func (s *Server) registerAgents(mux *http.ServeMux, apiSrv *api.API) error {
	cfg := s.cfg.Agents
	dir := ""
	if cfg.Listen != "" {
		dir = filepath.Join(s.cfg.Data, "agents")
	}
	svc, err := agents.Open(agents.Options{DB: s.Store.Meta(), Dir: dir, Audit: s.Audit, Log: s.log.With("component", "agents"),
		CertValidity: cfg.CertValidity, Advertise: cfg.Advertise})
	if err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	proxies, err := clientip.New(s.cfg.TrustProxy)
	if err != nil {
		return fmt.Errorf("trust_proxy: %w", err)
	}
	svc.Register(mux, agents.HTTPOptions{Require: apiSrv.Require, Audit: apiSrv.Audit,
		Source: func(r *http.Request) netip.Addr { return proxies.Resolve(r).Addr }})
	s.agents = svc
	return nil
}

// The agents' listener: each host agent's persistent mutual-TLS
// connection (internal/agents), which carries its heartbeats and the log
// records it ships, handed to the pipeline as Input "agent".
func init() {
	registerInput(streamInput{Name: "agents", Open: func(ctx context.Context, s *Server, sink ingest.Sink) (inputHandle, error) {
		if s.cfg.Agents.Listen == "" || s.agents == nil {
			return nil, nil
		}
		s.agents.SetSink(sink, s.Metrics)
		ln, err := net.Listen("tcp", s.cfg.Agents.Listen)
		if err != nil {
			return nil, fmt.Errorf("listening on %q: %w", s.cfg.Agents.Listen, err)
		}
		l, err := s.agents.Listen(ln)
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.AgentAddr = l.Addr()
		s.log.Info("agent listener ready", "addr", l.Addr().String())
		return agentsHandle{l}, nil
	}})
}

type agentsHandle struct{ l *agents.Listener }

func (h agentsHandle) Shutdown(context.Context) error { return h.l.Close() }
