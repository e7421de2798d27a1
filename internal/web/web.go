// Package web serves Vigil's web console: server-rendered HTML pages
// (html/template and htmx, every asset embedded in the binary) for search,
// alerts, incidents, rules, ATT&CK coverage, sources and settings, behind
// a login with server-side sessions, CSRF tokens on every state-changing
// request, the API's role checks and a strict Content-Security-Policy.
//
// Pages read the Go packages directly (alert, incident, respond, store,
// metrics) and never scan stored events, except the search page, which
// runs the store's search.
package web

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/clientip"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/notify"
	"github.com/vigilsec/vigil/internal/oidc"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/rulestate"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is the event store the console reads: search and stats, plus the
// metadata database where the console keeps its sessions and settings.
type Store interface {
	store.Store
	Meta() *sql.DB
}

// Queue reports the pipeline's backlog.
type Queue interface {
	QueueDepth() int
	QueueSize() int
}

// Input describes one configured input for the sources page.
type Input struct {
	// Name is the input's metric label (syslog_udp, http_native, ...).
	Name string
	// Addr is where it listens or what it reads.
	Addr string
}

// Options are what the console serves from. Store and Auth are required;
// a nil optional part hides what depends on it.
type Options struct {
	Store     Store
	Auth      *auth.Service
	Alerts    *alert.Store
	Recorder  *alert.Recorder
	Incidents *incident.Manager
	Audit     *audit.Log
	Runner    *respond.Runner
	Notifier  *notify.Notifier
	Metrics   *metrics.Metrics
	Pipeline  Queue
	// Rules returns the rule set in force.
	Rules func() *ruleset.Loaded
	// RuleState enables and disables rules: the same State the API
	// changes and the server's detection path filters with.
	RuleState *rulestate.State
	// ReloadPlaybooks loads the playbooks again.
	ReloadPlaybooks func() error
	// Intel reports the threat-intelligence feeds; nil shows that intel
	// is not configured.
	Intel interface{ Status() []intel.FeedStatus }
	// Inputs lists the configured inputs.
	Inputs []Input
	// Retention describes the retention policy for the sources page.
	Retention string
	// Search runs searches within the server's search limits (nil: a
	// limiter with the default limits).
	Search *searchlimit.Limiter
	// ClientIP finds a request's client address (sign-in throttling, the
	// audit log) and whether it came over TLS, believing X-Forwarded-For
	// and X-Forwarded-Proto only from trusted proxies; nil trusts none.
	ClientIP *clientip.Resolver
	// SecureCookies marks the console's cookies Secure on every response,
	// not only on those to requests that came over TLS (directly, or by a
	// trusted proxy's X-Forwarded-Proto).
	SecureCookies bool
	// FailedLoginWindow is how long failed sign-ins from one source are
	// counted into one audit entry after the first (default 10 min).
	FailedLoginWindow time.Duration
	// SessionIdle ends a session unused for this long (default
	// auth.DefaultSessionIdle, 30 min).
	SessionIdle time.Duration
	// SessionMax ends a session this long after login (default
	// auth.DefaultSessionMax, 12 h).
	SessionMax time.Duration
	// Setup is the first-run setup (nil: none, an admin existed at start):
	// while it is open, /setup creates the first admin and the login page
	// links to it.
	Setup *auth.Setup
	// OIDC is the single sign-on provider (nil: none): the login page
	// offers "Sign in with" it, through /auth/oidc/login and
	// /auth/oidc/callback.
	OIDC *oidc.RP
	// Log receives errors; nil discards them.
	Log *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Console is the web console.
type Console struct {
	o          Options
	db         *sql.DB
	tmpl       *templates
	failed     *failedLogins
	rate       *rateSampler
	inputRates inputRates
	// triage assigns and acknowledges alerts, as the API does.
	triage *alert.Triager
	static http.Handler
}

// New parses the templates and sets up the console over the metadata
// database (sessions are the console's own; alert triage and rule state
// belong to their domain services).
func New(ctx context.Context, o Options) (*Console, error) {
	if o.Store == nil || o.Auth == nil {
		return nil, errors.New("web console: store and auth are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = auth.DefaultSessionIdle
	}
	if o.SessionMax <= 0 {
		o.SessionMax = auth.DefaultSessionMax
	}
	if o.Rules == nil {
		o.Rules = func() *ruleset.Loaded { return nil }
	}
	if o.FailedLoginWindow <= 0 {
		o.FailedLoginWindow = defaultAuditWindow
	}
	if o.Search == nil {
		o.Search = searchlimit.New(searchlimit.Limits{})
	}
	c := &Console{o: o, db: o.Store.Meta(), failed: newFailedLogins(o.FailedLoginWindow, maxAuditSources), rate: &rateSampler{}}
	var err error
	if c.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	if o.Alerts != nil {
		topts := alert.TriageOptions{Now: o.Now}
		if o.Audit != nil {
			topts.Audit = o.Audit.RecordTx
		}
		c.triage = alert.NewTriager(o.Alerts, topts)
	}
	c.registerLoginMetrics()
	// A first sample, so the first page shown has a rate to measure from.
	if o.Metrics != nil {
		mfs := c.gather()
		c.rate.observe(o.Now(), counterTotal(mfs, "vigil_events_stored_total"))
		for _, m := range metricSeries(mfs, "vigil_events_received_total") {
			c.inputRates.get(m.Labels["input"]).observe(o.Now(), m.Value)
		}
	}
	sub, _ := fs.Sub(staticFS, "static")
	c.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	return c, nil
}

// Register mounts the console's routes on mux, except GET / (the
// overview), which the caller mounts with Overview because the
// Elasticsearch ingest shares that path.
func (c *Console) Register(mux *http.ServeMux) {
	mux.Handle("GET /static/", c.secure(http.HandlerFunc(c.serveStatic)))
	mux.Handle("GET /favicon.ico", c.secure(http.HandlerFunc(c.serveFavicon)))
	mux.Handle("GET /login", c.secure(http.HandlerFunc(c.loginPage)))
	mux.Handle("POST /login", c.secure(http.HandlerFunc(c.login)))
	mux.Handle("POST /logout", c.page(auth.PermRead, c.logout))
	mux.Handle("GET /setup", c.secure(http.HandlerFunc(c.setupPage)))
	mux.Handle("POST /setup", c.secure(http.HandlerFunc(c.setup)))
	if c.o.OIDC != nil {
		mux.Handle("GET /auth/oidc/login", c.secure(http.HandlerFunc(c.ssoBegin)))
		mux.Handle("GET /auth/oidc/callback", c.secure(http.HandlerFunc(c.ssoCallback)))
	}

	read := func(h handlerFunc) http.Handler { return c.page(auth.PermRead, h) }
	write := func(h handlerFunc) http.Handler { return c.page(auth.PermWrite, h) }
	admin := func(h handlerFunc) http.Handler { return c.page(auth.PermAdmin, h) }

	mux.Handle("GET /overview", read(c.overview))
	mux.Handle("GET /search", read(c.search))
	mux.Handle("GET /search/rows", read(c.searchRows))
	mux.Handle("GET /search/fields", read(c.searchFields))
	mux.Handle("GET /search/chart", read(c.searchChart))
	mux.Handle("GET /search/export", read(c.searchExport))
	mux.Handle("GET /alerts", read(c.alerts))
	mux.Handle("GET /alerts/{id}", read(c.alertPage))
	mux.Handle("POST /alerts/bulk", write(c.alertsBulk))
	mux.Handle("GET /incidents", read(c.incidents))
	mux.Handle("GET /incidents/{id}", read(c.incidentPage))
	mux.Handle("GET /incidents/{id}/report", read(c.incidentReport))
	mux.Handle("POST /incidents/{id}/update", write(c.incidentUpdate))
	mux.Handle("POST /incidents/{id}/comments", write(c.incidentComment))
	mux.Handle("POST /incidents/{id}/tasks", write(c.incidentTask))
	mux.Handle("POST /incidents/{id}/tasks/{task}", write(c.incidentTaskDone))
	mux.Handle("POST /incidents/{id}/observables", write(c.incidentObservable))
	mux.Handle("POST /incidents/{id}/playbooks", write(c.incidentPlaybook))
	mux.Handle("POST /incidents/{id}/actions", write(c.incidentAction))
	mux.Handle("POST /incidents/{id}/actions/{action}/{decision}", write(c.incidentDecide))
	mux.Handle("GET /rules", read(c.rules))
	mux.Handle("GET /rules/view", read(c.rulePage))
	mux.Handle("POST /rules/state", write(c.ruleState))
	mux.Handle("POST /rules/test", read(c.ruleTest))
	mux.Handle("GET /attack", read(c.attack))
	mux.Handle("GET /sources", read(c.sources))
	mux.Handle("GET /settings", read(c.settings))
	mux.Handle("POST /settings/password", read(c.changePassword))
	mux.Handle("POST /settings/sessions/others", read(c.revokeOtherSessions))
	mux.Handle("POST /settings/sessions/{id}/revoke", read(c.revokeSession))
	mux.Handle("POST /settings/users", admin(c.settingsUser))
	mux.Handle("POST /settings/users/{id}", admin(c.settingsUserState))
	mux.Handle("POST /settings/tokens", admin(c.settingsToken))
	mux.Handle("POST /settings/tokens/{id}/revoke", admin(c.settingsTokenRevoke))
	mux.Handle("POST /settings/routes", admin(c.settingsRoute))
	mux.Handle("POST /settings/routes/{id}/delete", admin(c.settingsRouteDelete))
	mux.Handle("POST /settings/routes/{id}/test", admin(c.settingsRouteTest))
	mux.Handle("POST /settings/routes/{id}/enabled", admin(c.settingsRouteToggle))
	mux.Handle("POST /settings/playbooks/reload", admin(c.settingsPlaybooksReload))
	mux.Handle("POST /settings/suppressions", write(c.settingsSuppression))
	mux.Handle("POST /settings/suppressions/{id}/delete", write(c.settingsSuppressionDelete))
}

// Overview is the console's front page, for the caller to mount at GET /.
func (c *Console) Overview() http.Handler { return c.page(auth.PermRead, c.overview) }

// WantsConsole reports whether a request for / comes from a browser (it
// accepts text/html and carries no shipper credentials) rather than from
// an Elasticsearch shipper asking for the version document.
func WantsConsole(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		return false
	}
	for _, v := range r.Header.Values("Accept") {
		if containsFold(v, "text/html") {
			return true
		}
	}
	return false
}

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r) // no directory listings
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	c.static.ServeHTTP(w, r)
}
