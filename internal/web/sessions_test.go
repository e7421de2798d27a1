package web

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// loginAs signs c in as user with a User-Agent, keeps the session's CSRF
// token and returns the session's short ID.
func (c *client) loginAs(user, ua string) string {
	c.tb.Helper()
	resp, body := c.do("POST", "/login", c.loginForm(user, testPassword), map[string]string{"User-Agent": ua})
	if resp.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("login %s: got %d, want 303; %.300s", user, resp.StatusCode, body)
	}
	var secret string
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			secret = ck.Value
		}
	}
	_, page := c.get("/alerts")
	m := csrfInput.FindStringSubmatch(page)
	if m == nil || secret == "" {
		c.tb.Fatalf("login %s: no session cookie or CSRF token", user)
	}
	c.csrf = m[1]
	h := sha256.Sum256([]byte(secret))
	return auth.SessionID(h[:])
}

// signedOut reports whether c's next page view goes to the login page.
func (c *client) signedOut() bool {
	c.tb.Helper()
	resp, _ := c.get("/alerts")
	return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
}

func TestSessionsOnSettings(t *testing.T) { metatest.Engines(t, testSessionsOnSettings) }

func testSessionsOnSettings(t *testing.T) {
	e := newEnv(t)
	laptop, phone, tablet := e.client(t), e.client(t), e.client(t)
	idLaptop := laptop.loginAs("analyst", "Laptop Browser/1.0")
	idPhone := phone.loginAs("analyst", "Phone Browser/2.0")
	idTablet := tablet.loginAs("analyst", "Tablet Browser/3.0")
	viewer := e.client(t)
	idViewer := viewer.loginAs("viewer", "Viewer Browser")

	resp, page := laptop.get("/settings")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("settings: got %d", resp.StatusCode)
	}
	for _, want := range []string{idLaptop, idPhone, idTablet, "Phone Browser/2.0", "this session", "Sign out everywhere else", "127.0.0.1"} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page: no %q", want)
		}
	}
	if strings.Contains(page, idViewer) || strings.Contains(page, "All sessions") {
		t.Error("an analyst's settings page shows another user's session")
	}

	// A viewer cannot end the analyst's session: it is not theirs.
	resp, _ = viewer.post("/settings/sessions/"+idPhone+"/revoke", url.Values{})
	if loc, _ := url.Parse(resp.Header.Get("Location")); !strings.Contains(loc.Query().Get("err"), "no such session") {
		t.Errorf("viewer revoking the analyst's session: got %q, want no such session", resp.Header.Get("Location"))
	}
	if phone.signedOut() {
		t.Fatal("the viewer ended the analyst's session")
	}
	// Without the CSRF token, nothing happens.
	if resp, _ := laptop.do("POST", "/settings/sessions/"+idPhone+"/revoke", url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without CSRF: got %d, want 403", resp.StatusCode)
	}

	// Sign out one other session: its next request goes to /login.
	resp, _ = laptop.post("/settings/sessions/"+idPhone+"/revoke", url.Values{})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if want := "Session " + idPhone + " signed out."; resp.StatusCode != http.StatusSeeOther || loc.Query().Get("msg") != want || loc.Fragment != "sessions" {
		t.Fatalf("revoke: got %d to %q, want 303 to /settings#sessions with %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if !phone.signedOut() {
		t.Fatal("the revoked session still works")
	}
	if laptop.signedOut() || tablet.signedOut() {
		t.Fatal("revoking one session ended another")
	}

	// Sign out everywhere else.
	phone.loginAs("analyst", "Phone Browser/2.0")
	resp, _ = laptop.post("/settings/sessions/others", url.Values{})
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if want := "Signed out everywhere else: 2 other sessions ended."; loc.Query().Get("msg") != want {
		t.Fatalf("everywhere else: got %q, want %q", resp.Header.Get("Location"), want)
	}
	if !phone.signedOut() || !tablet.signedOut() || laptop.signedOut() {
		t.Fatal("after signing out everywhere else: want only the laptop signed in")
	}
	if viewer.signedOut() {
		t.Fatal("signing out everywhere else ended another user's session")
	}

	// An admin sees everyone's sessions and ends any.
	admin := e.client(t)
	admin.loginAs("admin", "Admin Browser")
	if _, page := admin.get("/settings"); !strings.Contains(page, "All sessions") || !strings.Contains(page, idViewer) || !strings.Contains(page, idLaptop) {
		t.Fatal("the admin's settings page does not list everyone's sessions")
	}
	resp, _ = admin.post("/settings/sessions/"+idViewer+"/revoke", url.Values{})
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Query().Get("msg") != "Session "+idViewer+" of viewer signed out." {
		t.Fatalf("admin revoking: got %q", resp.Header.Get("Location"))
	}
	if !viewer.signedOut() {
		t.Fatal("the session the admin revoked still works")
	}

	// Sign out this session: the cookie goes, the next request signs in.
	resp, _ = laptop.post("/settings/sessions/"+idLaptop+"/revoke", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("signing out this session: got %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !laptop.signedOut() {
		t.Fatal("the session signed out of itself still works")
	}

	entries, err := e.o.Audit.List(t.Context(), audit.Filter{Action: "session.revoke"})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, en := range entries {
		targets = append(targets, en.Actor+":"+en.Target)
	}
	slices.Sort(targets)
	want := []string{"admin:" + idViewer, "analyst:" + idLaptop, "analyst:" + idPhone}
	slices.Sort(want)
	if !slices.Equal(targets, want) {
		t.Errorf("session.revoke entries: got %v, want %v", targets, want)
	}
}

func TestSessionSourceAndUserAgent(t *testing.T) { metatest.Engines(t, testSessionSourceAndUserAgent) }

func testSessionSourceAndUserAgent(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	// What an HTTP client lets through: tabs, C1 controls, bidirectional
	// overrides, separators, any length (cleanUserAgent's own test has the
	// rest).
	hostile := "Evil\tSet-Cookie: x=1\u0085\u202eesrever\u2028" + strings.Repeat("é", 300)
	id := c.loginAs("viewer", hostile)
	ss, _, err := e.o.Auth.ListSessions(t.Context(), auth.SessionFilter{User: "viewer", Now: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].ID != id {
		t.Fatalf("sessions: got %+v, want %s", ss, id)
	}
	ua := ss[0].UserAgent
	if len(ua) > auth.MaxUserAgentLength || !utf8.ValidString(ua) || strings.ContainsAny(ua, "\t\u0085\u202e\u2028") {
		t.Errorf("user agent kept: %q (%d bytes), want printable text of at most %d bytes", ua, len(ua), auth.MaxUserAgentLength)
	}
	if !strings.HasPrefix(ua, "Evil Set-Cookie: x=1  esrever é") {
		t.Errorf("user agent kept: %q, want what prints of it", ua)
	}
	if ss[0].Source != "127.0.0.1" {
		t.Errorf("source: got %q, want 127.0.0.1", ss[0].Source)
	}
}

func TestTokenFormNeedsRole(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.login("admin")
	_, page := c.get("/settings")
	const sel = `<select id="k-role" name="role" required><option value="">choose a role</option><option>ingest</option><option>viewer</option><option>analyst</option><option>admin</option></select>`
	if !strings.Contains(page, sel) {
		t.Fatalf("token form: want a required role with no default, least powerful first; page has %q", between(page, `id="k-role"`, "</select>"))
	}
	resp, _ := c.post("/settings/tokens", url.Values{"name": {"no-role"}})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if got, want := loc.Query().Get("err"), "role is required: one of ingest, viewer, analyst, admin"; got != want {
		t.Fatalf("token without a role: got err %q, want %q", got, want)
	}
	toks, err := e.o.Auth.ListTokens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 0 {
		t.Fatalf("tokens: got %+v, want none", toks)
	}
	if resp, page := c.post("/settings/tokens", url.Values{"name": {"shipper"}, "role": {"ingest"}}); resp.StatusCode != http.StatusOK || !strings.Contains(page, "<td>ingest</td>") {
		t.Fatalf("token with a role: got %d, want 200 listing it with its role", resp.StatusCode)
	}
}

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	before, _, _ := strings.Cut(after, to)
	return before
}

func TestCleanUserAgent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (X11; Linux x86_64)"},
		{"a\r\nSet-Cookie: x\x00y\x7f", "a  Set-Cookie: x y"},
		{"\u202egnp.exe\u200b", "gnp.exe"},
		{"bad \xff byte", "bad \ufffd byte"},
		{"  spaces  ", "spaces"},
		{strings.Repeat("a", auth.MaxUserAgentLength+10), strings.Repeat("a", auth.MaxUserAgentLength)},
		{strings.Repeat("é", auth.MaxUserAgentLength), strings.Repeat("é", auth.MaxUserAgentLength/2)},
		{"a" + strings.Repeat("é", auth.MaxUserAgentLength), "a" + strings.Repeat("é", auth.MaxUserAgentLength/2-1)},
	}
	for _, tt := range tests {
		if got := cleanUserAgent(tt.in); got != tt.want {
			t.Errorf("cleanUserAgent(%.40q): got %.60q, want %.60q", tt.in, got, tt.want)
		}
	}
}

func FuzzCleanUserAgent(f *testing.F) {
	for _, s := range []string{"Mozilla/5.0 (X11; Linux x86_64)", "", "\r\n", "\xff\xfe", strings.Repeat("é", 200), "a\u202eb\u200bc", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := cleanUserAgent(in)
		if len(got) > auth.MaxUserAgentLength || !utf8.ValidString(got) {
			t.Fatalf("%q: got %q (%d bytes)", in, got, len(got))
		}
		for _, r := range got {
			if !unicode.IsPrint(r) {
				t.Fatalf("%q: kept %U", in, r)
			}
		}
		if again := cleanUserAgent(got); again != got {
			t.Fatalf("%q: not idempotent: %q then %q", in, got, again)
		}
		if strings.TrimSpace(got) != got {
			t.Fatalf("%q: got %q, with spaces at an end", in, got)
		}
	})
}
