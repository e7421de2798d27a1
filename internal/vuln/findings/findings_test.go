package findings

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/vuln/db"
	"github.com/vigilsec/vigil/internal/vuln/scan"
)

// Advisories for the tests: GO-2099-0001 and GHSA-2099-aaaa-bbbb are one
// vulnerability (aliases) in example.com/lib before 1.2.0, its CVE is in
// KEV (P1); GO-2099-0002 is in example.com/other from 1.0.0 before 1.5.0.
var testAdvisories = map[string]string{
	"GO-2099-0001.json": `{"id":"GO-2099-0001","modified":"2099-01-01T00:00:00Z","aliases":["CVE-2099-1000","GHSA-2099-aaaa-bbbb"],
		"summary":"lib bug","affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`,
	"GHSA-2099-aaaa-bbbb.json": `{"id":"GHSA-2099-aaaa-bbbb","modified":"2099-01-01T00:00:00Z","aliases":["CVE-2099-1000"],
		"affected":[{"package":{"ecosystem":"Go","name":"example.com/lib"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`,
	"GO-2099-0002.json": `{"id":"GO-2099-0002","modified":"2099-01-01T00:00:00Z","summary":"other bug",
		"affected":[{"package":{"ecosystem":"Go","name":"example.com/other"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.5.0"}]}]}]}`,
	"kev.json": `{"catalogVersion":"1","dateReleased":"2099-01-01T00:00:00Z","count":1,"vulnerabilities":[
		{"cveID":"CVE-2099-1000","dateAdded":"2099-01-01","dueDate":"2099-01-22"}]}`,
}

// writeAdvisories imports testAdvisories into a new advisory database and
// returns its folder.
func writeAdvisories(t testing.TB) string {
	t.Helper()
	src, dir := t.TempDir(), filepath.Join(t.TempDir(), "vulndb")
	var paths []string
	for name, body := range testAdvisories {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	d, err := db.Open(context.Background(), dir, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Import(context.Background(), paths...); err != nil {
		t.Fatal(err)
	}
	return dir
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type raised struct {
	mu     sync.Mutex
	alerts []alert.Alert
}

func (r *raised) Raise(a alert.Alert) { r.mu.Lock(); r.alerts = append(r.alerts, a); r.mu.Unlock() }

// countingLock is a sync.Locker that counts its holds and fails the test
// when it is taken twice or released unheld.
type countingLock struct {
	t     *testing.T
	held  bool
	holds int
}

func (l *countingLock) Lock() {
	if l.held {
		l.t.Error("write lock taken while held")
	}
	l.held = true
	l.holds++
}

func (l *countingLock) Unlock() {
	if !l.held {
		l.t.Error("write lock released unheld")
	}
	l.held = false
}

func newTestService(t *testing.T) (*Service, *clock, *raised) {
	t.Helper()
	c := &clock{t: time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC)}
	r := &raised{}
	lock := &countingLock{t: t}
	t.Cleanup(func() {
		if lock.held {
			t.Error("write lock still held at the end")
		}
	})
	s, err := Open(Options{DB: metatest.Open(t), VulnDB: writeAdvisories(t), Now: c.Now, Alerts: r, WriteLock: lock})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, r
}

func goPkg(name, version string) scan.Package {
	return scan.Package{Ecosystem: "Go", Name: name, Version: version, Location: "go.mod", Kind: "go.mod"}
}

var web01 = Asset{Kind: KindScan, Name: "web-01", Tags: []string{"internet-facing"}}

func reconcile(t *testing.T, s *Service, pkgs ...scan.Package) Result {
	t.Helper()
	r, err := s.Reconcile(context.Background(), AssetInventory{Asset: web01, Packages: pkgs})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// only returns the one finding of pkg, failing when there are more.
func only(t *testing.T, s *Service, pkg string) Finding {
	t.Helper()
	fs, _, err := s.List(context.Background(), Filter{Limit: MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var got []Finding
	for _, f := range fs {
		if f.Package == pkg {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("findings of %s: got %d, want 1: %+v", pkg, len(got), got)
	}
	return got[0]
}

func TestLifecycle(t *testing.T) { metatest.Engines(t, testLifecycle) }

func testLifecycle(t *testing.T) {
	s, c, _ := newTestService(t)
	// Each step reconciles web-01 with example.com/lib at a version (""
	// removes it) and checks the finding's state.
	steps := []struct {
		name, version string
		wantState     string
		wantFixedBy   string
		want          Result
	}{
		{"first seen", "v1.0.0", StateNew, "", Result{Matches: 1, New: 1}},
		{"seen again", "v1.0.0", StateOpen, "", Result{Matches: 1, Unchanged: 1}},
		{"still open", "v1.1.0", StateOpen, "", Result{Matches: 1, Unchanged: 1}},
		{"upgraded to the fix", "v1.2.0", StateFixed, "v1.2.0", Result{Fixed: 1}},
		{"stays fixed", "v1.3.0", StateFixed, "v1.2.0", Result{}},
		{"downgraded", "v1.1.0", StateReopened, "", Result{Matches: 1, Reopened: 1}},
		{"seen again after reopening", "v1.1.0", StateOpen, "", Result{Matches: 1, Unchanged: 1}},
		{"removed", "", StateFixed, "", Result{Fixed: 1}},
	}
	var id string
	for _, st := range steps {
		c.Add(time.Hour)
		var pkgs []scan.Package
		if st.version != "" {
			pkgs = append(pkgs, goPkg("example.com/lib", st.version))
		}
		pkgs = append(pkgs, goPkg("example.com/clean", "v1.0.0"))
		got := reconcile(t, s, pkgs...)
		st.want.Asset, st.want.Packages = "scan:web-01", len(pkgs)
		if got != st.want {
			t.Errorf("%s: reconcile: got %+v, want %+v", st.name, got, st.want)
		}
		f := only(t, s, "example.com/lib")
		if id == "" {
			id = f.ID
		}
		if f.ID != id {
			t.Errorf("%s: finding id: got %s, want %s (one finding across reconciles)", st.name, f.ID, id)
		}
		if f.State != st.wantState || f.FixedBy != st.wantFixedBy {
			t.Errorf("%s: got state %s fixed_by %q, want %s %q", st.name, f.State, f.FixedBy, st.wantState, st.wantFixedBy)
		}
	}
	f, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	// Aliases merged: GO-, GHSA- and CVE- ids are one finding.
	if f.Vulnerability != "GO-2099-0001" || strings.Join(f.Aliases, " ") != "CVE-2099-1000 GHSA-2099-aaaa-bbbb" {
		t.Errorf("got vulnerability %s aliases %v, want GO-2099-0001 with the CVE and GHSA", f.Vulnerability, f.Aliases)
	}
	if f.Priority != "P1" || f.Decision != scan.Act || !f.KEV {
		t.Errorf("got priority %s decision %s kev %v, want P1 Act true (its CVE is in KEV)", f.Priority, f.Decision, f.KEV)
	}
	if want := f.FirstSeen.Add(7 * 24 * time.Hour); !f.Due.Equal(want) {
		t.Errorf("due: got %v, want first seen + 7 days = %v", f.Due, want)
	}
	if f.Detail == nil || f.Detail.Evidence.Range.Fixed != "1.2.0" {
		t.Errorf("detail: got %+v, want the evidence with the range fixed at 1.2.0", f.Detail)
	}
	var trail []string
	for _, h := range f.History {
		trail = append(trail, h.From+">"+h.To)
	}
	if got, want := strings.Join(trail, " "), ">new new>open open>fixed fixed>reopened reopened>open open>fixed"; got != want {
		t.Errorf("history: got %s, want %s", got, want)
	}
	// The history is append-only in the database itself.
	if _, err := s.db.Exec(`UPDATE vuln_finding_history SET reason = 'x' WHERE finding = ?`, id); err == nil {
		t.Error("updating the history: got no error, want the append-only trigger's")
	}
	if _, err := s.db.Exec(`DELETE FROM vuln_finding_history WHERE finding = ?`, id); err == nil {
		t.Error("deleting the history: got no error, want the append-only trigger's")
	}
}

func TestFalsePositiveStaysClosed(t *testing.T) { metatest.Engines(t, testFalsePositive) }

func testFalsePositive(t *testing.T) {
	s, c, _ := newTestService(t)
	ctx := context.Background()
	reconcile(t, s, goPkg("example.com/other", "v1.1.0"))
	f := only(t, s, "example.com/other")
	if f.Priority != "P4" {
		t.Errorf("priority: got %s, want P4 (no KEV, CVSS or EPSS)", f.Priority)
	}
	if _, err := s.SetState(ctx, f.ID, StateFalsePositive, "user:ann", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("false positive without a reason: got %v, want ErrInvalid", err)
	}
	if _, err := s.SetState(ctx, f.ID, StateFalsePositive, "user:ann", "not reachable: the code path is never built"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c.Add(time.Hour)
		reconcile(t, s, goPkg("example.com/other", "v1.1.0"))
		if got := only(t, s, "example.com/other"); got.State != StateFalsePositive || got.Reason == "" {
			t.Errorf("after a reconcile: got %s %q, want false_positive with its reason", got.State, got.Reason)
		}
	}
	// Upgraded past the fix, it stays a false positive (closed).
	reconcile(t, s, goPkg("example.com/other", "v1.5.0"))
	if got := only(t, s, "example.com/other"); got.State != StateFalsePositive {
		t.Errorf("after the upgrade: got %s, want false_positive", got.State)
	}
	for _, tc := range []struct{ to, want string }{
		{StateOpen, "conflict"},
		{StateReopened, ""},
		{StateReopened, "conflict"},
		{"fixed", "invalid"},
	} {
		_, err := s.SetState(ctx, f.ID, tc.to, "user:ann", "")
		switch {
		case tc.want == "" && err != nil, tc.want == "conflict" && !errors.Is(err, ErrConflict), tc.want == "invalid" && !errors.Is(err, ErrInvalid):
			t.Errorf("set state %s: got %v, want %s", tc.to, err, tc.want)
		}
	}
	if _, err := s.SetState(ctx, "nope", StateReopened, "user:ann", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown finding: got %v, want ErrNotFound", err)
	}
}

func TestAcceptance(t *testing.T) { metatest.Engines(t, testAcceptance) }

func testAcceptance(t *testing.T) {
	s, c, _ := newTestService(t)
	ctx := context.Background()
	reconcile(t, s, goPkg("example.com/lib", "v1.0.0"))
	f := only(t, s, "example.com/lib")
	until := c.Now().Add(30 * 24 * time.Hour)
	for _, tc := range []struct {
		name, reason string
		expires      time.Time
	}{
		{"no reason", "", until},
		{"in the past", "compensating control", c.Now().Add(-time.Hour)},
		{"past a year", "compensating control", c.Now().Add(MaxAcceptance + time.Hour)},
		{"reason too long", strings.Repeat("r", MaxReasonLen+1), until},
		{"control character", "a\x1bb", until},
	} {
		if _, err := s.RequestAcceptance(ctx, f.ID, "user:ann", tc.reason, tc.expires); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", tc.name, err)
		}
	}
	// The longest acceptance allowed is accepted.
	if _, err := s.RequestAcceptance(ctx, f.ID, "user:ann", "waf rule blocks it", c.Now().Add(MaxAcceptance)); err != nil {
		t.Fatalf("acceptance of MaxAcceptance: %v", err)
	}
	if _, err := s.RequestAcceptance(ctx, f.ID, "user:bob", "again", until); !errors.Is(err, ErrConflict) {
		t.Errorf("second pending request: got %v, want ErrConflict", err)
	}
	if _, err := s.DecideAcceptance(ctx, f.ID, "user:bob", false, "too long"); err != nil {
		t.Fatal(err)
	}
	if got := only(t, s, "example.com/lib"); got.State != StateNew {
		t.Errorf("after a rejection: got %s, want new", got.State)
	}
	if _, err := s.DecideAcceptance(ctx, f.ID, "user:bob", true, ""); !errors.Is(err, ErrConflict) {
		t.Errorf("approving with none pending: got %v, want ErrConflict", err)
	}
	if _, err := s.RequestAcceptance(ctx, f.ID, "user:ann", "waf rule blocks it", until); err != nil {
		t.Fatal(err)
	}
	// Two-person rule: the requester may not approve.
	if _, err := s.DecideAcceptance(ctx, f.ID, "user:ann", true, ""); !errors.Is(err, ErrSamePerson) {
		t.Errorf("self-approval: got %v, want ErrSamePerson", err)
	}
	a, err := s.DecideAcceptance(ctx, f.ID, "user:bob", true, "ok until the upgrade window")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != AcceptApproved || a.RequestedBy != "user:ann" || a.DecidedBy != "user:bob" {
		t.Errorf("got %+v, want approved, requested by ann, decided by bob", a)
	}
	// Reconciles leave it accepted while it holds.
	c.Add(24 * time.Hour)
	reconcile(t, s, goPkg("example.com/lib", "v1.0.0"))
	if got := only(t, s, "example.com/lib"); got.State != StateRiskAccepted || !got.AcceptedUntil.Equal(until) {
		t.Errorf("accepted: got %s until %v, want risk_accepted until %v", got.State, got.AcceptedUntil, until)
	}
	if n, err := s.ExpireAcceptances(ctx); err != nil || n != 0 {
		t.Errorf("expiry before the date: got %d, %v, want 0", n, err)
	}
	c.Add(30 * 24 * time.Hour)
	if n, err := s.ExpireAcceptances(ctx); err != nil || n != 1 {
		t.Errorf("expiry after the date: got %d, %v, want 1", n, err)
	}
	got, err := s.Get(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateReopened {
		t.Errorf("after the lapse: got %s, want reopened", got.State)
	}
	var actions []string
	for _, h := range got.History {
		actions = append(actions, h.Action)
	}
	if want := "detected acceptance_requested acceptance_rejected acceptance_requested acceptance_approved acceptance_expired"; strings.Join(actions, " ") != want {
		t.Errorf("history: got %v, want %s", actions, want)
	}
	if len(got.Acceptances) != 2 || got.Acceptances[0].Status != AcceptRejected || got.Acceptances[1].Status != AcceptApproved {
		t.Errorf("acceptances: got %+v, want one rejected, one approved", got.Acceptances)
	}
}

func TestSLABreachRaisesOneAlert(t *testing.T) { metatest.Engines(t, testSLA) }

func testSLA(t *testing.T) {
	s, c, r := newTestService(t)
	ctx := context.Background()
	reconcile(t, s, goPkg("example.com/lib", "v1.0.0"), goPkg("example.com/other", "v1.0.0"))
	if n, err := s.CheckSLA(ctx); err != nil || n != 0 {
		t.Fatalf("before the due date: got %d, %v, want 0", n, err)
	}
	c.Add(7*24*time.Hour + time.Minute) // past P1's 7 days, not P4's 180
	for i, want := range []int{1, 0, 0} {
		if n, err := s.CheckSLA(ctx); err != nil || n != want {
			t.Errorf("check %d: got %d, %v, want %d", i, n, err, want)
		}
	}
	if len(r.alerts) != 1 {
		t.Fatalf("alerts: got %d, want 1", len(r.alerts))
	}
	a, f := r.alerts[0], only(t, s, "example.com/lib")
	if a.RuleID != SLARulePrefix+f.ID || a.Level != "critical" {
		t.Errorf("alert: got rule %s level %s, want %s critical", a.RuleID, a.Level, SLARulePrefix+f.ID)
	}
	sum, err := s.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.SLABreached != 1 || sum.KEV != 1 || sum.Total != 2 || sum.OpenByPriority["P1"] != 1 || sum.ByState[StateNew] != 2 {
		t.Errorf("summary: got %+v, want 2 new, 1 breached, 1 KEV, 1 open P1", sum)
	}
	for _, tc := range []struct {
		f    Filter
		want int
	}{
		{Filter{Vulnerability: "GO-2099-0001"}, 1},
		{Filter{Vulnerability: "CVE-2099-1000"}, 1},       // an alias
		{Filter{Vulnerability: "GHSA-2099-aaaa-bbbb"}, 1}, // another
		{Filter{Vulnerability: "CVE-2099-100"}, 0},        // a prefix is not an id
		{Filter{Vulnerability: "GO_2099_0001"}, 0},        // '_' is not a wildcard
		{Filter{Package: "example.com/other"}, 1},
		{Filter{Package: "example.com/lib", Vulnerability: "GO-2099-0002"}, 0},
	} {
		if _, n, err := s.List(ctx, tc.f); err != nil || n != tc.want {
			t.Errorf("%+v: got %d, %v, want %d", tc.f, n, err, tc.want)
		}
	}
	if _, _, err := s.List(ctx, Filter{Vulnerability: "CVE-%"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("vulnerability CVE-%%: got %v, want ErrInvalid", err)
	}
	breached := true
	fs, total, err := s.List(ctx, Filter{SLABreached: &breached})
	if err != nil || total != 1 || len(fs) != 1 || fs[0].ID != f.ID {
		t.Errorf("sla_breached filter: got %d %v, %v, want the lib finding", total, fs, err)
	}
	// Fixed, then reopened: a new episode, alerted once more.
	reconcile(t, s, goPkg("example.com/lib", "v1.2.0"))
	reconcile(t, s, goPkg("example.com/lib", "v1.0.0"))
	if n, err := s.CheckSLA(ctx); err != nil || n != 1 {
		t.Errorf("after reopening: got %d, %v, want 1", n, err)
	}
}

func TestBounds(t *testing.T) { metatest.Engines(t, testBounds) }

func testBounds(t *testing.T) {
	s, _, _ := newTestService(t)
	ctx := context.Background()
	defer func(n int) { packageLimit = n }(packageLimit)
	packageLimit = 3
	pkgs := []scan.Package{goPkg("a", "v1.0.0"), goPkg("b", "v1.0.0"), goPkg("c", "v1.0.0")}
	if _, err := s.Reconcile(ctx, AssetInventory{Asset: web01, Packages: pkgs}); err != nil {
		t.Errorf("at the package bound: %v", err)
	}
	if _, err := s.Reconcile(ctx, AssetInventory{Asset: web01, Packages: append(pkgs, goPkg("d", "v1.0.0"))}); !errors.Is(err, ErrInvalid) {
		t.Errorf("past the package bound: got %v, want ErrInvalid", err)
	}
	for _, tc := range []struct {
		name string
		f    Filter
		ok   bool
	}{
		{"page at the bound", Filter{Limit: MaxPageSize}, true},
		{"page past the bound", Filter{Limit: MaxPageSize + 1}, false},
		{"offset at the bound", Filter{Offset: MaxOffset}, true},
		{"offset past the bound", Filter{Offset: MaxOffset + 1}, false},
		{"unknown state", Filter{State: []string{"closed"}}, false},
		{"unknown priority", Filter{Priority: []string{"P5"}}, false},
	} {
		_, _, err := s.List(ctx, tc.f)
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	for _, a := range []Asset{
		{Kind: KindScan, Name: ""},
		{Kind: "vm", Name: "x"},
		{Kind: KindScan, Name: "x", Criticality: "urgent"},
		{Kind: KindScan, Name: strings.Repeat("n", MaxNameLen+1)},
		{Kind: KindScan, Name: "x", Tags: []string{"has space"}},
		{Kind: KindScan, Name: "x", Tags: make([]string, MaxTags+1)},
	} {
		if err := a.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("asset %+v: got %v, want ErrInvalid", a, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	c.SLA.P2, c.CheckInterval, c.ReconcileInterval = 0, time.Millisecond, 30*time.Second
	err := c.Validate()
	for _, key := range []string{"sla.p2", "check_interval", "reconcile_interval"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("got %v, want an error naming %s", err, key)
		}
	}
	// The bounds themselves are valid.
	c = DefaultConfig()
	c.SLA.P1, c.CheckInterval, c.ReconcileInterval = Duration(maxSLA), time.Second, time.Minute
	if err := c.Validate(); err != nil {
		t.Errorf("at the bounds: %v", err)
	}
	c.SLA.P1 = Duration(maxSLA + 1)
	if err := c.Validate(); err == nil {
		t.Error("sla.p1 past 3650 days: got no error")
	}
}

// fakeSource is an InventorySource of fixed assets; a package list of nil
// with fail set is an error for that asset.
type fakeSource struct {
	assets []Asset
	pkgs   map[string][]scan.Package
	fail   map[string]bool
}

func (f fakeSource) Assets(context.Context) ([]Asset, error) { return f.assets, nil }
func (f fakeSource) Packages(_ context.Context, a Asset) ([]scan.Package, error) {
	if f.fail[a.ID] {
		return nil, errors.New("inventory unreadable")
	}
	return f.pkgs[a.ID], nil
}

func TestReconcileAll(t *testing.T) { metatest.Engines(t, testReconcileAll) }

func testReconcileAll(t *testing.T) {
	s, _, _ := newTestService(t)
	src := fakeSource{
		assets: []Asset{{ID: "agent:a1", Kind: KindAgent, Name: "web-1"}, {ID: "agent:a2", Kind: KindAgent, Name: "db-1"},
			{ID: "agent:a3", Kind: KindAgent, Name: "broken"}, {ID: "agent:a4", Kind: KindAgent, Name: "bad\x00name"}},
		pkgs: map[string][]scan.Package{
			"agent:a1": {goPkg("example.com/lib", "v1.0.0")},
			"agent:a2": {goPkg("example.com/other", "v1.4.0"), goPkg("example.com/lib", "v1.3.0")},
		},
		fail: map[string]bool{"agent:a3": true},
	}
	res, err := s.ReconcileAll(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "agent:a3") || !strings.Contains(err.Error(), "agent:a4") {
		t.Errorf("got error %v, want the failures of agent:a3 and agent:a4 (the others go on)", err)
	}
	if len(res) != 2 || res[0].New != 1 || res[1].New != 1 {
		t.Errorf("got %+v, want web-1 and db-1 with one new finding each", res)
	}
	sum, err := s.Summary(context.Background())
	if err != nil || sum.Assets != 2 || sum.Total != 2 {
		t.Errorf("summary: got %+v, %v, want 2 assets, 2 findings", sum, err)
	}
}

func TestReconcilePrefersTheSameID(t *testing.T) { metatest.Engines(t, testPrefersSameID) }

// testPrefersSameID: two stored findings of one package claim the
// vulnerability, one under an old id with the current id as an alias
// (aliases change between imports), one under the current id. The match
// keeps the one under its id; the other is closed.
func testPrefersSameID(t *testing.T) {
	s, _, _ := newTestService(t)
	reconcile(t, s, goPkg("example.com/clean", "v1.0.0")) // creates the asset
	for _, row := range []struct{ id, vuln, aliases string }{
		{"f-old", "OLD-2099-1", `["GO-2099-0001"]`},
		{"f-cur", "GO-2099-0001", `[]`},
	} {
		if _, err := s.db.Exec(`INSERT INTO vuln_findings (id, asset, ecosystem, package, vuln_id, aliases, version,
			fixed_version, fixed_by, state, priority, decision, severity, kev, detail, first_seen, last_seen, due, closed, reason,
			accepted_until, sla_alerted, history_seq) VALUES (`+placeholders(23)+`)`,
			row.id, "scan:web-01", "Go", "example.com/lib", row.vuln, row.aliases, "v1.0.0", "1.2.0", "", StateOpen,
			"P1", "Act", "", 1, "{}", 1, 1, 1, 0, "", 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	got := reconcile(t, s, goPkg("example.com/lib", "v1.0.0"))
	if got.Unchanged != 1 || got.Fixed != 1 || got.New != 0 {
		t.Errorf("got %+v, want 1 unchanged (f-cur), 1 fixed (f-old)", got)
	}
	for id, want := range map[string]string{"f-cur": StateOpen, "f-old": StateFixed} {
		f, err := s.Get(context.Background(), id)
		if err != nil || f.State != want {
			t.Errorf("%s: got %s, %v, want %s", id, f.State, err, want)
		}
	}
}
