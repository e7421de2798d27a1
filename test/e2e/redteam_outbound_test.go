package e2e

// Red-team findings 3, 4, 7 and the mail part of 13 of issue 10, against
// the real binary: template bombs in manual actions, SSRF through the
// http_request action, notification routes and intel feeds, injection of
// entity values into playbook HTTP requests, and line breaks from entity
// values in mail bodies. Every target is a loopback receiver started by
// the test; nothing leaves the machine.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// outboundReceiver is an HTTP server on a loopback address that records
// every request it gets.
type outboundReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []outboundRequest
}

type outboundRequest struct {
	method, uri, body string
}

func newOutboundReceiver(t *testing.T, ip string, h http.HandlerFunc) *outboundReceiver {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listening on %s: %v", ip, err)
	}
	rec := &outboundReceiver{}
	rec.Server = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, outboundRequest{r.Method, r.RequestURI, string(b)})
		rec.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	})}}
	rec.Start()
	t.Cleanup(rec.Close)
	return rec
}

func (rec *outboundReceiver) got() []outboundRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]outboundRequest(nil), rec.reqs...)
}

func (rec *outboundReceiver) port() string {
	_, p, _ := net.SplitHostPort(rec.Listener.Addr().String())
	return p
}

// outboundCall sends a JSON request with token and returns the status and
// the decoded answer.
func outboundCall(t *testing.T, s *server, method, path, token string, in any) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	resp, b := s.request(method, path, token, body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// outboundToken makes an API token of role and returns its secret.
func outboundToken(t *testing.T, s *server, role string) string {
	t.Helper()
	code, out := outboundCall(t, s, "POST", "/api/v1/tokens", testToken, map[string]any{"name": "redteam-outbound-" + role, "role": role})
	tok, _ := out["token"].(string)
	if code != 201 || tok == "" {
		t.Fatalf("creating a %s token: HTTP %d %v", role, code, out)
	}
	return tok
}

// outboundIncident opens an incident and returns its id.
func outboundIncident(t *testing.T, s *server) string {
	t.Helper()
	code, out := outboundCall(t, s, "POST", "/api/v1/incidents", testToken, map[string]any{"title": "red team outbound", "severity": "medium"})
	id, _ := out["id"].(string)
	if code != 201 || id == "" {
		t.Fatalf("creating an incident: HTTP %d %v", code, out)
	}
	return id
}

// outboundPeakRSS is the server's peak resident set (VmHWM), in bytes.
func outboundPeakRSS(t *testing.T, s *server) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err) // Linux only: CI runs Linux
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// TestRedteamOutboundTemplateBomb is finding 3: a 120-byte manual action
// whose parameter was {{range 50000000}}… took the server to 1.77 GiB. Now
// every template with a loop (or a call, a definition, printf) is refused
// at once, and the server's peak memory does not move.
func TestRedteamOutboundTemplateBomb(t *testing.T) {
	s := startServer(t, serverOpts{})
	analyst := outboundToken(t, s, "analyst")
	inc := outboundIncident(t, s)
	before := outboundPeakRSS(t, s)
	var slowest time.Duration
	bomb := `{{range 50000000}}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA{{end}}`
	for _, tc := range []struct {
		name string
		with map[string]string
		want string
	}{
		{"comment", map[string]string{"text": bomb}, "range (a loop) is not allowed"},
		{"create_task", map[string]string{"title": bomb}, "range (a loop) is not allowed"},
		{"notify", map[string]string{"text": bomb}, "range (a loop) is not allowed"},
		{"comment", map[string]string{"text": `{{printf "%0999999999d" 1}}`}, `function "printf" is not allowed`},
		{"comment", map[string]string{"text": `{{define "a"}}{{template "a"}}{{end}}`}, "not allowed"},
		{"comment", map[string]string{"text": `{{with .Target}}{{.}}{{end}}`}, "with is not allowed"},
		{"comment", map[string]string{"text": strings.Repeat("A", 16<<10+1)}, "larger than 16 KiB"},
	} {
		start := time.Now()
		code, out := outboundCall(t, s, "POST", "/api/v1/incidents/"+inc+"/actions", analyst,
			map[string]any{"name": tc.name, "target": "203.0.113.9", "with": tc.with})
		took := time.Since(start)
		slowest = max(slowest, took)
		msg, _ := out["error"].(string)
		if code != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %.40q: HTTP %d %q, want 400 saying %q", tc.name, tc.with, code, msg, tc.want)
		}
		if took > time.Second {
			t.Errorf("%s: refused after %v, want under 1s", tc.name, took)
		}
	}
	after := outboundPeakRSS(t, s)
	t.Logf("peak RSS (VmHWM) before %.1f MiB, after %.1f MiB; slowest refusal %v", float64(before)/(1<<20), float64(after)/(1<<20), slowest)
	if after-before > 50<<20 {
		t.Errorf("peak RSS grew by %.1f MiB, want under 50 MiB", float64(after-before)/(1<<20))
	}
	// Nothing refused was recorded on the incident.
	var got struct{ Actions []map[string]any }
	s.getJSON("/api/v1/incidents/"+inc, &got)
	if len(got.Actions) != 0 {
		t.Errorf("refused actions were recorded: %v", got.Actions)
	}
}

// TestRedteamOutboundSSRF is finding 4: the manual http_request took any
// URL and followed redirects, with errors that told open, closed and
// filtered ports apart; routes took metadata, loopback, hex, decimal and
// IPv6 internal targets, and the route test echoed the response. Now
// http_request calls only destinations an admin configured, every
// connection (routes, http_request, feeds) goes through the egress policy
// on the resolved address, redirects are not followed, and the answers
// say "refused" or the receiver's status, nothing more. The loopback
// receivers get nothing.
func TestRedteamOutboundSSRF(t *testing.T) {
	inner := newOutboundReceiver(t, "127.0.0.1", nil) // what an attacker wants to reach
	var inner6 *outboundReceiver
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		l.Close()
		inner6 = newOutboundReceiver(t, "::1", nil)
	}
	const secret = "internal-secret-response-body"
	outer := newOutboundReceiver(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, inner.URL+"/admin", http.StatusFound)
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, secret)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	closed := freePort(t, "tcp") // nothing listens there
	_, closedPort, _ := net.SplitHostPort(closed)
	cfg := filepath.Join(t.TempDir(), "vigil.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`egress:
  allow: [127.0.0.2/32]   # the allowed receiver only
respond:
  http_destinations:
    by-name: {url: "http://localhost:%[1]s/x"}
    redirect: {url: "%[2]s/redirect"}
    ticket: {url: "%[2]s/ok", body: '{"incident": "{{.Incident}}"}'}
    closed: {url: "http://127.0.0.2:%[3]s/"}
intel:
  feeds:
    - {name: internal-feed, url: "http://localhost:%[1]s/feed.txt"}
`, inner.port(), outer.URL, closedPort)), 0o600)
	s := startServer(t, serverOpts{extra: []string{"--config", cfg}})
	analyst := outboundToken(t, s, "analyst")
	inc := outboundIncident(t, s)

	t.Run("routes refused when saved", func(t *testing.T) {
		p := inner.port()
		urls := []string{
			"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
			"http://127.0.0.1:" + p + "/",
			"http://2130706433:" + p + "/",
			"http://0x7f000001:" + p + "/",
			"http://0177.0.0.1:" + p + "/",
			"http://127.1:" + p + "/",
			"http://[::ffff:127.0.0.1]:" + p + "/",
			"http://[::1]:" + p + "/",
			"http://[fd00:ec2::254]/",
			"http://10.0.0.1/",
		}
		if inner6 != nil {
			urls = append(urls, inner6.URL+"/")
		}
		for i, u := range urls {
			code, out := outboundCall(t, s, "POST", "/api/v1/routes", testToken, map[string]any{"name": fmt.Sprintf("ssrf-%d", i), "type": "webhook", "url": u})
			msg, _ := out["error"].(string)
			if code != 400 || !strings.Contains(msg, "refused by the egress policy") {
				t.Errorf("route to %s: HTTP %d %q, want 400 refused by the egress policy", u, code, msg)
			}
		}
	})

	t.Run("route tests", func(t *testing.T) {
		for _, tc := range []struct{ name, url, want string }{
			{"by-name", "http://localhost:" + inner.port() + "/hook", "destination refused by egress policy"},
			{"redirect", outer.URL + "/redirect", "the receiver answered 302 Found"},
			{"fail", outer.URL + "/fail", "the receiver answered 500 Internal Server Error"},
		} {
			code, out := outboundCall(t, s, "POST", "/api/v1/routes", testToken, map[string]any{"name": "rt-" + tc.name, "type": "webhook", "url": tc.url})
			id, _ := out["id"].(string)
			if code != 201 {
				t.Fatalf("route %s: HTTP %d %v", tc.name, code, out)
			}
			code, out = outboundCall(t, s, "POST", "/api/v1/routes/"+id+"/test", testToken, nil)
			msg, _ := out["error"].(string)
			if want := fmt.Sprintf("testing route %q: %s", "rt-"+tc.name, tc.want); code != 502 || msg != want {
				t.Errorf("test of %s: HTTP %d %q, want 502 %q", tc.name, code, msg, want)
			}
			if strings.Contains(fmt.Sprint(out), secret) {
				t.Errorf("test of %s echoed the receiver's body: %v", tc.name, out)
			}
		}
	})

	t.Run("http_request", func(t *testing.T) {
		for _, tc := range []struct {
			with        map[string]string
			code        int
			status      string
			resultOrErr string
		}{
			{map[string]string{"url": "http://169.254.169.254/latest/meta-data/", "method": "GET"}, 400, "", "with.url: http_request calls a destination an admin configured"},
			{map[string]string{"url": inner.URL + "/admin", "destination": "ticket"}, 400, "", "with.url"},
			{map[string]string{"destination": "ticket", "body": `{"x": 1}`}, 400, "", "with.body: a manual http_request sends its destination's body"},
			{map[string]string{"destination": "nowhere"}, 201, "failed", `unknown destination "nowhere" (respond.http_destinations)`},
			{map[string]string{"destination": "by-name"}, 201, "failed", "POST by-name: destination refused by egress policy"},
			{map[string]string{"destination": "redirect"}, 201, "failed", "POST redirect: 302 Found (redirects are not followed)"},
			{map[string]string{"destination": "closed"}, 201, "failed", "POST closed: request failed"},
			{map[string]string{"destination": "ticket"}, 201, "ok", "POST ticket: 204 No Content"},
		} {
			code, out := outboundCall(t, s, "POST", "/api/v1/incidents/"+inc+"/actions", analyst,
				map[string]any{"name": "http_request", "with": tc.with})
			got, _ := out["error"].(string)
			if code == 201 {
				got, _ = out["result"].(string)
			}
			status, _ := out["status"].(string)
			if code != tc.code || status != tc.status || !strings.HasPrefix(got, tc.resultOrErr) {
				t.Errorf("http_request %v: HTTP %d %s %q, want %d %s %q", tc.with, code, status, got, tc.code, tc.status, tc.resultOrErr)
			}
		}
		// The allowed destination got its configured body, and the
		// redirect's hop; nothing else.
		var paths []string
		for _, r := range outer.got() {
			paths = append(paths, r.method+" "+r.uri)
			if r.uri == "/ok" && r.body != `{"incident": "`+inc+`"}` {
				t.Errorf("ticket body %s, want the destination's template with the incident", r.body)
			}
		}
		for _, want := range []string{"POST /redirect", "POST /ok"} {
			if !strings.Contains(strings.Join(paths, "\n"), want) {
				t.Errorf("the allowed receiver got %v, want %s among them", paths, want)
			}
		}
	})

	t.Run("intel feed", func(t *testing.T) {
		var st struct {
			Feeds []struct {
				Name      string `json:"name"`
				LastError string `json:"last_error"`
			} `json:"feeds"`
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			s.getJSON("/api/v1/intel", &st)
			if (len(st.Feeds) == 1 && st.Feeds[0].LastError != "") || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // the first load runs in the background
		}
		if len(st.Feeds) != 1 || !strings.HasSuffix(st.Feeds[0].LastError, "destination refused by egress policy") || strings.Contains(st.Feeds[0].LastError, "127.0.0.1") {
			t.Errorf("feed status %+v, want the refusal without the address", st.Feeds)
		}
	})

	if got := inner.got(); len(got) != 0 {
		t.Errorf("the loopback receiver got %d requests, want none: %v", len(got), got)
	}
	if inner6 != nil {
		if got := inner6.got(); len(got) != 0 {
			t.Errorf("the [::1] receiver got %d requests, want none: %v", len(got), got)
		}
	}
}

// The red team's entity values (finding 7): one rewrote a JSON body, the
// other a query string. The third adds lines to a mail (finding 13).
const (
	outboundHostileUser  = `bob", "approved": true, "role": "admin`
	outboundHostileQuery = `carol&action=delete_all#`
	outboundHostileMail  = "eve\r\nBcc: all@corp.example\r\n\r\nYour password expired: https://evil.example/reset"
)

const outboundRuleID = "5d3c9a27-7f0e-4f0b-9d2c-6a1e0b7c4e11"

// TestRedteamOutboundInjection is finding 7, and the mail part of 13:
// entity values from logs went raw into a playbook's JSON body and URL,
// and their line breaks into mail bodies. Events carrying the red team's
// user names raise alerts; a playbook calls an HR endpoint for each user
// and a mail route notifies. The body decodes to exactly the intended
// keys with the name intact, the query has only its own parameter, and
// each mail keeps the value on its line.
func TestRedteamOutboundInjection(t *testing.T) {
	hr := newOutboundReceiver(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	smtp := newOutboundSMTP(t, "127.0.0.2")
	data := t.TempDir()
	os.MkdirAll(filepath.Join(data, "rules"), 0o755)
	os.MkdirAll(filepath.Join(data, "playbooks"), 0o755)
	os.WriteFile(filepath.Join(data, "rules", "redteam.yml"), []byte(`title: Red team outbound marker
id: `+outboundRuleID+`
status: test
logsource: {}
detection:
  sel:
    event.dataset: redteam.outbound
  condition: sel
level: high
`), 0o600)
	os.WriteFile(filepath.Join(data, "playbooks", "lock.yml"), []byte(`name: redteam-lock-user
trigger:
  on: alert
  rules: [`+outboundRuleID+`]
steps:
  - name: ask HR to lock the account
    action: http_request
    target: user
    with:
      destination: hr
      body: '{"user": "{{.Target}}", "approved": false, "level": "{{.Level}}"}'
`), 0o600)
	cfg := filepath.Join(data, "vigil.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`egress:
  allow: [127.0.0.2/32]   # the test's receivers only
respond:
  http_destinations:
    hr: {url: "%s/api/users/{{.Target}}/lock?user={{.Target}}", method: POST}
`, hr.URL)), 0o600)
	s := startServer(t, serverOpts{data: data, extra: []string{"--config", cfg}})
	smtpHost, smtpPort, _ := net.SplitHostPort(smtp.addr)
	port, _ := strconv.Atoi(smtpPort)
	no := false
	s.sendJSON("POST", "/api/v1/routes", map[string]any{"name": "mail", "type": "email", "min_level": "high",
		"email": map[string]any{"host": smtpHost, "port": port, "starttls": no, "from": "vigil@example.org", "to": []string{"soc@example.org"}}}, nil, 201)

	users := []string{outboundHostileUser, outboundHostileQuery, outboundHostileMail}
	var nd bytes.Buffer
	for i, u := range users {
		b, _ := json.Marshal(map[string]any{"message": fmt.Sprintf("red team event %d", i),
			"event": map[string]any{"dataset": "redteam.outbound"}, "user": map[string]any{"name": u}})
		nd.Write(b)
		nd.WriteByte('\n')
	}
	resp, body := s.request("POST", "/api/v1/ingest", testToken, &nd)
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d %s", resp.StatusCode, body)
	}

	deadline := time.Now().Add(30 * time.Second)
	for (len(hr.got()) < len(users) || len(smtp.messages()) < len(users)) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // the alert path, the runner and the outbox work in the background
	}
	reqs := hr.got()
	if len(reqs) != len(users) {
		t.Fatalf("the HR endpoint got %d requests, want %d: %v", len(reqs), len(users), reqs)
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		var got map[string]any
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatalf("body %s is not JSON: %v", r.body, err)
		}
		user, _ := got["user"].(string)
		seen[user] = true
		if diff := cmp.Diff(map[string]any{"user": user, "approved": false, "level": "high"}, got); diff != "" {
			t.Errorf("body %s (-want +got):\n%s", r.body, diff)
		}
		u, err := url.ParseRequestURI(r.uri)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(url.Values{"user": {user}}, u.Query()); diff != "" {
			t.Errorf("request %s: query (-want +got):\n%s", r.uri, diff)
		}
		if seg := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/api/users/"), "/lock"); seg != user {
			t.Errorf("request %s: user in the path %q, want %q", r.uri, seg, user)
		}
	}
	for _, u := range users {
		if !seen[u] {
			t.Errorf("no request for user %q, intact; got %v", u, reqs)
		}
	}

	// A mail per alert (and one for the incident they opened).
	msgs := smtp.messages()
	if len(msgs) < len(users) {
		t.Fatalf("mails %d, want at least %d", len(msgs), len(users))
	}
	flattened := 0
	for _, raw := range msgs {
		m, err := mail.ReadMessage(strings.NewReader(raw))
		if err != nil {
			t.Fatalf("mail does not parse: %v\n%s", err, raw)
		}
		if m.Header.Get("Bcc") != "" {
			t.Errorf("a Bcc header was injected: %q", m.Header.Get("Bcc"))
		}
		text := outboundDecodeQP(t, m.Body)
		if strings.Contains(text, "eve  Bcc: all@corp.example    Your password expired") {
			flattened++
		}
		for _, line := range strings.Split(text, "\n") {
			l := strings.TrimSpace(line)
			if strings.HasPrefix(l, "Bcc:") || strings.HasPrefix(l, "Your password expired") {
				t.Errorf("an entity value made its own line %q in the mail:\n%s", line, text)
			}
		}
	}
	if flattened == 0 {
		t.Errorf("no mail names the user %q on one line", outboundHostileMail)
	}
}

func outboundDecodeQP(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	// Quoted-printable: soft breaks and =XX escapes.
	s := strings.ReplaceAll(string(b), "=\r\n", "")
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '=' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return strings.ReplaceAll(out.String(), "\r\n", "\n")
}

// outboundSMTP is a minimal SMTP receiver (no TLS, no auth) that keeps
// each message's data.
type outboundSMTP struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

func newOutboundSMTP(t *testing.T, ip string) *outboundSMTP {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &outboundSMTP{addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv.serve(c)
			}()
		}
	}()
	return srv
}

func (s *outboundSMTP) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	reply := func(l string) { io.WriteString(c, l+"\r\n") }
	reply("220 redteam ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			reply("250 redteam")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), cmd == "RSET", cmd == "NOOP":
			reply("250 ok")
		case cmd == "DATA":
			reply("354 go on")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, data.String())
			s.mu.Unlock()
			reply("250 queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown")
		}
	}
}

func (s *outboundSMTP) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}
