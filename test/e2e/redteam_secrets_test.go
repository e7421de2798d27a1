package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The red team's findings 8, 9 (REST) and 13 (CSV, Markdown, "*"
// suppressions), against the real binary: a viewer or an analyst never
// reads a credential, an admin reads secrets masked and keeps them by
// sending the masked form back, every REST change of a route is audited,
// a CSV export and a Markdown report carry hostile text inert, and only
// an admin silences every rule.

const (
	rsPassword  = "a long console passphrase"
	rsSlackURL  = "https://hooks.slack.com/services/T0SECRETA/B0SECRETB/slackSecret0123456789abcd"
	rsHMAC      = "hmac-secret-0123456789"
	rsBasicPass = "basic-pass-0123456789"
	rsRouteKey  = "route-key-0123456789"
	rsDestKey   = "dest-key-0123456789"
	rsDestAuth  = "dest-bearer-0123456789"
	rsPBToken   = "pb-token-0123456789"
	rsPBBody    = "pb-body-secret-0123456789"
)

// rsSecrets are every credential the fixture configures: none may appear
// in anything a viewer, an analyst or even an admin reads back.
var rsSecrets = []string{"slackSecret0123456789abcd", "T0SECRETA", "B0SECRETB", rsHMAC, rsBasicPass, rsRouteKey, rsDestKey, rsDestAuth, rsPBToken, rsPBBody}

// rsReceiver records the requests a loopback webhook receiver gets.
type rsReceiver struct {
	mu   sync.Mutex
	reqs []rsRequest
}

type rsRequest struct {
	user, pass, key, sig string
	body                 []byte
}

func (rc *rsReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	user, pass, _ := r.BasicAuth()
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, rsRequest{user: user, pass: pass, key: r.URL.Query().Get("api_key"), sig: r.Header.Get("X-Vigil-Signature"), body: b})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *rsReceiver) all() []rsRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]rsRequest(nil), rc.reqs...)
}

// rsFixture is a server with secret-bearing routes, a destination and a
// playbook, API tokens and console sessions for viewer and analyst, and
// an incident the playbook ran on.
type rsFixture struct {
	s        *server
	recv     *rsReceiver
	hook     string // http://127.0.0.1:port
	tokens   map[string]string
	consoles map[string]*http.Client
	routes   map[string]string // name → id
	incident string
}

const rsPlaybook = `name: rs-secrets
description: A playbook whose parameters hold secrets.
trigger:
  on: manual
steps:
  - name: note
    action: comment
    with:
      text: "Ticket for {{.Incident}}"
      api_token: "` + rsPBToken + `"
  - name: call
    action: http_request
    secret: [body]
    with:
      destination: soc
      body: '{"incident": "{{.Incident}}", "auth": "` + rsPBBody + `"}'
`

func newRSFixture(t *testing.T) *rsFixture {
	t.Helper()
	f := &rsFixture{recv: &rsReceiver{}, tokens: map[string]string{}, consoles: map[string]*http.Client{}, routes: map[string]string{}}
	hook := httptest.NewServer(f.recv)
	t.Cleanup(hook.Close)
	f.hook = hook.URL
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "playbooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "playbooks", "rs.yml"), []byte(rsPlaybook), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(data, "vigil.yml")
	// The receivers are on loopback: the egress policy allows it by name.
	conf := "egress:\n  allow: [127.0.0.1/32]\nrespond:\n  http_destinations:\n    soc:\n      url: \"" + f.hook + "/dest?api_key=" + rsDestKey + "\"\n" +
		"      headers:\n        Authorization: \"Bearer " + rsDestAuth + "\"\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	f.s = startServer(t, serverOpts{data: data, extra: []string{"--config", cfg}})

	for _, role := range []string{"viewer", "analyst", "admin"} {
		var tok struct{ Token string }
		f.api(t, testToken, "POST", "/api/v1/tokens", map[string]any{"name": "rs-" + role, "role": role}, &tok, 201)
		f.tokens[role] = tok.Token
		if role == "admin" {
			continue
		}
		f.api(t, testToken, "POST", "/api/v1/users", map[string]any{"username": "rs-" + role, "password": rsPassword, "role": role}, nil, 201)
		c := consoleClient(t)
		if code := consoleLoginWith(t, c, f.s, "rs-"+role, rsPassword); code != http.StatusSeeOther {
			t.Fatalf("console login as rs-%s: HTTP %d, want 303", role, code)
		}
		f.consoles[role] = c
	}

	hookURL, _ := url.Parse(f.hook)
	for name, u := range map[string]string{
		"slack":  rsSlackURL,
		"basic":  "http://alice:" + rsBasicPass + "@" + hookURL.Host + "/in",
		"apikey": f.hook + "/in?api_key=" + rsRouteKey + "&team=soc",
	} {
		typ := "webhook"
		if name == "slack" {
			typ = "slack"
		}
		var out struct{ ID string }
		f.api(t, f.tokens["admin"], "POST", "/api/v1/routes", map[string]any{"name": "rs-" + name, "type": typ, "url": u, "secret": rsHMAC, "min_level": "critical"}, &out, 201)
		f.routes[name] = out.ID
	}

	var inc struct{ ID string }
	f.api(t, f.tokens["analyst"], "POST", "/api/v1/incidents", map[string]any{"title": "secrets", "severity": "medium"}, &inc, 201)
	f.incident = inc.ID
	f.api(t, f.tokens["analyst"], "POST", "/api/v1/incidents/"+inc.ID+"/playbooks/rs-secrets", nil, nil, 202)
	// Wait for the playbook's request to reach the receiver: the action's
	// result is then recorded on the incident. The playbook runs in the
	// server process, so this polls it (a wait for a real process).
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got struct {
			Actions []struct{ Name, Status string }
		}
		f.api(t, testToken, "GET", "/api/v1/incidents/"+inc.ID, nil, &got, 200)
		done := false
		for _, a := range got.Actions {
			done = done || a.Name == "http_request" && a.Status != "running"
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup: the playbook's http_request has not run after 15s: %+v", got.Actions)
		}
		time.Sleep(50 * time.Millisecond) // polling the vigil serve process
	}
	return f
}

// api sends in as JSON with token, wants status want, and decodes the
// answer into out (if not nil).
func (f *rsFixture) api(t *testing.T, token, method, path string, in, out any, want int) []byte {
	t.Helper()
	var body io.Reader = strings.NewReader("")
	if in != nil {
		body = strings.NewReader(jsonBody(in))
	}
	resp, b := f.s.request(method, path, token, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

// page gets a console page as role.
func (f *rsFixture) page(t *testing.T, role, path string) string {
	t.Helper()
	resp, err := f.consoles[role].Get("http://" + f.s.http + path)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as %s: HTTP %d: %s", path, role, resp.StatusCode, tail(body, 300))
	}
	return body
}

// post submits a console form as role and returns where it was sent.
func (f *rsFixture) post(t *testing.T, role, path string, form url.Values) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(f.page(t, role, "/overview"))
	if m == nil {
		t.Fatal("no CSRF token on the console's overview")
	}
	form.Set("csrf_token", m[1])
	resp, err := f.consoles[role].PostForm("http://"+f.s.http+path, form)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s as %s: HTTP %d, want 303", path, role, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

func leaked(body string) []string {
	var out []string
	for _, s := range rsSecrets {
		if strings.Contains(body, s) {
			out = append(out, s)
		}
	}
	return out
}

// TestRedteamSecrets covers finding 8: routes, playbooks and their
// results as every role reads them, and the admin's write-only PATCH.
func TestRedteamSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	f := newRSFixture(t)

	t.Run("no credential in any answer", func(t *testing.T) {
		paths := []string{"/api/v1/routes", "/api/v1/playbooks", "/api/v1/intel", "/api/v1/incidents/" + f.incident,
			"/api/v1/incidents/" + f.incident + "/report?format=md", "/api/v1/incidents/" + f.incident + "/report?format=html"}
		for _, id := range f.routes {
			paths = append(paths, "/api/v1/routes/"+id)
		}
		for _, role := range []string{"viewer", "analyst", "admin"} {
			for _, p := range paths {
				resp, b := f.s.request("GET", p, f.tokens[role], nil)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s as %s: HTTP %d: %s", p, role, resp.StatusCode, tail(string(b), 200))
				}
				if l := leaked(string(b)); l != nil {
					t.Errorf("GET %s as %s: holds %q", p, role, l)
				}
			}
		}
		for _, role := range []string{"viewer", "analyst"} {
			for _, p := range []string{"/settings", "/incidents/" + f.incident, "/incidents/" + f.incident + "/report"} {
				if l := leaked(f.page(t, role, p)); l != nil {
					t.Errorf("console %s as %s: holds %q", p, role, l)
				}
			}
		}
		// What is shown still says where things go.
		var list struct {
			Routes []struct{ Name, URL, Secret string }
		}
		f.api(t, f.tokens["viewer"], "GET", "/api/v1/routes", nil, &list, 200)
		want := map[string]string{"rs-slack": "https://hooks.slack.com/***", "rs-apikey": f.hook + "/in?api_key=***&team=soc"}
		for _, r := range list.Routes {
			if w, ok := want[r.Name]; ok && r.URL != w {
				t.Errorf("route %s: url %q, want %q", r.Name, r.URL, w)
			}
			if r.Secret != "***" {
				t.Errorf("route %s: secret %q, want ***", r.Name, r.Secret)
			}
		}
		var pbs struct {
			Playbooks []struct {
				Name  string
				Steps []struct{ With map[string]string }
			}
		}
		f.api(t, f.tokens["viewer"], "GET", "/api/v1/playbooks", nil, &pbs, 200)
		for _, p := range pbs.Playbooks {
			if p.Name == "rs-secrets" && (p.Steps[0].With["api_token"] != "***" || p.Steps[1].With["body"] != "***" || p.Steps[1].With["destination"] != "soc") {
				t.Errorf("playbook rs-secrets: steps %+v, want api_token and body masked, destination shown", p.Steps)
			}
		}
	})

	t.Run("admin sends the masked route back and keeps its secrets", func(t *testing.T) {
		id := f.routes["basic"]
		var route map[string]any
		f.api(t, f.tokens["admin"], "GET", "/api/v1/routes/"+id, nil, &route, 200)
		if u, _ := route["url"].(string); !strings.Contains(u, "alice:***@") {
			t.Fatalf("admin reads url %q, want the password masked", u)
		}
		route["min_level"] = "high"
		delete(route, "stats")
		f.api(t, f.tokens["admin"], "PATCH", "/api/v1/routes/"+id, route, nil, 200)
		before := len(f.recv.all())
		var res struct{ Delivered bool }
		f.api(t, f.tokens["admin"], "POST", "/api/v1/routes/"+id+"/test", nil, &res, 200)
		got := f.recv.all()[before:]
		if !res.Delivered || len(got) != 1 {
			t.Fatalf("test after PATCH: delivered %v, %d requests, want one", res.Delivered, len(got))
		}
		mac := hmac.New(sha256.New, []byte(rsHMAC))
		mac.Write(got[0].body)
		if got[0].user != "alice" || got[0].pass != rsBasicPass || got[0].sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("test after PATCH: the receiver got user %q password %q signature %q: the stored secrets were not kept", got[0].user, got[0].pass, got[0].sig)
		}

		// The same for the query key, sending just the masked url.
		id = f.routes["apikey"]
		f.api(t, f.tokens["admin"], "PATCH", "/api/v1/routes/"+id, map[string]any{"url": f.hook + "/in?api_key=***&team=soc"}, nil, 200)
		before = len(f.recv.all())
		f.api(t, f.tokens["admin"], "POST", "/api/v1/routes/"+id+"/test", nil, &res, 200)
		if got := f.recv.all()[before:]; len(got) != 1 || got[0].key != rsRouteKey {
			t.Errorf("test after PATCH: the receiver got %+v, want api_key %s", got, rsRouteKey)
		}
		// The mask is not a secret: elsewhere it is refused.
		resp, b := f.s.request("PATCH", "/api/v1/routes/"+id, f.tokens["admin"], strings.NewReader(`{"url":"https://evil.example/in?api_key=***"}`))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "mask") {
			t.Errorf("PATCH with the mask on another URL: HTTP %d %s, want 400 naming the mask", resp.StatusCode, b)
		}
	})
}

type rsAudit struct {
	Entries []struct {
		Actor, Action, Target string
		Before, After         json.RawMessage
	}
}

// TestRedteamSecretsAudit covers finding 9's REST part: each create,
// patch, test and delete of a route through the API has its audit entry
// under the caller, secrets masked, as the console's have.
func TestRedteamSecretsAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	f := newRSFixture(t)
	admin := f.tokens["admin"]
	var rt struct{ ID string }
	f.api(t, admin, "POST", "/api/v1/routes", map[string]any{"name": "rs-audited", "type": "webhook", "url": f.hook + "/a?token=" + rsRouteKey, "secret": rsHMAC}, &rt, 201)
	f.api(t, admin, "PATCH", "/api/v1/routes/"+rt.ID, map[string]any{"min_level": "high"}, nil, 200)
	f.api(t, admin, "POST", "/api/v1/routes/"+rt.ID+"/test", nil, nil, 200)
	f.api(t, admin, "DELETE", "/api/v1/routes/"+rt.ID, nil, nil, 204)
	// Refused and unknown ones record nothing.
	f.s.request("PATCH", "/api/v1/routes/"+rt.ID, admin, strings.NewReader(`{"min_level":"high"}`))
	f.s.request("POST", "/api/v1/routes", f.tokens["analyst"], strings.NewReader(`{"name":"x","type":"webhook","url":"https://h.example/"}`))
	var sup struct{ ID string }
	f.api(t, f.tokens["analyst"], "POST", "/api/v1/suppressions", map[string]any{"rule_id": authzRuleID, "query": "user.name:rs", "reason": "audited", "expires": "1h"}, &sup, 201)
	f.api(t, f.tokens["analyst"], "DELETE", "/api/v1/suppressions/"+sup.ID, nil, nil, 204)

	var log rsAudit
	f.api(t, testToken, "GET", "/api/v1/audit?limit=1000", nil, &log, 200)
	got := map[string]string{}
	for _, e := range log.Entries {
		if e.Target == rt.ID || e.Target == sup.ID {
			got[e.Action] = e.Actor
		}
		if l := leaked(string(e.Before) + string(e.After)); l != nil {
			t.Errorf("audit %s %s: holds %q", e.Action, e.Target, l)
		}
	}
	for action, actor := range map[string]string{
		"route.create": "rs-admin", "route.update": "rs-admin", "route.test": "rs-admin", "route.delete": "rs-admin",
		"suppression.create": "rs-analyst", "suppression.delete": "rs-analyst",
	} {
		if got[action] != actor {
			t.Errorf("audit %s: got actor %q, want %q (entries %v)", action, got[action], actor, got)
		}
	}
	n := 0
	for _, e := range log.Entries {
		if e.Target == rt.ID && e.Action == "route.update" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("route.update entries: got %d, want 1 (the refused PATCH of a deleted route records nothing)", n)
	}
}

var rsActiveMarkdown = regexp.MustCompile(`<[A-Za-z/!?]|(^|[^\\])!\[|(^|[^\\])\]\(|(^|[^\\])\]:`)

// TestRedteamSecretsRendering covers finding 13's CSV and Markdown parts:
// a hostile field name in a CSV export, hostile analyst text in the
// Markdown report.
func TestRedteamSecretsRendering(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	f := newRSFixture(t)

	t.Run("csv", func(t *testing.T) {
		hostile := "=cmd|' /C calc'!A0,\"q\"\nx"
		ev := map[string]any{"message": "rs csv export", "marker": "rs-csv", hostile: "@SUM(1+1)*cmd|' /C calc'!A0"}
		f.api(t, testToken, "POST", "/api/v1/ingest", ev, nil, 200)
		if r := f.s.waitTotal("marker:rs-csv", 1, 20*time.Second); r.Total != 1 {
			t.Fatalf("event not stored: %d", r.Total)
		}
		resp, err := f.consoles["viewer"].Get("http://" + f.s.http + "/search/export?q=marker%3Ars-csv&range=all&format=csv")
		if err != nil {
			t.Fatal(err)
		}
		console := readAll(t, resp)
		cmd := exec.Command(vigilBin, "search", "--server", "http://"+f.s.http, "--token", f.tokens["viewer"], "--format", "csv", "--since", "1h", "marker:rs-csv")
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("vigil search --format csv: %v: %s", err, stderr.String())
		}
		for name, body := range map[string]string{"console export": console, "vigil search": out.String()} {
			rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil || len(rows) != 2 {
				t.Errorf("%s: %d records (%v), want a header and one event:\n%s", name, len(rows), err, body)
				continue
			}
			col := -1
			for i, h := range rows[0] {
				if strings.Contains(h, "cmd|") {
					col = i
				}
			}
			if col < 0 || rows[0][col] != "'"+hostile {
				t.Errorf("%s: header %q: want the hostile field name whole, prefixed with '", name, rows[0])
				continue
			}
			if rows[1][col] != "'@SUM(1+1)*cmd|' /C calc'!A0" {
				t.Errorf("%s: value %q, want it prefixed with '", name, rows[1][col])
			}
			if strings.Contains(body, ",=") || strings.Contains(body, "\n=") || strings.HasPrefix(body, "=") {
				t.Errorf("%s: a cell starts with = outside quotes:\n%s", name, body)
			}
		}
	})

	t.Run("markdown report", func(t *testing.T) {
		hostile := []string{
			`<img src=x onerror=alert(1)>`,
			"![tracker](https://evil.example/pixel.png)",
			"[click](javascript:alert(1))",
			"<https://evil.example/auto>",
			"[ref]: https://evil.example/ref",
			"<script>alert(1)</script>\n# forged heading\n| forged | row |",
		}
		all := strings.Join(hostile, "\n")
		an := f.tokens["analyst"]
		var inc struct{ ID string }
		f.api(t, an, "POST", "/api/v1/incidents", map[string]any{"title": hostile[0], "severity": "low"}, &inc, 201)
		f.api(t, an, "PATCH", "/api/v1/incidents/"+inc.ID, map[string]any{"summary": all, "root_cause": all, "impact": all, "lessons_learned": all}, nil, 200)
		for _, h := range hostile {
			f.api(t, an, "POST", "/api/v1/incidents/"+inc.ID+"/comments", map[string]any{"text": h}, nil, 201)
			f.api(t, an, "POST", "/api/v1/incidents/"+inc.ID+"/tasks", map[string]any{"title": h}, nil, 201)
		}
		resp, b := f.s.request("GET", "/api/v1/incidents/"+inc.ID+"/report?format=md", f.tokens["viewer"], nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("report: HTTP %d: %s", resp.StatusCode, b)
		}
		md := string(b)
		for i, line := range strings.Split(md, "\n") {
			if m := rsActiveMarkdown.FindString(line); m != "" {
				t.Errorf("report line %d %q: active syntax %q", i+1, line, m)
			}
			if strings.HasPrefix(line, "# forged") || strings.HasPrefix(line, "| forged") {
				t.Errorf("report line %d %q: structure from analyst text", i+1, line)
			}
		}
		for _, want := range []string{`&lt;img src=x onerror=alert\(1\)&gt;`, `\!\[tracker\]\(https://evil.example/pixel.png\)`, `\[click\]\(javascript:alert\(1\)\)`} {
			if !strings.Contains(md, want) {
				t.Errorf("report lacks the escaped text %q", want)
			}
		}
	})
}

// TestRedteamSecretsSuppressions covers finding 13's "*" suppressions: an
// analyst cannot silence every rule, nor anything for ever or past the
// configured limit; an admin can, with an expiry.
func TestRedteamSecretsSuppressions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	f := newRSFixture(t)
	for _, tc := range []struct {
		name, role string
		body       map[string]any
		want       int
		msg        string
	}{
		{"analyst, every rule", "analyst", map[string]any{"rule_id": "*", "reason": "quiet", "expires": "1h"}, 403, `rule_id \"*\" silences every rule: only an admin may add it`},
		{"analyst, every rule, for ever", "analyst", map[string]any{"rule_id": "*", "reason": "quiet"}, 403, "only an admin"},
		{"analyst, one rule, for ever", "analyst", map[string]any{"rule_id": authzRuleID, "reason": "quiet"}, 403, "needs an expiry"},
		{"analyst, one rule, 31 days", "analyst", map[string]any{"rule_id": authzRuleID, "reason": "quiet", "expires": "31d"}, 403, "more than 30d from now"},
		{"analyst, partial wildcard", "analyst", map[string]any{"rule_id": "ssh-*", "reason": "quiet", "expires": "1h"}, 400, "do not take wildcards"},
		{"analyst, one rule, 7 days", "analyst", map[string]any{"rule_id": authzRuleID, "query": "user.name:backup", "reason": "backup job", "expires": "7d"}, 201, ""},
		{"admin, every rule, for ever", "admin", map[string]any{"rule_id": "*", "reason": "maintenance"}, 400, "needs an expiry"},
		{"admin, every rule, 2 hours", "admin", map[string]any{"rule_id": "*", "reason": "maintenance", "expires": "2h"}, 201, ""},
		{"admin, one rule, for ever", "admin", map[string]any{"rule_id": authzRuleID, "query": "user.name:svc", "reason": "service account"}, 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.s.request("POST", "/api/v1/suppressions", f.tokens[tc.role], strings.NewReader(jsonBody(tc.body)))
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.msg) {
				t.Errorf("got HTTP %d %s, want %d with %q", resp.StatusCode, b, tc.want, tc.msg)
			}
		})
	}
	// The console refuses the same, saying why.
	loc := f.post(t, "analyst", "/settings/suppressions", url.Values{"rule_id": {"*"}, "reason": {"quiet"}, "expires": {"1h"}})
	if !strings.Contains(loc, "err=forbidden") || !strings.Contains(loc, "only+an+admin") {
		t.Errorf("console: analyst's \"*\" suppression sent to %q, want an error saying only an admin may", loc)
	}
	var sups struct {
		Suppressions []struct {
			RuleID  string     `json:"rule_id"`
			Author  string     `json:"author"`
			Expires *time.Time `json:"expires"`
		}
	}
	f.api(t, testToken, "GET", "/api/v1/suppressions", nil, &sups, 200)
	got := map[string]int{}
	for _, s := range sups.Suppressions {
		got[fmt.Sprintf("%s by %s, expires %v", s.RuleID, s.Author, s.Expires != nil)]++
	}
	want := map[string]int{
		authzRuleID + " by rs-analyst, expires true": 1,
		"* by rs-admin, expires true":                1,
		authzRuleID + " by rs-admin, expires false":  1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("suppressions: got %v, want %v", got, want)
			break
		}
	}
	if len(sups.Suppressions) != 3 {
		t.Errorf("suppressions: got %d, want 3 (refused ones stored nothing): %v", len(sups.Suppressions), got)
	}
}
