package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
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
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/journal"
	"github.com/vigilsec/vigil/internal/memlimit"
	"github.com/vigilsec/vigil/internal/meta/postgres"
	"github.com/vigilsec/vigil/internal/notify"
	"github.com/vigilsec/vigil/internal/oidc"
	"github.com/vigilsec/vigil/internal/parse"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/redact"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/rulestate"
	"github.com/vigilsec/vigil/internal/run"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/store/vlstore"
	"github.com/vigilsec/vigil/internal/web"
)

// actors returns the server as an ordered list of actors, each started
// after the ones before it and stopped before them (internal/run):
//
//	store      the data directory's lock, the soft memory limit, the event
//	           store and the metadata database
//	domain     accounts, alerts (with the durable hand-off), incidents,
//	           audit, rule state, notifications, response
//	detection  the rules, the hand-off's replay, the pipeline and the spool
//	listeners  HTTP (API, console, ingest endpoints), syslog, file tailers
//	shutdown   marks the server not ready and tells the pipeline the
//	           shutdown has begun (it stops first)
//
// and the background jobs the group owns, stopped before any actor: the
// reload on SIGHUP, the demo's replay, intel feed downloads. A role of a
// scaled-out deployment will choose among these actors.
func (s *Server) actors() *run.Group {
	g := run.New(s.log)
	s.group = g
	g.Add(run.Actor{Name: "store", Start: s.startStore, Stop: s.stopStore})
	if s.isRole(config.RoleIngest) || s.isRole(config.RoleDetect) {
		// Stopped after the pipeline drained into it (ingest) or the
		// consumer stopped (detect).
		g.Add(run.Actor{Name: "bus", Start: s.startBus, Stop: s.stopBus})
	}
	if s.isRole(config.RoleIngest) {
		g.Add(run.Actor{Name: "auth", Start: s.startIngestDomain})
		g.Add(run.Actor{Name: "publishing", Start: s.startPublishing, Stop: s.stopDetection, Share: storeShare})
		g.Add(run.Actor{Name: "listeners", Start: s.startIngestListeners, Stop: s.stopListeners, Share: inputShare})
	} else {
		g.Add(run.Actor{Name: "domain", Start: s.startDomain, Stop: s.stopDomain})
		g.Add(run.Actor{Name: "detection", Start: s.startDetection, Stop: s.stopDetection, Share: storeShare})
		g.Add(run.Actor{Name: "listeners", Start: s.startListeners, Stop: s.stopListeners, Share: inputShare})
	}
	g.Add(run.Actor{Name: "shutdown", Stop: func(context.Context) error {
		s.ready.Store(false)
		s.shutdownBegan = time.Now()
		s.log.Info("shutting down: draining inputs", "budget", s.cfg.ShutdownTimeout)
		s.Pipeline.BeginShutdown(s.shutdownBegan.Add(shareOf(s.cfg.ShutdownTimeout, spillShare)))
		return nil
	}})
	return g
}

// startStore takes the data directory and opens the stores.
func (s *Server) startStore(ctx context.Context) (err error) {
	cfg := s.cfg
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	lock, err := datadir.Acquire(cfg.Data)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			lock.Release()
		}
	}()
	if lock.Previous != "" {
		s.log.Warn("took over the data directory's lock from a process that did not release it (killed, or the machine stopped)", "previous", lock.Previous)
	}
	// The soft memory limit (GOMEMLIMIT, when set, is the operator's and
	// stays): see internal/memlimit.
	s.mem = memlimit.New(0)
	if os.Getenv("GOMEMLIMIT") == "" {
		s.mem = memlimit.New(int64(cfg.MemoryLimit))
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
	s.Events = st
	if cfg.Events != "" {
		// Events in a VictoriaLogs server: whatever the data directory
		// holds of its own would no longer be searched.
		if old, err := st.Stats(ctx); err != nil || old.Events > 0 || vlstore.Holds(cfg.Data) {
			st.Close()
			if err != nil {
				return fmt.Errorf("opening store in %q: %w", cfg.Data, err)
			}
			return fmt.Errorf("data directory %q holds events of its own, which would not be searched with events in %s: use another data directory, or migrate them first", cfg.Data, redact.URL(cfg.Events))
		}
		vl, err := vlstore.OpenRemote(ctx, vlstore.RemoteOptions{URL: cfg.Events})
		if err != nil {
			st.Close()
			return fmt.Errorf("opening the events server: %w", err)
		}
		s.Events = eventsStore{Store: vl, meta: st}
		s.log.Info("events in a VictoriaLogs server", "url", redact.URL(cfg.Events))
	} else if cfg.Store.Engine == config.EngineVictoriaLogs {
		if old, err := st.Stats(ctx); err != nil || old.Events > 0 {
			st.Close()
			if err != nil {
				return fmt.Errorf("opening store in %q: %w", cfg.Data, err)
			}
			return fmt.Errorf("data directory %q holds %d events of the sqlite engine, which the victorialogs engine would not search: stop here and run `vigil store migrate --from %s` (docs/storage.md), or set store.engine: sqlite", cfg.Data, old.Events, cfg.Data)
		}
		if s.CheckStore != nil && vlstore.Holds(cfg.Data) && lock.Previous != "" {
			// After an unclean exit (a crash, perhaps the engine's own on
			// a damaged part) every part is read first, in a child; a
			// clean start pays nothing: damage found at open or search
			// ends that run, and the next start is unclean.
			moved, err := s.CheckStore(ctx, cfg.Data, true)
			for _, q := range moved {
				s.log.Error("victorialogs partition damaged: moved aside, its events are not searched until it is repaired and moved back (docs/storage.md)",
					"day", q.Day, "moved_to", q.Path, "report", q.Report)
			}
			s.quarantined = len(moved)
			if err != nil {
				st.Close()
				return err
			}
		}
		vl, err := vlstore.Open(ctx, cfg.Data, vlstore.Options{Retention: vlRetention(cfg.Retention.MaxAge), MaxDiskBytes: int64(cfg.Retention.MaxSize)})
		if err != nil {
			st.Close()
			return fmt.Errorf("opening the victorialogs store in %q: %w", cfg.Data, err)
		}
		s.Events = eventsStore{Store: vl, meta: st}
		s.log.Info("events in the victorialogs engine", "dir", cfg.Data)
	} else if vlstore.Holds(cfg.Data) {
		st.Close()
		return fmt.Errorf("data directory %q holds events of the victorialogs engine: set store.engine: victorialogs", cfg.Data)
	}
	s.dataLock = lock
	return nil
}

// eventsStore is an event store beside the SQLite store that keeps the
// metadata (Meta) when events live in another engine.
type eventsStore struct {
	store.Store
	meta *sqlite.DB
}

func (e eventsStore) Meta() *sql.DB { return e.meta.Meta() }

// Probe reports whether the event store can write again (the pipeline's
// Prober), when its engine can tell.
func (e eventsStore) Probe(ctx context.Context) error {
	if p, ok := e.Store.(pipeline.Prober); ok {
		return p.Probe(ctx)
	}
	return nil
}

// vlRetention maps retention.max_age to the victorialogs engine, which
// always has one: 0 (for ever) becomes a century.
func vlRetention(maxAge time.Duration) time.Duration {
	if maxAge == 0 {
		return 100 * 365 * 24 * time.Hour
	}
	return maxAge
}

func (s *Server) stopStore(context.Context) error {
	var errs []error
	if s.Events != nil && s.Events != web.Store(s.Store) {
		if err := s.Events.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing event store: %w", err))
		}
	}
	if err := s.Store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing store: %w", err))
	}
	if err := s.dataLock.Release(); err != nil {
		errs = append(errs, fmt.Errorf("releasing the data directory's lock: %w", err))
	}
	return errors.Join(errs...)
}

// startDomain opens the state that the API, the console and the alert path
// share, and the services over it.
func (s *Server) startDomain(ctx context.Context) (err error) {
	cfg, st := s.cfg, s.Store
	// What this start opened is closed again if a later step fails.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
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
	s.handoff, err = journal.Open(filepath.Join(cfg.Data, "journal", alert.HandoffName), journal.Options{})
	if err != nil {
		return fmt.Errorf("alert hand-off: %w", err)
	}
	undo = append(undo, func() { s.handoff.Close() })
	s.Recorder, err = alert.NewRecorder(ctx, alerts, s.log, alert.Options{
		Journal:        s.handoff,
		Shared:         s.isRole(config.RoleDetect) || s.isRole(config.RoleAPI),
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
	undo = append(undo, s.Recorder.Close)
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
	s.egress, err = egress.New(cfg.Egress.Allow)
	if err != nil {
		return err
	}
	if cfg.OIDC.Enabled() {
		// Discovery, keys, token and userinfo go through the egress
		// policy; the provider is asked at the first sign-in.
		s.oidc, err = oidc.New(cfg.OIDC, oidc.Options{Client: s.egress.Client(egress.ClientOptions{Timeout: 30 * time.Second, MaxRedirects: 3})})
		if err != nil {
			return fmt.Errorf("single sign-on: %w", err)
		}
		s.log.Info("single sign-on", "issuer", cfg.OIDC.Issuer, "client_id", cfg.OIDC.ClientID, "redirect_url", cfg.OIDC.RedirectURL)
	}
	s.Notifier, err = notify.Open(ctx, st.Meta(), notify.Options{Logger: s.log, Egress: s.egress})
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	s.Metrics.Registry.MustRegister(s.Notifier)
	// Delivery runs until the notifier closes (stopDomain), after the
	// alert path has put its last notifications in the outbox.
	s.notifyDone = make(chan struct{})
	go func() {
		defer close(s.notifyDone)
		if err := s.Notifier.Run(context.Background()); err != nil {
			s.log.Error("notification delivery stopped", "err", err)
		}
	}()
	undo = append(undo, func() { s.Notifier.Close(); <-s.notifyDone })
	ropts := respond.Options{
		Commands: cfg.Respond.Commands, NeverBlock: cfg.Respond.NeverBlock, BatchCommands: cfg.Respond.BatchCommands,
		Destinations: cfg.Respond.HTTPDestinations, Egress: s.egress,
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
		s.geo = geo
		undo = append(undo, func() { geo.Close() })
		ropts.GeoIP = func(ip netip.Addr) (string, error) {
			info, err := geo.Lookup(ip)
			return info.String(), err
		}
	}
	s.Runner, err = respond.New(ctx, st.Meta(), s.Incidents, s.log, ropts, s.resolveRule)
	if err != nil {
		return fmt.Errorf("response: %w", err)
	}
	undo = append(undo, s.Runner.Close)
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
	return nil
}

// stopDomain closes the alert path once the pipeline has drained (so the
// alerts of drained events are stored), then the runner (so their
// playbooks run), then the notifier (after every notification is in its
// outbox).
func (s *Server) stopDomain(context.Context) error {
	s.Recorder.Close()
	s.Runner.Close()
	s.Notifier.Close()
	<-s.notifyDone
	var errs []error
	if err := s.handoff.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the alert hand-off journal: %w", err))
	}
	if s.geo != nil {
		s.geo.Close()
	}
	return errors.Join(errs...)
}

// startDetection loads the rules, replays the hand-off, and starts the
// pipeline with what the last shutdown spooled queued first.
func (s *Server) startDetection(ctx context.Context) (err error) {
	cfg, st := s.cfg, s.Events
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
	pc := cfg.Pipeline
	pc.SpoolDir = filepath.Join(cfg.Data, "spool")
	s.Pipeline = pipeline.New(pc, parse.New(parse.Options{ShareData: true}), st, s.Metrics, s.log)
	defer func() {
		if err != nil {
			s.stopDetection(context.Background())
		}
	}()
	det := detectors{s.Recorder, newSuricataDetector(s.Recorder)}
	if a, err := s.startAnomaly(ctx); err != nil {
		return err
	} else if a != nil {
		det = append(det, a)
	}
	if len(cfg.Intel.Feeds) > 0 {
		s.Intel, err = intel.New(cfg.Intel.Feeds, intel.Options{Logger: s.log, Egress: s.egress})
		if err != nil {
			return fmt.Errorf("intel: %w", err)
		}
		s.group.Go("intel feeds", func(ctx context.Context) error {
			// Feeds failing is logged, not a reason to stop the server.
			if err := s.Intel.Run(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("intel feeds stopped", "err", err)
			}
			return nil
		})
		det = append(det, &intelDetector{m: s.Intel, rec: s.Recorder})
	}
	s.Pipeline.SetDetector(det)
	s.detector = det
	if s.isRole(config.RoleDetect) {
		// The bus's batches are detected and stored like the pipeline's
		// (handleBusBatch); the job stops before the actors do.
		s.group.Go("bus consumer", s.consumeBus)
	}
	// What the last shutdown spooled is queued before the inputs start.
	if files, n, err := s.Pipeline.Replay(ctx); err != nil {
		return err
	} else if files > 0 {
		s.log.Info("spooled messages from the last shutdown queued for storage", "files", files, "messages", n)
	}
	s.registerPipelineMetrics()
	return nil
}

// stopDetection stores what the pipeline holds, or spools it at its
// deadline (ctx).
func (s *Server) stopDetection(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		// A failed start: bounded all the same, since the pipeline
		// waits for a failing store for as long as it is let.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, shareOf(s.cfg.ShutdownTimeout, storeShare))
		defer cancel()
	}
	s.log.Info("shutting down: draining pipeline", "queued", s.Pipeline.QueueDepth())
	err := s.Pipeline.Close(ctx)
	return errors.Join(err, s.stopAnomaly(ctx))
}

func (s *Server) registerPipelineMetrics() {
	st := s.Events
	corrStats := func() detect.CorrelationStats {
		if l := s.Rules(); l != nil {
			return l.Engine.CorrelationStats()
		}
		return detect.CorrelationStats{}
	}
	s.Metrics.GaugeFunc("vigil_correlation_groups", "Correlation groups (group-by keys) held now.", func() float64 { return float64(corrStats().Groups) })
	s.Metrics.CounterFunc("vigil_correlation_groups_evicted_total", "Correlation groups dropped at the alerts.correlation_groups bound (since the last rule reload).",
		func() float64 { return float64(corrStats().EvictedGroups) })
	s.Metrics.GaugeFunc("vigil_store_quarantined_partitions", "Victorialogs partitions (days) the start-up check found damaged and moved aside.",
		func() float64 { return float64(s.quarantined) })
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
}

// startListeners opens HTTP (API, console, ingest endpoints), syslog and
// the file tailers, and starts the background jobs that feed them.
func (s *Server) startListeners(ctx context.Context) (err error) {
	cfg := s.cfg
	mux := http.NewServeMux()
	s.searches = searchlimit.New(cfg.Search.Limits())
	s.searches.ReserveWith(s.mem.Reserve)
	if err := s.searches.Register(s.Metrics.Registry); err != nil {
		return err
	}
	apiSrv := api.New(api.Options{
		Store: s.Events, Auth: s.Auth, Metrics: s.Metrics, Log: s.log, Alerts: s.Alerts, Recorder: s.Recorder, Incidents: s.Incidents, Audit: s.Audit, Runner: s.Runner, ReloadPlaybooks: s.ReloadPlaybooks, Intel: s.Intel, Rules: s.Rules,
		Reload: s.ReloadRules, RuleState: s.RuleState, Search: s.searches, Dependencies: s.dependencies,
		Ready: func() error {
			if !s.ready.Load() {
				return errors.New("starting or stopping")
			}
			return s.storeHealth()
		},
	})
	apiSrv.Register(mux)
	s.Notifier.Register(mux, apiSrv.Require, apiSrv.Audit)
	if err := s.registerAgents(mux, apiSrv); err != nil {
		return err
	}
	if err := s.registerVulns(mux, apiSrv); err != nil {
		return err
	}
	ingestHTTP := newIngestHTTP(cfg, s.Pipeline, s.Auth, s.Metrics, s.log)
	if !s.isRole(config.RoleAPI) { // an API node takes no events
		ingestHTTP.Register(mux)
	}
	s.registerConsole(mux, apiSrv, ingestHTTP)
	if err := s.serveHTTP(mux); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.http.Close()
			<-s.httpDone
		}
	}()

	if err := s.openStreamInputs(ctx); err != nil {
		return err
	}

	// SIGHUP reloads the rules, never during a shutdown (the group stops
	// this job before any actor).
	s.group.Go("reload on SIGHUP", func(ctx context.Context) error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		for {
			select {
			case <-hup:
				if err := s.ReloadRules(); err != nil {
					s.log.Error("rule reload failed; the previous rules stay in force", "err", err)
				}
			case <-ctx.Done():
				return nil
			}
		}
	})
	if cfg.Demo {
		s.group.Go("demo", func(ctx context.Context) error {
			s.log.Info("demo: replaying the built-in attack scenario", "takes", demo.ReplayDuration)
			if err := demo.Run(ctx, s.Pipeline, s.log); err != nil && ctx.Err() == nil {
				s.log.Error("demo scenario failed", "err", err)
			}
			return nil
		})
	}
	return nil
}

// stopListeners stops taking new data and hands over what was received:
// syslog connections are read to their end and HTTP requests in flight
// finish, all by ctx's deadline, while the pipeline keeps storing; then the
// console writes what it holds.
func (s *Server) stopListeners(ctx context.Context) error {
	var drains sync.WaitGroup
	drains.Go(func() { s.shutdownInputs(ctx) })
	drains.Go(func() {
		// Requests in flight wait for their events to be stored; past
		// the deadline their clients get no answer and send again.
		if err := s.http.Shutdown(ctx); err != nil {
			s.log.Warn("http shutdown", "err", err)
			s.http.Close()
		}
		<-s.httpDone
	})
	drains.Wait()
	s.stopInputs()
	if s.console != nil {
		// No sign-in can come any more: write what the console holds.
		s.console.Close(context.Background())
	}
	return nil
}

// serveHTTP listens on the http address and serves mux there until
// stopListeners shuts it down; a listener that dies stops the server.
func (s *Server) serveHTTP(mux *http.ServeMux) error {
	ln, err := net.Listen("tcp", s.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listening on http %q: %w", s.cfg.HTTP, err)
	}
	s.HTTPAddr = ln.Addr()
	hl, err := newHTTPListener(ln, s.cfg, mux, s.Metrics.Registry, s.log)
	if err != nil {
		ln.Close()
		return err
	}
	s.http, s.httpTLS = hl.srv, hl.tls
	s.httpDone = make(chan struct{})
	go func() {
		defer close(s.httpDone)
		if err := hl.serve(); err != nil {
			s.group.Fail(fmt.Errorf("http server stopped: %w", err))
		}
	}()
	return nil
}

// openStreamInputs opens every registered stream input the configuration
// enables (inputs.go). Their context ends at once only if the start fails
// here.
func (s *Server) openStreamInputs(ctx context.Context) (err error) {
	inCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			cancel()
			s.shutdownInputs(context.Background())
		}
	}()
	s.stopInputs = cancel
	if s.isRole(config.RoleAPI) {
		return nil // an API node takes no events
	}
	for _, in := range streamInputs {
		h, err := in.Open(inCtx, s, s.Pipeline)
		if err != nil {
			return fmt.Errorf("input %s: %w", in.Name, err)
		}
		if h != nil {
			s.inputs = append(s.inputs, namedInput{in.Name, h})
		}
	}
	return nil
}

// namedInput is a started stream input.
type namedInput struct {
	name string
	h    inputHandle
}

// shutdownInputs shuts the started stream inputs down together, by ctx's
// deadline.
func (s *Server) shutdownInputs(ctx context.Context) {
	var wg sync.WaitGroup
	for _, in := range s.inputs {
		wg.Go(func() {
			if err := in.h.Shutdown(ctx); err != nil {
				s.log.Warn("input shutdown", "input", in.name, "err", err)
			}
		})
	}
	wg.Wait()
}
