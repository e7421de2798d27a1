package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Issue 11, deliver item 1 (the command line, password change and reset):
// `vigil user add|passwd|list|disable` on a running server's data
// directory and through its API, each change visible to the console at
// once (sign-in, sessions ended) and audited without the password.

const (
	userCLIPassword1 = "alice's first console passphrase"
	userCLIPassword2 = "alice's second console passphrase"
)

// runCLI runs the vigil binary with stdin (a pipe, not a terminal) and
// returns what it printed and its exit status.
func runCLI(t *testing.T, stdin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("vigil %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// consoleGet fetches a console page with a session cookie and returns the
// status and where a redirect goes.
func consoleGet(t *testing.T, s *server, session *http.Cookie, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+s.http+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(session)
	resp, err := noRedirects(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// signIn signs in on the console and returns the session cookie, failing
// the test unless the sign-in is accepted.
func signIn(t *testing.T, s *server, user, password string) *http.Cookie {
	t.Helper()
	r := postLogin(t, noRedirects(t), s, user, password, "", "/settings")
	if r.code != http.StatusSeeOther || r.location != "/settings" {
		t.Fatalf("sign-in as %s: got %d to %q, want 303 to /settings", user, r.code, r.location)
	}
	for _, c := range r.cookies {
		if c.Name == "vigil_session" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("sign-in as %s: no session cookie in %v", user, r.cookies)
	return nil
}

// refusedSignIn checks that the console refuses user with password.
func refusedSignIn(t *testing.T, s *server, user, password, why string) {
	t.Helper()
	if r := postLogin(t, noRedirects(t), s, user, password, "", "/"); r.code != http.StatusUnauthorized {
		t.Errorf("sign-in as %s %s: got %d, want 401", user, why, r.code)
	}
}

// sessionEnded checks that a session cookie no longer opens the console.
func sessionEnded(t *testing.T, s *server, session *http.Cookie, why string) {
	t.Helper()
	if code, loc := consoleGet(t, s, session, "/settings"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("session %s: got %d to %q, want 303 to /login", why, code, loc)
	}
}

// userCLIFlow is the acceptance sequence on one server, with the target
// flags of the commands (--data DIR or --server URL --token T) and the
// actor the audit log must name.
func userCLIFlow(t *testing.T, s *server, flags, env []string, actor func(string) bool) {
	cli := func(stdin string, args ...string) string {
		t.Helper()
		out, code := runCLI(t, stdin, env, append(args, flags...)...)
		if code != 0 {
			t.Fatalf("vigil %s: exit status %d: %s", strings.Join(args, " "), code, out)
		}
		return out
	}
	start := time.Now()
	if out := cli(userCLIPassword1+"\n", "user", "add", "alice", "--role", "analyst"); !strings.Contains(out, "added user alice (role analyst)") {
		t.Errorf("add: got %q", out)
	}
	first := signIn(t, s, "alice", userCLIPassword1)
	if code, _ := consoleGet(t, s, first, "/settings"); code != http.StatusOK {
		t.Fatalf("alice's session: GET /settings got %d, want 200", code)
	}

	// passwd: the old password is refused, the new one accepted, the
	// session made with the old one is over.
	if out := cli(userCLIPassword2+"\n", "user", "passwd", "alice"); !strings.Contains(out, "changed the password of alice; ended 1 console session") {
		t.Errorf("passwd: got %q, want it to say that 1 session ended", out)
	}
	sessionEnded(t, s, first, "made before the password change")
	refusedSignIn(t, s, "alice", userCLIPassword1, "with the old password")
	second := signIn(t, s, "alice", userCLIPassword2)

	// disable: sign-in refused, the session over.
	if out := cli("", "user", "disable", "alice"); !strings.Contains(out, "disabled alice; ended 1 console session") {
		t.Errorf("disable: got %q", out)
	}
	sessionEnded(t, s, second, "of a disabled user")
	refusedSignIn(t, s, "alice", userCLIPassword2, "once disabled")

	// list: alice disabled, with her last sign-in.
	out := cli("", "user", "list")
	var row []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "alice" {
			row = f
		}
	}
	if len(row) != 5 || row[1] != "analyst" || row[2] != "yes" || row[4] == "never" || !strings.HasPrefix(out, "NAME") {
		t.Errorf("list: got\n%s\nwant a row alice, analyst, disabled yes, created, a last sign-in", out)
	}
	var list struct {
		Users []struct {
			Username  string
			Role      string
			Disabled  bool
			LastLogin time.Time `json:"last_login"`
		}
	}
	if err := json.Unmarshal([]byte(cli("", "user", "list", "--format", "json")), &list); err != nil {
		t.Fatalf("list --format json: %v", err)
	}
	if len(list.Users) != 1 || !list.Users[0].Disabled || list.Users[0].LastLogin.Before(start.Add(-time.Second)) {
		t.Errorf("list --format json: got %+v, want alice disabled, last signed in during the test", list.Users)
	}

	// The audit log: each change once, by the expected actor, and nothing
	// of either password.
	resp, all := s.request("GET", "/api/v1/audit?limit=10000", testToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/audit: HTTP %d", resp.StatusCode)
	}
	for _, pw := range []string{userCLIPassword1, userCLIPassword2, "console passphrase"} {
		if strings.Contains(string(all), pw) || strings.Contains(string(all), url.QueryEscape(pw)) {
			t.Errorf("the audit log holds %q", pw)
		}
	}
	var log struct {
		Entries []struct {
			Actor, Action string
			After         map[string]any
		}
	}
	if err := json.Unmarshal(all, &log); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range log.Entries {
		if e.Action == "user.create" || e.Action == "user.update" {
			if !actor(e.Actor) {
				t.Errorf("%s by %q: want the command's actor", e.Action, e.Actor)
			}
			got[e.Action]++
			if e.Action == "user.update" && e.After["sessions_ended"] != 1.0 {
				t.Errorf("user.update %v: want sessions_ended 1", e.After)
			}
		}
	}
	if got["user.create"] != 1 || got["user.update"] != 2 {
		t.Errorf("audit: got %v, want 1 user.create and 2 user.update", got)
	}
	// The entries written beside the running server are on its chain.
	if out, code := runCLI(t, "", nil, "audit", "verify", "--data", s.data); code != 0 || !strings.Contains(out, "OK") {
		t.Errorf("audit verify: exit %d: %s", code, out)
	}
}

// TestUserCLIData: vigil user on the data directory of a running server.
func TestUserCLIData(t *testing.T) {
	s := startServer(t, serverOpts{})
	userCLIFlow(t, s, []string{"--data", s.data}, nil, func(a string) bool { return strings.HasPrefix(a, "cli:") && len(a) > 4 })
}

// TestUserCLIServer: vigil user through the server's API, with --token,
// and with VIGIL_TOKEN in its place.
func TestUserCLIServer(t *testing.T) {
	s := startServer(t, serverOpts{})
	base := "http://" + s.http
	t.Run("--token", func(t *testing.T) {
		userCLIFlow(t, s, []string{"--server", base, "--token", testToken}, nil, func(a string) bool { return a == "bootstrap" })
	})
	t.Run("VIGIL_TOKEN", func(t *testing.T) {
		out, code := runCLI(t, "", []string{"VIGIL_TOKEN=" + testToken}, "user", "list", "--server", base)
		if code != 0 || !strings.Contains(out, "alice") {
			t.Errorf("list with VIGIL_TOKEN: exit %d: %s", code, out)
		}
	})
}

// TestUserCLIErrors: what is refused says why and exits non-zero (2 for a
// command line that cannot run), and changes nothing.
func TestUserCLIErrors(t *testing.T) {
	s := startServer(t, serverOpts{})
	base := "http://" + s.http
	var viewer struct{ Token string }
	s.sendJSON("POST", "/api/v1/tokens", map[string]any{"name": "cli-viewer", "role": "viewer"}, &viewer, 201)
	if out, code := runCLI(t, "the only admin's passphrase\n", nil, "user", "add", "root", "--role", "admin", "--data", s.data); code != 0 {
		t.Fatalf("add root: exit %d: %s", code, out)
	}
	pw := "a long enough passphrase\n"
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		want     string
	}{
		{"unknown role", pw, []string{"user", "add", "bob", "--role", "superuser", "--data", s.data}, 2, `--role: unknown role "superuser" (want admin, analyst, viewer or ingest)`},
		{"ingest role", pw, []string{"user", "add", "bob", "--role", "ingest", "--data", s.data}, 2, "role ingest is for tokens, not people"},
		{"no role", pw, []string{"user", "add", "bob", "--data", s.data}, 2, "--role is required: admin, analyst or viewer"},
		{"no password", "", []string{"user", "add", "bob", "--role", "viewer", "--data", s.data}, 1, "no password on standard input"},
		{"no password, server", "", []string{"user", "add", "bob", "--role", "viewer", "--server", base, "--token", testToken}, 1, "no password on standard input"},
		{"empty line", "\n", []string{"user", "passwd", "root", "--data", s.data}, 1, "no password on standard input"},
		{"short password", "short\n", []string{"user", "add", "bob", "--role", "viewer", "--data", s.data}, 1, "at least 12 characters, got 5"},
		{"long password", strings.Repeat("x", 1025) + "\n", []string{"user", "add", "bob", "--role", "viewer", "--data", s.data}, 1, "longer than 1024 bytes"},
		{"no such user", pw, []string{"user", "passwd", "nobody", "--data", s.data}, 1, `user "nobody": no such user`},
		{"no such user, server", "", []string{"user", "disable", "nobody", "--server", base, "--token", testToken}, 1, "404 Not Found"},
		{"viewer token", "", []string{"user", "list", "--server", base, "--token", viewer.Token}, 1, "403 Forbidden: role viewer may not do this"},
		{"last admin", "", []string{"user", "disable", "root", "--data", s.data}, 1, "last enabled admin"},
		{"last admin, server", "", []string{"user", "disable", "root", "--server", base, "--token", testToken}, 1, "409 Conflict"},
		{"both targets", "", []string{"user", "list", "--data", s.data, "--server", base}, 2, "give --server or --data, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runCLI(t, tt.stdin, []string{"VIGIL_TOKEN="}, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.want) {
				t.Errorf("got exit %d: %s; want %d and %q", code, out, tt.wantCode, tt.want)
			}
		})
	}
	// Nothing was added or changed.
	out, code := runCLI(t, "", nil, "user", "list", "--data", s.data)
	if code != 0 || strings.Contains(out, "bob") || !strings.Contains(out, "root") || strings.Contains(out, "yes") {
		t.Errorf("after the refusals: exit %d:\n%s\nwant root alone, enabled", code, out)
	}
}
