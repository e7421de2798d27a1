package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The single sign-on tests run Vigil against a real OpenID provider: the
// example provider of github.com/zitadel/oidc/v3 (test/oidcprovider),
// built from the module cache like vigil itself, with its test users
// test-user@127.0.0.1 (in group vigil-analysts here) and test-user2 (in
// group contractors), both with the password "verysecure".

const (
	oidcClientSecret = "e2e-oidc-client-secret-0123"
	oidcUserPassword = "verysecure" // the zitadel example's test users
)

var (
	providerOnce sync.Once
	providerBin  string
	providerErr  error
)

// oidcProviderBin builds test/oidcprovider once.
func oidcProviderBin(t *testing.T) string {
	t.Helper()
	providerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-e2e-oidc-")
		if err != nil {
			providerErr = err
			return
		}
		providerBin = filepath.Join(dir, "oidcprovider")
		out, err := exec.Command("go", "build", "-o", providerBin, "../oidcprovider").CombinedOutput()
		if err != nil {
			providerErr = fmt.Errorf("building test/oidcprovider: %v\n%s", err, out)
		}
	})
	if providerErr != nil {
		t.Fatal(providerErr)
	}
	return providerBin
}

// startOIDCProvider runs the provider for a Vigil whose callback is
// redirect and returns its issuer URL.
func startOIDCProvider(t *testing.T, redirect, groups string) string {
	t.Helper()
	cmd := exec.Command(oidcProviderBin(t), "-addr", "127.0.0.1:0", "-redirect", redirect, "-client", "vigil",
		"-secret", oidcClientSecret, "-groups", groups)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("oidcprovider log:\n%s", tail(stderr.String(), 4000))
		}
	})
	// The provider prints its issuer once it serves: a wait for a real
	// process, bounded.
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		issuer, ok := strings.CutPrefix(l, "issuer ")
		if !ok {
			t.Fatalf("oidcprovider said %q, want its issuer", l)
		}
		return issuer
	case <-time.After(30 * time.Second):
		t.Fatalf("oidcprovider did not start within 30s: %s", stderr.String())
	}
	return ""
}

// startOIDCServer starts a provider and a vigil serve that signs in
// through it (egress.allow lets Vigil reach the provider on loopback).
func startOIDCServer(t *testing.T) (*server, string) {
	t.Helper()
	httpAddr := freePort(t, "tcp")
	redirect := "http://" + httpAddr + "/auth/oidc/callback"
	issuer := startOIDCProvider(t, redirect, "id1=vigil-analysts,vpn;id2=contractors")
	cfg := filepath.Join(t.TempDir(), "vigil.yml")
	yml := fmt.Sprintf(`egress:
  allow: [127.0.0.1/32]
oidc:
  issuer: %s
  client_id: vigil
  redirect_url: %s
  client_secret: %s
  name: Zitadel example
  role_claim: groups
  role_map:
    vigil-analysts: analyst
    vigil-admins: admin
`, issuer, redirect, oidcClientSecret)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, data: t.TempDir(), log: &bytes.Buffer{}}
	s.http, s.tcp, s.udp = httpAddr, freePort(t, "tcp"), freePort(t, "udp")
	s.args = []string{"serve", "--data", s.data, "--http", s.http, "--syslog-tcp", s.tcp, "--syslog-udp", s.udp,
		"--bootstrap-token", testToken, "--config", cfg}
	s.start()
	t.Cleanup(s.stop)
	return s, issuer
}

// browser is a cookie-keeping HTTP client that follows redirects, as a
// browser does between Vigil and the provider (both on 127.0.0.1: one
// cookie host, as in a browser).
func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// ssoSignIn clicks "Sign in with", logs in at the provider's own login
// page and returns where the browser ends (Vigil's callback page).
func ssoSignIn(t *testing.T, s *server, c *http.Client, user string) (*http.Response, string) {
	t.Helper()
	_, page := fetch(t, c, "GET", "http://"+s.http+"/login", nil)
	if !strings.Contains(page, `href="/auth/oidc/login?next=%2f">Sign in with Zitadel example</a>`) {
		t.Fatalf("the login page has no Sign in with Zitadel example:\n%s", page)
	}
	resp, page := fetch(t, c, "GET", "http://"+s.http+"/auth/oidc/login?next=/settings", nil)
	id := resp.Request.URL.Query().Get("authRequestID")
	if resp.StatusCode != http.StatusOK || id == "" || !strings.Contains(page, `name="password"`) {
		t.Fatalf("got %d at %s, want the provider's login page:\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	login := *resp.Request.URL
	login.RawQuery = ""
	return fetch(t, c, "POST", login.String(), url.Values{"id": {id}, "username": {user}, "password": {oidcUserPassword}})
}

type auditEntry struct {
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	After  json.RawMessage `json:"after"`
}

func auditOf(t *testing.T, s *server, action string) []auditEntry {
	t.Helper()
	resp, b := s.request("GET", "/api/v1/audit?action="+action, testToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit: HTTP %d: %s", resp.StatusCode, b)
	}
	var out struct {
		Entries []auditEntry `json:"entries"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.Entries
}

// TestOIDCSignIn: through the real provider, test-user@127.0.0.1 (group
// vigil-analysts) signs in as an analyst: a user without a password,
// linked to the provider, a session that sees the analyst's controls and
// not the admin's, audited console.login with method oidc; test-user2
// (group contractors, mapped to nothing) is refused with a page that says
// so, audited; no secret or token reaches the server log.
func TestOIDCSignIn(t *testing.T) {
	s, issuer := startOIDCServer(t)
	analyst := newBrowser(t)
	resp, page := ssoSignIn(t, s, analyst, "test-user@127.0.0.1")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/auth/oidc/callback" ||
		!strings.Contains(page, "Signed in as test-user@127.0.0.1 (analyst)") || !strings.Contains(page, "url=/settings") {
		t.Fatalf("got %d at %s, want the callback's signed-in page moving on to /settings:\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	_, page = fetch(t, analyst, "GET", "http://"+s.http+"/settings", nil)
	if !strings.Contains(page, `test-user@127.0.0.1 <span class="role">analyst</span>`) {
		t.Fatalf("/settings does not show test-user@127.0.0.1 signed in as analyst:\n%.2000s", page)
	}
	if !strings.Contains(page, "Add a suppression") || strings.Contains(page, "Reload playbooks") {
		t.Errorf("/settings: want the analyst's Add a suppression and not the admin's Reload playbooks")
	}

	resp, b := s.request("GET", "/api/v1/users", testToken, nil)
	var users struct {
		Users []struct {
			Username, Role, SSO string
		} `json:"users"`
	}
	if err := json.Unmarshal(b, &users); err != nil || resp.StatusCode != 200 {
		t.Fatalf("users: %d %s", resp.StatusCode, b)
	}
	found := false
	for _, u := range users.Users {
		if u.Username == "test-user@127.0.0.1" {
			found = u.Role == "analyst" && u.SSO == issuer
		}
	}
	if !found {
		t.Errorf("users: got %s, want test-user@127.0.0.1, analyst, sso %s", b, issuer)
	}
	// No password can be set for her: she signs in at the provider.
	resp, b = s.request("PATCH", "/api/v1/users/test-user@127.0.0.1", testToken, strings.NewReader(`{"password":"a long new passphrase"}`))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "signs in with single sign-on and has no password") {
		t.Errorf("PATCH a password: got %d %s, want 409 saying she signs in with single sign-on", resp.StatusCode, b)
	}
	logins := auditOf(t, s, "console.login")
	if len(logins) != 1 || logins[0].Actor != "test-user@127.0.0.1" || !strings.Contains(string(logins[0].After), `"method":"oidc"`) {
		t.Errorf("console.login: got %+v, want one by test-user@127.0.0.1 with method oidc", logins)
	}

	// The second user's group maps to no role.
	refusedBrowser := newBrowser(t)
	resp, page = ssoSignIn(t, s, refusedBrowser, "test-user2")
	if resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(page, "Single sign-on refused: test-user2 has no role in Vigil: none of the values of the groups claim (contractors) is mapped to a role") {
		t.Fatalf("test-user2: got %d, want 403 saying she has no role:\n%s", resp.StatusCode, page)
	}
	if resp, _ := fetch(t, refusedBrowser, "GET", "http://"+s.http+"/settings", nil); resp.Request.URL.Path != "/login" {
		t.Errorf("test-user2 reached %s, want the login page", resp.Request.URL)
	}
	refused := auditOf(t, s, "console.login_refused")
	if len(refused) != 1 || refused[0].Actor != "test-user2" || !strings.Contains(string(refused[0].After), `"reason":"no role"`) {
		t.Errorf("console.login_refused: got %+v, want test-user2's, reason no role", refused)
	}
	s.terminate() // the log is read once the server has written it all
	for _, bad := range []string{oidcClientSecret, "eyJ", oidcUserPassword} {
		if strings.Contains(s.log.String(), bad) {
			t.Errorf("the server log holds %q:\n%s", bad, tail(s.log.String(), 3000))
		}
	}
}

// TestOIDCCallbackErrors: a callback the browser did not start (a link
// with a code and a state), a provider error with a forged state, and the
// provider's access_denied with this browser's state each end on the login
// page with a clear message: no stack trace, no token.
func TestOIDCCallbackErrors(t *testing.T) {
	s, _ := startOIDCServer(t)
	base := "http://" + s.http
	noFollow := newBrowser(t)
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	tests := []struct {
		name   string
		query  func() string
		status int
		msg    string
	}{
		{"a link with a code", func() string { return "code=stolen-code&state=guessed" }, http.StatusBadRequest,
			"could not be matched to one started in this browser"},
		{"an error with a forged state", func() string {
			fetch(t, noFollow, "GET", base+"/auth/oidc/login", nil)
			return "error=access_denied&error_description=call+555&state=guessed"
		}, http.StatusBadRequest, "not this browser&#39;s"},
		{"access denied at the provider", func() string {
			resp, _ := fetch(t, noFollow, "GET", base+"/auth/oidc/login", nil)
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			return "error=access_denied&state=" + url.QueryEscape(loc.Query().Get("state"))
		}, http.StatusForbidden, "the sign-in was refused or cancelled at the provider (access_denied)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, page := fetch(t, noFollow, "GET", base+"/auth/oidc/callback?"+tt.query(), nil)
			if resp.StatusCode != tt.status || !strings.Contains(page, tt.msg) || !strings.Contains(page, "Sign in with Zitadel example") {
				t.Fatalf("got %d, want %d saying %q on the login page:\n%s", resp.StatusCode, tt.status, tt.msg, page)
			}
			for _, bad := range []string{"goroutine", "stolen-code", "555", "eyJ"} {
				if strings.Contains(page, bad) {
					t.Errorf("the page holds %q", bad)
				}
			}
		})
	}
	if n := len(auditOf(t, s, "console.login")); n != 0 {
		t.Errorf("got %d sign-ins, want none", n)
	}
}

// TestOIDCConfig: the provider is reached through the egress policy: a
// loopback issuer is refused until egress.allow lists it, and a bad oidc
// section is refused with every key that is wrong.
func TestOIDCConfig(t *testing.T) {
	tests := []struct {
		name, yml string
		want      []string // empty: valid
	}{
		{"loopback without egress.allow", "oidc:\n  issuer: http://127.0.0.1:9998/\n  client_id: vigil\n  redirect_url: http://127.0.0.1:8080/auth/oidc/callback\n",
			[]string{"oidc.issuer: 127.0.0.1 is loopback, which the egress policy refuses; add it to egress.allow"}},
		{"loopback allowed", "egress:\n  allow: [127.0.0.1/32]\noidc:\n  issuer: http://127.0.0.1:9998/\n  client_id: vigil\n  redirect_url: http://127.0.0.1:8080/auth/oidc/callback\n", nil},
		{"bad keys", "oidc:\n  issuer: http://idp.example.com/\n  redirect_url: http://127.0.0.1:8080/callback\n  role_map:\n    ops: root\n",
			[]string{"oidc.issuer", "http is allowed on a loopback host only", "oidc.client_id: must be set", "oidc.redirect_url", "oidc.role_map.ops"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "vigil.yml")
			os.WriteFile(cfg, []byte(tt.yml), 0o600)
			cmd := exec.Command(vigilBin, "serve", "--check-config", "--config", cfg, "--data", t.TempDir())
			cmd.Env = append(os.Environ(), "VIGIL_OIDC_CLIENT_SECRET=a-secret-never-shown")
			out, err := cmd.CombinedOutput()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v: %s, want valid", err, out)
				}
			} else if err == nil {
				t.Fatalf("got valid, want refused: %s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output %s, want it to say %q", out, w)
				}
			}
			if strings.Contains(string(out), "a-secret-never-shown") {
				t.Errorf("the output holds the client secret: %s", out)
			}
		})
	}
}
