package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/rulestate"
	"github.com/vigilsec/vigil/internal/sigma"
)

// stateFixture is the API over a migrated metadata database with two
// alerts (a0, a1), two rules (r1, r2), a token per role, and the
// rule-state service and triage the console would share.
type stateFixture struct {
	srv    *httptest.Server
	tokens map[auth.Role]string
	alerts *alert.Store
	triage *alert.Triager
	rules  *rulestate.State
	audit  *audit.Log
}

func newStateFixture(t *testing.T) *stateFixture {
	t.Helper()
	ctx := context.Background()
	db := metatest.Open(t)
	as, err := auth.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	f := &stateFixture{tokens: map[auth.Role]string{}}
	for _, role := range []auth.Role{auth.RoleViewer, auth.RoleAnalyst, auth.RoleAdmin, auth.RoleIngest} {
		secret, _, err := as.CreateToken(ctx, string(role)+"-token", role, nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[role] = secret
	}
	if f.audit, err = audit.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	if f.alerts, err = alert.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 2 {
		if _, err := db.Exec(`INSERT INTO alerts (id, rule_id, rule_title, level, level_rank, tags, count, first_seen, last_seen, entities, grp, event, incident_id, status, dedup_key)
			VALUES (?, 'r1', 'Rule one', 'high', 3, '[]', 1, ?, ?, '{}', '{}', '{}', '', 'open', ?)`, fmt.Sprintf("a%d", i), now.UnixNano(), now.UnixNano()+int64(i), fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	f.triage = alert.NewTriager(f.alerts, alert.TriageOptions{})
	if f.rules, err = rulestate.Open(ctx, db, rulestate.Options{Audit: f.audit.RecordTx}); err != nil {
		t.Fatal(err)
	}
	loaded := &ruleset.Loaded{Set: &sigma.Set{Rules: []*sigma.Rule{{ID: "r1", Title: "Rule one"}, {ID: "r2", Title: "Rule two"}}}}
	a := New(Options{Auth: as, Metrics: metrics.New(), Alerts: f.alerts, Audit: f.audit, RuleState: f.rules,
		Rules: func() *ruleset.Loaded { return loaded }})
	mux := http.NewServeMux()
	a.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *stateFixture) do(t *testing.T, role auth.Role, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.tokens[role])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTriageEndpoints: analysts and admins triage through the API;
// viewers may not; the answer is the alert with its triage, and the change
// is what the console's Triager reads.
func TestTriageEndpoints(t *testing.T) { metatest.Engines(t, testTriageEndpoints) }

func testTriageEndpoints(t *testing.T) {
	tests := []struct {
		name   string
		role   auth.Role
		method string
		path   string
		body   string
		status int
		want   alert.Triage // a0's triage afterwards (AckedAt only checked set)
	}{
		{"ack", auth.RoleAnalyst, "POST", "/api/v1/alerts/a0/ack", "", 200, alert.Triage{AckedBy: "analyst-token"}},
		{"ack as admin", auth.RoleAdmin, "POST", "/api/v1/alerts/a0/ack", "", 200, alert.Triage{AckedBy: "admin-token"}},
		{"assign", auth.RoleAnalyst, "PATCH", "/api/v1/alerts/a0", `{"assignee":"bob"}`, 200, alert.Triage{Assignee: "bob"}},
		{"unassign", auth.RoleAnalyst, "PATCH", "/api/v1/alerts/a0", `{"assignee":""}`, 200, alert.Triage{}},
		{"viewer may not ack", auth.RoleViewer, "POST", "/api/v1/alerts/a0/ack", "", 403, alert.Triage{}},
		{"viewer may not assign", auth.RoleViewer, "PATCH", "/api/v1/alerts/a0", `{"assignee":"bob"}`, 403, alert.Triage{}},
		{"ingest may not ack", auth.RoleIngest, "POST", "/api/v1/alerts/a0/ack", "", 403, alert.Triage{}},
		{"unknown alert", auth.RoleAnalyst, "POST", "/api/v1/alerts/nope/ack", "", 404, alert.Triage{}},
		{"unknown alert, assign", auth.RoleAnalyst, "PATCH", "/api/v1/alerts/nope", `{"assignee":"bob"}`, 404, alert.Triage{}},
		{"nothing to change", auth.RoleAnalyst, "PATCH", "/api/v1/alerts/a0", `{}`, 400, alert.Triage{}},
		{"unknown field", auth.RoleAnalyst, "PATCH", "/api/v1/alerts/a0", `{"assignee":"bob","status":"closed"}`, 400, alert.Triage{}},
		{"assignee too long", auth.RoleAnalyst, "PATCH", "/api/v1/alerts/a0", `{"assignee":"` + strings.Repeat("x", alert.MaxAssignee+1) + `"}`, 400, alert.Triage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newStateFixture(t)
			status, body := f.do(t, tt.role, tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Fatalf("%s %s: got HTTP %d, want %d: %s", tt.method, tt.path, status, tt.status, body)
			}
			got, err := f.triage.Get(context.Background(), "a0")
			if err != nil {
				t.Fatal(err)
			}
			if got.Assignee != tt.want.Assignee || got.AckedBy != tt.want.AckedBy || got.AckedAt.IsZero() != (tt.want.AckedBy == "") {
				t.Errorf("a0's triage: got %+v, want %+v", got.Triage, tt.want)
			}
			if status != 200 {
				return
			}
			// The answer is the alert with its triage.
			var ans map[string]any
			if err := json.Unmarshal([]byte(body), &ans); err != nil {
				t.Fatalf("answer: %v: %s", err, body)
			}
			if ans["id"] != "a0" || ans["rule_id"] != "r1" {
				t.Errorf("answer: got %s, want alert a0", body)
			}
			if tt.want.AckedBy != "" && (ans["acked_by"] != tt.want.AckedBy || ans["acked_at"] == nil) {
				t.Errorf("answer: got %s, want acked_by %s and acked_at", body, tt.want.AckedBy)
			}
			if v, ok := ans["assignee"]; ok != (tt.want.Assignee != "") || (ok && v != tt.want.Assignee) {
				t.Errorf("answer: got %s, want assignee %q", body, tt.want.Assignee)
			}
			// GET /api/v1/alerts lists it with its triage too.
			_, list := f.do(t, auth.RoleViewer, "GET", "/api/v1/alerts", "")
			var l struct{ Alerts []alert.Triaged }
			if err := json.Unmarshal([]byte(list), &l); err != nil || len(l.Alerts) != 2 {
				t.Fatalf("GET /api/v1/alerts: %v: %s", err, list)
			}
			for _, a := range l.Alerts {
				if a.ID == "a0" && (a.Assignee != tt.want.Assignee || a.AckedBy != tt.want.AckedBy) {
					t.Errorf("GET /api/v1/alerts: a0's triage %+v, want %+v", a.Triage, tt.want)
				}
				if a.ID == "a1" && a.Triage != (alert.Triage{}) {
					t.Errorf("GET /api/v1/alerts: a1's triage %+v, want none", a.Triage)
				}
			}
		})
	}
}

// TestTriageAudited: an API change is audited once, under the token's
// name, by the Triager.
func TestTriageAudited(t *testing.T) { metatest.Engines(t, testTriageAudited) }

func testTriageAudited(t *testing.T) {
	f := newStateFixture(t)
	if status, body := f.do(t, auth.RoleAnalyst, "PATCH", "/api/v1/alerts/a1", `{"assignee":"carol"}`); status != 200 {
		t.Fatalf("PATCH: got HTTP %d: %s", status, body)
	}
	es, err := f.audit.List(context.Background(), audit.Filter{Target: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Action != "alert.assign" || es[0].Actor != "analyst-token" || string(es[0].After) != `{"assignee":"carol"}` {
		t.Errorf("audit entries for a1: got %+v, want one alert.assign by analyst-token", es)
	}
}

// TestRuleStateEndpoints: disabling and enabling a rule through the API
// changes the State the console and the detection path read.
func TestRuleStateEndpoints(t *testing.T) { metatest.Engines(t, testRuleStateEndpoints) }

func testRuleStateEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		role     auth.Role
		before   bool // r1 disabled before the call
		path     string
		status   int
		disabled bool // r1 disabled after
		audited  string
	}{
		{"disable", auth.RoleAnalyst, false, "/api/v1/rules/r1/disable", 200, true, "rule.disable"},
		{"disable a disabled rule", auth.RoleAnalyst, true, "/api/v1/rules/r1/disable", 200, true, ""},
		{"enable", auth.RoleAdmin, true, "/api/v1/rules/r1/enable", 200, false, "rule.enable"},
		{"enable an enabled rule", auth.RoleAnalyst, false, "/api/v1/rules/r1/enable", 200, false, ""},
		{"viewer may not disable", auth.RoleViewer, false, "/api/v1/rules/r1/disable", 403, false, ""},
		{"viewer may not enable", auth.RoleViewer, true, "/api/v1/rules/r1/enable", 403, true, ""},
		{"unknown rule", auth.RoleAnalyst, false, "/api/v1/rules/nope/disable", 404, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newStateFixture(t)
			if tt.before {
				if err := f.rules.Disable(ctx, "r1", "setup"); err != nil {
					t.Fatal(err)
				}
			}
			status, body := f.do(t, tt.role, "POST", tt.path, "")
			if status != tt.status {
				t.Fatalf("POST %s: got HTTP %d, want %d: %s", tt.path, status, tt.status, body)
			}
			if got := f.rules.IsDisabled("r1"); got != tt.disabled {
				t.Errorf("r1 disabled: got %v, want %v", got, tt.disabled)
			}
			if f.rules.IsDisabled("r2") {
				t.Errorf("r2 disabled, want untouched")
			}
			if status == 200 {
				var ri struct {
					ID       string
					Disabled bool
				}
				if err := json.Unmarshal([]byte(body), &ri); err != nil || ri.ID != "r1" || ri.Disabled != tt.disabled {
					t.Errorf("answer: got %s (%v), want r1 with disabled %v", body, err, tt.disabled)
				}
			}
			// GET /api/v1/rules shows the state.
			_, list := f.do(t, auth.RoleViewer, "GET", "/api/v1/rules", "")
			var l struct {
				Rules []struct {
					ID       string
					Disabled bool
				}
			}
			if err := json.Unmarshal([]byte(list), &l); err != nil || len(l.Rules) != 2 {
				t.Fatalf("GET /api/v1/rules: %v: %s", err, list)
			}
			for _, r := range l.Rules {
				if want := r.ID == "r1" && tt.disabled; r.Disabled != want {
					t.Errorf("GET /api/v1/rules: %s disabled %v, want %v", r.ID, r.Disabled, want)
				}
			}
			es, err := f.audit.List(ctx, audit.Filter{Actor: string(tt.role) + "-token"})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if len(es) > 0 {
				got = es[0].Action
			}
			if len(es) > 1 || got != tt.audited {
				t.Errorf("audit entries by the caller: got %+v, want %q", es, tt.audited)
			}
		})
	}
}
