package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
)

// withSetup gives the console a first-run setup: the env's admin is
// disabled first (straight in the table, as if an older server had left
// it so), so that no enabled admin exists.
func withSetup(tb testing.TB, setup **auth.Setup) func(*Options) {
	return func(o *Options) {
		if _, err := o.Store.Meta().Exec(`UPDATE users SET disabled = 1 WHERE role = 'admin'`); err != nil {
			tb.Fatal(err)
		}
		st, err := o.Auth.NewSetup(context.Background())
		if err != nil || st == nil {
			tb.Fatalf("NewSetup: %v, %v; want a setup", st, err)
		}
		o.Setup, *setup = st, st
	}
}

var setupCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// setupForm fetches the setup page and returns a filled form.
func (c *client) setupForm(code, user, pw, pw2 string) url.Values {
	c.tb.Helper()
	resp, page := c.get("/setup")
	if resp.StatusCode != http.StatusOK {
		c.tb.Fatalf("GET /setup: got %d, want 200", resp.StatusCode)
	}
	m := setupCSRF.FindStringSubmatch(page)
	if m == nil {
		c.tb.Fatalf("no CSRF token on the setup page")
	}
	return url.Values{"code": {code}, "username": {user}, "password": {pw}, "password2": {pw2}, "csrf_token": {m[1]}}
}

func TestSetupPageClosed(t *testing.T) {
	e := newEnv(t) // an admin exists: no setup
	c := e.client(t)
	for _, m := range []string{"GET", "POST"} {
		if resp, _ := c.do(m, "/setup", url.Values{}, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s /setup: got %d, want 404", m, resp.StatusCode)
		}
	}
	if _, page := c.get("/login"); strings.Contains(page, `href="/setup"`) {
		t.Error("the login page links to /setup while an admin exists")
	}
}

func TestSetupPage(t *testing.T) {
	var st *auth.Setup
	e := newEnv(t, withSetup(t, &st))
	code := st.Code()
	c := e.client(t)
	if _, page := c.get("/login"); !strings.Contains(page, `<a href="/setup">`) {
		t.Fatalf("login page: no link to /setup while no admin exists")
	}
	const pw = "the first admin's passphrase"
	tests := []struct {
		name                string
		code, user, pw, pw2 string
		wantCode            int
		wantText            string
	}{
		{"wrong code", "AAAA-BBBB", "root", pw, pw, http.StatusForbidden, "Wrong setup code"},
		{"code past the bound", strings.Repeat("A", auth.MaxSetupCodeLength+1), "root", pw, pw, http.StatusForbidden, "Wrong setup code"},
		{"passwords differ", code, "root", pw, pw + "!", http.StatusBadRequest, "The two passwords differ."},
		{"short password", code, "root", "short", "short", http.StatusBadRequest, "at least 12 characters"},
		{"bad name", code, "root<script>", pw, pw, http.StatusBadRequest, "use letters, digits"},
		{"an existing user's name", code, "analyst", pw, pw, http.StatusBadRequest, `exists already`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.do("POST", "/setup", c.setupForm(tt.code, tt.user, tt.pw, tt.pw2), nil)
			if resp.StatusCode != tt.wantCode || !strings.Contains(body, tt.wantText) {
				t.Fatalf("got %d, want %d with %q; body %.400s", resp.StatusCode, tt.wantCode, tt.wantText, body)
			}
			if strings.Contains(body, code) {
				t.Errorf("the page shows the setup code")
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("the page echoes markup unescaped")
			}
		})
	}
	form := c.setupForm(code, "root", pw, pw)
	form.Del("csrf_token")
	if resp, _ := c.do("POST", "/setup", form, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without CSRF: got %d, want 403", resp.StatusCode)
	}
	if ok, _ := e.o.Auth.HasAdmin(t.Context()); ok {
		t.Fatal("an admin exists after refused setups")
	}

	resp, body := c.do("POST", "/setup", c.setupForm(strings.ToLower(code), "root", pw, pw), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("setup with the code: got %d to %q, want 303 to /; body %.300s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// Signed in as the new admin.
	if resp, page := c.get("/settings"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Signed in as root (admin)") {
		t.Fatalf("settings after the setup: got %d, want 200 signed in as root (admin); %.300s", resp.StatusCode, page)
	}
	for _, m := range []string{"GET", "POST"} {
		if resp, _ := c.do(m, "/setup", url.Values{"code": {code}}, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s /setup after the setup: got %d, want 404", m, resp.StatusCode)
		}
	}
	if _, page := e.client(t).get("/login"); strings.Contains(page, `href="/setup"`) {
		t.Error("the login page still links to /setup")
	}
	ctx := t.Context()
	for _, want := range []struct{ action, actor string }{{"user.create", "setup"}, {"console.login", "root"}} {
		entries, err := e.o.Audit.List(ctx, audit.Filter{Action: want.action})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, en := range entries {
			found = found || en.Actor == want.actor
			if strings.Contains(string(en.After), pw) {
				t.Errorf("%s entry holds the password", want.action)
			}
		}
		if !found {
			t.Errorf("no %s entry by %s", want.action, want.actor)
		}
	}
}

func TestSetupThrottled(t *testing.T) {
	var st *auth.Setup
	e := newEnv(t, withSetup(t, &st))
	c := e.client(t)
	lim := e.o.Auth.LoginThrottle().Limits()
	for i := range lim.MaxFailures {
		if resp, _ := c.do("POST", "/setup", c.setupForm("WRONG", "root", "a long passphrase", "a long passphrase"), nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("wrong code %d: got %d, want 403", i+1, resp.StatusCode)
		}
	}
	resp, body := c.do("POST", "/setup", c.setupForm(st.Code(), "root", "a long passphrase", "a long passphrase"), nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "15" || !strings.Contains(body, "Too many attempts") {
		t.Fatalf("after %d wrong codes: got %d (Retry-After %q), want 429 after 15 s; %.300s", lim.MaxFailures, resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	e.clock.Advance(lim.LockBase)
	if resp, _ := c.do("POST", "/setup", c.setupForm(st.Code(), "root", "a long passphrase", "a long passphrase"), nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("once the lock ran out: got %d, want 303", resp.StatusCode)
	}
}
