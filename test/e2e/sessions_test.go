package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// consoleBrowser is a browser's side of the console: its cookies, the
// User-Agent it sends, and no redirects followed.
type consoleBrowser struct {
	t       *testing.T
	base    string
	ua      string
	cookies map[string]string
	hdr     map[string]string // more headers on every request
}

func newConsoleBrowser(t *testing.T, httpAddr, ua string) *consoleBrowser {
	return &consoleBrowser{t: t, base: "http://" + httpAddr, ua: ua, cookies: map[string]string{}}
}

var browserHTTP = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request with the browser's cookies and keeps those it gets.
func (b *consoleBrowser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("User-Agent", b.ua)
	for k, v := range b.hdr {
		req.Header.Set(k, v)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := browserHTTP.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return resp, string(raw)
}

var formCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of a page's first form.
func (b *consoleBrowser) csrf(page string) string {
	b.t.Helper()
	m := formCSRF.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page: %.300s", page)
	}
	return m[1]
}

// login signs in on the console and returns the session's short id (the
// first 16 hex digits of the SHA-256 of the cookie's secret).
func (b *consoleBrowser) login(user, password string) string {
	b.t.Helper()
	_, page := b.do("GET", "/login", nil)
	resp, body := b.do("POST", "/login", url.Values{"username": {user}, "password": {password}, "csrf_token": {b.csrf(page)}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther || b.cookies["vigil_session"] == "" {
		b.t.Fatalf("console login as %s: got HTTP %d, want 303 with a session: %.300s", user, resp.StatusCode, body)
	}
	return b.sessionID()
}

func (b *consoleBrowser) sessionID() string {
	h := sha256.Sum256([]byte(b.cookies["vigil_session"]))
	return hex.EncodeToString(h[:8])
}

// post sends a form of a signed-in page (its CSRF token from /settings).
func (b *consoleBrowser) post(path string, form url.Values) *http.Response {
	b.t.Helper()
	_, page := b.do("GET", "/settings", nil)
	form.Set("csrf_token", b.csrf(page))
	resp, _ := b.do("POST", path, form)
	return resp
}

// signedOut reports whether the browser's next page view goes to /login.
func (b *consoleBrowser) signedOut() bool {
	b.t.Helper()
	resp, _ := b.do("GET", "/alerts", nil)
	return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
}

type apiSession struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Source    string `json:"source"`
	UserAgent string `json:"user_agent"`
}

func (s *server) sessions(t *testing.T, query string) []apiSession {
	t.Helper()
	resp, b := s.request("GET", "/api/v1/sessions"+query, testToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/sessions%s: HTTP %d: %s", query, resp.StatusCode, b)
	}
	var out struct{ Sessions []apiSession }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.Sessions
}

// TestSessions: a user's console sessions are listed (API and Settings)
// by a short id with where they signed in from, never by their secret;
// revoking one (API, the user on Settings, an admin on Settings) sends its
// next request to /login; everything is audited.
func TestSessions(t *testing.T) {
	s := startServer(t, serverOpts{})
	const pw = "alice's console passphrase"
	for _, u := range []string{"alice", "bob"} {
		if resp, b := s.request("POST", "/api/v1/users", testToken, strings.NewReader(`{"username":"`+u+`","password":"`+pw+`","role":"analyst"}`)); resp.StatusCode != 201 {
			t.Fatalf("creating %s: HTTP %d: %s", u, resp.StatusCode, b)
		}
	}
	laptop := newConsoleBrowser(t, s.http, "Laptop/1.0 (e2e)")
	phone := newConsoleBrowser(t, s.http, "Phone/2.0 (e2e)")
	tablet := newConsoleBrowser(t, s.http, "Tablet/3.0 (e2e)")
	bob := newConsoleBrowser(t, s.http, "Bob/1.0 (e2e)")
	idLaptop, idPhone, idTablet := laptop.login("alice", pw), phone.login("alice", pw), tablet.login("alice", pw)
	idBob := bob.login("bob", pw)

	got := s.sessions(t, "?user=alice")
	if len(got) != 3 {
		t.Fatalf("alice's sessions: got %+v, want 3", got)
	}
	byID := map[string]apiSession{}
	for _, x := range got {
		byID[x.ID] = x
	}
	if x := byID[idPhone]; x.Username != "alice" || x.Source != "127.0.0.1" || x.UserAgent != "Phone/2.0 (e2e)" {
		t.Errorf("phone session: got %+v, want alice from 127.0.0.1 with Phone/2.0 (e2e)", x)
	}
	if all := s.sessions(t, ""); len(all) != 4 {
		t.Errorf("all sessions: got %d, want 4", len(all))
	}
	// Never the secret, nor the whole hash.
	_, raw := s.request("GET", "/api/v1/sessions", testToken, nil)
	h := sha256.Sum256([]byte(phone.cookies["vigil_session"]))
	if strings.Contains(string(raw), phone.cookies["vigil_session"]) || strings.Contains(string(raw), hex.EncodeToString(h[:])) {
		t.Fatal("GET /api/v1/sessions shows a session's secret or whole hash")
	}
	_, page := laptop.do("GET", "/settings", nil)
	for _, want := range []string{idLaptop, idPhone, idTablet, "Tablet/3.0 (e2e)", "this session", "Sign out everywhere else"} {
		if !strings.Contains(page, want) {
			t.Errorf("alice's settings page: no %q", want)
		}
	}
	if strings.Contains(page, idBob) || strings.Contains(page, phone.cookies["vigil_session"]) {
		t.Error("alice's settings page shows bob's session or a session secret")
	}

	// The API ends one: its next request goes to /login.
	if resp, b := s.request("DELETE", "/api/v1/sessions/"+idPhone, testToken, nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE /api/v1/sessions/%s: HTTP %d: %s", idPhone, resp.StatusCode, b)
	}
	if !phone.signedOut() {
		t.Fatal("the session revoked through the API still works")
	}
	for _, tc := range []struct {
		path string
		want int
	}{{"/api/v1/sessions/" + idPhone, 404}, {"/api/v1/sessions/not-a-session-id", 400}} {
		if resp, b := s.request("DELETE", tc.path, testToken, nil); resp.StatusCode != tc.want {
			t.Errorf("DELETE %s: HTTP %d, want %d: %s", tc.path, resp.StatusCode, tc.want, b)
		}
	}

	// Alice cannot end bob's session from Settings; she ends her own
	// everywhere else.
	if resp := laptop.post("/settings/sessions/"+idBob+"/revoke", url.Values{}); !strings.Contains(resp.Header.Get("Location"), "no+such+session") {
		t.Errorf("alice revoking bob's session: got %q, want no such session", resp.Header.Get("Location"))
	}
	if bob.signedOut() {
		t.Fatal("alice ended bob's session")
	}
	laptop.post("/settings/sessions/others", url.Values{})
	if !tablet.signedOut() || laptop.signedOut() {
		t.Fatal("sign out everywhere else: want the tablet signed out and the laptop signed in")
	}

	// An admin ends bob's session from Settings.
	if resp, b := s.request("POST", "/api/v1/users", testToken, strings.NewReader(`{"username":"root","password":"`+pw+`","role":"admin"}`)); resp.StatusCode != 201 {
		t.Fatalf("creating root: HTTP %d: %s", resp.StatusCode, b)
	}
	admin := newConsoleBrowser(t, s.http, "Admin/1.0 (e2e)")
	admin.login("root", pw)
	if _, page := admin.do("GET", "/settings", nil); !strings.Contains(page, "All sessions") || !strings.Contains(page, idBob) {
		t.Fatal("the admin's settings page does not list bob's session")
	}
	admin.post("/settings/sessions/"+idBob+"/revoke", url.Values{})
	if !bob.signedOut() {
		t.Fatal("the session the admin revoked on Settings still works")
	}

	// Each revocation audited once, by whoever did it.
	resp, b := s.request("GET", "/api/v1/audit?limit=100&action=session.revoke", testToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("audit: HTTP %d: %s", resp.StatusCode, b)
	}
	var log struct {
		Entries []struct{ Actor, Target string }
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{idPhone: "bootstrap", idBob: "root"}
	if len(log.Entries) != len(want) {
		t.Fatalf("session.revoke entries: got %+v, want %v", log.Entries, want)
	}
	for _, e := range log.Entries {
		if want[e.Target] != e.Actor {
			t.Errorf("session.revoke of %s by %q, want by %q", e.Target, e.Actor, want[e.Target])
		}
	}
}

// TestTokenRoleRequired: a token is never made without a role that was
// asked for, and every listing says each token's role.
func TestTokenRoleRequired(t *testing.T) {
	s := startServer(t, serverOpts{})
	for _, tc := range []struct {
		body, want string
		code       int
	}{
		{`{"name":"no-role"}`, `{"error":"role is required: one of ingest, viewer, analyst, admin"}`, 400},
		{`{"name":"bad-role","role":"superuser"}`, `unknown role \"superuser\"`, 400},
		{`{"name":"shipper","role":"ingest"}`, `"role":"ingest"`, 201},
	} {
		resp, b := s.request("POST", "/api/v1/tokens", testToken, strings.NewReader(tc.body))
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("POST /api/v1/tokens %s: HTTP %d %s, want %d with %s", tc.body, resp.StatusCode, b, tc.code, tc.want)
		}
	}
	resp, b := s.request("GET", "/api/v1/tokens", testToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/tokens: HTTP %d", resp.StatusCode)
	}
	var list struct{ Tokens []struct{ Name, Role string } }
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, tok := range list.Tokens {
		roles[tok.Name] = tok.Role
	}
	if len(roles) != 2 || roles["bootstrap"] != "admin" || roles["shipper"] != "ingest" {
		t.Errorf("tokens listed: got %v, want bootstrap (admin) and shipper (ingest), nothing else", roles)
	}
}

// newSession signs a new user in on the console for the authorization
// matrix and returns the session's short id.
func (f *authzFixture) newSession(t *testing.T, caller string) string {
	t.Helper()
	const pw = "a console session passphrase"
	name := f.unique("session-of-" + caller)
	f.admin(t, "POST", "/api/v1/users", map[string]any{"username": name, "password": pw, "role": "viewer"}, nil, 201)
	return newConsoleBrowser(t, f.s.http, "authz/1.0").login(name, pw)
}
