package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The console and the API change rule state and alert triage through the
// same domain services (issue 9): what one does, the other shows, and the
// detection path obeys either.

const (
	stateRuleID   = "ad2306a2-0c47-419b-882e-77491986837f" // built-in "SSH authentication failure"
	statePassword = "a long console passphrase"
)

// stateFixture is a server whose single failed logins raise alerts, an
// analyst API token (named e2e-analyst) and an analyst signed in to the
// console.
type stateFixture struct {
	s       *server
	token   string
	console *http.Client
}

func newStateFixture(t *testing.T) *stateFixture {
	t.Helper()
	data := t.TempDir()
	cfg := filepath.Join(data, "vigil.yml")
	if err := os.WriteFile(cfg, []byte("alerts:\n  min_level: informational\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &stateFixture{s: startServer(t, serverOpts{data: data, extra: []string{"--config", cfg}})}
	f.api(t, testToken, "POST", "/api/v1/users", map[string]any{"username": "analyst", "password": statePassword, "role": "analyst"}, nil, 201)
	var tok struct{ Token string }
	f.api(t, testToken, "POST", "/api/v1/tokens", map[string]any{"name": "e2e-analyst", "role": "analyst"}, &tok, 201)
	f.token = tok.Token
	f.console = consoleClient(t)
	if code := consoleLoginWith(t, f.console, f.s, "analyst", statePassword); code != http.StatusSeeOther {
		t.Fatalf("console login: HTTP %d, want 303", code)
	}
	return f
}

// api sends in as JSON with token, wants status want, and decodes the
// answer into out (if not nil).
func (f *stateFixture) api(t *testing.T, token, method, path string, in, out any, want int) {
	t.Helper()
	var body *strings.Reader
	if in != nil {
		body = strings.NewReader(jsonBody(in))
	} else {
		body = strings.NewReader("")
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
}

// page gets a console page as the signed-in analyst.
func (f *stateFixture) page(t *testing.T, path string) string {
	t.Helper()
	resp, err := f.console.Get("http://" + f.s.http + path)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, want 200: %s", path, resp.StatusCode, tail(body, 300))
	}
	return body
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// post submits a console form as a browser does, with the session's CSRF
// token from a page, and wants a redirect without an error.
func (f *stateFixture) post(t *testing.T, path string, form url.Values) {
	t.Helper()
	m := csrfField.FindStringSubmatch(f.page(t, "/overview"))
	if m == nil {
		t.Fatal("no CSRF token on the console's overview")
	}
	form.Set("csrf_token", m[1])
	resp, err := f.console.PostForm("http://"+f.s.http+path, form)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || strings.Contains(loc, "err=") {
		t.Fatalf("POST %s %v: HTTP %d to %q, want 303 without an error: %s", path, form, resp.StatusCode, loc, tail(body, 300))
	}
}

// failedLogin sends one failed SSH login from ip over syslog TCP and waits
// until the event is stored (it has then been through detection).
func (f *stateFixture) failedLogin(t *testing.T, ip string) {
	t.Helper()
	conn, err := net.Dial("tcp", f.s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "<38>%s bastion sshd[4242]: Failed password for root from %s port 50000 ssh2\n", time.Now().UTC().Format(time.Stamp), ip)
	conn.Close()
	if r := f.s.waitTotal("source.ip:"+ip, 1, 20*time.Second); r.Total != 1 {
		t.Fatalf("failed login from %s: %d events stored after 20s, want 1", ip, r.Total)
	}
}

type stateAlert struct {
	ID       string              `json:"id"`
	Entities map[string][]string `json:"entities"`
	Assignee string              `json:"assignee"`
	AckedBy  string              `json:"acked_by"`
	AckedAt  *time.Time          `json:"acked_at"`
}

// alertFor returns the rule's alert naming ip, if there is one.
func (f *stateFixture) alertFor(t *testing.T, ip string) (stateAlert, bool) {
	t.Helper()
	var list struct{ Alerts []stateAlert }
	f.api(t, f.token, "GET", "/api/v1/alerts?limit=1000&status=open&rule_id="+stateRuleID, nil, &list, 200)
	for _, a := range list.Alerts {
		for _, v := range a.Entities["source.ip"] {
			if v == ip {
				return a, true
			}
		}
	}
	return stateAlert{}, false
}

func (f *stateFixture) ruleDisabled(t *testing.T, token string) bool {
	t.Helper()
	var rules struct {
		Rules []struct {
			ID       string
			Disabled bool
		}
	}
	f.api(t, token, "GET", "/api/v1/rules", nil, &rules, 200)
	for _, r := range rules.Rules {
		if r.ID == stateRuleID {
			return r.Disabled
		}
	}
	t.Fatalf("GET /api/v1/rules: rule %s not listed", stateRuleID)
	return false
}

// TestRuleStateAndTriageShared drives one server from both sides: a rule
// disabled with the API shows disabled in the console and raises no alert
// (also after a rule reload); enabled in the console, the API shows it
// enabled and it alerts again; disabled in the console, the API shows it
// disabled, also after a restart. Triage set with the API shows on the
// console's alert pages, and triage set in the console shows in the API.
// Every change is in the audit log under the name of whoever made it.
func TestRuleStateAndTriageShared(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	f := newStateFixture(t)
	rulePage := "/rules/view?id=" + stateRuleID

	// Disabled with the API: the console shows it, a reload keeps it, and
	// a failed login raises nothing.
	var ri struct {
		ID       string
		Disabled bool
	}
	f.api(t, f.token, "POST", "/api/v1/rules/"+stateRuleID+"/disable", nil, &ri, 200)
	if ri.ID != stateRuleID || !ri.Disabled {
		t.Errorf("POST .../disable: got %+v, want the rule disabled", ri)
	}
	if p := f.page(t, rulePage); !strings.Contains(p, "state <b>disabled</b>") || !strings.Contains(p, ">Enable rule</button>") {
		t.Errorf("console rule page after the API disabled it: want state disabled and an Enable button")
	}
	f.api(t, f.token, "POST", "/api/v1/rules/reload", nil, nil, 200)
	f.failedLogin(t, "192.0.2.10")

	// Enabled in the console: the API shows it, and it alerts again.
	f.post(t, "/rules/state", url.Values{"id": {stateRuleID}, "state": {"enabled"}})
	if f.ruleDisabled(t, f.token) {
		t.Errorf("GET /api/v1/rules after the console enabled the rule: still disabled")
	}
	f.failedLogin(t, "192.0.2.11")
	var al stateAlert
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		if al, ok = f.alertFor(t, "192.0.2.11"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert for 192.0.2.11 20s after the console enabled the rule")
		}
		time.Sleep(100 * time.Millisecond) // polling the vigil serve process
	}
	// The alert path takes detections in order: the login from .10, stored
	// before .11 was sent, would have its alert by now.
	if a, ok := f.alertFor(t, "192.0.2.10"); ok {
		t.Errorf("alert %s for 192.0.2.10, whose login came while the rule was disabled", a.ID)
	}

	// Triage with the API shows in the console.
	f.api(t, f.token, "PATCH", "/api/v1/alerts/"+al.ID, map[string]any{"assignee": "carol"}, nil, 200)
	var acked stateAlert
	f.api(t, f.token, "POST", "/api/v1/alerts/"+al.ID+"/ack", nil, &acked, 200)
	if acked.AckedBy != "e2e-analyst" || acked.AckedAt == nil || acked.Assignee != "carol" {
		t.Errorf("POST .../ack: got %+v, want acked by e2e-analyst and assigned to carol", acked)
	}
	p := f.page(t, "/alerts/"+al.ID)
	for _, want := range []string{"<td>e2e-analyst, ", "<td>carol</td>"} {
		if !strings.Contains(p, want) {
			t.Errorf("console alert page after API triage: %q missing", want)
		}
	}
	if p := f.page(t, "/alerts?assignee=carol"); !strings.Contains(p, `value="`+al.ID+`"`) {
		t.Errorf("console alert list for assignee carol: alert %s missing", al.ID)
	}

	// Triage in the console shows in the API.
	f.post(t, "/alerts/bulk", url.Values{"op": {"assign"}, "id": {al.ID}, "assignee": {"dave"}, "return": {"/alerts"}})
	var got stateAlert
	f.api(t, f.token, "GET", "/api/v1/alerts/"+al.ID, nil, &got, 200)
	if got.Assignee != "dave" || got.AckedBy != "e2e-analyst" {
		t.Errorf("GET /api/v1/alerts/{id} after the console assigned it: got %+v, want assignee dave, acked by e2e-analyst", got)
	}
	f.post(t, "/alerts/bulk", url.Values{"op": {"ack"}, "id": {al.ID}, "return": {"/alerts"}})
	if a, _ := f.alertFor(t, "192.0.2.11"); a.AckedBy != "analyst" {
		t.Errorf("GET /api/v1/alerts after the console acknowledged it: acked by %q, want analyst", a.AckedBy)
	}

	// Disabled in the console: the API shows it, also after a restart.
	f.post(t, "/rules/state", url.Values{"id": {stateRuleID}, "state": {"disabled"}})
	if !f.ruleDisabled(t, f.token) {
		t.Errorf("GET /api/v1/rules after the console disabled the rule: not disabled")
	}
	f.s.terminate()
	f.s.start()
	if !f.ruleDisabled(t, testToken) {
		t.Errorf("GET /api/v1/rules after a restart: the rule is no longer disabled")
	}

	// Every change is audited once, under who made it, whichever side.
	var log struct {
		Entries []struct{ Actor, Action, Target string }
	}
	f.api(t, testToken, "GET", "/api/v1/audit?limit=100&target="+stateRuleID, nil, &log, 200)
	var rules []string
	for _, e := range log.Entries {
		rules = append(rules, e.Action+" by "+e.Actor)
	}
	if want := []string{"rule.disable by analyst", "rule.enable by analyst", "rule.disable by e2e-analyst"}; strings.Join(rules, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit log of the rule, newest first: got %v, want %v", rules, want)
	}
	f.api(t, testToken, "GET", "/api/v1/audit?limit=100&target="+al.ID, nil, &log, 200)
	var triage []string
	for _, e := range log.Entries {
		triage = append(triage, e.Action+" by "+e.Actor)
	}
	if want := []string{"alert.ack by analyst", "alert.assign by analyst", "alert.ack by e2e-analyst", "alert.assign by e2e-analyst"}; strings.Join(triage, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit log of the alert, newest first: got %v, want %v", triage, want)
	}
}
