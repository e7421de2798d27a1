package respond

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/egress"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/geoip"
	"github.com/vigilsec/vigil/internal/geoip/geoiptest"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	_ "modernc.org/sqlite"
)

type fixture struct {
	inc    *incident.Manager
	r      *Runner
	log    string
	incID  string
	now    atomic.Int64
	server *httptest.Server
	hits   atomic.Int32
	db     *sql.DB
	audit  *audit.Log
}

// newFixture builds a runner whose block and unblock commands append their
// arguments to a file, the way a real nft or ipset call would receive them.
func newFixture(t *testing.T, opts ...func(o *Options, dir string)) *fixture {
	t.Helper()
	dir := t.TempDir()
	db := metatest.Open(t)
	ctx := context.Background()
	var err error
	f := &fixture{log: filepath.Join(dir, "cmd.log")}
	f.now.Store(time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, f.now.Load()) }
	script := filepath.Join(dir, "fw.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+f.log+"\necho done\n"), 0o700)
	as, _ := alert.Open(ctx, db)
	if f.inc, err = incident.Open(ctx, db, as, nil, incident.Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.hits.Add(1) }))
	t.Cleanup(f.server.Close)
	f.db = db
	if f.audit, err = audit.Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	o := Options{
		Commands: map[string][]string{
			"block_ip":     {script, "block", "{{.Target}}", "{{.TTLSeconds}}"},
			"unblock_ip":   {script, "unblock", "{{.Target}}"},
			"disable_user": {script, "disable", "{{.Target}}"},
		},
		NeverBlock: []string{"10.0.0.0/8"},
		Now:        clock,
		Audit:      f.audit.RecordTx,
		// The test receiver listens on loopback, which the egress policy
		// refuses unless allowed: allowed the documented way.
		Egress:       egress.MustNew("127.0.0.1/32"),
		Destinations: map[string]Destination{"firewall-team": {URL: f.server.URL + "/hook"}},
	}
	for _, fn := range opts {
		fn(&o, dir)
	}
	f.r, err = New(ctx, db, f.inc, nil, o, func(ref string) (string, string, bool) {
		if ref == "vigil_ssh_brute_force" {
			return "rule-brute", ref, true
		}
		return "", "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.r.Close)
	inc, err := f.inc.Create(ctx, "test", "brute force", "high", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.incID = inc.ID
	return f
}

func (f *fixture) cmdLog(t *testing.T) string {
	b, _ := os.ReadFile(f.log)
	return string(b)
}

func (f *fixture) actions(t *testing.T) []incident.Action {
	t.Helper()
	inc, err := f.inc.Get(context.Background(), f.incID)
	if err != nil {
		t.Fatal(err)
	}
	return inc.Actions
}

func TestBuiltinSSHPlaybookBlocksAndUnblocks(t *testing.T) {
	metatest.Engines(t, testBuiltinSSHPlaybookBlocksAndUnblocks)
}

func testBuiltinSSHPlaybookBlocksAndUnblocks(t *testing.T) {
	f := newFixture(t)
	p, err := Parse([]byte(BuiltinSSHBruteForce), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	f.r.AlertsChanged(context.Background(), []alert.Change{{New: true, Alert: alert.Alert{
		ID: "a1", RuleID: "rule-brute", RuleTitle: "SSH brute force", Level: "high", IncidentID: f.incID,
		Entities: map[string][]string{"source.ip": {"203.0.113.9"}},
	}}})
	f.r.Flush()
	if got := f.cmdLog(t); got != "block 203.0.113.9 3600\n" {
		t.Fatalf("command got %q, want block 203.0.113.9 3600", got)
	}
	as := f.actions(t)
	if len(as) != 2 || as[0].Name != "block_ip" || as[0].Status != "ok" || as[0].Target != "203.0.113.9" || as[0].Playbook != "ssh-brute-force-block" {
		t.Fatalf("actions %+v: want block_ip ok on 203.0.113.9 by the playbook, then the comment", as)
	}
	// An hour later the block is lifted and recorded.
	f.now.Add(int64(time.Hour + time.Second))
	f.r.unblockDue(context.Background())
	if got := f.cmdLog(t); !strings.HasSuffix(got, "unblock 203.0.113.9\n") {
		t.Fatalf("after the TTL the command log is %q, want an unblock", got)
	}
	as = f.actions(t)
	if last := as[len(as)-1]; last.Name != "unblock_ip" || last.Status != "ok" {
		t.Errorf("last action %+v, want unblock_ip ok", last)
	}
}

func TestTargetsAreValidated(t *testing.T) { metatest.Engines(t, testTargetsAreValidated) }

func testTargetsAreValidated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		action, target, status string
	}{
		{"block_ip", "10.1.2.3", "skipped"},         // never_block
		{"block_ip", "127.0.0.1", "skipped"},        // loopback always
		{"block_ip", "1.2.3.4; rm -rf /", "failed"}, // not an address
		{"disable_user", "bob; reboot", "failed"},   // not a user name
		{"disable_user", "mallory", "ok"},
	} {
		a, err := f.r.Manual(ctx, f.incID, "alice", tc.action, tc.target, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != tc.status {
			t.Errorf("%s %q: status %s (%s), want %s", tc.action, tc.target, a.Status, a.Result, tc.status)
		}
	}
	if got := f.cmdLog(t); got != "disable mallory\n" {
		t.Errorf("commands run: %q, want only the valid disable", got)
	}
}

// awaitApproval runs, by hand, a playbook whose first step asks for an
// approval and whose second calls the firewall team (the test receiver),
// and returns once the run waits on the approval.
func (f *fixture) awaitApproval(t *testing.T) {
	t.Helper()
	p, err := Parse([]byte(`name: careful
trigger: {on: manual}
steps:
  - {action: approval, name: ok to call the firewall team?}
  - {action: http_request, with: {destination: firewall-team, body: '{"ip":"{{.Target}}"}'}}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	if err := f.r.RunManual(context.Background(), "careful", f.incID, "alice"); err != nil {
		t.Fatal(err)
	}
	f.r.Flush()
}

func TestApprovalGate(t *testing.T) { metatest.Engines(t, testApprovalGate) }

func testApprovalGate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.awaitApproval(t)
	as := f.actions(t)
	if len(as) != 1 || as[0].Status != "pending_approval" || f.hits.Load() != 0 {
		t.Fatalf("before approval: actions %+v, hook hits %d; want one pending approval and no request", as, f.hits.Load())
	}
	if err := f.r.Decide(ctx, f.incID, as[0].ID, "bob", true); err != nil {
		t.Fatal(err)
	}
	f.r.Flush()
	as = f.actions(t)
	if as[0].Status != "approved" || f.hits.Load() != 1 || as[len(as)-1].Name != "http_request" || as[len(as)-1].Status != "ok" {
		t.Fatalf("after approval: actions %+v, hits %d", as, f.hits.Load())
	}
	if err := f.r.Decide(ctx, f.incID, as[0].ID, "bob", true); err == nil {
		t.Error("an approval was decided twice")
	}
}

// TestApprovalDecidedOnce: two analysts approving the same step at once
// continue the playbook once; the decision is audited once, in the
// transaction that records it.
func TestApprovalDecidedOnce(t *testing.T) { metatest.Engines(t, testApprovalDecidedOnce) }

func testApprovalDecidedOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.awaitApproval(t)
	pendingID := f.actions(t)[0].ID
	var wg sync.WaitGroup
	var ok atomic.Int32
	for _, who := range []string{"bob", "carol", "dave"} {
		wg.Go(func() {
			if err := f.r.Decide(ctx, f.incID, pendingID, who, true); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, incident.ErrNotFound) {
				t.Errorf("%s: %v, want success or not found", who, err)
			}
		})
	}
	wg.Wait()
	f.r.Flush()
	if ok.Load() != 1 || f.hits.Load() != 1 {
		t.Fatalf("%d decisions succeeded and the firewall team was called %d times; want 1 and 1", ok.Load(), f.hits.Load())
	}
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'action.approve' AND target = ?`, f.incID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("action.approve audit entries: %d (%v), want 1", n, err)
	}
	if err := f.db.QueryRow(`SELECT count(*) FROM response_queue`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("runs left queued: %d (%v), want 0", n, err)
	}
}

// TestApprovalWaitsWhenItsPlaybookIsGone: approving a step whose playbook
// is no longer loaded is refused and the approval keeps waiting (it is not
// consumed by a run that cannot go on).
func TestApprovalWaitsWhenItsPlaybookIsGone(t *testing.T) {
	metatest.Engines(t, testApprovalWaitsWhenItsPlaybookIsGone)
}

func testApprovalWaitsWhenItsPlaybookIsGone(t *testing.T) {
	f := newFixture(t)
	p, _ := Parse([]byte("name: careful\ntrigger: {on: manual}\nsteps:\n  - {action: approval}\n  - {action: comment, with: {text: go}}\n"), "test")
	f.r.SetPlaybooks([]*Playbook{p})
	ctx := context.Background()
	if err := f.r.RunManual(ctx, "careful", f.incID, "alice"); err != nil {
		t.Fatal(err)
	}
	f.r.Flush()
	pendingID := f.actions(t)[0].ID
	f.r.SetPlaybooks(nil)
	if err := f.r.Decide(ctx, f.incID, pendingID, "bob", true); err == nil {
		t.Fatal("approved a step of a playbook that is gone")
	}
	if as := f.actions(t); as[0].Status != "pending_approval" {
		t.Fatalf("after the refused approval: %+v, want it still pending", as[0])
	}
	f.r.SetPlaybooks([]*Playbook{p})
	if err := f.r.Decide(ctx, f.incID, pendingID, "bob", true); err != nil {
		t.Fatalf("approving once the playbook is back: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, y := range []string{
		"name: x\ntrigger: {on: sometimes}\nsteps: [{action: comment}]",
		"name: x\ntrigger: {on: alert}\nsteps: [{action: format_disk}]",
		"name: x\ntrigger: {on: alert}\nsteps: [{action: block_ip}]",
		"name: x\ntrigger: {on: alert}\nsteps: [{action: comment, if: \"level >= severe\"}]",
		"name: x\ntrigger: {on: alert}\nunknown: 1\nsteps: [{action: comment}]",
	} {
		if _, err := Parse([]byte(y), "t"); err == nil {
			t.Errorf("accepted:\n%s", y)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(BuiltinSSHBruteForce))
	f.Add([]byte("name: x\ntrigger: {on: manual}\nsteps: [{action: approval}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse(b, "fuzz")
	})
}

func TestEnrichmentSteps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	city, asn := geoiptest.Write(t, "203.0.113.0/24")
	db, err := geoip.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f.r.o.GeoIP = func(ip netip.Addr) (string, error) {
		info, err := db.Lookup(ip)
		return info.String(), err
	}
	f.r.o.IntelLookup = func(v string) []string {
		if v == "203.0.113.9" {
			return []string{"blocklist: known brute-force source"}
		}
		return nil
	}
	// Give the incident the entity so the observable can be flagged.
	if _, err := f.inc.Comment(ctx, f.incID, "t", "x"); err != nil {
		t.Fatal(err)
	}
	p, err := Parse([]byte(`name: enrich
trigger: {on: alert}
steps:
  - {action: enrich_geoip, target: source.ip}
  - {action: intel_lookup, target: source.ip}
`), "t")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	f.r.AlertsChanged(ctx, []alert.Change{{New: true, Alert: alert.Alert{ID: "a", RuleID: "r", Level: "high", IncidentID: f.incID,
		Entities: map[string][]string{"source.ip": {"203.0.113.9", "198.51.100.7"}}}}})
	f.r.Flush()
	got := map[string]string{}
	for _, a := range f.actions(t) {
		got[a.Name+" "+a.Target] = a.Status + ": " + a.Result
	}
	want := map[string]string{
		"enrich_geoip 203.0.113.9":  "ok: NL (Netherlands), Amsterdam, AS64500 Example Hosting",
		"enrich_geoip 198.51.100.7": "ok: not in the GeoIP databases",
		"intel_lookup 203.0.113.9":  "ok: listed: blocklist: known brute-force source",
		"intel_lookup 198.51.100.7": "ok: not listed in any feed",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func countRows(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestCampaignBlocksInBatches: a campaign of 2,500 addresses is blocked
// by runs of the batch command (each reading its addresses on
// stdin), every address gets one action record, intent then result, with
// audit entries in the same transactions, and lands in the block set;
// addresses that must not be blocked are recorded as refused.
func TestCampaignBlocksInBatches(t *testing.T) { metatest.Engines(t, testCampaignBlocksInBatches) }

func testCampaignBlocksInBatches(t *testing.T) {
	f := newFixture(t, func(o *Options, dir string) {
		script := filepath.Join(dir, "batch.sh")
		os.WriteFile(script, []byte("#!/bin/sh\ncat >> "+filepath.Join(dir, "set.txt")+"\necho \"$1 $2\" >> "+filepath.Join(dir, "runs.txt")+"\n"), 0o700)
		o.BatchCommands = map[string]BatchCommand{"block_ip": {Argv: []string{script, "{{.Count}}", "{{.TTLSeconds}}"}, Line: "add {{.Target}} timeout {{.TTLSeconds}}s"}}
	})
	p, err := Parse([]byte(BuiltinSSHBruteForce), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	var members []alert.Member
	for i := range 2500 {
		members = append(members, alert.Member{Kind: "source.ip", Value: fmt.Sprintf("198.18.%d.%d", i/256, i%256)})
	}
	members = append(members,
		alert.Member{Kind: "source.ip", Value: "fe80::1%;touch x"}, // a zone is free text
		alert.Member{Kind: "source.ip", Value: "::1%1"},            // loopback behind a zone
		alert.Member{Kind: "source.ip", Value: "10.9.9.9"})         // never_block
	f.r.AlertsChanged(context.Background(), []alert.Change{{New: true, Members: members, Alert: alert.Alert{
		ID: "c1", RuleID: "rule-brute", RuleTitle: "SSH brute force", Level: "high", IncidentID: f.incID, Campaign: true,
		Entities: map[string][]string{"source.ip": {"198.18.0.0"}},
	}}})
	f.r.Flush()
	dir := filepath.Dir(f.log)
	rb, _ := os.ReadFile(filepath.Join(dir, "runs.txt"))
	if got, want := string(rb), strings.Repeat(fmt.Sprintf("%d 3600\n", batchSize), 2500/batchSize); got != want {
		t.Errorf("batch runs (count ttl): %q, want %q", got, want)
	}
	sb, _ := os.ReadFile(filepath.Join(dir, "set.txt"))
	if lines := strings.Split(strings.TrimSpace(string(sb)), "\n"); len(lines) != 2500 || lines[0] != "add 198.18.0.0 timeout 3600s" {
		t.Errorf("set updates: %d lines starting %q, want 2,500 starting add 198.18.0.0 timeout 3600s", len(lines), lines[0])
	}
	if strings.Contains(string(sb), "touch") || strings.Contains(string(sb), "::1") {
		t.Errorf("a refused address reached the command: %q", sb)
	}
	if n := countRows(t, f.db, `SELECT count(*) FROM response_blocks`); n != 2500 {
		t.Errorf("block set: %d addresses, want 2500", n)
	}
	for _, tc := range []struct {
		status string
		want   int
	}{{"ok", 2500}, {"failed", 2}, {"skipped", 1}, {"running", 0}} {
		if n := countRows(t, f.db, `SELECT count(*) FROM incident_actions WHERE name = 'block_ip' AND status = ?`, tc.status); n != tc.want {
			t.Errorf("block_ip actions %s: %d, want %d", tc.status, n, tc.want)
		}
	}
	if n := countRows(t, f.db, `SELECT count(DISTINCT target) FROM incident_actions WHERE name = 'block_ip'`); n != 2503 {
		t.Errorf("block_ip action records: %d targets, want one per address (2503)", n)
	}
	// Each action is in two audit entries, its intent and its result,
	// each entry recording the actions of one transaction.
	perTarget := map[string]int{}
	rows, err := f.db.Query(`SELECT after FROM audit_log WHERE action = 'action.block_ip'`)
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for rows.Next() {
		var after string
		rows.Scan(&after)
		entries++
		var batch struct{ Actions []incident.Action }
		var one incident.Action
		if json.Unmarshal([]byte(after), &batch); len(batch.Actions) > 0 {
			for _, a := range batch.Actions {
				perTarget[a.Target]++
			}
		} else if json.Unmarshal([]byte(after), &one) == nil {
			perTarget[one.Target]++
		}
	}
	rows.Close()
	if len(perTarget) != 2503 || entries > 2*(2500/batchSize+3) {
		t.Errorf("audit: %d targets in %d entries, want 2503 targets in at most %d entries", len(perTarget), entries, 2*(2500/batchSize+3))
	}
	for tg, n := range perTarget {
		if n != 2 {
			t.Errorf("target %q in %d audit entries, want 2 (intent, result)", tg, n)
		}
	}
	rep, err := f.audit.Verify(context.Background())
	if err != nil || rep.Break != nil {
		t.Errorf("audit chain: %+v, %v", rep.Break, err)
	}
	// The note says what was done, and only that.
	var notes []string
	inc, _ := f.inc.Get(context.Background(), f.incID)
	for _, c := range inc.Comments {
		notes = append(notes, c.Text)
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "Blocked 198.18.0.0, 198.18.0.1,") || !strings.Contains(notes[0], "and 2490 more for 1h") {
		t.Errorf("notes %q, want one naming the 2,500 addresses blocked", notes)
	}
}

// TestNoteAfterNothingDone: with no block command configured, the block
// is skipped and the note that would say "Blocked ..." is skipped too,
// instead of claiming a block that did not happen.
func TestNoteAfterNothingDone(t *testing.T) { metatest.Engines(t, testNoteAfterNothingDone) }

func testNoteAfterNothingDone(t *testing.T) {
	f := newFixture(t, func(o *Options, _ string) { o.Commands = nil })
	p, err := Parse([]byte(BuiltinSSHBruteForce), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	f.r.AlertsChanged(context.Background(), []alert.Change{{New: true, Alert: alert.Alert{
		ID: "a1", RuleID: "rule-brute", RuleTitle: "SSH brute force", Level: "high", IncidentID: f.incID,
		Entities: map[string][]string{"source.ip": {"203.0.113.9"}},
	}}})
	f.r.Flush()
	as := f.actions(t)
	if len(as) != 2 || as[0].Status != "skipped" || as[1].Name != "comment" || as[1].Status != "skipped" || as[1].Result != "the step before it acted on no target" {
		t.Fatalf("actions %+v: want the block skipped and the note skipped", as)
	}
	inc, _ := f.inc.Get(context.Background(), f.incID)
	if len(inc.Comments) != 0 {
		t.Errorf("comments %+v, want none", inc.Comments)
	}
	if n := countRows(t, f.db, `SELECT count(*) FROM response_blocks`); n != 0 {
		t.Errorf("block set: %d, want 0 (nothing was blocked)", n)
	}
}

// TestCircuitBreaker: after five failed commands the playbook's commands
// stop (recorded as skipped) and an alert is raised, once; a reload
// closes the breaker.
func TestCircuitBreaker(t *testing.T) { metatest.Engines(t, testCircuitBreaker) }

func testCircuitBreaker(t *testing.T) {
	var opened []string
	f := newFixture(t, func(o *Options, dir string) {
		fail := filepath.Join(dir, "fail.sh")
		os.WriteFile(fail, []byte("#!/bin/sh\necho no permission >&2\nexit 1\n"), 0o700)
		o.Commands = map[string][]string{"block_ip": {fail, "{{.Target}}"}}
		o.OnBreakerOpen = func(pb, reason string) { opened = append(opened, pb+": "+reason) }
	})
	p, err := Parse([]byte(BuiltinSSHBruteForce), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	var ips []string
	for i := range 8 {
		ips = append(ips, fmt.Sprintf("203.0.113.%d", i+1))
	}
	f.r.AlertsChanged(context.Background(), []alert.Change{{New: true, Alert: alert.Alert{
		ID: "a1", RuleID: "rule-brute", RuleTitle: "SSH brute force", Level: "high", IncidentID: f.incID,
		Entities: map[string][]string{"source.ip": ips},
	}}})
	f.r.Flush()
	var failed, skipped int
	for _, a := range f.actions(t) {
		switch {
		case a.Name == "block_ip" && a.Status == "failed":
			failed++
		case a.Name == "block_ip" && a.Status == "skipped" && strings.Contains(a.Result, "circuit breaker open"):
			skipped++
		}
	}
	if failed != 5 || skipped != 3 || len(opened) != 1 {
		t.Errorf("got %d failed, %d skipped by the breaker, %d alerts; want 5, 3, 1", failed, skipped, len(opened))
	}
	f.r.SetPlaybooks([]*Playbook{p}) // a reload closes it
	if st, res := f.r.guard(p).run(context.Background(), f.r, func() (string, string) { return "ok", "" }); st != "ok" {
		t.Errorf("after a reload: %s %s, want the command to run", st, res)
	}
}

// TestInterruptedActionsGetAResult: an action a crash left running is
// recorded with an unknown result at the next start, with its audit
// entry.
func TestInterruptedActionsGetAResult(t *testing.T) {
	metatest.Engines(t, testInterruptedActionsGetAResult)
}

func testInterruptedActionsGetAResult(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tx, _ := f.db.Begin()
	if err := f.inc.RecordActionsTx(ctx, tx, f.incID, []*incident.Action{{Name: "block_ip", Target: "203.0.113.7", Status: "running", Actor: "playbook"}}); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	r, err := New(ctx, f.db, f.inc, nil, Options{Audit: f.audit.RecordTx}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	as := f.actions(t)
	if len(as) != 1 || as[0].Status != "unknown" {
		t.Fatalf("actions %+v, want the interrupted one recorded as unknown", as)
	}
	if n := countRows(t, f.db, `SELECT count(*) FROM audit_log WHERE action = 'action.block_ip'`); n != 1 {
		t.Errorf("audit entries: %d, want 1", n)
	}
}

// TestHostileTargets: targets from logs never reach a command's options
// or carry text past validation.
func TestHostileTargets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct{ action, target string }{
		{"block_ip", "fe80::1%;touch x"},
		{"block_ip", "::1%lo"},
		{"block_ip", "::1%1"},
		{"block_ip", "fe80::1%eth0\nrm -rf /"},
		{"disable_user", "--help"},
		{"disable_user", "-r"},
		{"disable_user", "a$(touch x)"},
		{"disable_user", "$HOME"},
		{"disable_user", "bob;id"},
		{"disable_user", "bob id"},
		{"disable_user", "bob\nid"},
	} {
		a, err := f.r.Manual(ctx, f.incID, "alice", tc.action, tc.target, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != "failed" {
			t.Errorf("%s %q: %s (%s), want failed", tc.action, tc.target, a.Status, a.Result)
		}
	}
	if got := f.cmdLog(t); got != "" {
		t.Errorf("commands run: %q, want none", got)
	}
}

// TestQueuedRunsSurviveARestart: a run queued when the process died (saved
// in response_queue, never run) runs at the next start, once the
// playbooks are loaded, and leaves the queue; a run whose playbook is gone
// is recorded as skipped.
func TestQueuedRunsSurviveARestart(t *testing.T) { metatest.Engines(t, testQueuedRunsSurviveARestart) }

func testQueuedRunsSurviveARestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, err := Parse([]byte(BuiltinSSHBruteForce), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	trig := trigger{IncidentID: f.incID, RuleID: "rule-brute", Rule: "SSH brute force", Level: "high",
		Entities: map[string][]string{"source.ip": {"203.0.113.50"}}}
	// What a process that died with these runs queued left behind.
	if err := f.r.saveQueued("q1", p.Name, trig, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.r.saveQueued("q2", "gone-playbook", trig, 0); err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	if err := f.r.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	f.r.Flush()
	if got := f.cmdLog(t); got != "block 203.0.113.50 3600\n" {
		t.Errorf("commands after Resume: %q, want the queued block", got)
	}
	if n := countRows(t, f.db, `SELECT count(*) FROM response_queue`); n != 0 {
		t.Errorf("queue after the runs: %d rows, want 0", n)
	}
	var skipped int
	for _, a := range f.actions(t) {
		if a.Name == "playbook" && a.Target == "gone-playbook" && a.Status == "skipped" {
			skipped++
		}
	}
	if skipped != 1 {
		t.Errorf("the run of an unloaded playbook: %d skipped records, want 1", skipped)
	}
	// Runs queued and run normally leave nothing behind.
	f.r.AlertsChanged(ctx, []alert.Change{{New: true, Alert: alert.Alert{
		ID: "a2", RuleID: "rule-brute", RuleTitle: "SSH brute force", Level: "high", IncidentID: f.incID,
		Entities: map[string][]string{"source.ip": {"203.0.113.51"}},
	}}})
	f.r.Flush()
	if n := countRows(t, f.db, `SELECT count(*) FROM response_queue`); n != 0 {
		t.Errorf("queue after a normal run: %d rows, want 0", n)
	}
}

// TestRunKeptQueuedOnStoreError: when a run cannot record what it is
// about to do (the store refuses), it does nothing and stays queued; the
// next start runs it.
func TestRunKeptQueuedOnStoreError(t *testing.T) { metatest.Engines(t, testRunKeptQueuedOnStoreError) }

func testRunKeptQueuedOnStoreError(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, err := Parse([]byte(BuiltinSSHBruteForce), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	refuseActions(t, f.db)
	f.r.AlertsChanged(ctx, []alert.Change{{New: true, Alert: alert.Alert{
		ID: "a1", RuleID: "rule-brute", RuleTitle: "SSH brute force", Level: "high", IncidentID: f.incID,
		Entities: map[string][]string{"source.ip": {"203.0.113.60"}},
	}}})
	f.r.Flush()
	if got := f.cmdLog(t); got != "" {
		t.Errorf("commands run without their record: %q, want none", got)
	}
	if n := countRows(t, f.db, `SELECT count(*) FROM response_queue`); n != 1 {
		t.Fatalf("queue after the refused run: %d rows, want 1", n)
	}
	allowActions(t, f.db)
	if err := f.r.Resume(ctx); err != nil { // what the next start does
		t.Fatal(err)
	}
	f.r.Flush()
	if got := f.cmdLog(t); got != "block 203.0.113.60 3600\n" {
		t.Errorf("commands after the store recovered: %q, want the block", got)
	}
	if n := countRows(t, f.db, `SELECT count(*) FROM response_queue`); n != 0 {
		t.Errorf("queue after the run: %d rows, want 0", n)
	}
}

// TestUserNames: the names disable_user accepts.
func TestUserNames(t *testing.T) {
	for name, want := range map[string]bool{
		"bob": true, "bob.smith@corp.example": true, `CORP\bob`: true, "HOST$": true, "svc_backup-2": true,
		"a$b": false, "$HOME": false, "a$(id)": false, "bob id": false, "bob;id": false, "bob\n": false, "": false,
		strings.Repeat("a", 128): false,
	} {
		if got := userRe.MatchString(name); got != want {
			t.Errorf("userRe.MatchString(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestQueuedRunKeepsItsProgress: a queued run's row moves on as its steps
// finish, so that a restart resumes at the step it was in and does none
// of the steps before it again; what the last targeted step did travels
// with it, so the note after a block still names the blocked address.
func TestQueuedRunKeepsItsProgress(t *testing.T) { metatest.Engines(t, testQueuedRunKeepsItsProgress) }

func testQueuedRunKeepsItsProgress(t *testing.T) {
	release := make(chan struct{})
	reached := make(chan struct{}, 1)
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		<-release
	}))
	defer hold.Close()
	f := newFixture(t, func(o *Options, dir string) {
		o.Destinations = map[string]Destination{"slow": {URL: hold.URL + "/x"}}
	})
	ctx := context.Background()
	p, err := Parse([]byte(`name: two-steps
trigger: {on: manual}
steps:
  - action: comment
    with: {text: "first step"}
  - action: http_request
    with: {destination: slow}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	f.r.enqueue(p, trigger{IncidentID: f.incID}, 0)
	<-reached // the second step is running: the first is done
	var step int
	if err := f.db.QueryRow(`SELECT step FROM response_queue`).Scan(&step); err != nil {
		t.Fatal(err)
	}
	if step != 1 {
		t.Errorf("queued run's step while its second step runs: %d, want 1", step)
	}
	close(release)
	f.r.Flush()
	if n := countRows(t, f.db, `SELECT count(*) FROM response_queue`); n != 0 {
		t.Errorf("queue after the run: %d rows, want 0", n)
	}

	// A run saved after its block step (as a killed process leaves it)
	// resumes at the note, which names what the block step did.
	b, err := Parse([]byte(BuiltinSSHBruteForce), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{b})
	trig := trigger{IncidentID: f.incID, Rule: "SSH brute force", Level: "high",
		Entities: map[string][]string{"source.ip": {"203.0.113.60"}}, PrevRan: true, PrevOK: []string{"203.0.113.60"}}
	if err := f.r.saveQueued("q3", b.Name, trig, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	f.r.Flush()
	if got := f.cmdLog(t); got != "" {
		t.Errorf("commands after resuming past the block step: %q, want none", got)
	}
	inc, _ := f.inc.Get(ctx, f.incID)
	var notes []string
	for _, c := range inc.Comments {
		notes = append(notes, c.Text)
	}
	if len(notes) != 2 || !strings.HasPrefix(notes[1], "Blocked 203.0.113.60 for 1h") {
		t.Errorf("notes %q, want the first step's and one naming the address blocked before the restart", notes)
	}
}

// TestManualActionRecordedBeforeItRuns: an action taken by hand is
// recorded (and audited) as running before its command runs and with its
// result after; when its intent cannot be recorded, it does not run.
func TestManualActionRecordedBeforeItRuns(t *testing.T) {
	metatest.Engines(t, testManualActionRecordedBeforeItRuns)
}

func testManualActionRecordedBeforeItRuns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.r.Manual(ctx, f.incID, "alice", "block_ip", "203.0.113.77", time.Hour, nil)
	if err != nil || a.Status != "ok" || a.Actor != "alice" {
		t.Fatalf("manual block: %+v, %v; want ok by alice", a, err)
	}
	var entries []string
	rows, err := f.db.Query(`SELECT actor, action, after FROM audit_log WHERE action = 'action.block_ip' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var actor, action, after string
		rows.Scan(&actor, &action, &after)
		var act incident.Action
		json.Unmarshal([]byte(after), &act)
		entries = append(entries, actor+" "+act.Status+" "+act.Target)
	}
	rows.Close()
	if want := []string{"alice running 203.0.113.77", "alice ok 203.0.113.77"}; fmt.Sprint(entries) != fmt.Sprint(want) {
		t.Fatalf("audit entries: got %q, want %q", entries, want)
	}
	var until int64
	if err := f.db.QueryRow(`SELECT until FROM response_blocks WHERE ip = '203.0.113.77'`).Scan(&until); err != nil {
		t.Fatalf("block set: %v", err)
	}

	// The metadata database refuses writes: the action must not run.
	refuseActions(t, f.db)
	before := f.cmdLog(t)
	if _, err := f.r.Manual(ctx, f.incID, "alice", "block_ip", "203.0.113.78", time.Hour, nil); err == nil {
		t.Fatal("manual block with no way to record it: no error")
	}
	if got := f.cmdLog(t); got != before {
		t.Fatalf("the command ran without its record: log grew by %q", strings.TrimPrefix(got, before))
	}
}

// refuseActions makes the database refuse every new incident action, as
// a full disk would, until allowActions.
func refuseActions(t *testing.T, db *sql.DB) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER refuse BEFORE INSERT ON incident_actions BEGIN SELECT RAISE(ABORT, 'disk full'); END`}
	if metatest.EngineOf(t) == metatest.Postgres {
		stmts = []string{
			`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$`,
			`CREATE TRIGGER refuse BEFORE INSERT ON incident_actions FOR EACH ROW EXECUTE FUNCTION refuse()`,
		}
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

func allowActions(t *testing.T, db *sql.DB) {
	t.Helper()
	q := `DROP TRIGGER refuse`
	if metatest.EngineOf(t) == metatest.Postgres {
		q += ` ON incident_actions`
	}
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}
