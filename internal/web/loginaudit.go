package web

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigilsec/vigil/internal/auth"
)

// Failed sign-ins are audited in aggregate, so that guessing cannot flood
// the audit log: the first failure from a source in a window is recorded at
// once (console.login_failed); further failures from that source in the
// window are counted and recorded as one entry (console.login_failed_repeated,
// with the count) once the window has ended, at the next sign-in activity.
// At most maxAuditSources sources have windows of their own at a time;
// failures from further sources share one window, source "other sources".
//
// A name that names no user is never recorded: it may be a password typed
// into the wrong field. Such failures are recorded as "unknown user".
const (
	defaultAuditWindow = 10 * time.Minute
	maxAuditSources    = 100
	// maxAuditUsers bounds the user names one summary lists; failures of
	// further users are counted under "other_users".
	maxAuditUsers = 10
	// unknownUser is what the audit log says for a name no user has.
	unknownUser = "unknown user"
	// otherSources labels the window shared past maxAuditSources.
	otherSources = "other sources"
)

// failWindow is one source's failures in one window.
type failWindow struct {
	src         string
	prefix      netip.Prefix
	shared      bool // the other-sources window
	start, last time.Time
	extra       int            // failures after the first
	users       map[string]int // known users among extra
	otherUsers  int
	unknown     int
}

// failedLogins aggregates failed sign-ins for the audit log.
type failedLogins struct {
	window  time.Duration
	sources int

	mu      sync.Mutex
	open    map[netip.Prefix]*failWindow
	other   *failWindow
	queue   []*failWindow // open windows, oldest first
	pending []failEntry   // entries to write
	total   int64         // failures seen
}

type failEntry struct {
	actor, action, target string
	after                 any
}

func newFailedLogins(window time.Duration, sources int) *failedLogins {
	return &failedLogins{window: window, sources: sources, open: map[netip.Prefix]*failWindow{}}
}

// sourceString names a source key in the audit log.
func sourceString(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return "unknown"
	case p.IsSingleIP():
		return p.Addr().String()
	}
	return p.String()
}

// record counts a failed sign-in from addr; user is the name of the user
// it was for, or "" when the name named no user.
func (f *failedLogins) record(now time.Time, addr netip.Addr, user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	f.expireLocked(now)
	p := auth.SourcePrefix(addr)
	w := f.open[p]
	if w == nil && len(f.open) >= f.sources {
		w = f.other
		if w == nil {
			f.other = &failWindow{src: otherSources, shared: true, start: now, last: now}
			f.queue = append(f.queue, f.other)
			f.first(f.other, user)
			return
		}
	} else if w == nil {
		w = &failWindow{src: sourceString(p), prefix: p, start: now, last: now}
		f.open[p] = w
		f.queue = append(f.queue, w)
		f.first(w, user)
		return
	}
	w.extra++
	w.last = now
	switch {
	case user == "":
		w.unknown++
	case w.users[user] > 0 || len(w.users) < maxAuditUsers:
		if w.users == nil {
			w.users = map[string]int{}
		}
		w.users[user]++
	default:
		w.otherUsers++
	}
}

// first queues the entry of a window's first failure.
func (f *failedLogins) first(w *failWindow, user string) {
	actor := user
	if actor == "" {
		actor = unknownUser
	}
	f.pending = append(f.pending, failEntry{actor: actor, action: "console.login_failed", target: w.src,
		after: map[string]any{"source": w.src, "user": actor, "window": f.window.String()}})
}

// expireLocked closes the windows that have ended, queueing the summary
// of those with further failures.
func (f *failedLogins) expireLocked(now time.Time) {
	for len(f.queue) > 0 && now.Sub(f.queue[0].start) >= f.window {
		w := f.queue[0]
		f.queue[0] = nil
		f.queue = f.queue[1:]
		if w.shared {
			f.other = nil
		} else {
			delete(f.open, w.prefix)
		}
		if w.extra == 0 {
			continue
		}
		after := map[string]any{"source": w.src, "failures": w.extra, "from": w.start.UTC(), "to": w.last.UTC(),
			"unknown_user_failures": w.unknown}
		if len(w.users) > 0 {
			after["users"] = w.users
		}
		if w.otherUsers > 0 {
			after["other_users"] = w.otherUsers
		}
		f.pending = append(f.pending, failEntry{actor: "anonymous", action: "console.login_failed_repeated", target: w.src, after: after})
	}
}

// flush closes the windows that have ended and writes what is queued.
func (f *failedLogins) flush(ctx context.Context, c *Console, now time.Time) {
	f.mu.Lock()
	f.expireLocked(now)
	pending := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, e := range pending {
		c.audit(context.WithoutCancel(ctx), e.actor, e.action, e.target, e.after)
	}
}

// failures returns how many failed sign-ins were recorded.
func (f *failedLogins) failures() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// registerLoginMetrics exports the sign-in throttle's counters and the
// failed sign-ins.
func (c *Console) registerLoginMetrics() {
	if c.o.Metrics == nil {
		return
	}
	th := c.o.Auth.LoginThrottle
	counter := func(name, help string, labels prometheus.Labels, fn func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, fn)
	}
	const refusedHelp = "Sign-ins refused before their password was checked, by reason (busy: too many checks running; locked: a failure budget used up)."
	for _, col := range []prometheus.Collector{
		counter("vigil_login_password_checks_total", "Password checks run (argon2id) for sign-ins.", nil,
			func() float64 { return float64(th().Stats().Checks) }),
		counter("vigil_login_refused_total", refusedHelp, prometheus.Labels{"reason": "busy"},
			func() float64 { return float64(th().Stats().Busy) }),
		counter("vigil_login_refused_total", refusedHelp, prometheus.Labels{"reason": "locked"},
			func() float64 { return float64(th().Stats().Locked) }),
		counter("vigil_login_throttle_evicted_total", "Sign-in throttle records dropped to stay within login.max_entries.", nil,
			func() float64 { return float64(th().Stats().Evicted) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_login_throttle_entries", Help: "Sign-in throttle records kept."},
			func() float64 { return float64(th().Stats().Entries) }),
		counter("vigil_login_failures_total", "Failed sign-ins (wrong user name or password), audited in aggregate.", nil,
			func() float64 { return float64(c.failed.failures()) }),
	} {
		if err := c.o.Metrics.Registry.Register(col); err != nil {
			c.o.Log.Warn("registering sign-in metrics", "err", err)
		}
	}
}

// Close writes to the audit log the failed sign-ins still held in memory:
// the summaries of windows that have not ended, which the next sign-in
// would have written. The server calls it once its HTTP listener has
// stopped, so that a shutdown loses none of them.
func (c *Console) Close(ctx context.Context) {
	c.failed.flush(ctx, c, c.o.Now().Add(c.failed.window))
}
