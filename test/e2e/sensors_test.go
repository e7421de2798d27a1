package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSuricataAlertBecomesAlert posts Suricata EVE alert records to the
// native ingest endpoint and checks that each becomes an alert of the
// synthetic rule suricata:<signature_id>, titled with the signature and at
// the level its severity maps to.
func TestSuricataAlertBecomesAlert(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "internal", "parse", "testdata", "suricata", "alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{})
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000-0700")
	first := strings.Replace(strings.TrimSpace(string(data)), `"2026-11-21T10:05:01.734521+0000"`, `"`+now+`"`, 1)
	second := strings.NewReplacer(`"signature_id":9100001`, `"signature_id":9100002`, `"severity":1`, `"severity":3`,
		`"signature":"LOCAL Windows executable served from a .top domain"`, `"signature":"LOCAL Outdated TLS client"`).Replace(first)
	if first == second || !strings.Contains(first, now) {
		t.Fatal("the sample did not take the substitutions")
	}
	resp, body := s.request("POST", "/api/v1/ingest", testToken, strings.NewReader(first+"\n"+second+"\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: HTTP %d: %s", resp.StatusCode, body)
	}
	want := map[string][2]string{
		"suricata:9100001": {"LOCAL Windows executable served from a .top domain", "high"},
		"suricata:9100002": {"LOCAL Outdated TLS client", "low"},
	}
	type listed struct {
		RuleID    string `json:"rule_id"`
		RuleTitle string `json:"rule_title"`
		Level     string `json:"level"`
		Entities  map[string][]string
	}
	var alerts struct{ Alerts []listed }
	got := map[string]listed{}
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		resp, body := s.request("GET", "/api/v1/alerts?limit=50", testToken, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("alerts: HTTP %d: %s", resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &alerts); err != nil {
			t.Fatalf("alerts: %v: %s", err, body)
		}
		for _, a := range alerts.Alerts {
			if strings.HasPrefix(a.RuleID, "suricata:") {
				got[a.RuleID] = a
			}
		}
		if len(got) < len(want) {
			time.Sleep(100 * time.Millisecond) // polling the vigil serve process
		}
	}
	for id, w := range want {
		a, ok := got[id]
		if !ok {
			t.Errorf("no alert of rule %s in %d alerts\n%s", id, len(alerts.Alerts), tail(s.log.String(), 2000))
			continue
		}
		if a.RuleTitle != w[0] || a.Level != w[1] {
			t.Errorf("alert %s: got title %q level %q, want %q %q", id, a.RuleTitle, a.Level, w[0], w[1])
		}
		if ips := a.Entities["source.ip"]; len(ips) != 1 || ips[0] != "203.0.113.80" {
			t.Errorf("alert %s: got source.ip entities %v, want [203.0.113.80]", id, ips)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got Suricata alerts %v, want exactly %d", got, len(want))
	}
}
