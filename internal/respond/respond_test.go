package respond

import (
	"context"
	"database/sql"
	"github.com/vigilsec/vigil/internal/meta"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/geoip"
	"github.com/vigilsec/vigil/internal/geoip/geoiptest"
	"github.com/vigilsec/vigil/internal/incident"
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
}

// newFixture builds a runner whose block and unblock commands append their
// arguments to a file, the way a real nft or ipset call would receive them.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "meta.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := meta.Migrate(context.Background(), db); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
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
	f.r, err = New(ctx, db, f.inc, nil, Options{
		Commands: map[string][]string{
			"block_ip":     {script, "block", "{{.Target}}", "{{.TTLSeconds}}"},
			"unblock_ip":   {script, "unblock", "{{.Target}}"},
			"disable_user": {script, "disable", "{{.Target}}"},
		},
		NeverBlock: []string{"10.0.0.0/8"},
		Now:        clock,
	}, func(ref string) (string, string, bool) {
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

func TestTargetsAreValidated(t *testing.T) {
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

func TestApprovalGate(t *testing.T) {
	f := newFixture(t)
	p, err := Parse([]byte(`name: careful
trigger: {on: manual}
steps:
  - {action: approval, name: ok to call the firewall team?}
  - {action: http_request, with: {url: "`+f.server.URL+`/hook", body: '{"ip":"{{.Target}}"}'}}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	f.r.SetPlaybooks([]*Playbook{p})
	ctx := context.Background()
	if err := f.r.RunManual(ctx, "careful", f.incID, "alice"); err != nil {
		t.Fatal(err)
	}
	f.r.Flush()
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
