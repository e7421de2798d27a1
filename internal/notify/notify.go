// Package notify delivers alert and incident notifications to routes
// (webhooks, Slack, email, syslog) without losing them: every matching
// (route, notification) pair is written to a persistent outbox in the meta
// database before Notify returns, and background workers deliver from that
// outbox with retries, backoff, per-route rate limits and digests. A row is
// marked delivered only once the receiver accepted it, so a restart resumes
// where the previous run stopped; a delivery in flight during a crash may be
// repeated, and receivers dedupe it with the X-Vigil-Delivery header.
package notify

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/ids"
)

// Notification is one alert or incident to deliver.
type Notification struct {
	// ID is unique; deliveries are idempotent per (route, ID).
	ID string `json:"id"`
	// Kind is "alert" or "incident" ("test" for Test, "digest" is reserved).
	Kind string `json:"kind"`
	// Level is a Sigma level: informational, low, medium, high, critical.
	Level   string `json:"level"`
	Title   string `json:"title"`
	Summary string `json:"summary,omitempty"`
	RuleID  string `json:"rule_id,omitempty"`
	// Tags are the rule's tags, for example attack.t1110.
	Tags []string `json:"tags,omitempty"`
	// Entities are the entities involved by kind: host, user, source.ip, ...
	Entities map[string][]string `json:"entities,omitempty"`
	Time     time.Time           `json:"time"`
	// Link is the console URL of the alert or incident, if known.
	Link string `json:"link,omitempty"`
	// Data is the full alert or incident JSON.
	Data json.RawMessage `json:"data,omitempty"`
}

// Kinds of notification and of delivered message (the X-Vigil-Event header).
const (
	KindAlert    = "alert"
	KindIncident = "incident"
	KindDigest   = "digest"
	KindTest     = "test"
)

// Options configures a Notifier. The zero value gives the documented
// defaults.
type Options struct {
	// Logger receives delivery failures and dead messages; never secrets.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// BackoffMin and BackoffMax bound the exponential retry delay
	// (defaults 1 s and 10 min).
	BackoffMin, BackoffMax time.Duration
	// MaxAge is how long a message is retried before it is dead
	// (default 7 days).
	MaxAge time.Duration
	// MaxPermanentTries is how many times a message that the receiver
	// rejects as malformed or unauthorised (4xx other than 408/429, SMTP 5xx)
	// is tried before it is dead (default 3).
	MaxPermanentTries int
	// RateWindow is the period Route.RateLimit counts over (default one
	// minute; tests shorten it).
	RateWindow time.Duration
	// Retain is how long delivered and dead rows stay in the outbox for
	// statistics (default 7 days delivered, 4×Retain dead).
	Retain time.Duration
	// Egress is the policy every webhook, Slack, SMTP and syslog
	// connection goes through (nil: the default policy, which refuses
	// loopback, private, link-local and other internal addresses).
	Egress *egress.Policy
	// TLSConfig is the base TLS configuration for SMTP STARTTLS and syslog
	// over TLS (for example extra RootCAs); ServerName is set per route.
	TLSConfig *tls.Config
	// DialTimeout bounds SMTP and syslog connects and writes (default 10 s).
	DialTimeout time.Duration
	// Version goes into CEF headers (default "dev").
	Version string
	// Hostname goes into syslog headers (default os.Hostname).
	Hostname string
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Minute
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.MaxPermanentTries <= 0 {
		o.MaxPermanentTries = 3
	}
	if o.RateWindow <= 0 {
		o.RateWindow = time.Minute
	}
	if o.Retain <= 0 {
		o.Retain = 7 * 24 * time.Hour
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Hostname == "" {
		o.Hostname = hostname()
	}
}

// Errors of the route API.
var (
	// ErrNotFound means no route has the given id.
	ErrNotFound = errors.New("route not found")
	// ErrInvalid wraps validation failures of routes and notifications.
	ErrInvalid = errors.New("invalid")
)

// Notifier keeps routes and the outbox, and delivers.
type Notifier struct {
	db   *sql.DB
	opts Options
	log  *slog.Logger
	// client posts webhooks through the egress policy, 10 s per request,
	// without following redirects (a redirected POST becomes a GET: the
	// redirect is reported instead).
	client *http.Client

	metrics *counters
	audit   Auditor // set by Register: records the route API's changes

	mu     sync.RWMutex
	routes map[string]*Route // cache of the routes table

	wakeMu  sync.Mutex
	workers map[string]*worker // while Run runs
	changed chan struct{}      // routes changed (cap 1)

	runMu   sync.Mutex
	cancel  context.CancelFunc
	runDone chan struct{}
}

// Outbox states.
const (
	statePending   = "pending"
	stateDelivered = "delivered"
	stateDead      = "dead"
)

// Open loads the routes from db, a metadata database migrated by package
// meta.
// Pending outbox rows of an earlier run are delivered once Run starts.
func Open(ctx context.Context, db *sql.DB, opts Options) (*Notifier, error) {
	opts.setDefaults()
	n := &Notifier{
		db:      db,
		opts:    opts,
		log:     opts.Logger,
		routes:  map[string]*Route{},
		changed: make(chan struct{}, 1),
		metrics: newCounters(),
		client:  opts.Egress.Client(egress.ClientOptions{Timeout: 10 * time.Second}),
	}
	rows, err := db.QueryContext(ctx, `SELECT id, config FROM notify_routes`)
	if err != nil {
		return nil, fmt.Errorf("loading notify routes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, cfg string
		if err := rows.Scan(&id, &cfg); err != nil {
			return nil, fmt.Errorf("loading notify routes: %w", err)
		}
		r := new(Route)
		if err := json.Unmarshal([]byte(cfg), r); err != nil {
			return nil, fmt.Errorf("loading notify route %q: %w", id, err)
		}
		r.ID = id
		n.routes[id] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading notify routes: %w", err)
	}
	return n, nil
}

// CreateRoute validates r, gives it a new id, stores it and returns it.
func (n *Notifier) CreateRoute(ctx context.Context, r Route) (Route, error) {
	r.ID = ids.New()
	r.normalize()
	if err := r.Validate(); err != nil {
		return Route{}, err
	}
	if err := n.checkEgress(&r); err != nil {
		return Route{}, err
	}
	cfg, err := json.Marshal(&r)
	if err != nil {
		return Route{}, fmt.Errorf("encoding route: %w", err)
	}
	now := n.opts.Now().UnixMilli()
	if _, err := n.db.ExecContext(ctx, `INSERT INTO notify_routes (id, config, created, updated) VALUES (?, ?, ?, ?)`, r.ID, string(cfg), now, now); err != nil {
		return Route{}, fmt.Errorf("storing route %q: %w", r.Name, err)
	}
	n.mu.Lock()
	n.routes[r.ID] = r.clone()
	n.mu.Unlock()
	n.routesChanged()
	return r, nil
}

// UpdateRoute replaces the route with id r.ID.
func (n *Notifier) UpdateRoute(ctx context.Context, r Route) (Route, error) {
	r.normalize()
	if err := r.Validate(); err != nil {
		return Route{}, err
	}
	if err := n.checkEgress(&r); err != nil {
		return Route{}, err
	}
	cfg, err := json.Marshal(&r)
	if err != nil {
		return Route{}, fmt.Errorf("encoding route: %w", err)
	}
	res, err := n.db.ExecContext(ctx, `UPDATE notify_routes SET config = ?, updated = ? WHERE id = ?`, string(cfg), n.opts.Now().UnixMilli(), r.ID)
	if err != nil {
		return Route{}, fmt.Errorf("updating route %q: %w", r.ID, err)
	}
	if c, _ := res.RowsAffected(); c == 0 {
		return Route{}, fmt.Errorf("updating route %q: %w", r.ID, ErrNotFound)
	}
	n.mu.Lock()
	n.routes[r.ID] = r.clone()
	n.mu.Unlock()
	n.routesChanged()
	n.wake(r.ID)
	return r, nil
}

// DeleteRoute removes a route and its outbox rows (pending ones included:
// deleting a route is the way to abandon what it still had to deliver).
func (n *Notifier) DeleteRoute(ctx context.Context, id string) error {
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deleting route %q: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM notify_outbox WHERE route_id = ?`, id); err != nil {
		return fmt.Errorf("deleting outbox of route %q: %w", id, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM notify_routes WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("deleting route %q: %w", id, err)
	}
	if c, _ := res.RowsAffected(); c == 0 {
		return fmt.Errorf("deleting route %q: %w", id, ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deleting route %q: %w", id, err)
	}
	n.mu.Lock()
	delete(n.routes, id)
	n.mu.Unlock()
	n.metrics.done.DeletePartialMatch(prometheus.Labels{"route": id})
	n.metrics.failures.DeletePartialMatch(prometheus.Labels{"route": id})
	n.routesChanged()
	return nil
}

// GetRoute returns the route with the given id, secrets included.
func (n *Notifier) GetRoute(ctx context.Context, id string) (Route, error) {
	n.mu.RLock()
	r, ok := n.routes[id]
	n.mu.RUnlock()
	if !ok {
		return Route{}, fmt.Errorf("getting route %q: %w", id, ErrNotFound)
	}
	return *r.clone(), nil
}

// ListRoutes returns all routes ordered by name, secrets included.
func (n *Notifier) ListRoutes(ctx context.Context) ([]Route, error) {
	n.mu.RLock()
	out := make([]Route, 0, len(n.routes))
	for _, r := range n.routes {
		out = append(out, *r.clone())
	}
	n.mu.RUnlock()
	sortRoutes(out)
	return out, nil
}

func (n *Notifier) route(id string) (*Route, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	r, ok := n.routes[id]
	return r, ok
}

// Notify writes an outbox row for every enabled route that matches nt, in
// one transaction, and returns once it is committed: from then on the
// notification survives a restart. A notification already queued for a
// route (same ID) is not queued again.
func (n *Notifier) Notify(ctx context.Context, nt Notification) error {
	return n.NotifyAll(ctx, []Notification{nt})
}

// NotifyAll is Notify for several notifications in one transaction (one
// commit for a batch of alerts). Either all are queued or, on error, none.
func (n *Notifier) NotifyAll(ctx context.Context, nts []Notification) error {
	type queued struct {
		nt      *Notification
		payload string
		routes  []string
	}
	var qs []queued
	for i := range nts {
		nt := &nts[i]
		if nt.ID == "" {
			return fmt.Errorf("notification without id: %w", ErrInvalid)
		}
		if nt.Kind != KindAlert && nt.Kind != KindIncident {
			return fmt.Errorf("notification %q: kind %q is not alert or incident: %w", nt.ID, nt.Kind, ErrInvalid)
		}
		if nt.Time.IsZero() {
			nt.Time = n.opts.Now()
		}
		var matched []string
		n.mu.RLock()
		for id, r := range n.routes {
			if r.Enabled && r.Matches(nt) {
				matched = append(matched, id)
			}
		}
		n.mu.RUnlock()
		if len(matched) == 0 {
			continue
		}
		payload, err := json.Marshal(nt)
		if err != nil {
			return fmt.Errorf("encoding notification %q: %w", nt.ID, err)
		}
		qs = append(qs, queued{nt, string(payload), matched})
	}
	if len(qs) == 0 {
		return nil
	}
	now := n.opts.Now().UnixMilli()
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queueing notifications: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO notify_outbox
		(route_id, notification_id, kind, level, payload, created, next_attempt)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("queueing notifications: %w", err)
	}
	defer stmt.Close()
	for _, q := range qs {
		for _, id := range q.routes {
			if _, err := stmt.ExecContext(ctx, id, q.nt.ID, q.nt.Kind, q.nt.Level, q.payload, now, now); err != nil {
				return fmt.Errorf("queueing notification %q for route %q: %w", q.nt.ID, id, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queueing notifications: %w", err)
	}
	woken := map[string]bool{}
	for _, q := range qs {
		for _, id := range q.routes {
			if !woken[id] {
				woken[id] = true
				n.wake(id)
			}
		}
	}
	return nil
}

// Counts are outbox row counts by state.
type Counts struct {
	Pending   int64 `json:"pending"`
	Delivered int64 `json:"delivered"`
	Dead      int64 `json:"dead"`
}

// Stats are outbox counts in total and per route id. Delivered and dead
// rows are counted while they are retained (Options.Retain).
type Stats struct {
	Counts
	Routes map[string]Counts `json:"routes"`
}

// Stats counts the outbox by state, in total and per route.
func (n *Notifier) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Routes: map[string]Counts{}}
	rows, err := n.db.QueryContext(ctx, `SELECT route_id, state, COUNT(*) FROM notify_outbox GROUP BY route_id, state`)
	if err != nil {
		return st, fmt.Errorf("counting outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, state string
		var c int64
		if err := rows.Scan(&id, &state, &c); err != nil {
			return st, fmt.Errorf("counting outbox: %w", err)
		}
		rc := st.Routes[id]
		switch state {
		case statePending:
			rc.Pending += c
			st.Pending += c
		case stateDelivered:
			rc.Delivered += c
			st.Delivered += c
		case stateDead:
			rc.Dead += c
			st.Dead += c
		}
		st.Routes[id] = rc
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("counting outbox: %w", err)
	}
	return st, nil
}

// Test sends a test notification to the route at once, bypassing filters,
// rate limit and outbox, and returns the delivery error if any. The
// error says what the receiver answered (a status or reply code) or that
// the policy refused the destination, and nothing of the receiver's body
// or of what the connection saw: a test must not be a probe of the
// network. The detail goes to the server log.
func (n *Notifier) Test(ctx context.Context, id string) error {
	r, ok := n.route(id)
	if !ok {
		return fmt.Errorf("testing route %q: %w", id, ErrNotFound)
	}
	now := n.opts.Now()
	nt := &Notification{
		ID:       "test-" + ids.New(),
		Kind:     KindTest,
		Level:    "informational",
		Title:    "Vigil test notification",
		Summary:  fmt.Sprintf("This is a test of route %q sent at %s.", r.Name, now.UTC().Format(time.RFC3339)),
		RuleID:   "test",
		Tags:     []string{"vigil.test"},
		Entities: map[string][]string{"host": {n.opts.Hostname}},
		Time:     now,
	}
	s := n.newSender(r)
	defer s.close()
	if err := s.send(ctx, &message{route: r, event: KindTest, deliveryID: r.ID + ":" + nt.ID, n: nt}); err != nil {
		n.log.Warn("route test failed", "route", r.Name, "type", r.Type, "err", egress.Detail(err))
		return &testError{msg: fmt.Sprintf("testing route %q: %s", r.Name, publicReason(err)), err: err}
	}
	return nil
}

// testError is a failed test: its message is for the caller, the error
// it wraps for the log.
type testError struct {
	msg string
	err error
}

func (e *testError) Error() string { return e.msg }
func (e *testError) Unwrap() error { return e.err }

// publicReason says why a delivery failed in terms that do not describe
// the network: the receiver's status or reply code, or the policy's
// refusal; anything else is "delivery failed".
func publicReason(err error) string {
	if errors.Is(err, egress.ErrRefused) {
		return egress.ErrRefused.Error()
	}
	var de *deliveryError
	if errors.As(err, &de) && de.status != "" {
		return "the receiver answered " + de.status
	}
	return "delivery failed (the server log has the detail)"
}

// checkEgress refuses a route whose destination is written as an address
// the egress policy refuses (in any of the forms a resolver reads: dotted,
// decimal, hex, short, bracketed IPv6); names are checked when dialled.
func (n *Notifier) checkEgress(r *Route) error {
	var host, what string
	if o := outputs[r.Type]; o != nil {
		host, what = o.host(r)
	}
	if err := n.opts.Egress.CheckHost(host); err != nil {
		return &invalidError{fmt.Sprintf("route %q: %s %s is refused by the egress policy (%s); an admin allows it with egress.allow", r.Name, what, host, egress.Detail(err))}
	}
	return nil
}

// Close stops a running Run and waits for its workers to finish their
// current delivery. It does not close the database.
func (n *Notifier) Close() error {
	n.runMu.Lock()
	cancel, done := n.cancel, n.runDone
	n.runMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

func (n *Notifier) routesChanged() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

func (n *Notifier) wake(routeID string) {
	n.wakeMu.Lock()
	w := n.workers[routeID]
	n.wakeMu.Unlock()
	if w != nil {
		w.poke()
	}
}

// Run delivers until ctx is done or Close is called; it returns nil then.
// It runs one worker per route and prunes old outbox rows.
func (n *Notifier) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	n.runMu.Lock()
	if n.cancel != nil {
		n.runMu.Unlock()
		cancel()
		return errors.New("notifier already running")
	}
	n.cancel, n.runDone = cancel, done
	n.runMu.Unlock()
	defer func() {
		n.runMu.Lock()
		n.cancel, n.runDone = nil, nil
		n.runMu.Unlock()
		close(done)
	}()
	defer cancel()

	var wg sync.WaitGroup
	n.wakeMu.Lock()
	n.workers = map[string]*worker{}
	n.wakeMu.Unlock()
	reconcile := func() {
		n.mu.RLock()
		ids := make(map[string]bool, len(n.routes))
		for id := range n.routes {
			ids[id] = true
		}
		n.mu.RUnlock()
		n.wakeMu.Lock()
		defer n.wakeMu.Unlock()
		for id, w := range n.workers {
			if !ids[id] {
				w.stop()
				delete(n.workers, id)
			}
		}
		for id := range ids {
			if n.workers[id] == nil {
				w := newWorker(n, id)
				n.workers[id] = w
				wg.Add(1)
				go func() {
					defer wg.Done()
					w.run(ctx)
				}()
			}
		}
	}
	reconcile()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	n.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			n.wakeMu.Lock()
			for _, w := range n.workers {
				w.stop()
			}
			n.workers = nil
			n.wakeMu.Unlock()
			wg.Wait()
			return nil
		case <-n.changed:
			reconcile()
		case <-prune.C:
			n.prune(ctx)
		}
	}
}

// prune deletes delivered rows older than Retain and dead rows older than
// four times Retain.
func (n *Notifier) prune(ctx context.Context) {
	now := n.opts.Now()
	_, err := n.db.ExecContext(ctx, `DELETE FROM notify_outbox WHERE (state = 'delivered' AND done < ?) OR (state = 'dead' AND done < ?)`,
		now.Add(-n.opts.Retain).UnixMilli(), now.Add(-4*n.opts.Retain).UnixMilli())
	if err != nil && ctx.Err() == nil {
		n.log.Warn("pruning notification outbox", "err", err)
	}
}
