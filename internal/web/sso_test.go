package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/oidc"
	"github.com/vigilsec/vigil/internal/oidc/oidctest"
)

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ssoEnv is a console with single sign-on through a test provider. The
// provider sends the browser to a redirect URL on a host that does not
// exist; the test takes the query from there to the console's callback.
type ssoEnv struct {
	*env
	tb  testing.TB
	p   *oidctest.Provider
	log *syncBuffer
}

const ssoRedirect = "http://console.invalid" + oidc.CallbackPath

func newSSOEnv(t *testing.T, mod func(*oidc.Config)) *ssoEnv {
	t.Helper()
	p := oidctest.New(t)
	cfg := oidc.Config{Issuer: p.URL, ClientID: p.ClientID, ClientSecret: oidc.Secret(p.ClientSecret), RedirectURL: ssoRedirect,
		Name: "Example ID", RoleMap: map[string]string{"vigil-analysts": "analyst", "vigil-admins": "admin"}}
	if mod != nil {
		mod(&cfg)
	}
	rp, err := oidc.New(cfg, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	e := newEnv(t, func(o *Options) {
		o.OIDC = rp
		o.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return &ssoEnv{env: e, tb: t, p: p, log: logs}
}

// ssoSignIn goes to /auth/oidc/login, through the provider, and back to
// the callback; it returns the callback's answer.
func (e *ssoEnv) ssoSignIn(t testing.TB, c *client, next string) (*http.Response, string) {
	t.Helper()
	resp, _ := c.get("/auth/oidc/login?next=" + url.QueryEscape(next))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), e.p.URL+"/authorize?") {
		t.Fatalf("/auth/oidc/login: got %d to %q, want 303 to the provider", resp.StatusCode, resp.Header.Get("Location"))
	}
	at, err := c.http.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	at.Body.Close()
	back, err := url.Parse(at.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), ssoRedirect+"?") {
		t.Fatalf("the provider sent the browser to %q, want the redirect URL", at.Header.Get("Location"))
	}
	return c.get(oidc.CallbackPath + "?" + back.RawQuery)
}

func (e *ssoEnv) entries(t testing.TB, action string) []audit.Entry {
	t.Helper()
	all, err := e.o.Audit.List(context.Background(), audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, en := range all {
		if en.Action == action {
			out = append(out, en)
		}
	}
	return out
}

// signedInAs returns the user and role the console shows, or "" when the
// client has no session.
func signedInAs(c *client) string {
	resp, page := c.get("/settings")
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	i := strings.Index(page, `<span class="user" title="Signed in">`)
	if i < 0 {
		return "?"
	}
	s := page[i+len(`<span class="user" title="Signed in">`):]
	s, _, _ = strings.Cut(s, "</span></span>")
	return strings.ReplaceAll(s, ` <span class="role">`, " ")
}

// TestSSOSignIn: the login page offers the provider; a sign-in through it
// makes the user (no password, linked to the provider), starts a session
// as a password sign-in does, audits console.login with method oidc, and
// goes on to the page asked for. The next sign-in re-applies the role the
// provider's claims map to.
func TestSSOSignIn(t *testing.T) {
	e := newSSOEnv(t, nil)
	c := e.client(t)
	_, page := c.get("/login?next=/alerts")
	if !strings.Contains(page, `<a class="button" id="sso" href="/auth/oidc/login?next=%2falerts">Sign in with Example ID</a>`) {
		t.Fatalf("the login page has no Sign in with Example ID link to /auth/oidc/login?next=/alerts:\n%s", page)
	}

	resp, _ := c.get("/auth/oidc/login?next=/alerts")
	var state *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == oidcCookie {
			state = ck
		}
	}
	if state == nil || state.SameSite != http.SameSiteLaxMode || !state.HttpOnly || state.Path != "/auth/oidc/" ||
		state.MaxAge != int(oidc.StateLifetime.Seconds()) {
		t.Fatalf("state cookie: got %+v, want HttpOnly, SameSite=Lax, Path=/auth/oidc/, Max-Age=600", state)
	}

	resp, page = e.ssoSignIn(t, c, "/alerts?status=open")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<meta http-equiv="refresh" content="0; url=/alerts?status=open">`) ||
		!strings.Contains(page, "Signed in as alice (analyst)") {
		t.Fatalf("callback: got %d\n%s\nwant 200 moving on to /alerts?status=open", resp.StatusCode, page)
	}
	var cleared bool
	for _, ck := range resp.Cookies() {
		if ck.Name == oidcCookie && ck.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Errorf("the callback did not clear the state cookie")
	}
	if got := signedInAs(c); got != "alice analyst" {
		t.Fatalf("signed in as %q, want alice analyst", got)
	}
	u, err := e.o.Auth.GetUser(context.Background(), "alice")
	if err != nil || u.Role != auth.RoleAnalyst || u.SSO != e.p.URL {
		t.Fatalf("user: got %+v, %v, want alice, analyst, of %s", u, err, e.p.URL)
	}
	logins := e.entries(t, "console.login")
	if len(logins) != 1 || logins[0].Actor != "alice" || logins[0].Target != "alice" {
		t.Fatalf("console.login: got %+v, want one for alice", logins)
	}
	var after map[string]any
	json.Unmarshal(logins[0].After, &after)
	if after["method"] != "oidc" || after["source"] != "127.0.0.1" || after["issuer"] != e.p.URL || after["role"] != "analyst" {
		t.Errorf("console.login: got %s, want method oidc from 127.0.0.1, the issuer and the role", logins[0].After)
	}
	if cr := e.entries(t, "user.create"); len(cr) != 1 || cr[0].Actor != "oidc:alice" {
		t.Errorf("user.create: got %+v, want one by oidc:alice", cr)
	}
	// A password does not sign her in.
	pw := e.client(t)
	if resp, _ := pw.do("POST", "/login", pw.loginForm("alice", ""), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("password sign-in of an SSO user: got %d, want 401", resp.StatusCode)
	}

	// Nor can she set one: she has none to change.
	_, settings := c.get("/settings")
	if m := csrfInput.FindStringSubmatch(settings); m != nil {
		c.csrf = m[1]
	}
	resp, _ = c.post("/settings/password", url.Values{"current": {""}, "password": {"a new long passphrase"}, "password2": {"a new long passphrase"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "err=") ||
		!strings.Contains(loc, url.QueryEscape("you sign in with single sign-on and have no password here")) {
		t.Errorf("password change of an SSO user: got %d to %q, want back with the single sign-on message", resp.StatusCode, loc)
	}

	// The provider now puts her among the admins: her next sign-in makes
	// her admin, in every session of hers.
	e.p.SetPerson(map[string]any{"sub": "sub-1", "preferred_username": "alice", "email": "alice@example.com",
		"groups": []string{"vigil-analysts", "vigil-admins"}}, nil)
	c2 := e.client(t)
	if resp, page := e.ssoSignIn(t, c2, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("second sign-in: got %d\n%s", resp.StatusCode, page)
	}
	if got := signedInAs(c); got != "alice admin" {
		t.Errorf("the first session: signed in as %q, want alice admin", got)
	}
	if up := e.entries(t, "user.update"); len(up) != 1 || !strings.Contains(string(up[0].After), `"role":"admin"`) {
		t.Errorf("user.update: got %+v, want one making alice admin", up)
	}
	if logs := e.log.String(); strings.Contains(logs, e.p.ClientSecret) || strings.Contains(logs, "eyJ") {
		t.Errorf("the log holds the client secret or a token:\n%s", logs)
	}
}

// TestSSORefused: every way a sign-in fails ends on the login page with a
// message that says why and the right status, with no session and no
// token, code or secret on the page or in the log; refusals of a person
// the provider vouched for are audited.
func TestSSORefused(t *testing.T) {
	person := func(name string, groups ...string) map[string]any {
		return map[string]any{"sub": "sub-" + name, "preferred_username": name, "email": name + "@example.com", "groups": groups}
	}
	tests := []struct {
		name     string
		setup    func(e *ssoEnv)
		callback func(e *ssoEnv, c *client) (*http.Response, string) // default: a whole sign-in
		status   int
		msg      string
		audited  string // the reason of a console.login_refused
	}{
		{name: "unmapped role", setup: func(e *ssoEnv) { e.p.SetPerson(person("bob", "contractors"), nil) },
			status: http.StatusForbidden, msg: "bob has no role in Vigil: none of the values of the groups claim (contractors) is mapped to a role",
			audited: oidc.ReasonNoRole},
		{name: "the name of a local user", setup: func(e *ssoEnv) { e.p.SetPerson(person("admin", "vigil-admins"), nil) },
			status: http.StatusConflict, msg: "a Vigil account named admin already exists and is not linked to this sign-in",
			audited: "user name taken"},
		{name: "a disabled user", setup: func(e *ssoEnv) {
			e.p.SetPerson(person("carol", "vigil-analysts"), nil)
			if resp, _ := e.ssoSignIn(e.tb, e.client(e.tb), "/"); resp.StatusCode != http.StatusOK {
				e.tb.Fatalf("first sign-in: %d", resp.StatusCode)
			}
			yes := true
			if _, err := e.o.Auth.UpdateUser(context.Background(), auth.Change{Actor: "admin"}, "carol", auth.UserUpdate{Disabled: &yes}); err != nil {
				e.tb.Fatal(err)
			}
		}, status: http.StatusForbidden, msg: "your Vigil account is disabled", audited: "user disabled"},
		{name: "access denied", setup: func(e *ssoEnv) { e.p.AuthError("access_denied") },
			status: http.StatusForbidden, msg: "the sign-in was refused or cancelled at the provider (access_denied)"},
		{name: "expired ID token", setup: func(e *ssoEnv) {
			e.p.Tamper(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
		}, status: http.StatusBadGateway, msg: "the answer of Example ID failed verification"},
		{name: "another audience", setup: func(e *ssoEnv) { e.p.Tamper(func(c map[string]any) { c["aud"] = "someone-else" }) },
			status: http.StatusBadGateway, msg: "failed verification"},
		{name: "a nonce of another sign-in", setup: func(e *ssoEnv) { e.p.Tamper(func(c map[string]any) { c["nonce"] = "other" }) },
			status: http.StatusBadGateway, msg: "failed verification"},
		{name: "no state cookie", callback: func(e *ssoEnv, c *client) (*http.Response, string) {
			return c.get(oidc.CallbackPath + "?code=a-code-from-a-link&state=made-up")
		}, status: http.StatusBadRequest, msg: "the sign-in could not be matched to one started in this browser: no sign-in cookie"},
		{name: "a state of another browser", callback: func(e *ssoEnv, c *client) (*http.Response, string) {
			c.get("/auth/oidc/login")
			return c.get(oidc.CallbackPath + "?code=a-code-from-a-link&state=made-up")
		}, status: http.StatusBadRequest, msg: "the state the provider sent back is not this browser&#39;s"},
		{name: "an error in a link", callback: func(e *ssoEnv, c *client) (*http.Response, string) {
			c.get("/auth/oidc/login")
			return c.get(oidc.CallbackPath + "?error=access_denied&error_description=call+us+at+extension+qzx-7731&state=made-up")
		}, status: http.StatusBadRequest, msg: "not this browser&#39;s"},
		{name: "provider down", callback: func(e *ssoEnv, c *client) (*http.Response, string) {
			e.p.Down(true)
			return c.get("/auth/oidc/login")
		}, status: http.StatusBadGateway, msg: "Single sign-on is unavailable: Example ID could not be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSSOEnv(t, nil)
			if tt.setup != nil {
				tt.setup(e)
			}
			c := e.client(t)
			var (
				resp *http.Response
				page string
			)
			if tt.callback != nil {
				resp, page = tt.callback(e, c)
			} else {
				resp, page = e.ssoSignIn(t, c, "/")
			}
			if resp.StatusCode != tt.status || !strings.Contains(page, tt.msg) || !strings.Contains(page, `role="alert"`) {
				t.Fatalf("got %d\n%s\nwant %d and the message %q", resp.StatusCode, page, tt.status, tt.msg)
			}
			if !strings.Contains(page, "Sign in with Example ID") {
				t.Errorf("the page does not offer to sign in again")
			}
			for _, bad := range []string{e.p.ClientSecret, "eyJ", "goroutine", "panic", "a-code-from-a-link", "qzx-7731"} {
				if strings.Contains(page, bad) || strings.Contains(e.log.String(), bad) {
					t.Errorf("the page or the log holds %q:\npage %s\nlog %s", bad, page, e.log.String())
				}
			}
			if got := signedInAs(c); got != "" {
				t.Errorf("signed in as %q, want no session", got)
			}
			refused := e.entries(t, "console.login_refused")
			switch {
			case tt.audited == "" && len(refused) != 0:
				t.Errorf("got %d console.login_refused entries, want none", len(refused))
			case tt.audited != "" && (len(refused) != 1 || !strings.Contains(string(refused[0].After), `"reason":"`+tt.audited+`"`) ||
				!strings.Contains(string(refused[0].After), `"method":"oidc"`)):
				t.Errorf("console.login_refused: got %+v, want one with reason %q", refused, tt.audited)
			}
			if logins := e.entries(t, "console.login"); len(logins) > 1 || (len(logins) == 1 && tt.name != "a disabled user") {
				t.Errorf("got console.login entries %+v, want none", logins)
			}
		})
	}
}

// TestSSONotConfigured: without a provider there is no button and no
// route.
func TestSSONotConfigured(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	if _, page := c.get("/login"); strings.Contains(page, "Sign in with") {
		t.Errorf("the login page offers single sign-on without a provider")
	}
	for _, p := range []string{"/auth/oidc/login", oidc.CallbackPath + "?code=x&state=y"} {
		if resp, _ := c.get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: got %d, want 404", p, resp.StatusCode)
		}
	}
}
