package incident

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ids"
	"github.com/vigilsec/vigil/internal/meta"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/sigma"
	_ "modernc.org/sqlite"
)

type fixture struct {
	alerts *alert.Store
	rec    *alert.Recorder
	inc    *Manager
	now    time.Time
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	db := metatest.Open(t)
	ctx := context.Background()
	var err error
	f := &fixture{now: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	if f.alerts, err = alert.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	if f.rec, err = alert.NewRecorder(ctx, f.alerts, nil, alert.Options{Window: time.Hour, Now: clock, MinLevel: "informational"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.rec.Close)
	o.Now = clock
	if f.inc, err = Open(ctx, db, f.alerts, nil, o); err != nil {
		t.Fatal(err)
	}
	f.inc.Forget = f.rec.Forget
	f.rec.AddHook(f.inc)
	return f
}

func rule(id, title, level string, tags ...string) *sigma.Rule {
	return &sigma.Rule{ID: id, Title: title, Level: level, Tags: tags}
}

func ev(t time.Time, fields ...string) *event.Event {
	e := &event.Event{Time: t}
	for i := 0; i+1 < len(fields); i += 2 {
		e.SetString(fields[i], fields[i+1])
	}
	return e
}

func (f *fixture) detect(r *sigma.Rule, e *event.Event) {
	f.rec.Record(detect.Detection{Rule: r, Event: e, Time: e.Time, Count: 1})
}

func TestDedupAndGrouping(t *testing.T) { metatest.Engines(t, testDedupAndGrouping) }

func testDedupAndGrouping(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	fail := rule("r-fail", "SSH authentication failure", "informational", "attack.credential-access")
	brute := rule("r-brute", "SSH brute force", "high", "attack.credential-access")
	base := f.now
	for i := range 30 {
		f.detect(fail, ev(base.Add(time.Duration(i)*time.Second), "host.name", "web1", "source.ip", "203.0.113.9", "user.name", "root"))
	}
	f.rec.Flush()
	as, _ := f.alerts.List(ctx, alert.Filter{})
	if len(as) != 1 || as[0].Count != 30 {
		t.Fatalf("30 identical detections gave %d alerts (first count %d), want 1 with count 30", len(as), countOf(as))
	}
	if as[0].IncidentID != "" {
		t.Errorf("an informational alert opened incident %s; only medium and above open incidents", as[0].IncidentID)
	}
	f.detect(brute, ev(base.Add(31*time.Second), "host.name", "web1", "source.ip", "203.0.113.9"))
	f.rec.Flush()
	incs, _ := f.inc.List(ctx, ListFilter{})
	if len(incs) != 1 {
		t.Fatalf("got %d incidents, want 1", len(incs))
	}
	if !strings.Contains(incs[0].Title, "203.0.113.9") || incs[0].Severity != "high" {
		t.Errorf("incident %q severity %s: want the IP in the title and severity high", incs[0].Title, incs[0].Severity)
	}
	// A later alert sharing the IP joins it; a different IP opens another.
	f.detect(rule("r-ok", "SSH login after brute force", "critical"), ev(base.Add(time.Minute), "source.ip", "203.0.113.9", "user.name", "root"))
	f.detect(brute, ev(base.Add(time.Minute), "host.name", "db1", "source.ip", "198.51.100.1"))
	f.rec.Flush()
	incs, _ = f.inc.List(ctx, ListFilter{})
	if len(incs) != 2 {
		t.Fatalf("got %d incidents, want 2", len(incs))
	}
	full, err := f.inc.Get(ctx, incs[len(incs)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if full.ID == "" || len(full.Tasks) == 0 {
		t.Errorf("incident has %d template tasks, want some for credential access", len(full.Tasks))
	}
}

func countOf(as []alert.Alert) int64 {
	if len(as) == 0 {
		return 0
	}
	return as[0].Count
}

func TestDedupWindowAndEntities(t *testing.T) { metatest.Engines(t, testDedupWindowAndEntities) }

func testDedupWindowAndEntities(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	r := rule("r1", "Failed login", "low")
	f.detect(r, ev(f.now, "host.name", "h", "source.ip", "10.0.0.1", "user.name", "alice"))
	f.detect(r, ev(f.now.Add(time.Minute), "host.name", "h", "source.ip", "10.0.0.1", "user.name", "bob"))
	f.detect(r, ev(f.now.Add(3*time.Hour), "host.name", "h", "source.ip", "10.0.0.1", "user.name", "carol"))
	f.rec.Flush()
	as, _ := f.alerts.List(ctx, alert.Filter{})
	if len(as) != 2 {
		t.Fatalf("got %d alerts, want 2 (the third detection is outside the 1h window)", len(as))
	}
	older := as[1]
	if older.Count != 2 || len(older.Entities["user"]) != 2 {
		t.Errorf("first alert: count %d users %v, want 2 and [alice bob]", older.Count, older.Entities["user"])
	}
}

func TestSuppression(t *testing.T) { metatest.Engines(t, testSuppression) }

func testSuppression(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	r := rule("r1", "Failed login", "high")
	sp := &alert.Suppression{RuleID: "r1", Query: "source.ip:10.0.0.0/8", Reason: "internal scanner", Author: "alice", Expires: f.now.Add(time.Hour)}
	if err := f.rec.AddSuppression(ctx, sp, true); err != nil {
		t.Fatal(err)
	}
	f.detect(r, ev(f.now, "source.ip", "10.1.2.3"))
	f.detect(r, ev(f.now, "source.ip", "203.0.113.1"))
	f.rec.Flush()
	as, _ := f.alerts.List(ctx, alert.Filter{})
	if len(as) != 1 || as[0].Entities["source.ip"][0] != "203.0.113.1" {
		t.Fatalf("alerts %v: want only the one from 203.0.113.1", as)
	}
	f.now = f.now.Add(2 * time.Hour) // expired
	f.detect(r, ev(f.now, "source.ip", "10.1.2.3"))
	f.rec.Flush()
	if as, _ := f.alerts.List(ctx, alert.Filter{}); len(as) != 2 {
		t.Errorf("after expiry: %d alerts, want 2", len(as))
	}
	if err := f.alerts.CreateSuppression(ctx, &alert.Suppression{RuleID: "r1", Query: "a:(", Reason: "x"}, f.now); err == nil {
		t.Error("a suppression with a bad query was accepted")
	}
}

func TestStatusTimesAndMetrics(t *testing.T) { metatest.Engines(t, testStatusTimesAndMetrics) }

func testStatusTimesAndMetrics(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	inc, err := f.inc.Create(ctx, "alice", "Manual case", "medium", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(10 * time.Minute)
	st := "acknowledged"
	if _, _, err := f.inc.Update(ctx, inc.ID, "alice", Patch{Status: &st}); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(50 * time.Minute)
	st = "resolved"
	cause := "weak password"
	if _, after, err := f.inc.Update(ctx, inc.ID, "bob", Patch{Status: &st, RootCause: &cause}); err != nil || after.ResolvedAt.IsZero() {
		t.Fatalf("resolve: %v, %+v", err, after)
	}
	m, err := f.inc.Metrics(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m.MTTA != 10*time.Minute || m.MTTR != time.Hour || m.Open != 0 {
		t.Errorf("metrics %+v: want MTTA 10m, MTTR 1h, 0 open", m)
	}
	bad := "done"
	if _, _, err := f.inc.Update(ctx, inc.ID, "bob", Patch{Status: &bad}); err == nil {
		t.Error("unknown status accepted")
	}
	full, _ := f.inc.Get(ctx, inc.ID)
	if len(full.Timeline) < 3 {
		t.Errorf("timeline has %d entries, want the opening and two status changes", len(full.Timeline))
	}
}

func TestRiskOpensIncident(t *testing.T) { metatest.Engines(t, testRiskOpensIncident) }

func testRiskOpensIncident(t *testing.T) {
	f := newFixture(t, Options{Risk: RiskOptions{Threshold: 50}})
	ctx := context.Background()
	// Low alerts (5 points each) from different rules on one user: none
	// opens an incident alone; together they cross 50.
	for i := range 11 {
		r := rule("low-"+string(rune('a'+i)), "Odd thing "+string(rune('a'+i)), "low")
		f.detect(r, ev(f.now.Add(time.Duration(i)*time.Minute), "user.name", "mallory", "host.name", "h"+string(rune('a'+i))))
	}
	f.rec.Flush()
	incs, _ := f.inc.List(ctx, ListFilter{})
	if len(incs) != 1 || incs[0].Source != "risk" || !strings.Contains(incs[0].Title, "mallory") {
		t.Fatalf("incidents %+v: want one risk incident for mallory", incs)
	}
	full, _ := f.inc.Get(ctx, incs[0].ID)
	if len(full.Alerts) < 10 {
		t.Errorf("risk incident holds %d alerts, want the user's recent alerts", len(full.Alerts))
	}
	scores, _ := f.inc.RiskScores(ctx, 1, 10)
	if len(scores) == 0 || scores[0].Value != "mallory" {
		t.Errorf("risk scores %v: want mallory first", scores)
	}
}

func TestMergeSplitReport(t *testing.T) { metatest.Engines(t, testMergeSplitReport) }

func testMergeSplitReport(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	f.detect(rule("a", "Rule A", "high"), ev(f.now, "source.ip", "192.0.2.1"))
	f.detect(rule("b", "Rule B", "high"), ev(f.now, "source.ip", "192.0.2.2"))
	f.rec.Flush()
	incs, _ := f.inc.List(ctx, ListFilter{})
	if len(incs) != 2 {
		t.Fatalf("got %d incidents, want 2", len(incs))
	}
	if err := f.inc.Merge(ctx, incs[0].ID, []string{incs[1].ID}, "alice"); err != nil {
		t.Fatal(err)
	}
	merged, _ := f.inc.Get(ctx, incs[0].ID)
	if len(merged.Alerts) != 2 {
		t.Fatalf("merged incident has %d alerts, want 2", len(merged.Alerts))
	}
	split, err := f.inc.Split(ctx, merged.ID, []string{merged.Alerts[0].ID}, "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := f.inc.Get(ctx, split.ID)
	if len(s2.Alerts) != 1 {
		t.Fatalf("split incident has %d alerts, want 1", len(s2.Alerts))
	}
	f.inc.Comment(ctx, merged.ID, "alice", "Looks like <script>alert(1)</script> a scanner")
	f.inc.RecordAction(ctx, merged.ID, &Action{Name: "block_ip", Target: "192.0.2.1", Status: "ok", Actor: "playbook", Playbook: "ssh"})
	full, _ := f.inc.Get(ctx, merged.ID)
	md, err := Report(full, "md", f.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Incident report", "## Timeline", "block_ip", "## Lessons learned", "&lt;script&gt;"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown report lacks %q", want)
		}
	}
	html, _ := Report(full, "html", f.now)
	if strings.Contains(string(html), "<script>alert") || !strings.Contains(string(html), "&lt;script&gt;") {
		t.Error("HTML report does not escape comment text")
	}
}

func TestInformationalDetectionsDoNotAlertByDefault(t *testing.T) {
	metatest.Engines(t, testInformationalDetectionsDoNotAlertByDefault)
}

func testInformationalDetectionsDoNotAlertByDefault(t *testing.T) {
	db := metatest.Open(t)
	ctx := context.Background()
	as, _ := alert.Open(ctx, db)
	seen := 0
	rec, err := alert.NewRecorder(ctx, as, nil, alert.Options{OnDetection: func(*detect.Detection) { seen++ }})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec.Record(detect.Detection{Rule: rule("i", "Info", "informational"), Event: ev(now, "source.ip", "192.0.2.1"), Time: now})
	rec.Record(detect.Detection{Rule: rule("l", "Low", "low"), Event: ev(now, "source.ip", "192.0.2.1"), Time: now})
	rec.Flush()
	rec.Close()
	got, _ := as.List(ctx, alert.Filter{})
	if len(got) != 1 || got[0].RuleID != "l" || seen != 2 {
		t.Errorf("alerts %v, detections seen %d: want only the low one alerted and both counted", got, seen)
	}
	if _, err := alert.NewRecorder(ctx, as, nil, alert.Options{MinLevel: "severe"}); err == nil {
		t.Error("an unknown min level was accepted")
	}
}

// TestRiskIndexBounded: entity scores live in a bounded in-memory index
// written once per batch; past the bound the index is dropped (counted)
// and scores are read back from the table, so a score survives an
// eviction and the table always has what the index had.
func TestRiskIndexBounded(t *testing.T) { metatest.Engines(t, testRiskIndexBounded) }

func testRiskIndexBounded(t *testing.T) {
	db := metatest.Open(t)
	ctx := context.Background()
	as, _ := alert.Open(ctx, db)
	evicted := 0
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	m, err := Open(ctx, db, as, nil, Options{Now: func() time.Time { return now },
		Risk: RiskOptions{MaxEntities: 3, Threshold: 1000, OnEvict: func(n int) { evicted += n }}})
	if err != nil {
		t.Fatal(err)
	}
	change := func(user string) alert.Change {
		return alert.Change{Added: 1, Alert: alert.Alert{ID: ids.New(), RuleID: "r", RuleTitle: "r", Level: "low",
			LastSeen: now, FirstSeen: now, Entities: map[string][]string{"user": {user}}}}
	}
	// Ten users, then the first again: the index (3 scores) overflows.
	for i := range 10 {
		m.AlertsChanged(ctx, []alert.Change{change(fmt.Sprintf("u%d", i))})
	}
	m.AlertsChanged(ctx, []alert.Change{change("u0")})
	if evicted == 0 {
		t.Error("no eviction counted past MaxEntities")
	}
	if len(m.risk.scores) > 3 {
		t.Errorf("index holds %d scores, want at most 3", len(m.risk.scores))
	}
	var score float64
	if err := db.QueryRow(`SELECT score FROM entity_risk WHERE kind = 'user' AND value = 'u0'`).Scan(&score); err != nil {
		t.Fatal(err)
	}
	if score != 10 { // two low alerts, 5 points each, no decay at the same instant
		t.Errorf("u0's score in the table: %v, want 10 (kept across the eviction)", score)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM entity_risk`).Scan(&n)
	if n != 10 {
		t.Errorf("scores in the table: %d, want 10", n)
	}
}

// A wave's batch is written in chunks of meta.RowsPerStatement: every action
// of a batch that spans several chunks (and a partial last one) gets its
// intent, then its result, under its own id, on both engines.
func TestRecordActionsInChunks(t *testing.T) { metatest.Engines(t, testRecordActionsInChunks) }

func testRecordActionsInChunks(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	inc, err := f.inc.Create(ctx, "alice", "wave", "high", nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 2*meta.RowsPerStatement + 7
	acts := make([]*Action, n)
	for i := range acts {
		acts[i] = &Action{Name: "block_ip", Target: fmt.Sprintf("198.18.0.%d", i), Status: "running", Actor: "playbook", Playbook: "ssh"}
	}
	record := func() {
		t.Helper()
		tx, err := f.inc.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := f.inc.RecordActionsTx(ctx, tx, inc.ID, acts); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	record()
	for i, a := range acts {
		a.Status, a.Result = "ok", "set updated"
		if i == n-1 {
			a.Status, a.Result = "failed", "token=s3cret refused"
		}
	}
	record()
	got, err := f.inc.actions(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("got %d actions, want %d (one row per target, intent and result under one id)", len(got), n)
	}
	byTarget := map[string]Action{}
	for _, a := range got {
		byTarget[a.Target] = a
	}
	for i := range n {
		a, ok := byTarget[fmt.Sprintf("198.18.0.%d", i)]
		want := "ok"
		if i == n-1 {
			want = "failed"
		}
		if !ok || a.Status != want || a.ID != acts[i].ID {
			t.Errorf("target %d: got %+v, want status %s under id %s", i, a, want, acts[i].ID)
		}
	}
	if r := byTarget[fmt.Sprintf("198.18.0.%d", n-1)].Result; strings.Contains(r, "s3cret") {
		t.Errorf("result stored unmasked: %q", r)
	}
}
