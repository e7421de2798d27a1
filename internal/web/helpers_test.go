package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/notify"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/rulestate"
	"github.com/vigilsec/vigil/internal/sigma"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// testPassword is every test user's password.
const testPassword = "correct horse battery"

var (
	rulesOnce sync.Once
	rulesSet  *ruleset.Loaded
	rulesErr  error
)

func builtinRules(tb testing.TB) *ruleset.Loaded {
	rulesOnce.Do(func() { rulesSet, rulesErr = ruleset.Load(ruleset.Options{Builtin: true}) })
	if rulesErr != nil {
		tb.Fatalf("loading rules: %v", rulesErr)
	}
	return rulesSet
}

// clock is a settable clock for session expiry tests.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is a console over a real store in a temporary directory, with the
// users admin, analyst and viewer.
type env struct {
	c     *Console
	o     Options
	srv   *httptest.Server
	clock *clock
	db    *sqlite.DB
}

func newEnv(tb testing.TB, opts ...func(*Options)) *env {
	tb.Helper()
	ctx := context.Background()
	var so sqlite.Options
	if metatest.EngineOf(tb) == metatest.Postgres {
		so.Meta = metatest.Open(tb) // in a subtest of metatest.Engines
	}
	st, err := sqlite.Open(ctx, tb.TempDir(), so)
	if err != nil {
		tb.Fatalf("opening store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	clk := &clock{}
	clk.ns.Store(time.Now().UnixNano())
	a, err := auth.Open(ctx, st.Meta())
	if err != nil {
		tb.Fatal(err)
	}
	a.SetLoginThrottle(auth.NewThrottle(auth.LoginLimits{}, clk.Now))
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"admin", auth.RoleAdmin}, {"analyst", auth.RoleAnalyst}, {"viewer", auth.RoleViewer}} {
		if _, err := a.CreateUser(ctx, u.name, testPassword, u.role); err != nil {
			tb.Fatal(err)
		}
	}
	alerts, err := alert.Open(ctx, st.Meta())
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := alert.NewRecorder(ctx, alerts, log, alert.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rec.Close)
	incs, err := incident.Open(ctx, st.Meta(), alerts, log, incident.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	aud, err := audit.Open(ctx, st.Meta())
	if err != nil {
		tb.Fatal(err)
	}
	nt, err := notify.Open(ctx, st.Meta(), notify.Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nt.Close() })
	rules := builtinRules(tb)
	runner, err := respond.New(ctx, st.Meta(), incs, log, respond.Options{}, func(ref string) (string, string, bool) {
		r, ok := rules.Set.Lookup(ref)
		if !ok {
			return "", "", false
		}
		return r.ID, r.Name, true
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(runner.Close)
	book, err := respond.Parse([]byte(respond.BuiltinSSHBruteForce), "builtin:ssh-brute-force-block.yml")
	if err != nil {
		tb.Fatal(err)
	}
	runner.SetPlaybooks([]*respond.Playbook{book})
	rs, err := rulestate.Open(ctx, st.Meta(), rulestate.Options{Audit: aud.RecordTx, Now: clk.Now})
	if err != nil {
		tb.Fatal(err)
	}
	o := Options{
		Store: st, Auth: a, Alerts: alerts, Recorder: rec, Incidents: incs, Audit: aud, Runner: runner, Notifier: nt,
		Metrics: metrics.New(), Rules: func() *ruleset.Loaded { return rules }, RuleState: rs, Log: log, Now: clk.Now,
		Inputs: []Input{{Name: "syslog-tcp", Addr: "127.0.0.1:5514"}}, Retention: "max age 720h0m0s",
	}
	for _, f := range opts {
		f(&o)
	}
	c, err := New(ctx, o)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	mux.Handle("GET /{$}", c.Overview())
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return &env{c: c, o: o, srv: srv, clock: clk, db: st}
}

// addAlerts stores n alerts directly in the alert table, spread over the
// last day, and returns their ids.
func (e *env) addAlerts(tb testing.TB, n int) []string {
	tb.Helper()
	ctx := context.Background()
	db := e.db.Meta()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	levels := sigma.Levels
	now := e.clock.Now()
	out := make([]string, n)
	for i := range n {
		id := ids.New()
		out[i] = id
		lvl := levels[i%len(levels)]
		seen := now.Add(-time.Duration(i%1440) * time.Minute).UnixNano()
		ev := fmt.Sprintf(`{"@timestamp":"%s","source.ip":"203.0.113.%d","user.name":"u%d","message":"Failed password"}`,
			time.Unix(0, seen).UTC().Format(time.RFC3339), i%250, i%50)
		_, err := tx.ExecContext(ctx, `INSERT INTO alerts (id, rule_id, rule_title, level, level_rank, tags, count, first_seen, last_seen, entities, grp, event, incident_id, status, dedup_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, '', 'open', ?)`,
			id, fmt.Sprintf("rule-%d", i%40), fmt.Sprintf("Test rule %d", i%40), lvl.String(), int(lvl)-1, // level_rank: informational 0 ... critical 4
			`["attack.credential-access","attack.t1110.001"]`, 1+i%7, seen, seen,
			fmt.Sprintf(`{"source.ip":["203.0.113.%d"],"user":["u%d"],"host":["web%02d"]}`, i%250, i%50, i%20), ev, id)
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// client is a browser-like HTTP client with a cookie jar that does not
// follow redirects.
type client struct {
	tb   testing.TB
	e    *env
	http *http.Client
	csrf string
}

func (e *env) client(tb testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{tb: tb, e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *client) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	c.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) { return c.do("GET", path, nil, nil) }

// post sends a form with the session's CSRF token.
func (c *client) post(path string, form url.Values) (*http.Response, string) {
	form = cloneForm(form)
	if c.csrf != "" && !form.Has("csrf_token") {
		form.Set("csrf_token", c.csrf)
	}
	return c.do("POST", path, form, nil)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// login signs in as user and keeps the session's CSRF token.
func (c *client) login(user string) {
	c.tb.Helper()
	resp, body := c.do("POST", "/login", c.loginForm(user, testPassword), nil)
	if resp.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("login %s: got status %d, want 303; body %.300s", user, resp.StatusCode, body)
	}
	_, page := c.get("/alerts")
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		c.tb.Fatalf("no CSRF token on /alerts after login")
	}
	c.csrf = m[1]
}

// loginForm fetches the login page and returns a filled login form.
func (c *client) loginForm(user, password string) url.Values {
	c.tb.Helper()
	_, page := c.get("/login")
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		c.tb.Fatalf("no CSRF token on the login page")
	}
	return url.Values{"username": {user}, "password": {password}, "csrf_token": {m[1]}, "next": {"/"}}
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
