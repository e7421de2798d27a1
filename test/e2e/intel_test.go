package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/geoip/geoiptest"
)

// TestIntelMatchRaisesAlert loads a list feed and checks that an event
// naming one of its addresses raises an alert carrying the feed's context.
func TestIntelMatchRaisesAlert(t *testing.T) {
	dir := t.TempDir()
	feed := filepath.Join(dir, "bad-ips.txt")
	os.WriteFile(feed, []byte("# known brute-force sources\n192.0.2.66\n198.51.100.0/24\n"), 0o600)
	cfg := filepath.Join(dir, "vigil.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("intel:\n  feeds:\n    - name: blocklist\n      path: %q\n      confidence: 90\n", feed)), 0o600)
	s := startServer(t, serverOpts{extra: []string{"--config", cfg}})
	var status struct {
		Feeds []struct {
			Name       string
			Indicators int
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.getJSON("/api/v1/intel", &status)
		if (len(status.Feeds) == 1 && status.Feeds[0].Indicators == 2) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the vigil serve process
	}
	if len(status.Feeds) != 1 || status.Feeds[0].Indicators != 2 {
		t.Fatalf("intel status %+v: want the blocklist with 2 indicators", status)
	}
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Format(time.Stamp)
	fmt.Fprintf(conn, "<38>%s web1 sshd[1]: Accepted publickey for alice from 198.51.100.200 port 5000 ssh2\n", ts)
	fmt.Fprintf(conn, "<38>%s web1 sshd[2]: Accepted publickey for bob from 203.0.113.1 port 5001 ssh2\n", ts)
	conn.Close()
	var alerts struct {
		Alerts []struct {
			RuleTitle string            `json:"rule_title"`
			Level     string            `json:"level"`
			Group     map[string]string `json:"group"`
		}
	}
	deadline = time.Now().Add(15 * time.Second)
	var hits int
	for time.Now().Before(deadline) {
		s.getJSON("/api/v1/alerts?limit=50", &alerts)
		hits = 0
		for _, a := range alerts.Alerts {
			if a.Group["feed"] == "blocklist" {
				hits++
				if a.Group["indicator"] != "198.51.100.200" || a.Level != "high" || a.Group["field"] != "source.ip" {
					t.Errorf("intel alert %+v: want indicator 198.51.100.200 in source.ip at level high", a)
				}
			}
		}
		if hits > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
	if hits != 1 {
		t.Fatalf("got %d intel alerts, want 1 (only 198.51.100.200 is listed)", hits)
	}
}

// TestEnrichmentPlaybook runs a playbook that enriches an intel incident
// with GeoIP (from a MaxMind DB) and an intel lookup.
func TestEnrichmentPlaybook(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "playbooks"), 0o755)
	os.WriteFile(filepath.Join(data, "playbooks", "enrich.yml"), []byte(`name: enrich-intel
trigger:
  on: alert
  tags: [intel]
steps:
  - {action: enrich_geoip, target: source.ip}
  - {action: intel_lookup, target: source.ip}
`), 0o600)
	city, asn := geoiptest.Write(t, "198.51.100.0/24")
	feed := filepath.Join(dir, "bad-ips.txt")
	os.WriteFile(feed, []byte("198.51.100.0/24\n"), 0o600)
	cfg := filepath.Join(dir, "vigil.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("respond:\n  geoip_db: %q\n  asn_db: %q\nintel:\n  feeds:\n    - name: blocklist\n      path: %q\n      confidence: 90\n", city, asn, feed)), 0o600)
	s := startServer(t, serverOpts{data: data, extra: []string{"--config", cfg}})
	var status struct{ Feeds []struct{ Indicators int } }
	// Polling the vigil serve process.
	// Polling the vigil serve process.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s.getJSON("/api/v1/intel", &status); len(status.Feeds) == 1 && status.Feeds[0].Indicators == 1 {
			break
		}
	}
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "<38>%s web1 sshd[1]: Accepted publickey for alice from 198.51.100.200 port 5000 ssh2\n", time.Now().UTC().Format(time.Stamp))
	conn.Close()
	var incs struct{ Incidents []struct{ ID string } }
	var inc struct {
		Actions []struct{ Name, Target, Status, Result string }
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.getJSON("/api/v1/incidents", &incs)
		if len(incs.Incidents) == 1 {
			s.getJSON("/api/v1/incidents/"+incs.Incidents[0].ID, &inc)
			if len(inc.Actions) >= 2 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond) // polling the vigil serve process
	}
	got := map[string]string{}
	for _, a := range inc.Actions {
		got[a.Name+" "+a.Target] = a.Status + ": " + a.Result
	}
	want := map[string]string{
		"enrich_geoip 198.51.100.200": "ok: NL (Netherlands), Amsterdam, AS64500 Example Hosting",
		"intel_lookup 198.51.100.200": "ok: listed: blocklist",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q (actions %v)", k, got[k], v, got)
		}
	}
}
