package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/rulestate"
	"github.com/vigilsec/vigil/internal/sigma"
)

func TestAlertBulkOperations(t *testing.T) { metatest.Engines(t, testAlertBulkOperations) }

func testAlertBulkOperations(t *testing.T) {
	e := newEnv(t)
	ids := e.addAlerts(t, 4)
	c := e.client(t)
	c.login("analyst")
	ctx := context.Background()
	post := func(form url.Values) string {
		t.Helper()
		resp, body := c.post("/alerts/bulk", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %v: got %d, want 303; %.200s", form, resp.StatusCode, body)
		}
		loc := resp.Header.Get("Location")
		if strings.Contains(loc, "err=") {
			t.Fatalf("POST %v: redirected with an error: %s", form, loc)
		}
		return loc
	}
	post(url.Values{"op": {"ack"}, "id": ids[:2]})
	post(url.Values{"op": {"assign"}, "id": ids[1:3], "assignee": {"bob"}})
	tri, err := e.c.triage.Of(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for id, tr := range tri {
		got[id] = [2]string{tr.AckedBy, tr.Assignee}
	}
	want := map[string][2]string{ids[0]: {"analyst", ""}, ids[1]: {"analyst", "bob"}, ids[2]: {"", "bob"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("triage (-want +got):\n%s", d)
	}
	// One audit entry per alert, written by the Triager.
	if es, err := e.o.Audit.List(ctx, audit.Filter{Action: "alert.ack"}); err != nil || len(es) != 2 || es[0].Actor != "analyst" {
		t.Errorf("audit entries for the ack: got %+v, %v; want 2 by analyst", es, err)
	}
	_, page := c.get("/alerts?assignee=bob")
	if n := strings.Count(page, `name="id" value=`); n != 2 {
		t.Errorf("alerts assigned to bob: got %d rows, want 2", n)
	}

	post(url.Values{"op": {"suppress"}, "id": ids[:1], "reason": {"lab scanner"}, "expires": {"7d"}})
	sups, _ := e.o.Alerts.ListSuppressions(ctx)
	if len(sups) != 1 || sups[0].Reason != "lab scanner" || sups[0].Author != "analyst" || sups[0].Expires.IsZero() {
		t.Errorf("got suppressions %+v, want one by analyst for lab scanner with an expiry", sups)
	}
	if resp, _ := c.post("/alerts/bulk", url.Values{"op": {"suppress"}, "id": ids[:1]}); !strings.Contains(resp.Header.Get("Location"), "err=") {
		t.Errorf("suppression without a reason: got no error")
	}

	loc := post(url.Values{"op": {"incident"}, "id": ids[2:4], "title": {"Two alerts"}})
	incID := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/incidents/")
	inc, err := e.o.Incidents.Get(ctx, incID)
	if err != nil {
		t.Fatalf("incident %q from %s: %v", incID, loc, err)
	}
	if inc.Title != "Two alerts" || len(inc.Alerts) != 2 {
		t.Errorf("got incident %q with %d alerts, want \"Two alerts\" with 2", inc.Title, len(inc.Alerts))
	}

	post(url.Values{"op": {"close"}, "id": ids[:1]})
	if a, _ := e.o.Alerts.Get(ctx, ids[0]); a.Status != "closed" {
		t.Errorf("closed alert: got status %q", a.Status)
	}
	post(url.Values{"op": {"reopen"}, "id": ids[:1]})
	if a, _ := e.o.Alerts.Get(ctx, ids[0]); a.Status != "open" {
		t.Errorf("reopened alert: got status %q", a.Status)
	}
}

// TestTriageSharedWithAPI: triage changed outside the console, through a
// Triager of its own as the API has, shows on the console's alert pages.
func TestTriageSharedWithAPI(t *testing.T) { metatest.Engines(t, testTriageSharedWithAPI) }

func testTriageSharedWithAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ids := e.addAlerts(t, 2)
	api := alert.NewTriager(e.o.Alerts, alert.TriageOptions{Audit: e.o.Audit.RecordTx})
	if err := api.Ack(ctx, ids[:1], "soar-token"); err != nil {
		t.Fatal(err)
	}
	if err := api.Assign(ctx, ids[:1], "carol", "soar-token"); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("viewer")
	_, page := c.get("/alerts/" + ids[0])
	for _, want := range []string{"soar-token, ", `<td>carol</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("alert page: %q missing", want)
		}
	}
	_, page = c.get("/alerts?assignee=carol")
	if n := strings.Count(page, `<span class="pill">ack soar-token</span> <span class="pill">→ carol</span>`); n != 1 {
		t.Errorf("alerts assigned to carol: got %d rows, want 1", n)
	}
}

// fakeMatcher reports one detection of its rule for every event.
type fakeMatcher struct{ rule *sigma.Rule }

func (f fakeMatcher) Match(ev *event.Event, fn func(detect.Detection)) {
	fn(detect.Detection{Rule: f.rule, Event: ev})
}

func TestDisabledRulesAreFiltered(t *testing.T) {
	e := newEnv(t)
	rule := builtinRules(t).Set.Rules[0]
	// The server filters its engine with the same State the console
	// changes.
	m := e.o.RuleState.Filter(fakeMatcher{rule})
	count := func() int {
		n := 0
		m.Match(&event.Event{}, func(detect.Detection) { n++ })
		return n
	}
	if got := count(); got != 1 {
		t.Fatalf("enabled rule: got %d detections, want 1", got)
	}
	c := e.client(t)
	c.login("analyst")
	c.post("/rules/state", url.Values{"id": {rule.ID}, "state": {"disabled"}})
	if got := count(); got != 0 {
		t.Errorf("disabled rule: got %d detections, want 0", got)
	}
	_, page := c.get("/rules?q=" + url.QueryEscape(rule.ID))
	if !strings.Contains(page, ">disabled</span>") {
		t.Errorf("rules page does not show the rule disabled")
	}
	// The state survives a restart: a new State reads it back.
	rs, err := rulestate.Open(context.Background(), e.db.Meta(), rulestate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rs.IsDisabled(rule.ID) {
		t.Errorf("disabled state lost on restart")
	}
	c.post("/rules/state", url.Values{"id": {rule.ID}, "state": {"enabled"}})
	if got := count(); got != 1 {
		t.Errorf("re-enabled rule: got %d detections, want 1", got)
	}
	// Each change is audited once, by the rule-state service.
	es, err := e.o.Audit.List(context.Background(), audit.Filter{Target: rule.ID})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, en := range es {
		acts = append(acts, en.Action+" by "+en.Actor)
	}
	if want := []string{"rule.enable by analyst", "rule.disable by analyst"}; !slices.Equal(acts, want) {
		t.Errorf("audit entries: got %v, want %v", acts, want)
	}
}

// TestRuleStateSharedWithAPI: a rule disabled through the State outside
// the console (as the API does) shows disabled on the console's pages, and
// the console's enable button enables it for everyone.
func TestRuleStateSharedWithAPI(t *testing.T) { metatest.Engines(t, testRuleStateSharedWithAPI) }

func testRuleStateSharedWithAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rule := builtinRules(t).Set.Rules[0]
	if err := e.o.RuleState.Disable(ctx, rule.ID, "api-token"); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("viewer")
	_, page := c.get("/rules/view?id=" + url.QueryEscape(rule.ID))
	if !strings.Contains(page, "state <b>disabled</b>") {
		t.Errorf("rule page does not show the rule disabled elsewhere")
	}
	c = e.client(t)
	c.login("analyst")
	c.post("/rules/state", url.Values{"id": {rule.ID}, "state": {"enabled"}})
	if e.o.RuleState.IsDisabled(rule.ID) {
		t.Errorf("rule still disabled after the console enabled it")
	}
}

func TestRuleTest(t *testing.T) {
	e := newEnv(t)
	var ruleID string
	for _, r := range builtinRules(t).Set.Rules {
		if r.Title == "SSH authentication failure" {
			ruleID = r.ID
		}
	}
	if ruleID == "" {
		t.Skip("the bundled rules have no SSH authentication failure rule")
	}
	c := e.client(t)
	c.login("viewer")
	ts := time.Now().UTC().Format("Jan _2 15:04:05")
	for _, tc := range []struct {
		name, events, want string
	}{
		{"syslog lines", "<38>" + ts + " web01 sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2\n<38>" + ts + " web01 sshd[2]: Accepted password for root from 192.0.2.1 port 22 ssh2", "<b>1</b> of 2 events match."},
		{"JSON array", `[{"message":"hello"}]`, "<b>0</b> of 1 events match."},
		{"nothing", "  \n ", "paste at least one event"},
		{"broken JSON", `[{"a":`, "pasted JSON array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := c.post("/rules/test", url.Values{"id": {ruleID}, "events": {tc.events}})
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) {
				t.Errorf("got %d, want 200 with %q; %.400s", resp.StatusCode, tc.want, body)
			}
		})
	}
}

func TestSearchExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	var evs []*event.Event
	for i, v := range []string{"=cmd|' /C calc'!A0", "plain"} {
		ev := &event.Event{Time: now.Add(-time.Duration(i) * time.Minute), Received: now}
		ev.SetString("message", "export test "+v)
		ev.SetString("user.name", v)
		evs = append(evs, ev)
	}
	if err := e.db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("viewer")
	resp, body := c.get("/search/export?q=export&range=all&format=csv")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV export: got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV export does not parse: %v", err)
	}
	if len(rows) != 3 || rows[0][0] != "@timestamp" {
		t.Fatalf("got rows %q, want a header and 2 events", rows)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "user.name" {
			col = i
		}
	}
	if col < 0 || rows[1][col] != "'=cmd|' /C calc'!A0" || rows[2][col] != "plain" {
		t.Errorf("got user.name cells %q, want the formula prefixed with '", rows)
	}
	resp, body = c.get("/search/export?q=export&range=all&format=json")
	var res struct {
		Total  int64            `json:"total"`
		Events []map[string]any `json:"events"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || res.Total != 2 || len(res.Events) != 2 {
		t.Errorf("JSON export: got %d %.300s, want 2 events", resp.StatusCode, body)
	}
	_, page := c.get("/search?q=export&range=all")
	if !strings.Contains(page, "2 events") {
		t.Errorf("search page does not show 2 events")
	}
	_, side := c.get("/search/fields?q=export&range=all&field=user.name")
	if !strings.Contains(side, "user.name%3Aplain") && !strings.Contains(side, "user.name:plain") {
		t.Errorf("sidebar has no filter link for user.name=plain: %.500s", side)
	}
	_, agg := c.get("/search?q=" + url.QueryEscape("export | stats count() by user.name") + "&range=all")
	if !strings.Contains(agg, "2 rows") {
		t.Errorf("aggregate search does not show 2 rows")
	}
}

func TestSettingsAdmin(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.login("admin")
	if resp, _ := c.post("/settings/users", url.Values{"username": {"carol"}, "password": {testPassword}, "role": {"viewer"}}); strings.Contains(resp.Header.Get("Location"), "err=") {
		t.Fatalf("creating a user: %s", resp.Header.Get("Location"))
	}
	resp, body := c.post("/settings/tokens", url.Values{"name": {"shipper"}, "role": {"ingest"}, "expires": {"30d"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="new-token">vgl_`) {
		t.Fatalf("creating a token: got %d, want the page with the new token", resp.StatusCode)
	}
	toks, _ := e.o.Auth.ListTokens(context.Background())
	if len(toks) != 1 || toks[0].Name != "shipper" || toks[0].Expires.IsZero() {
		t.Errorf("got tokens %+v, want shipper with an expiry", toks)
	}
	_, page := c.get("/settings")
	if strings.Contains(page, "vgl_") {
		t.Errorf("the settings page shows a token secret again")
	}
	if !strings.Contains(page, "carol") {
		t.Errorf("the settings page does not list the new user")
	}
}

func TestSettingsRoutes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.login("admin")
	resp, _ := c.post("/settings/routes", url.Values{"name": {"soc"}, "type": {"webhook"}, "url": {"https://hooks.example/vigil"}, "secret": {"s3cret-value"}, "min_level": {"high"}})
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "err=") {
		t.Fatalf("creating a route: %s", loc)
	}
	rs, _ := e.o.Notifier.ListRoutes(context.Background())
	if len(rs) != 1 || !rs[0].Enabled || rs[0].Secret != "s3cret-value" {
		t.Fatalf("got routes %+v, want one enabled webhook with its secret", rs)
	}
	_, page := c.get("/settings")
	if strings.Contains(page, "s3cret-value") {
		t.Errorf("the settings page shows a route secret")
	}
	c.post("/settings/routes/"+rs[0].ID+"/enabled", url.Values{"enabled": {"false"}})
	got, _ := e.o.Notifier.GetRoute(context.Background(), rs[0].ID)
	if got.Enabled || got.Secret != "s3cret-value" {
		t.Errorf("disabled route: got enabled %v secret %q, want false and the secret kept", got.Enabled, got.Secret)
	}
	c.post("/settings/routes/"+rs[0].ID+"/delete", nil)
	if rs, _ := e.o.Notifier.ListRoutes(context.Background()); len(rs) != 0 {
		t.Errorf("deleted route still listed: %+v", rs)
	}
}

func TestPlaybookApproval(t *testing.T) { metatest.Engines(t, testPlaybookApproval) }

func testPlaybookApproval(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	book, err := respond.Parse([]byte(`name: approve-then-comment
description: waits for a person, then comments
trigger:
  on: manual
steps:
  - name: ask
    action: approval
  - name: note
    action: comment
    with:
      text: approved and done
`), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	e.o.Runner.SetPlaybooks([]*respond.Playbook{book})
	ids := e.addAlerts(t, 1)
	inc, err := e.o.Incidents.Create(ctx, "admin", "Needs approval", "high", ids)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login("analyst")
	c.post("/incidents/"+inc.ID+"/playbooks", url.Values{"playbook": {"approve-then-comment"}})
	// The run was queued; Flush returns once the runner has done what
	// it can (the approval step waits).
	e.o.Runner.Flush()
	var pending string
	got, _ := e.o.Incidents.Get(ctx, inc.ID)
	for _, a := range got.Actions {
		if a.Status == "pending_approval" {
			pending = a.ID
		}
	}
	if pending == "" {
		t.Fatal("no action waits for approval")
	}
	_, page := c.get("/incidents/" + inc.ID)
	if !strings.Contains(page, "/actions/"+pending+"/approve") {
		t.Errorf("the incident page offers no approval of %s", pending)
	}
	resp, _ := c.post("/incidents/"+inc.ID+"/actions/"+pending+"/approve", nil)
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "err=") {
		t.Fatalf("approve: %s", loc)
	}
	// The approval queued the rest of the run: Flush waits for it.
	e.o.Runner.Flush()
	done := false
	got, _ = e.o.Incidents.Get(ctx, inc.ID)
	for _, cm := range got.Comments {
		done = done || strings.Contains(cm.Text, "approved and done")
	}
	for _, a := range got.Actions {
		done = done || (a.Name == "comment" && a.Status == "ok")
	}
	if !done {
		t.Errorf("the approved playbook did not run its comment step")
	}
	if resp, _ := c.post("/incidents/"+inc.ID+"/actions/"+pending+"/maybe", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown decision: got %d, want 404", resp.StatusCode)
	}
}
