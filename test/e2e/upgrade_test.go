package e2e

import (
	"crypto/sha256"
	"database/sql"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/meta"
)

// metaV0 is the metadata schema of Vigil at commit cc4d348 (see the file's
// header for how it was made).
//
//go:embed testdata/meta_v0.sql
var metaV0 string

// Rows of the old data directory.
const (
	v0Password    = "an old but long passphrase"
	v0TokenSecret = "vigil_v0-token-made-before-migrations-0123456789"
	v0IncidentID  = "inc-v0-0001"
	v0AlertID     = "alert-v0-0001"
	v0InfoAlertID = "alert-v0-0002"
	v0Address     = "203.0.113.5"
)

// writeV0DataDir makes a data directory as Vigil at cc4d348 left it: a
// meta.db with that version's schema and no schema_migrations, holding an
// admin user, an API token, an open incident with an alert, an alert in no
// incident, and audit entries without sequence numbers.
func writeV0DataDir(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "meta.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(metaV0); err != nil {
		t.Fatalf("creating the cc4d348 schema: %v", err)
	}
	now := time.Now()
	ago := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	tokenHash := sha256.Sum256([]byte(v0TokenSecret)) // what internal/auth stores for a secret
	ents := fmt.Sprintf(`{"host":["web1"],"source.ip":[%q],"user":["root"]}`, v0Address)
	rows := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO users (id, username, hash, role, created) VALUES (?, ?, ?, ?, ?)`,
			[]any{"u-v0-admin", "admin", auth.HashPassword(v0Password), "admin", ago(72 * time.Hour)}},
		{`INSERT INTO users (id, username, hash, role, created, disabled) VALUES (?, ?, ?, ?, ?, 1)`,
			[]any{"u-v0-gone", "former", auth.HashPassword(v0Password), "analyst", ago(72 * time.Hour)}},
		{`INSERT INTO api_tokens (id, name, hash, role, tags, created) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{"t-v0-ci", "ci", tokenHash[:], "admin", `[]`, ago(48 * time.Hour)}},
		{`INSERT INTO incidents (id, title, status, severity, assignee, source, created, updated, acknowledged_at, entities, tags, summary)
			VALUES (?, ?, 'investigating', 'high', 'admin', 'alert', ?, ?, ?, ?, '["attack.credential-access"]', 'brute force against web1')`,
			[]any{v0IncidentID, "SSH brute force from one source — " + v0Address, ago(3 * time.Hour), ago(2 * time.Hour), ago(150 * time.Minute), ents}},
		{`INSERT INTO incident_entities (incident_id, kind, value) VALUES (?, 'source.ip', ?)`, []any{v0IncidentID, v0Address}},
		{`INSERT INTO incident_timeline (id, incident_id, time, kind, actor, text, data) VALUES ('tl-v0-1', ?, ?, 'alert', 'vigil', '[high] SSH brute force from one source', ?)`,
			[]any{v0IncidentID, ago(3 * time.Hour), fmt.Sprintf(`{"alert_id":%q}`, v0AlertID)}},
		{`INSERT INTO alerts (id, rule_id, rule_title, level, level_rank, tags, count, first_seen, last_seen, entities, grp, event, incident_id, status, dedup_key)
			VALUES (?, 'vigil_ssh_brute_force', 'SSH brute force from one source', 'high', 3, '["attack.credential-access"]', 31, ?, ?, ?, '{}', '{"message":"Failed password for root"}', ?, 'open', 'dedup-v0-1')`,
			[]any{v0AlertID, ago(3 * time.Hour), ago(2 * time.Hour), ents, v0IncidentID}},
		{`INSERT INTO alerts (id, rule_id, rule_title, level, level_rank, tags, count, first_seen, last_seen, entities, event, dedup_key)
			VALUES (?, 'vigil_web_scan', 'Web scanning', 'low', 1, '[]', 4, ?, ?, '{"source.ip":["198.51.100.7"]}', '{}', 'dedup-v0-2')`,
			[]any{v0InfoAlertID, ago(5 * time.Hour), ago(4 * time.Hour)}},
	}
	for i, action := range []string{"user.create", "token.create", "incident.update"} {
		rows = append(rows, struct {
			q    string
			args []any
		}{`INSERT INTO audit_log (id, time, actor, action, target, before, after) VALUES (?, ?, 'admin', ?, ?, '', '{"v":0}')`,
			[]any{fmt.Sprintf("audit-v0-%d", i), ago(time.Duration(10-i) * time.Hour), action, fmt.Sprint("target-", i)}})
	}
	for _, r := range rows {
		if _, err := db.Exec(r.q, r.args...); err != nil {
			t.Fatalf("seeding the old data directory: %v\n%s", err, r.q)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("old data directory: schema_migrations exists (%d, %v); want the schema from before migrations", n, err)
	}
}

// TestUpgradeFromV0 starts the real server on a data directory written by
// Vigil at cc4d348 (issue 9's acceptance: it opens in place with its
// alerts, incidents, users and tokens intact), then checks that the audit
// chain adopted the old entries and that the schema is at the latest
// version.
func TestUpgradeFromV0(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	dir := t.TempDir()
	writeV0DataDir(t, dir)
	s := startServer(t, serverOpts{data: dir})

	// The old token authenticates and keeps its role (admin: it may list
	// users); a wrong one does not.
	if resp, b := s.request("GET", "/api/v1/users", "vigil_not-the-old-token-0123456789", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong token: HTTP %d, want 401: %s", resp.StatusCode, b)
	}
	get := func(path string, v any) {
		t.Helper()
		resp, b := s.request("GET", path, v0TokenSecret, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s with the old token: HTTP %d, want 200: %s", path, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	var users struct{ Users []auth.User }
	get("/api/v1/users", &users)
	var names []string
	for _, u := range users.Users {
		names = append(names, fmt.Sprintf("%s:%s:%v", u.Username, u.Role, u.Disabled))
	}
	slices.Sort(names)
	if want := []string{"admin:admin:false", "former:analyst:true"}; !slices.Equal(names, want) {
		t.Errorf("users: got %v, want %v", names, want)
	}
	var tokens struct{ Tokens []auth.Token }
	get("/api/v1/tokens", &tokens)
	if !slices.ContainsFunc(tokens.Tokens, func(tk auth.Token) bool { return tk.ID == "t-v0-ci" && tk.Name == "ci" && tk.Role == "admin" }) {
		t.Errorf("tokens: got %+v, want the old token t-v0-ci (ci, admin) among them", tokens.Tokens)
	}

	var alerts struct{ Alerts []alert.Alert }
	get("/api/v1/alerts?limit=1000", &alerts)
	byID := map[string]alert.Alert{}
	for _, a := range alerts.Alerts {
		byID[a.ID] = a
	}
	if a, ok := byID[v0AlertID]; !ok {
		t.Errorf("alerts: got %d, want %s among them", len(alerts.Alerts), v0AlertID)
	} else if a.RuleTitle != "SSH brute force from one source" || a.Count != 31 || a.Level != "high" || a.IncidentID != v0IncidentID ||
		a.Status != "open" || !slices.Equal(a.Entities["source.ip"], []string{v0Address}) || a.Campaign || a.EntityCount != 0 {
		t.Errorf("alert %s after the upgrade: got %+v, want it as stored (count 31, high, open, in %s, source.ip %s, no campaign)", v0AlertID, a, v0IncidentID, v0Address)
	}
	if a, ok := byID[v0InfoAlertID]; !ok || a.Count != 4 || a.IncidentID != "" || a.Level != "low" {
		t.Errorf("alert %s after the upgrade: got %+v (found %v), want count 4, low, in no incident", v0InfoAlertID, a, ok)
	}

	var incs struct{ Incidents []incident.Incident }
	get("/api/v1/incidents", &incs)
	if !slices.ContainsFunc(incs.Incidents, func(i incident.Incident) bool { return i.ID == v0IncidentID }) {
		t.Fatalf("incidents: got %d, want %s among them", len(incs.Incidents), v0IncidentID)
	}
	var inc incident.Incident
	get("/api/v1/incidents/"+v0IncidentID, &inc)
	if inc.Title != "SSH brute force from one source — "+v0Address || inc.Status != incident.StatusInvestigating || inc.Severity != "high" ||
		inc.Assignee != "admin" || inc.Summary != "brute force against web1" || inc.AcknowledgedAt.IsZero() {
		t.Errorf("incident after the upgrade: got %q %s %s assignee %q summary %q acknowledged %v; want it as stored",
			inc.Title, inc.Status, inc.Severity, inc.Assignee, inc.Summary, inc.AcknowledgedAt)
	}
	if len(inc.Alerts) != 1 || inc.Alerts[0].ID != v0AlertID {
		t.Errorf("incident's alerts: got %d, want %s", len(inc.Alerts), v0AlertID)
	}
	if !slices.ContainsFunc(inc.Timeline, func(e incident.Entry) bool { return e.Text == "[high] SSH brute force from one source" }) {
		t.Errorf("incident's timeline: got %+v, want the old alert entry", inc.Timeline)
	}

	// The old user signs in to the console with the old password (its
	// argon2id hash is read as stored); a wrong password is refused.
	if code := consoleLogin(t, s, "admin", "not the password at all"); code != http.StatusUnauthorized {
		t.Errorf("console login with a wrong password: HTTP %d, want 401", code)
	}
	c := consoleClient(t)
	if code := consoleLoginWith(t, c, s, "admin", v0Password); code != http.StatusSeeOther {
		t.Fatalf("console login as the old admin: HTTP %d, want 303", code)
	}
	resp, err := c.Get("http://" + s.http + "/incidents/" + v0IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, v0Address) {
		t.Errorf("console incident page as the old admin: HTTP %d, want 200 naming %s", resp.StatusCode, v0Address)
	}

	s.terminate()
	out, code := runAuditVerify(t, "--data", dir)
	if code != 0 || !strings.Contains(out, "OK,") {
		t.Errorf("vigil audit verify --data after the upgrade: exit %d, want 0 and OK:\n%s", code, out)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "meta.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	if err := db.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != meta.Latest() {
		t.Errorf("schema version after the upgrade: got %d, want %d", version, meta.Latest())
	}
	// The old entries come first in the chain, in time order.
	rows, err := db.Query(`SELECT id FROM audit_log WHERE seq <= 3 ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if want := []string{"audit-v0-0", "audit-v0-1", "audit-v0-2"}; !slices.Equal(ids, want) {
		t.Errorf("audit chain's first entries: got %v, want the old ones %v", ids, want)
	}
}

// consoleClient is an HTTP client with a cookie jar that does not follow
// redirects (a login answers 303).
func consoleClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// consoleLogin signs in with a new client and returns the status.
func consoleLogin(t *testing.T, s *server, username, password string) int {
	t.Helper()
	return consoleLoginWith(t, consoleClient(t), s, username, password)
}

// consoleLoginWith signs in to the console as a browser does: the login
// page sets a CSRF cookie that the form must send back.
func consoleLoginWith(t *testing.T, c *http.Client, s *server, username, password string) int {
	t.Helper()
	base := "http://" + s.http
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	u, _ := url.Parse(base)
	var csrf string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "vigil_login_csrf" {
			csrf = ck.Value
		}
	}
	if csrf == "" {
		t.Fatalf("GET /login: HTTP %d set no vigil_login_csrf cookie", resp.StatusCode)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"csrf_token": {csrf}, "username": {username}, "password": {password}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	return resp.StatusCode
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
