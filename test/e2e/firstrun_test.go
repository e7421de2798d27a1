package e2e

import (
	"bufio"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Issue 11, deliver item 1 (first run): a server started on a fresh data
// directory without --bootstrap-token prints a one-time setup code with
// the URL of /setup, and whoever has the code creates the first admin
// there and is signed in; then /setup is gone, and the code with it.

// firstRunLine is the startup log's first-run message (text format, the
// default: msg="...").
var firstRunLine = regexp.MustCompile(`first run: no admin account yet; open (\S+) and enter the code ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){7}) \(or run: vigil user add NAME --role admin --data (.+?)\)`)

// logServer is a vigil serve whose log is read line by line as it comes
// (the harness's server collects it in a buffer, to read after the end).
type logServer struct {
	t    *testing.T
	cmd  *exec.Cmd
	http string
	data string

	mu    sync.Mutex
	lines []string
	ready chan struct{} // closed at the "vigil ready" line
	done  chan struct{} // closed once the log ends
}

// startLogServer starts vigil serve on data with only the flags given
// (no bootstrap token, no syslog), and waits for its "vigil ready" line.
func startLogServer(t *testing.T, data string, extra ...string) *logServer {
	t.Helper()
	s := &logServer{t: t, data: data, http: freePort(t, "tcp"), ready: make(chan struct{}), done: make(chan struct{})}
	args := append([]string{"serve", "--data", data, "--http", s.http, "--syslog-udp", "", "--syslog-tcp", ""}, extra...)
	s.cmd = exec.Command(vigilBin, args...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		readyOnce := sync.OnceFunc(func() { close(s.ready) })
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
			if strings.Contains(sc.Text(), `msg="vigil ready"`) {
				readyOnce()
			}
		}
	}()
	t.Cleanup(s.stop)
	// A wait for a real process to start (rules load, store opens).
	select {
	case <-s.ready:
	case <-s.done:
		t.Fatalf("vigil serve exited during start-up:\n%s", s.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("vigil serve not ready after 60s:\n%s", s.log())
	}
	return s
}

func (s *logServer) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

func (s *logServer) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd.Wait()
	if s.t.Failed() {
		s.t.Logf("vigil serve log:\n%s", tail(s.log(), 4000))
	}
}

// firstRun returns the setup URL and code of the startup log's first-run
// line (the log up to "vigil ready" is all there: the line comes before).
func (s *logServer) firstRun() (setupURL, code string) {
	s.t.Helper()
	m := firstRunLine.FindStringSubmatch(s.log())
	if m == nil {
		s.t.Fatalf("no first-run line in the startup log:\n%s", s.log())
	}
	if m[3] != s.data {
		s.t.Errorf("first-run line: --data %q, want %q", m[3], s.data)
	}
	return m[1], m[2]
}

// setupForm fetches /setup and returns its form filled in.
func (b *consoleBrowser) setupForm(code, user, pw string) url.Values {
	b.t.Helper()
	resp, page := b.do("GET", "/setup", nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /setup: HTTP %d, want 200", resp.StatusCode)
	}
	return url.Values{"code": {code}, "username": {user}, "password": {pw}, "password2": {pw}, "csrf_token": {b.csrf(page)}}
}

func TestFirstRunSetup(t *testing.T) {
	data := t.TempDir()
	// Trusting the loopback proxy lets the test be several sources.
	s := startLogServer(t, data, "--trust-proxy", "127.0.0.1/32")
	setupURL, code := s.firstRun()
	if want := "http://" + s.http + "/setup"; setupURL != want {
		t.Errorf("first-run line: URL %q, want %q", setupURL, want)
	}
	if log := s.log(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "no admin account and no bootstrap token: nobody can sign in") {
		t.Errorf("startup log: no warning that nobody can get in:\n%s", log)
	}
	// Nothing else gets in: the API has no token.
	if resp, err := http.Get("http://" + s.http + "/api/v1/status"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API without a token: %v %v, want 401", resp, err)
	}

	b := newConsoleBrowser(t, s.http, "FirstRun/1.0 (e2e)")
	if _, page := b.do("GET", "/login", nil); !strings.Contains(page, `<a href="/setup">`) {
		t.Fatal("login page: no link to /setup while no admin exists")
	}
	const pw = "the first admin's passphrase"
	for _, tc := range []struct {
		name, code, pw2 string
		want            int
		text            string
	}{
		{"wrong code", "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567", pw, http.StatusForbidden, "Wrong setup code"},
		{"code past the bound", strings.Repeat("A", 129), pw, http.StatusForbidden, "Wrong setup code"},
		{"passwords differ", code, pw + "?", http.StatusBadRequest, "The two passwords differ."},
	} {
		form := b.setupForm(tc.code, "root", pw)
		form.Set("password2", tc.pw2)
		if resp, page := b.do("POST", "/setup", form); resp.StatusCode != tc.want || !strings.Contains(page, tc.text) {
			t.Errorf("%s: HTTP %d, want %d with %q", tc.name, resp.StatusCode, tc.want, tc.text)
		}
	}
	form := b.setupForm(code, "root", pw)
	form.Del("csrf_token")
	if resp, _ := b.do("POST", "/setup", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF token: HTTP %d, want 403", resp.StatusCode)
	}

	// Guessing from one source is throttled: past 5 wrong codes even the
	// right one is refused there, without being compared.
	guesser := newConsoleBrowser(t, s.http, "Guesser/1.0")
	guesser.hdr = map[string]string{"X-Forwarded-For": "203.0.113.9"}
	for i := range 5 {
		if resp, _ := guesser.do("POST", "/setup", guesser.setupForm("WRONG-"+string(rune('A'+i)), "eve", pw)); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("wrong code %d: HTTP %d, want 403", i+1, resp.StatusCode)
		}
	}
	resp, page := guesser.do("POST", "/setup", guesser.setupForm(code, "eve", pw))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(page, "Too many attempts") {
		t.Fatalf("after 5 wrong codes: HTTP %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// The code: the admin is made and signed in.
	resp, _ = b.do("POST", "/setup", b.setupForm(strings.ToLower(code), "root", pw))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || b.cookies["vigil_session"] == "" {
		t.Fatalf("setup with the code: HTTP %d to %q, want 303 to / with a session", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, page := b.do("GET", "/settings", nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Signed in as root (admin)") {
		t.Fatalf("after the setup: /settings HTTP %d, want 200 signed in as root (admin)", resp.StatusCode)
	}
	for _, m := range []string{"GET", "POST"} {
		if resp, _ := b.do(m, "/setup", url.Values{"code": {code}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s /setup after the setup: HTTP %d, want 404", m, resp.StatusCode)
		}
	}
	if _, page := newConsoleBrowser(t, s.http, "x").do("GET", "/login", nil); strings.Contains(page, `href="/setup"`) {
		t.Error("the login page still links to /setup")
	}
	if out, code := runCLI(t, "", nil, "user", "list", "--data", data); code != 0 || !regexp.MustCompile(`(?m)^root\s+admin\s`).MatchString(out) || strings.Contains(out, "eve") {
		t.Errorf("vigil user list: exit %d\n%s\nwant root (admin) only", code, out)
	}

	// A restart with an admin: no code is made or printed, /setup is 404.
	s.stop()
	s2 := startLogServer(t, data)
	if log := s2.log(); strings.Contains(log, "first run") || strings.Contains(log, code) || strings.Contains(log, "no bootstrap token") {
		t.Errorf("restart with an admin: the log speaks of a first run:\n%s", log)
	}
	if resp, _ := newConsoleBrowser(t, s2.http, "x").do("GET", "/setup", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /setup after a restart: HTTP %d, want 404", resp.StatusCode)
	}
}

// TestFirstRunCodeVoidByCLI: the admin made with vigil user add, as the
// first-run line offers, closes the setup and voids its code at once.
func TestFirstRunCodeVoidByCLI(t *testing.T) {
	data := t.TempDir()
	s := startLogServer(t, data, "--bootstrap-token", testToken)
	_, code := s.firstRun()
	if strings.Contains(s.log(), "no bootstrap token") {
		t.Error("the no-bootstrap-token warning with a bootstrap token")
	}
	b := newConsoleBrowser(t, s.http, "x")
	form := b.setupForm(code, "root", "the first admin's passphrase")
	if out, status := runCLI(t, "ops passphrase 123\n", nil, "user", "add", "ops", "--role", "admin", "--data", data); status != 0 {
		t.Fatalf("vigil user add: exit %d: %s", status, out)
	}
	if resp, _ := b.do("POST", "/setup", form); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /setup with the code once an admin exists: HTTP %d, want 404", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/setup", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /setup once an admin exists: HTTP %d, want 404", resp.StatusCode)
	}
	if out, _ := runCLI(t, "", nil, "user", "list", "--data", data); strings.Contains(out, "root") {
		t.Errorf("vigil user list shows root, made with a void code:\n%s", out)
	}
}
