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
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/agents"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/anomaly"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/datadir"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/geoip"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/journal"
	"github.com/vigilsec/vigil/internal/memlimit"
	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/notify"
	"github.com/vigilsec/vigil/internal/oidc"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/rulestate"
	"github.com/vigilsec/vigil/internal/run"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/store/vlstore"
	"github.com/vigilsec/vigil/internal/vuln/findings"
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

	// CheckStore, if set, checks the victorialogs store in dir before it
	// is opened after an unclean exit (scan: every part read) and moves
	// damaged partitions
	// aside (vlstore.CheckInChild; vigil serve sets it, running its own
	// executable as the child).
	CheckStore func(ctx context.Context, dir string, scan bool) ([]vlstore.Quarantined, error)

	// Addresses bound, set once Run has started the listeners (tests and
	// logs use them when a port was 0).
	HTTPAddr   net.Addr
	SyslogAddr struct{ UDP, TCP, TLS net.Addr }
	// AgentAddr is the host agents' listener (nil: agents.listen unset).
	AgentAddr net.Addr

	ready     atomic.Bool
	started   chan struct{}
	Metrics   *metrics.Metrics
	Store     *sqlite.DB
	Events    web.Store
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
	// agents is the host agents' service (input_agents.go).
	agents *agents.Service
	// Vulns is the vulnerability findings' service (vulns.go).
	Vulns *findings.Service
	// vulnSources are the inventories Vulns reconciles periodically
	// (vulns.go).
	vulnSources []findings.InventorySource

	// bus is the NATS JetStream bus of the ingest and detect roles.
	bus *bus.Bus
	// detector is what the pipeline detects with (the detect role runs
	// the bus's batches through it too).
	detector detectors
	// anomaly writes the anomaly rules' baselines (anomaly.go; nil when
	// they are disabled or not started).
	anomaly *anomaly.Persister

	// quarantined is how many victorialogs partitions the start-up check
	// moved aside.
	quarantined int

	// metaWrites orders the write transactions of the alert path (urgent)
	// and the response runner (background) on the metadata database.
	metaWrites meta.WriteLock

	rules      atomic.Pointer[ruleset.Loaded]
	reloadMu   sync.Mutex
	ruleFilter func(alert.Matcher) alert.Matcher

	// What the actors (actors.go) start and stop.
	group         *run.Group
	mem           *memlimit.Limit
	dataLock      *datadir.Lock
	handoff       *journal.Journal
	notifyDone    chan struct{}
	egress        *egress.Policy
	geo           *geoip.DB
	http          *http.Server
	httpTLS       bool
	httpDone      chan struct{}
	stopInputs    context.CancelFunc
	inputs        []namedInput
	shutdownBegan time.Time
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
	s.reloadAnomaly() // the anomaly rules too (docs/anomaly.md)
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

// Run serves until ctx is cancelled (or a listener fails), then shuts
// down in order within cfg.ShutdownTimeout and returns. The server is the
// ordered list of actors in actors.go; Run starts them, waits, and stops
// them in reverse order.
func (s *Server) Run(ctx context.Context) error {
	g := s.actors()
	if err := g.Start(ctx, s.cfg.ShutdownTimeout); err != nil {
		return err
	}
	s.announceFirstRun(s.HTTPAddr, s.httpTLS)
	s.ready.Store(true)
	close(s.started)
	s.log.Info("vigil ready", "http", addrString(s.HTTPAddr), "syslog_udp", addrString(s.SyslogAddr.UDP),
		"syslog_tcp", addrString(s.SyslogAddr.TCP), "syslog_tls", addrString(s.SyslogAddr.TLS), "data", s.cfg.Data)
	err := g.Wait(ctx)
	if err != nil {
		s.log.Error("stopping after a failure", "err", err)
	}
	began := time.Now()
	if serr := g.Stop(s.cfg.ShutdownTimeout); serr != nil {
		err = errors.Join(err, serr)
	}
	s.log.Info("shutdown complete", "took", time.Since(began).Round(time.Millisecond))
	return err
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
