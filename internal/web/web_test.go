package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/clientip"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// pages are every console page a GET reaches.
func pages(e *env, tb testing.TB) []string {
	ids := e.addAlerts(tb, 30)
	inc, err := e.o.Incidents.Create(context.Background(), "admin", "Brute force", "high", ids[:3])
	if err != nil {
		tb.Fatal(err)
	}
	rule := builtinRules(tb).Set.Rules[0]
	return []string{"/", "/overview", "/search", "/search?q=Failed&range=all", "/alerts", "/alerts?status=any&min_level=high",
		"/alerts/" + ids[0], "/incidents", "/incidents?status=any", "/incidents/" + inc.ID, "/rules", "/rules?q=ssh",
		"/rules/view?id=" + url.QueryEscape(rule.ID), "/attack", "/attack?covered=1", "/sources", "/settings",
		"/search/fields?q=&field=source.ip", "/search/chart?q=", "/search/rows?q="}
}

func TestNoSessionRedirectsToLogin(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	for _, p := range pages(e, t) {
		resp, _ := c.get(p)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET %s: got status %d, want 303", p, resp.StatusCode)
			continue
		}
		if got, want := resp.Header.Get("Location"), "/login?next="+url.QueryEscape(p); got != want {
			t.Errorf("GET %s: got Location %q, want %q", p, got, want)
		}
	}
	resp, _ := c.do("GET", "/alerts", nil, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("HX-Redirect"), "/login") {
		t.Errorf("htmx GET without session: got %d HX-Redirect %q, want 401 and /login", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	resp, _ = c.do("POST", "/alerts/bulk", url.Values{"op": {"close"}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without session: got %d, want 403", resp.StatusCode)
	}
}

func TestEveryPageRendersForEveryRole(t *testing.T) {
	e := newEnv(t)
	ps := pages(e, t)
	stateChanging := regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]+)"`)
	for _, role := range []string{"admin", "analyst", "viewer"} {
		t.Run(role, func(t *testing.T) {
			c := e.client(t)
			c.login(role)
			for _, p := range ps {
				resp, body := c.get(p)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: got status %d, want 200; body %.300s", p, resp.StatusCode, body)
					continue
				}
				if role != "viewer" {
					continue
				}
				for _, m := range stateChanging.FindAllStringSubmatch(body, -1) {
					// Every user signs out, tests rules, changes
					// their own password and signs out their own
					// sessions.
					if m[1] != "/logout" && m[1] != "/rules/test" && m[1] != "/settings/password" && !strings.HasPrefix(m[1], "/settings/sessions/") {
						t.Errorf("viewer sees a state-changing form on %s: action %s", p, m[1])
					}
				}
			}
		})
	}
}

func TestSecurityHeadersAndNoInlineScript(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.login("admin")
	inline := []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script element with a body
		regexp.MustCompile(`<script(?:\s(?:[^>](?:[^s]|s[^r]|sr[^c]))*)?>`),
		regexp.MustCompile(`\son[a-z]+\s*=`),        // inline event handlers
		regexp.MustCompile(`\sstyle\s*=`),           // inline styles
		regexp.MustCompile(`(?i)href="javascript:`), // script URLs
	}
	for _, p := range append(pages(e, t), "/login") {
		resp, body := c.get(p)
		if got := resp.Header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("GET %s: got CSP %q, want %q", p, got, contentSecurityPolicy)
		}
		if !strings.Contains(contentSecurityPolicy, "script-src 'self'") || strings.Contains(contentSecurityPolicy, "unsafe-inline") {
			t.Fatalf("CSP allows inline script: %s", contentSecurityPolicy)
		}
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET %s: no %s header", p, h)
			}
		}
		for i, re := range inline {
			if i == 1 {
				continue // covered by the src check below
			}
			if m := re.FindString(body); m != "" {
				t.Errorf("GET %s: inline script or style %q", p, m)
			}
		}
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
			if !strings.Contains(tag, ` src="/static/`) {
				t.Errorf("GET %s: script without an embedded src: %s", p, tag)
			}
		}
	}
}

func TestLoginCookieFlags(t *testing.T) {
	loopback, err := clientip.New([]string{"127.0.0.1/32", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := clientip.New([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		hdr        map[string]string
		proxies    *clientip.Resolver
		force      bool
		wantSecure bool
	}{
		{"plain http", nil, nil, false, false},
		{"forwarded https, no trusted proxy", map[string]string{"X-Forwarded-Proto": "https"}, nil, false, false},
		{"forwarded https, peer not a trusted proxy", map[string]string{"X-Forwarded-Proto": "https"}, elsewhere, false, false},
		{"forwarded https from a trusted proxy", map[string]string{"X-Forwarded-Proto": "https"}, loopback, false, true},
		{"forwarded http from a trusted proxy", map[string]string{"X-Forwarded-Proto": "http"}, loopback, false, false},
		{"forced", nil, nil, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.ClientIP, o.SecureCookies = tc.proxies, tc.force })
			c := e.client(t)
			resp, _ := c.do("POST", "/login", c.loginForm("analyst", testPassword), tc.hdr)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
				t.Fatalf("got %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
			}
			var ck *http.Cookie
			for _, k := range resp.Cookies() {
				if k.Name == sessionCookie {
					ck = k
				}
			}
			if ck == nil {
				t.Fatal("no session cookie")
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tc.wantSecure {
				t.Errorf("got HttpOnly=%v SameSite=%v Secure=%v, want true, Strict, %v", ck.HttpOnly, ck.SameSite, ck.Secure, tc.wantSecure)
			}
			if len(ck.Value) < 43 {
				t.Errorf("got a session id of %d characters, want 256 bits (43 base64 characters)", len(ck.Value))
			}
		})
	}
}

func TestLoginNeedsCSRFAndRightPassword(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.loginForm("admin", testPassword) // for its login CSRF cookie: the forged token below must be what fails
	bad := url.Values{"username": {"admin"}, "password": {testPassword}, "csrf_token": {"forged"}}
	if resp, _ := c.do("POST", "/login", bad, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login with a wrong CSRF token: got %d, want 403", resp.StatusCode)
	}
	noTok := url.Values{"username": {"admin"}, "password": {testPassword}}
	if resp, _ := c.do("POST", "/login", noTok, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without a CSRF token: got %d, want 403", resp.StatusCode)
	}
	wrong := c.loginForm("admin", "not the password")
	if resp, body := c.do("POST", "/login", wrong, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") {
		t.Errorf("wrong password: got %d, want 401 with a message", resp.StatusCode)
	}
	form := c.loginForm("admin", testPassword)
	if resp, _ := c.do("POST", "/login", form, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("good login: got %d, want 303", resp.StatusCode)
	}
	for next, want := range map[string]string{"/alerts?x=1": "/alerts?x=1", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/"} {
		c := e.client(t)
		f := c.loginForm("admin", testPassword)
		f.Set("next", next)
		resp, _ := c.do("POST", "/login", f, nil)
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("next=%q: got Location %q, want %q", next, got, want)
		}
	}
}

func TestCSRFOnStateChangingRequests(t *testing.T) {
	e := newEnv(t)
	ids := e.addAlerts(t, 2)
	c := e.client(t)
	c.login("analyst")
	form := func(tok string) url.Values {
		v := url.Values{"op": {"close"}, "id": {ids[0]}}
		if tok != "" {
			v.Set("csrf_token", tok)
		}
		return v
	}
	if resp, _ := c.do("POST", "/alerts/bulk", form(""), nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("no token: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := c.do("POST", "/alerts/bulk", form("wrong-token"), nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token: got %d, want 403", resp.StatusCode)
	}
	other := e.client(t)
	other.login("admin")
	if resp, _ := c.do("POST", "/alerts/bulk", form(other.csrf), nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another session's token: got %d, want 403", resp.StatusCode)
	}
	if a, _ := e.o.Alerts.Get(context.Background(), ids[0]); a.Status != "open" {
		t.Fatalf("alert changed by a refused request: status %q", a.Status)
	}
	if resp, _ := c.do("POST", "/alerts/bulk", form(""), map[string]string{csrfHeader: c.csrf}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("token in the htmx header: got %d, want 303", resp.StatusCode)
	}
	if a, _ := e.o.Alerts.Get(context.Background(), ids[0]); a.Status != "closed" {
		t.Errorf("got alert status %q, want closed", a.Status)
	}
	if resp, _ := c.do("POST", "/logout", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without token: got %d, want 403", resp.StatusCode)
	}
}

func TestRolesEnforced(t *testing.T) {
	e := newEnv(t)
	ids := e.addAlerts(t, 2)
	inc, err := e.o.Incidents.Create(context.Background(), "admin", "x", "low", ids[:1])
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		path string
		form url.Values
	}{
		{"/alerts/bulk", url.Values{"op": {"close"}, "id": {ids[1]}}},
		{"/incidents/" + inc.ID + "/update", url.Values{"status": {"resolved"}}},
		{"/incidents/" + inc.ID + "/comments", url.Values{"text": {"hi"}}},
		{"/incidents/" + inc.ID + "/actions", url.Values{"action": {"comment"}, "text": {"x"}}},
		{"/rules/state", url.Values{"id": {builtinRules(t).Set.Rules[0].ID}, "state": {"disabled"}}},
		// An analyst suppresses one rule for a while; every rule ("*") or
		// for ever is an admin's (checked below).
		{"/settings/suppressions", url.Values{"rule_id": {"r1"}, "reason": {"x"}, "expires": {"7d"}}},
	}
	admins := []struct {
		path string
		form url.Values
	}{
		{"/settings/users", url.Values{"username": {"mallory"}, "password": {testPassword}, "role": {"admin"}}},
		{"/settings/tokens", url.Values{"name": {"t"}, "role": {"admin"}}},
		{"/settings/playbooks/reload", url.Values{}},
	}
	viewer := e.client(t)
	viewer.login("viewer")
	for _, w := range append(writes, admins...) {
		if resp, _ := viewer.post(w.path, w.form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST %s: got %d, want 403", w.path, resp.StatusCode)
		}
	}
	analyst := e.client(t)
	analyst.login("analyst")
	for _, w := range admins {
		if resp, _ := analyst.post(w.path, w.form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("analyst POST %s: got %d, want 403", w.path, resp.StatusCode)
		}
	}
	users, _ := e.o.Auth.ListUsers(context.Background())
	for _, u := range users {
		if u.Username == "mallory" {
			t.Errorf("a refused request created user mallory")
		}
	}
	got, _ := e.o.Incidents.Get(context.Background(), inc.ID)
	if got.Status != incident.StatusNew || len(got.Comments) != 0 {
		t.Errorf("refused requests changed the incident: status %s, %d comments", got.Status, len(got.Comments))
	}
	for _, w := range writes {
		if resp, body := analyst.post(w.path, w.form); resp.StatusCode != http.StatusSeeOther || strings.Contains(resp.Header.Get("Location"), "err=") {
			t.Errorf("analyst POST %s: got %d to %q, want 303 without error; %.200s", w.path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	for _, form := range []url.Values{
		{"rule_id": {"*"}, "reason": {"x"}, "expires": {"1h"}},
		{"rule_id": {"r1"}, "reason": {"x"}},
	} {
		if resp, _ := analyst.post("/settings/suppressions", form); !strings.Contains(resp.Header.Get("Location"), "err=forbidden") {
			t.Errorf("analyst POST /settings/suppressions %v: got %d to %q, want it refused as forbidden", form, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	sups, _ := e.o.Alerts.ListSuppressions(context.Background())
	if len(sups) != 1 || sups[0].RuleID != "r1" || sups[0].Expires.IsZero() {
		t.Errorf("suppressions: got %+v, want only the analyst's expiring one on r1", sups)
	}
}

func TestSessionExpiry(t *testing.T) { metatest.Engines(t, testSessionExpiry) }

func testSessionExpiry(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.login("viewer")
	if resp, _ := c.get("/alerts"); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: got %d, want 200", resp.StatusCode)
	}
	// Activity within the idle window keeps the session alive until the
	// absolute limit, and not past it.
	step := e.c.o.SessionIdle / 2
	for elapsed := step; ; elapsed += step {
		e.clock.Advance(step)
		resp, _ := c.get("/alerts")
		if elapsed <= e.c.o.SessionMax {
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("active session after %v: got %d, want 200", elapsed, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("session past its absolute limit (%v): got %d, want 303 to /login", elapsed, resp.StatusCode)
		}
		break
	}

	idle := e.client(t)
	idle.login("viewer")
	e.clock.Advance(e.c.o.SessionIdle + time.Second)
	if resp, _ := idle.get("/alerts"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("idle session: got %d, want 303 to /login", resp.StatusCode)
	}

	out := e.client(t)
	out.login("analyst")
	if resp, _ := out.post("/logout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: got %d, want 303", resp.StatusCode)
	}
	var n int
	e.db.Meta().QueryRow(`SELECT count(*) FROM console_sessions s WHERE s.username = 'analyst'`).Scan(&n)
	if n != 0 {
		t.Errorf("got %d analyst sessions after logout, want 0", n)
	}

	dis := e.client(t)
	dis.login("analyst")
	users, _ := e.o.Auth.ListUsers(context.Background())
	for _, u := range users {
		if u.Username == "analyst" {
			e.o.Auth.SetUserDisabled(context.Background(), u.ID, true)
		}
	}
	if resp, _ := dis.get("/alerts"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("disabled user's session: got %d, want 303 to /login", resp.StatusCode)
	}
}

func TestLoginRateLimit(t *testing.T) {
	proxies, err := clientip.New([]string{"127.0.0.1/32", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.ClientIP = proxies })
	lim := e.o.Auth.LoginThrottle().Limits()
	c := e.client(t)
	for i := range lim.MaxFailures {
		resp, _ := c.do("POST", "/login", c.loginForm("admin", "wrong password "+string(rune('a'+i))), nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: got %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, body := c.do("POST", "/login", c.loginForm("admin", testPassword), nil)
	if got, want := resp.Header.Get("Retry-After"), strconv.Itoa(int(lim.LockBase.Seconds())); resp.StatusCode != http.StatusTooManyRequests || got != want {
		t.Fatalf("right password while locked: got %d Retry-After %q, want 429 with Retry-After %s", resp.StatusCode, got, want)
	}
	if !strings.Contains(body, "Too many failed attempts") {
		t.Errorf("locked: got page %.200q, want it to say why", body)
	}
	// The lock is admin's from this address: another user from it, and
	// admin from another address, sign in.
	viewer := e.client(t)
	if resp, _ := viewer.do("POST", "/login", viewer.loginForm("viewer", testPassword), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("other user, same address: got %d, want 303", resp.StatusCode)
	}
	other := e.client(t)
	if resp, _ := other.do("POST", "/login", other.loginForm("admin", testPassword), map[string]string{"X-Forwarded-For": "198.51.100.7"}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("admin from another address: got %d, want 303", resp.StatusCode)
	}
	e.clock.Advance(lim.LockBase + time.Second)
	if resp, _ := c.do("POST", "/login", c.loginForm("admin", testPassword), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the lockout: got %d, want 303", resp.StatusCode)
	}
}

// TestLoginBusy: with every hashing slot of a source taken, a sign-in from
// it is answered 429 at once, and nothing is hashed.
func TestLoginBusy(t *testing.T) {
	e := newEnv(t)
	th := e.o.Auth.LoginThrottle()
	c := e.client(t)
	form := c.loginForm("admin", testPassword)
	var held []*auth.Reservation
	for range th.Limits().MaxHashingPerSource {
		r, err := th.Begin("someone", false, netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, r)
	}
	before := th.Stats().Checks
	resp, body := c.do("POST", "/login", form, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("got %d Retry-After %q, want 429 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "in progress") {
		t.Errorf("busy: got page %.200q, want it to say why", body)
	}
	if got := th.Stats().Checks; got != before {
		t.Errorf("got %d password checks, want %d: a refused sign-in was hashed", got, before)
	}
	for _, r := range held {
		r.Done(false)
	}
	if resp, _ := c.do("POST", "/login", c.loginForm("admin", testPassword), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("once the slots are free: got %d, want 303", resp.StatusCode)
	}
}

func TestFailedLoginAudit(t *testing.T) { metatest.Engines(t, testFailedLoginAudit) }

func testFailedLoginAudit(t *testing.T) {
	proxies, err := clientip.New([]string{"127.0.0.1/32", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.ClientIP = proxies; o.FailedLoginWindow = time.Minute })
	ctx := context.Background()
	const typed = "Tr0ub4dor-and-3" // a password typed into the user-name field
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	c := e.client(t)
	for _, u := range []string{typed, "admin", typed, "nobody"} {
		if resp, _ := c.do("POST", "/login", c.loginForm(u, "wrong "+typed), from("198.51.100.1")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %d, want 401", resp.StatusCode)
		}
	}
	entries := func(action string) []audit.Entry {
		t.Helper()
		es, err := e.o.Audit.List(ctx, audit.Filter{Action: action, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	first := entries("console.login_failed")
	if len(first) != 1 || first[0].Actor != unknownUser || first[0].Target != "198.51.100.1" {
		t.Fatalf("got %+v, want one console.login_failed by %q for 198.51.100.1", first, unknownUser)
	}
	if n := len(entries("console.login_failed_repeated")); n != 0 {
		t.Errorf("got %d summaries before the window ended, want 0", n)
	}
	// The window ends; the next sign-in activity writes the summary.
	e.clock.Advance(time.Minute)
	c.login("viewer")
	rep := entries("console.login_failed_repeated")
	if len(rep) != 1 {
		t.Fatalf("got %d summaries, want 1", len(rep))
	}
	var sum struct {
		Source  string         `json:"source"`
		Fails   int            `json:"failures"`
		Unknown int            `json:"unknown_user_failures"`
		Users   map[string]int `json:"users"`
	}
	if err := json.Unmarshal(rep[0].After, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Source != "198.51.100.1" || sum.Fails != 3 || sum.Unknown != 2 || sum.Users["admin"] != 1 {
		t.Errorf("got summary %+v, want 3 more failures from 198.51.100.1: 2 unknown users, 1 admin", sum)
	}
	ok := entries("console.login")
	if len(ok) != 1 || ok[0].Actor != "viewer" || !strings.Contains(string(ok[0].After), "127.0.0.1") {
		t.Errorf("got %+v, want the viewer's sign-in from 127.0.0.1", ok)
	}
	all, err := e.o.Audit.List(ctx, audit.Filter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range all {
		if b, _ := json.Marshal(en); strings.Contains(string(b), typed) || strings.Contains(string(b), "nobody") {
			t.Errorf("audit entry %s keeps what was typed: %s", en.Action, b)
		}
	}
}

// TestFailedLoginAuditSources: past maxAuditSources sources in a window,
// failures share one window: the audit log gets at most maxAuditSources+1
// first entries per window however many sources there are.
func TestFailedLoginAuditSources(t *testing.T) {
	f := newFailedLogins(time.Minute, maxAuditSources)
	now := time.Now()
	for i := range maxAuditSources + 50 {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		f.record(now, a, "")
		f.record(now, a, "admin")
	}
	var first, summaries int
	f.mu.Lock()
	for _, p := range f.pending {
		if p.action == "console.login_failed" {
			first++
		}
	}
	f.pending = nil
	f.expireLocked(now.Add(time.Minute))
	for _, p := range f.pending {
		if p.action == "console.login_failed_repeated" {
			summaries++
			if p.target == otherSources {
				if got := p.after.(map[string]any)["failures"]; got != 99 {
					t.Errorf("other sources: got %v further failures, want 99 (100 less the first)", got)
				}
			}
		}
	}
	open := len(f.open)
	f.mu.Unlock()
	if first != maxAuditSources+1 || summaries != maxAuditSources+1 {
		t.Errorf("got %d first entries and %d summaries, want %d each", first, summaries, maxAuditSources+1)
	}
	if open != 0 {
		t.Errorf("got %d windows open after they ended, want 0", open)
	}
}

// TestFailedLoginAuditUsers: a summary lists at most maxAuditUsers known
// users by name; failures of further users are counted together.
func TestFailedLoginAuditUsers(t *testing.T) {
	f := newFailedLogins(time.Minute, maxAuditSources)
	now := time.Now()
	src := netip.MustParseAddr("192.0.2.1")
	f.record(now, src, "first")
	for i := range maxAuditUsers + 3 {
		f.record(now, src, fmt.Sprintf("user%02d", i))
	}
	f.record(now, src, "user00") // a listed user again: still by name
	f.mu.Lock()
	f.pending = nil
	f.expireLocked(now.Add(time.Minute))
	pending := f.pending
	f.mu.Unlock()
	if len(pending) != 1 {
		t.Fatalf("got %d entries, want one summary", len(pending))
	}
	after := pending[0].after.(map[string]any)
	users := after["users"].(map[string]int)
	if len(users) != maxAuditUsers || users["user00"] != 2 || after["other_users"] != 3 || after["failures"] != maxAuditUsers+4 {
		t.Errorf("got users %v, other_users %v, failures %v; want %d named (user00 twice), 3 others, %d failures",
			users, after["other_users"], after["failures"], maxAuditUsers, maxAuditUsers+4)
	}
}

// TestLoginLongUsername: a user name past maxUsername is cut, answered
// like any wrong name, and audited as an unknown user.
func TestLoginLongUsername(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	long := strings.Repeat("p4ssw0rd-", 2000)
	resp, body := c.do("POST", "/login", c.loginForm(long, "x"), nil)
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, long[:maxUsername+1]) {
		t.Fatalf("got %d, echoing %d bytes of the name; want 401 and at most %d bytes", resp.StatusCode, strings.Count(body, "p4ssw0rd"), maxUsername)
	}
	es, err := e.o.Audit.List(context.Background(), audit.Filter{Action: "console.login_failed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Actor != unknownUser || strings.Contains(string(es[0].After), "p4ssw0rd") {
		t.Errorf("got %+v, want one entry by %q without the name", es, unknownUser)
	}
}

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/alerts?x=1", "/alerts?x=1"},
		{"/incidents/abc", "/incidents/abc"},
		{"/search?q=user.name%3Aroot", "/search?q=user.name%3Aroot"},
		{"", "/"},
		{"alerts", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"/\\\\evil.example", "/"},
		{"\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\t\t/evil.example", "/"},
		{"/\r\n/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\x00/evil.example", "/"},
		{"/\x7f/evil.example", "/"},
		{" //evil.example", "/"},
		{"/ /evil.example", "/"},
		{"https://evil.example", "/"},
		{"https:/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/%2F/evil.example", "/"},
		{"///evil.example", "/"},
		{"/a\r\nSet-Cookie: x=1", "/"},
		{"/login", "/"},
		{"/login?next=/x", "/"},
		{"/" + strings.Repeat("a", maxNext), "/"},
		{"/alerts#frag", "/alerts"},
		{"/%09/evil.example", "/%09/evil.example"}, // an escaped TAB stays in the path: same site
	} {
		got := safeNext(tc.in)
		if got != tc.want {
			t.Errorf("safeNext(%q): got %q, want %q", tc.in, got, tc.want)
		}
		if host := browserHost(got); host != "vigil.example" {
			t.Errorf("safeNext(%q) = %q: a browser would go to %q", tc.in, got, host)
		}
	}
}

// browserHost returns the host a browser on https://vigil.example/login
// goes to when redirected to loc: browsers drop TAB, CR and LF, strip
// leading and trailing spaces and control characters, and read "\" as "/".
func browserHost(loc string) string {
	loc = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\r', '\n':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' }))
	base, _ := url.Parse("https://vigil.example/login")
	u, err := url.Parse(loc)
	if err != nil {
		return "unparseable"
	}
	return base.ResolveReference(u).Host
}

func TestWantsConsole(t *testing.T) {
	for _, tc := range []struct {
		accept, authz string
		want          bool
	}{
		{"text/html,application/xhtml+xml,*/*;q=0.8", "", true},
		{"", "", false},
		{"application/json", "", false},
		{"*/*", "", false},
		{"text/html", "Basic dXNlcjp0b2tlbg==", false},
		{"text/html", "ApiKey abc", false},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if tc.authz != "" {
			r.Header.Set("Authorization", tc.authz)
		}
		if got := WantsConsole(r); got != tc.want {
			t.Errorf("Accept %q Authorization %q: got %v, want %v", tc.accept, tc.authz, got, tc.want)
		}
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	for path, want := range map[string]int{
		"/static/console.css": http.StatusOK, "/static/console.js": http.StatusOK, "/static/theme.js": http.StatusOK,
		"/static/htmx.min.js": http.StatusOK, "/static/": http.StatusNotFound, "/static/nope.js": http.StatusNotFound,
	} {
		resp, _ := c.get(path)
		if resp.StatusCode != want {
			t.Errorf("GET %s: got %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestFlashOnlyFromOwnPages(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.login("viewer")
	for _, tc := range []struct {
		site string
		want bool
	}{{"", true}, {"same-origin", true}, {"cross-site", false}, {"none", false}} {
		hdr := map[string]string{}
		if tc.site != "" {
			hdr["Sec-Fetch-Site"] = tc.site
		}
		_, body := c.do("GET", "/alerts?msg=Call+555-0100+now", nil, hdr)
		if got := strings.Contains(body, "Call 555-0100 now"); got != tc.want {
			t.Errorf("Sec-Fetch-Site %q: message shown %v, want %v", tc.site, got, tc.want)
		}
	}
}

func TestPrettyJSONKeepsText(t *testing.T) {
	got := prettyJSON([]byte(`{"log.original":"<38>a & b","n":18446744073709551615}`))
	want := "{\n  \"log.original\": \"<38>a & b\",\n  \"n\": 18446744073709551615\n}"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestFailedLoginAuditOnClose: the summary of a window that has not ended
// is written when the console closes (the server's shutdown), not lost.
func TestFailedLoginAuditOnClose(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.FailedLoginWindow = time.Hour })
	c := e.client(t)
	for range 3 {
		if resp, _ := c.do("POST", "/login", c.loginForm("admin", "wrong password"), nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %d, want 401", resp.StatusCode)
		}
	}
	count := func() int {
		es, err := e.o.Audit.List(context.Background(), audit.Filter{Action: "console.login_failed_repeated", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	if n := count(); n != 0 {
		t.Fatalf("got %d summaries while the window is open, want 0", n)
	}
	e.c.Close(context.Background())
	if n := count(); n != 1 {
		t.Errorf("got %d summaries after Close, want 1", n)
	}
}
