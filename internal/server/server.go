// Package server runs `vigil serve`: it opens the store, starts the
// pipeline, the inputs and the HTTP listener, and on shutdown stops them in
// order — inputs first, then the pipeline drains into the store, then the
// store closes — so nothing accepted is lost.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/datadir"
	"github.com/vigilsec/vigil/internal/demo"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/geoip"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/ingest/syslog"
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/journal"
	"github.com/vigilsec/vigil/internal/memlimit"
	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/meta/postgres"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/notify"
	"github.com/vigilsec/vigil/internal/oidc"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/rulestate"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/web"
)

// Shares of the shutdown budget (cfg.ShutdownTimeout), in percent, counted
// from the signal. Until inputShare the inputs drain: syslog connections
// are read to their end and HTTP requests in flight finish, while the
// pipeline keeps storing. From spillShare on, what the draining inputs
// read beyond a full queue goes to the spool rather than waiting for the
// store, so the drain ends in time. Until storeShare the pipeline stores
// what it holds; what is left then is spooled too. The rest of the budget
// is for writing the spool and closing the alert path and the store, so
// that the process exits within the budget.
const (
	spillShare = 25
	inputShare = 50
	storeShare = 80
)

// shareOf returns pct percent of d.
func shareOf(d time.Duration, pct int64) time.Duration { return d * time.Duration(pct) / 100 }

// Server is one running Vigil server.
type Server struct {
	cfg config.Config
	log *slog.Logger

	// Addresses bound, set once Run has started the listeners (tests and
	// logs use them when a port was 0).
	HTTPAddr   net.Addr
	SyslogAddr struct{ UDP, TCP, TLS net.Addr }

	ready     atomic.Bool
	started   chan struct{}
	Metrics   *metrics.Metrics
	Store     *sqlite.DB
	Auth      *auth.Service
	Pipeline  *pipeline.Pipeline
	Alerts    *alert.Store
	Recorder  *alert.Recorder
	Incidents *incident.Manager
	Audit     *audit.Log
	Runner    *respond.Runner
	Notifier  *notify.Notifier
	Intel     *intel.Manager
	RuleState *rulestate.State
	// console is the web console, when it could be set up: its held
	// failed sign-in summaries are written at shutdown.
	console *web.Console
	// searches bounds the API's and the console's searches together.
	searches *searchlimit.Limiter
	// setup is the first-run setup while no admin user exists at start.
	setup *auth.Setup
	// oidc is single sign-on (nil: not configured).
	oidc *oidc.RP

	// metaWrites orders the write transactions of the alert path (urgent)
	// and the response runner (background) on the metadata database.
	metaWrites meta.WriteLock

	rules      atomic.Pointer[ruleset.Loaded]
	reloadMu   sync.Mutex
	ruleFilter func(alert.Matcher) alert.Matcher
}

// Rules returns the rule set in force.
func (s *Server) Rules() *ruleset.Loaded { return s.rules.Load() }

// ReloadRules loads the rules again (built-in, --rules folders and
// DATA/rules) and swaps the engine in: events already in the pipeline see
// either the old or the new rules, none is skipped. A rule set that fails
// to load leaves the old one in force. Correlation state carries over.
func (s *Server) ReloadRules() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	dirs := append([]string(nil), s.cfg.Rules...)
	if d := filepath.Join(s.cfg.Data, "rules"); dirExists(d) {
		dirs = append(dirs, d)
	}
	start := time.Now()
	// Correlation state keeps of each contributing event only what alerts
	// take from it (entities), not the whole event.
	l, err := ruleset.Load(ruleset.Options{Builtin: true, Dirs: dirs, Detect: detect.Options{
		KeepFields: alert.EntityFields(), MaxGroups: s.cfg.Alerts.CorrelationGroups,
	}})
	if err != nil {
		return fmt.Errorf("loading rules: %w", err)
	}
	for _, e := range l.Errors {
		s.log.Warn("rule not loaded", "err", e)
	}
	if old := s.rules.Load(); old != nil {
		l.Engine.TransferState(old.Engine) // correlation windows survive a reload
	}
	s.rules.Store(l)
	s.applyEngine(l.Engine)
	s.log.Info("rules loaded", "rules", len(l.Set.Rules)-len(l.Skipped), "skipped", len(l.Skipped),
		"errors", len(l.Errors), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// applyEngine puts e in force, behind the rule-state filter when there is
// one, so rules disabled in the console or the API stay disabled across
// reloads.
func (s *Server) applyEngine(e *detect.Engine) {
	var m alert.Matcher = e
	if s.ruleFilter != nil {
		m = s.ruleFilter(e)
	}
	s.Recorder.SetEngine(m)
}

// ReloadPlaybooks loads the built-in playbooks and DATA/playbooks.
func (s *Server) ReloadPlaybooks() error {
	builtin, err := respond.Parse([]byte(respond.BuiltinSSHBruteForce), "builtin:ssh-brute-force-block.yml")
	if err != nil {
		return err
	}
	books := []*respond.Playbook{builtin}
	loaded, err := respond.LoadDir(filepath.Join(s.cfg.Data, "playbooks"))
	if err != nil {
		return err
	}
	for _, p := range loaded {
		if p.Name == builtin.Name {
			books[0] = p // a file of the same name replaces the built-in one
			continue
		}
		books = append(books, p)
	}
	var errs []error
	for _, p := range books {
		errs = append(errs, s.Runner.Check(p)) // http_request destinations exist
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.Runner.SetPlaybooks(books)
	s.log.Info("playbooks loaded", "playbooks", len(books))
	return nil
}

// intelLookup lists the threat-intel entries that name value, whatever
// its kind ("feed: description"); nil when no feed is configured.
func (s *Server) intelLookup(value string) []string {
	if s.Intel == nil {
		return nil
	}
	idx := s.Intel.Index()
	if idx == nil {
		return nil
	}
	var out []string
	for _, k := range []intel.Kind{intel.KindIP, intel.KindDomain, intel.KindURL, intel.KindHash, intel.KindEmail} {
		idx.MatchValue(k, value, func(in *intel.Indicator) {
			entry := in.Context.Feed
			if in.Context.Description != "" {
				entry += ": " + in.Context.Description
			}
			out = append(out, entry)
		})
	}
	return out
}

// resolveRule maps a rule id or name to the rule's id and name.
func (s *Server) resolveRule(ref string) (id, name string, ok bool) {
	l := s.Rules()
	if l == nil {
		return "", "", false
	}
	r, ok := l.Set.Lookup(ref)
	if !ok {
		return "", "", false
	}
	return r.ID, r.Name, true
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// New returns a server for cfg, which must be valid.
func New(cfg config.Config, log *slog.Logger) *Server {
	return &Server{cfg: cfg, log: log, started: make(chan struct{}), Metrics: metrics.New()}
}

// Started is closed once every listener is up and the server is ready.
func (s *Server) Started() <-chan struct{} { return s.started }

// Run serves until ctx is cancelled, then shuts down in order and returns.
func (s *Server) Run(ctx context.Context) (err error) {
	cfg := s.cfg
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	lock, err := datadir.Acquire(cfg.Data)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := lock.Release(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("releasing the data directory's lock: %w", rerr))
		}
	}()
	if lock.Previous != "" {
		s.log.Warn("took over the data directory's lock from a process that did not release it (killed, or the machine stopped)", "previous", lock.Previous)
	}
	// The soft memory limit (GOMEMLIMIT, when set, is the operator's and
	// stays): see internal/memlimit.
	mem := memlimit.New(0)
	if os.Getenv("GOMEMLIMIT") == "" {
		mem = memlimit.New(int64(cfg.MemoryLimit))
	}
	// The metadata lives in PostgreSQL with --postgres, else in the data
	// directory's meta.db; the store hands it out either way.
	var pg *postgres.DB
	if cfg.Postgres != "" {
		if pg, err = postgres.Open(ctx, cfg.Postgres); err != nil {
			return err
		}
		s.log.Info("metadata in PostgreSQL", "dsn", postgres.Redact(cfg.Postgres))
	}
	so := sqlite.Options{MaxAge: cfg.Retention.MaxAge, MaxBytes: int64(cfg.Retention.MaxSize)}
	if pg != nil {
		so.Meta = pg.DB()
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.Data), so)
	if err != nil {
		if pg != nil {
			pg.Close()
		}
		return fmt.Errorf("opening store in %q: %w", cfg.Data, err)
	}
	s.Store = st
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing store: %w", cerr))
		}
	}()

	s.Auth, err = auth.Open(ctx, st.Meta())
	if err != nil {
		return err
	}
	s.Auth.SetLoginThrottle(loginThrottle(cfg.Login))
	if cfg.BootstrapToken != "" {
		if err := s.Auth.EnsureToken(ctx, "bootstrap", cfg.BootstrapToken, auth.RoleAdmin); err != nil {
			return fmt.Errorf("bootstrap token: %w", err)
		}
	}
	if err := s.prepareFirstRun(ctx); err != nil {
		return err
	}

	alerts, err := alert.Open(ctx, st.Meta())
	if err != nil {
		return err
	}
	s.Alerts = alerts
	// Detections cross to the alert writer through a journal on disk
	// (internal/alert/handoff.go), closed after the recorder.
	handoff, err := journal.Open(filepath.Join(cfg.Data, "journal", alert.HandoffName), journal.Options{})
	if err != nil {
		return fmt.Errorf("alert hand-off: %w", err)
	}
	defer func() {
		if err := handoff.Close(); err != nil {
			s.log.Error("closing the alert hand-off journal", "err", err)
		}
	}()
	s.Recorder, err = alert.NewRecorder(ctx, alerts, s.log, alert.Options{
		Journal:        handoff,
		OnJournalError: func() { s.Metrics.DetectionsNotDurable.Inc() },
		MinLevel:       cfg.Alerts.MinLevel,
		Window:         cfg.Alerts.Window,
		OnDetection: func(d *detect.Detection) {
			s.Metrics.Detections.WithLabelValues(d.Rule.Level).Inc()
		},
		OnSuppressed: func(string) { s.Metrics.Suppressed.Inc() },
		QueueSize:    cfg.Alerts.QueueSize,
		WriteLock:    s.metaWrites.Urgent(),
		Campaign:     alert.CampaignOptions{Threshold: cfg.Alerts.Campaign.Threshold, Window: cfg.Alerts.Campaign.Window},
		OnShed:       func() { s.Metrics.DetectionsShed.Inc() },
		OnEvict:      func(n int) { s.Metrics.AlertIndexEvicted.Add(float64(n)) },

		SuppressionMaxExpiry: cfg.Alerts.SuppressionMaxExpiry,
	})
	if err != nil {
		return err
	}
	s.Incidents, err = incident.Open(ctx, st.Meta(), alerts, s.log, incident.Options{
		Window: cfg.Incidents.Window, MinLevel: cfg.Incidents.MinLevel,
		Risk: incident.RiskOptions{Threshold: cfg.Incidents.RiskThreshold,
			OnEvict: func(n int) { s.Metrics.RiskIndexEvicted.Add(float64(n)) }},
		WriteLock: s.metaWrites.Urgent(),
	})
	if err != nil {
		return err
	}
	s.Incidents.Forget = s.Recorder.Forget
	s.Audit, err = audit.Open(ctx, st.Meta())
	if err != nil {
		return err
	}
	// One rule state for the console, the API and every engine put in
	// force, so a rule disabled anywhere stays disabled across reloads.
	if s.RuleState, err = rulestate.Open(ctx, st.Meta(), rulestate.Options{Audit: s.Audit.RecordTx}); err != nil {
		return err
	}
	s.ruleFilter = s.RuleState.Filter
	// One egress policy for every outbound connection: notification
	// routes, http_request, intel feeds.
	egressPolicy, err := egress.New(cfg.Egress.Allow)
	if err != nil {
		return err
	}
	if cfg.OIDC.Enabled() {
		// Discovery, keys, token and userinfo go through the egress
		// policy; the provider is asked at the first sign-in.
		s.oidc, err = oidc.New(cfg.OIDC, oidc.Options{Client: egressPolicy.Client(egress.ClientOptions{Timeout: 30 * time.Second, MaxRedirects: 3})})
		if err != nil {
			return fmt.Errorf("single sign-on: %w", err)
		}
		s.log.Info("single sign-on", "issuer", cfg.OIDC.Issuer, "client_id", cfg.OIDC.ClientID, "redirect_url", cfg.OIDC.RedirectURL)
	}
	s.Notifier, err = notify.Open(ctx, st.Meta(), notify.Options{Logger: s.log, Egress: egressPolicy})
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	s.Metrics.Registry.MustRegister(s.Notifier)
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		if err := s.Notifier.Run(context.WithoutCancel(ctx)); err != nil {
			s.log.Error("notification delivery stopped", "err", err)
		}
	}()
	ropts := respond.Options{
		Commands: cfg.Respond.Commands, NeverBlock: cfg.Respond.NeverBlock, BatchCommands: batchCommands(cfg.Respond.BatchCommands),
		Destinations: cfg.Respond.Destinations(), Egress: egressPolicy,
		Audit:     s.Audit.RecordTx,
		WriteLock: s.metaWrites.Background(),
		QueueLock: s.metaWrites.Urgent(),
		OnBreakerOpen: func(playbook, reason string) {
			s.Recorder.Raise(alert.Alert{
				RuleID: "vigil-playbook-circuit-open", RuleTitle: "Playbook stopped by its circuit breaker: " + playbook,
				Level: "high", Tags: []string{"vigil.response"}, Group: map[string]string{"playbook": playbook},
				Event: mustJSON(map[string]string{"playbook": playbook, "reason": reason}),
			})
		},
		Notify: func(ctx context.Context, text string, inc *incident.Incident) error {
			n := incidentNotification(inc)
			n.ID = ids.New() // each notify step is its own message
			n.Summary = text
			return s.Notifier.Notify(ctx, n)
		},
		IntelLookup: s.intelLookup,
	}
	if cfg.Respond.GeoIPDB != "" || cfg.Respond.ASNDB != "" {
		geo, err := geoip.Open(cfg.Respond.GeoIPDB, cfg.Respond.ASNDB)
		if err != nil {
			return err
		}
		defer geo.Close()
		ropts.GeoIP = func(ip netip.Addr) (string, error) {
			info, err := geo.Lookup(ip)
			return info.String(), err
		}
	}
	s.Runner, err = respond.New(ctx, st.Meta(), s.Incidents, s.log, ropts, s.resolveRule)
	if err != nil {
		return fmt.Errorf("response: %w", err)
	}
	// The recorder closes after the pipeline has drained (deferred calls
	// run last-in first-out), so alerts of drained events are stored; the
	// runner closes after it, so their playbooks run; the notifier last,
	// after every notification is safely in its outbox.
	defer func() {
		s.Recorder.Close()
		s.Runner.Close()
		s.Notifier.Close()
		<-notifyDone
	}()
	if err := s.ReloadPlaybooks(); err != nil {
		return err
	}
	if err := s.Runner.Resume(ctx); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	// Hook order matters: incidents first (they set the alert's incident),
	// then playbooks, which record their actions on that incident.
	s.Recorder.AddHook(s.Incidents)
	s.Recorder.AddHook(s.Runner)
	s.Recorder.AddHook(s.Notifier.AlertHook(nil))
	s.Incidents.OnOpened = func(ctx context.Context, inc *incident.Incident, c *alert.Change) {
		if err := s.Audit.Record(ctx, "vigil", "incident.open", inc.ID, nil, inc); err != nil {
			s.log.Error("audit record lost", "action", "incident.open", "err", err)
		}
		if err := s.Notifier.Notify(ctx, incidentNotification(inc)); err != nil {
			s.log.Error("queueing incident notification", "incident", inc.ID, "err", err)
		}
		s.Runner.IncidentOpened(ctx, inc, c)
	}
	if err := s.ReloadRules(); err != nil {
		return err
	}
	// Detections the last run handed over but did not commit (a crash,
	// or a metadata database that failed at shutdown), now that the
	// hooks are in place and before new events arrive.
	if n, err := s.Recorder.ReplayJournal(ctx); err != nil {
		return fmt.Errorf("alert hand-off: %w", err)
	} else if n > 0 {
		s.log.Info("detections from the last run's hand-off journal queued as alerts", "detections", n)
	}

	s.Pipeline = pipeline.New(pipeline.Config{
		QueueSize:     cfg.Pipeline.QueueSize,
		Workers:       cfg.Pipeline.Workers,
		Writers:       cfg.Pipeline.Writers,
		BatchSize:     cfg.Pipeline.BatchSize,
		FlushInterval: cfg.Pipeline.FlushInterval,
		SpoolDir:      filepath.Join(cfg.Data, "spool"),
	}, parse.New(parse.Options{ShareData: true}), st, s.Metrics, s.log)
	var det pipeline.Detector = s.Recorder
	if len(cfg.Intel.Feeds) > 0 {
		s.Intel, err = intel.New(cfg.Intel.Feeds, intel.Options{Logger: s.log, Egress: egressPolicy})
		if err != nil {
			return fmt.Errorf("intel: %w", err)
		}
		go func() {
			if err := s.Intel.Run(ctx); err != nil {
				s.log.Error("intel feeds stopped", "err", err)
			}
		}()
		det = detectors{s.Recorder, &intelDetector{m: s.Intel, rec: s.Recorder}}
	}
	s.Pipeline.SetDetector(det)
	pipeClosed := false
	defer func() {
		if !pipeClosed {
			// An early return: bounded all the same, since the pipeline
			// waits for a failing store for as long as it is let.
			cctx, cancel := context.WithTimeout(context.Background(), shareOf(cfg.ShutdownTimeout, storeShare))
			defer cancel()
			if err := s.Pipeline.Close(cctx); err != nil {
				s.log.Error("closing the pipeline", "err", err)
			}
		}
	}()
	// What the last shutdown spooled is queued before the inputs start.
	if files, n, err := s.Pipeline.Replay(ctx); err != nil {
		return err
	} else if files > 0 {
		s.log.Info("spooled messages from the last shutdown queued for storage", "files", files, "messages", n)
	}
	corrStats := func() detect.CorrelationStats {
		if l := s.Rules(); l != nil {
			return l.Engine.CorrelationStats()
		}
		return detect.CorrelationStats{}
	}
	s.Metrics.GaugeFunc("vigil_correlation_groups", "Correlation groups (group-by keys) held now.", func() float64 { return float64(corrStats().Groups) })
	s.Metrics.CounterFunc("vigil_correlation_groups_evicted_total", "Correlation groups dropped at the alerts.correlation_groups bound (since the last rule reload).",
		func() float64 { return float64(corrStats().EvictedGroups) })
	s.Metrics.GaugeFunc("vigil_alert_queue_depth", "Detections waiting to become alerts.", func() float64 { return float64(s.Recorder.QueueDepth()) })
	s.Metrics.GaugeFunc("vigil_queue_depth", "Messages accepted but not yet stored.", func() float64 { return float64(s.Pipeline.QueueDepth()) })
	s.Metrics.GaugeFunc("vigil_queue_capacity", "Capacity of the pipeline queue in messages.", func() float64 { return float64(s.Pipeline.QueueSize()) })
	s.Metrics.GaugeFunc("vigil_store_bytes", "Size of the event store on disk.", func() float64 {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		stats, err := st.Stats(sctx)
		if err != nil {
			return -1
		}
		return float64(stats.Bytes)
	})

	// HTTP: API and ingest endpoints on one listener.
	mux := http.NewServeMux()
	s.searches = searchlimit.New(searchLimits(cfg.Search))
	s.searches.ReserveWith(mem.Reserve)
	if err := s.searches.Register(s.Metrics.Registry); err != nil {
		return err
	}
	apiSrv := api.New(api.Options{
		Store: st, Auth: s.Auth, Metrics: s.Metrics, Log: s.log, Alerts: alerts, Recorder: s.Recorder, Incidents: s.Incidents, Audit: s.Audit, Runner: s.Runner, ReloadPlaybooks: s.ReloadPlaybooks, Intel: s.Intel, Rules: s.Rules,
		Reload: s.ReloadRules, RuleState: s.RuleState, Search: s.searches,
		Ready: func() error {
			if !s.ready.Load() {
				return errors.New("starting or stopping")
			}
			return s.storeHealth()
		},
	})
	apiSrv.Register(mux)
	s.Notifier.Register(mux, apiSrv.Require, apiSrv.Audit)
	s.registerConsole(mux, apiSrv)
	registerIngest(mux, cfg, s.Pipeline, s.Auth, s.Metrics, s.log)
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listening on http %q: %w", cfg.HTTP, err)
	}
	s.HTTPAddr = ln.Addr()
	hl, err := newHTTPListener(ln, cfg, mux, s.Metrics.Registry, s.log)
	if err != nil {
		ln.Close()
		return err
	}
	hs := hl.srv
	httpDone := make(chan error, 1)
	go func() { httpDone <- hl.serve() }()

	// Stream inputs get their own context so they stop before the pipeline.
	inCtx, stopInputs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInputs()
	var sl *syslog.Server
	if cfg.Syslog.UDP != "" || cfg.Syslog.TCP != "" || cfg.Syslog.TLS != "" {
		sl, err = syslog.New(syslog.Config{
			UDPAddr: cfg.Syslog.UDP, TCPAddr: cfg.Syslog.TCP, TLSAddr: cfg.Syslog.TLS,
			TLSCertFile: cfg.Syslog.TLSCert, TLSKeyFile: cfg.Syslog.TLSKey, TLSClientCAFile: cfg.Syslog.TLSClientCA,
			MaxMessageSize: cfg.Syslog.MaxMessageSize, IdleTimeout: cfg.Syslog.IdleTimeout,
			MaxConnections: cfg.Syslog.MaxConnections, MaxConnectionsPerSource: cfg.Syslog.MaxConnectionsPerSource, Tags: cfg.Syslog.Tags,
		}, s.Pipeline, s.Metrics, s.log)
		if err == nil {
			err = sl.Start(inCtx)
		}
		if err != nil {
			hs.Close()
			return err
		}
		s.SyslogAddr.UDP, s.SyslogAddr.TCP, s.SyslogAddr.TLS = sl.UDPAddr(), sl.TCPAddr(), sl.TLSAddr()
		registerSyslogConnMetrics(s.Metrics.Registry, sl)
	}
	files, err := startFiles(inCtx, cfg, s.Pipeline, s.Metrics, s.log)
	if err != nil {
		stopInputs()
		if sl != nil {
			sl.Wait()
		}
		hs.Close()
		return err
	}

	// SIGHUP reloads the rules.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				if err := s.ReloadRules(); err != nil {
					s.log.Error("rule reload failed; the previous rules stay in force", "err", err)
				}
			case <-inCtx.Done():
				return
			}
		}
	}()

	s.announceFirstRun(s.HTTPAddr, hl.tls)
	s.ready.Store(true)
	close(s.started)
	if cfg.Demo {
		go func() {
			s.log.Info("demo: replaying the built-in attack scenario", "takes", demo.ReplayDuration)
			if err := demo.Run(inCtx, s.Pipeline, s.log); err != nil && inCtx.Err() == nil {
				s.log.Error("demo scenario failed", "err", err)
			}
		}()
	}
	s.log.Info("vigil ready", "http", addrString(s.HTTPAddr), "syslog_udp", addrString(s.SyslogAddr.UDP),
		"syslog_tcp", addrString(s.SyslogAddr.TCP), "syslog_tls", addrString(s.SyslogAddr.TLS), "data", cfg.Data)

	select {
	case <-ctx.Done():
	case err := <-httpDone:
		s.log.Error("http server stopped", "err", err)
	}

	// Shutdown, in order, within cfg.ShutdownTimeout: the inputs stop
	// taking new data and hand over what they already received, the
	// pipeline stores it or spools it, then the rest closes.
	s.ready.Store(false)
	began := time.Now()
	s.log.Info("shutting down: draining inputs", "budget", cfg.ShutdownTimeout)
	s.Pipeline.BeginShutdown(began.Add(shareOf(cfg.ShutdownTimeout, spillShare)))
	ictx, cancel := context.WithDeadline(context.Background(), began.Add(shareOf(cfg.ShutdownTimeout, inputShare)))
	var drains sync.WaitGroup
	if sl != nil {
		drains.Go(func() {
			if err := sl.Shutdown(ictx); err != nil {
				s.log.Warn("syslog shutdown", "err", err)
			}
		})
	}
	drains.Go(func() {
		// Requests in flight wait for their events to be stored; past
		// the deadline their clients get no answer and send again.
		if err := hs.Shutdown(ictx); err != nil {
			s.log.Warn("http shutdown", "err", err)
			hs.Close()
		}
	})
	stopInputs() // file tailers, the demo, SIGHUP
	files.Wait()
	drains.Wait()
	if s.console != nil {
		// No sign-in can come any more: write what the console holds.
		s.console.Close(context.Background())
	}
	cancel()
	s.log.Info("shutting down: draining pipeline", "queued", s.Pipeline.QueueDepth())
	dctx, cancel := context.WithDeadline(context.Background(), began.Add(shareOf(cfg.ShutdownTimeout, storeShare)))
	defer cancel()
	pipeClosed = true
	if err := s.Pipeline.Close(dctx); err != nil {
		return err
	}
	s.log.Info("shutdown complete", "took", time.Since(began).Round(time.Millisecond))
	return nil
}

func batchCommands(in map[string]config.BatchCommand) map[string]respond.BatchCommand {
	out := make(map[string]respond.BatchCommand, len(in))
	for k, v := range in {
		out[k] = respond.BatchCommand{Argv: v.Argv, Line: v.Line}
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings are passed
	}
	return b
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// incidentNotification describes a newly opened incident.
func incidentNotification(inc *incident.Incident) notify.Notification {
	data, _ := json.Marshal(inc)
	return notify.Notification{
		ID: "incident-" + inc.ID, Kind: notify.KindIncident, Level: inc.Severity, Title: inc.Title,
		Summary: "Incident opened: " + inc.Title, Tags: inc.Tags, Entities: inc.Entities, Time: inc.Created, Data: data,
	}
}
