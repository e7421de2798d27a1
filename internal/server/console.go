package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/clientip"
	"github.com/vigilsec/vigil/internal/ingest/httpin"
	"github.com/vigilsec/vigil/internal/ingest/syslog"
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/web"
)

// registerConsole mounts the web console on mux. The console and the
// Elasticsearch ingest share GET /: a browser (Accept: text/html, no
// Authorization header) gets the console's overview, a shipper gets the
// Elasticsearch version document it needs at startup.
func (s *Server) registerConsole(mux *http.ServeMux, a *api.API, es *httpin.Handlers) {
	cfg := s.cfg
	var inputs []web.Input
	add := func(name, addr string) {
		if addr != "" {
			inputs = append(inputs, web.Input{Name: name, Addr: addr})
		}
	}
	add(syslog.InputUDP, cfg.Syslog.UDP)
	add(syslog.InputTCP, cfg.Syslog.TCP)
	add(syslog.InputTLS, cfg.Syslog.TLS)
	for _, name := range []string{httpin.InputNative, httpin.InputHEC, httpin.InputBulk, httpin.InputOTLP} {
		add(name, cfg.HTTP)
	}
	for _, f := range cfg.Files {
		add("file", strings.Join(f.Paths, ", "))
	}
	retention := []string{}
	if d := cfg.Retention.MaxAge; d > 0 {
		if d%(24*time.Hour) == 0 {
			retention = append(retention, fmt.Sprintf("%d days", d/(24*time.Hour)))
		} else {
			retention = append(retention, d.String())
		}
	}
	if n := int64(cfg.Retention.MaxSize); n > 0 {
		retention = append(retention, fmt.Sprintf("at most %.1f GiB", float64(n)/(1<<30)))
	}
	proxies, err := clientip.New(cfg.TrustProxy)
	if err != nil {
		s.log.Error("web console disabled", "err", err)
		return
	}
	c, err := web.New(context.Background(), web.Options{
		ClientIP: proxies, SecureCookies: cfg.Login.SecureCookies, FailedLoginWindow: cfg.Login.AuditWindow,
		Store: s.Events, Auth: s.Auth, Alerts: s.Alerts, Recorder: s.Recorder, Incidents: s.Incidents, Audit: s.Audit,
		Runner: s.Runner, Notifier: s.Notifier, Metrics: s.Metrics, Pipeline: s.Pipeline, Rules: s.Rules, RuleState: s.RuleState,
		ReloadPlaybooks: s.ReloadPlaybooks, Intel: intelStatus(s.Intel), Inputs: inputs, Retention: strings.Join(retention, ", "), Log: s.log,
		Search: s.searches, Setup: s.setup, OIDC: s.oidc,
	})
	if err != nil {
		// The API and ingest keep working without the console.
		s.log.Error("web console disabled", "err", err)
		return
	}
	c.Register(mux)
	s.console = c
	overview := c.Overview()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if web.WantsConsole(r) {
			overview.ServeHTTP(w, r)
			return
		}
		es.Root(w, r)
	})
}

// intelStatus hands the console the intel manager, or nil (not a typed nil
// pointer) when no feed is configured.
func intelStatus(m *intel.Manager) interface{ Status() []intel.FeedStatus } {
	if m == nil {
		return nil
	}
	return m
}
