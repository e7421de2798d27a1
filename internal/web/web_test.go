package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/incident"
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
					if m[1] != "/logout" && m[1] != "/rules/test" {
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
	for _, tc := range []struct {
		name       string
		hdr        map[string]string
		trust      bool
		wantSecure bool
	}{
		{"plain http", nil, false, false},
		{"forwarded https, not trusted", map[string]string{"X-Forwarded-Proto": "https"}, false, false},
		{"forwarded https, trusted", map[string]string{"X-Forwarded-Proto": "https"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.TrustForwardedProto = tc.trust })
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
		{"/settings/suppressions", url.Values{"rule_id": {"*"}, "reason": {"x"}}},
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
}

func TestSessionExpiry(t *testing.T) {
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
	e := newEnv(t)
	c := e.client(t)
	for i := range limitFree {
		resp, _ := c.do("POST", "/login", c.loginForm("admin", "wrong password "+string(rune('a'+i))), nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: got %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, _ := c.do("POST", "/login", c.loginForm("admin", testPassword), nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("right password while locked: got %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another username from the same address is locked too (per address).
	if resp, _ := c.do("POST", "/login", c.loginForm("viewer", testPassword), nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("other user, same address: got %d, want 429", resp.StatusCode)
	}
	e.clock.Advance(limitBase + time.Second)
	if resp, _ := c.do("POST", "/login", c.loginForm("admin", testPassword), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the lockout: got %d, want 303", resp.StatusCode)
	}
}

func TestLimiterBackoff(t *testing.T) {
	clk := &clock{}
	l := newLimiter(clk.Now)
	for range limitFree - 1 {
		l.fail("user:a")
	}
	if got := l.blocked("user:a"); got != 0 {
		t.Fatalf("after %d failures: got wait %v, want 0", limitFree-1, got)
	}
	want := limitBase
	for range 10 {
		l.fail("user:a")
		if got := l.blocked("user:a"); got != min(want, limitMax) {
			t.Errorf("got wait %v, want %v", got, min(want, limitMax))
		}
		want *= 2
	}
	l.reset("user:a")
	if got := l.blocked("user:a"); got != 0 {
		t.Errorf("after reset: got wait %v, want 0", got)
	}
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
