package e2e

import (
	"testing"
	"time"
)

// TestDemo starts vigil serve --demo and expects detections and incidents
// within a minute, as the README promises a newcomer.
func TestDemo(t *testing.T) {
	s := startServer(t, serverOpts{extra: []string{"--demo"}})
	var incs struct {
		Incidents []struct{ Title, Severity string }
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.getJSON("/api/v1/incidents", &incs)
		if len(incs.Incidents) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second) // polling the vigil serve process: the demo's replay runs for minutes
	}
	if len(incs.Incidents) < 3 {
		t.Fatalf("after a minute of --demo: %d incidents, want the scenario's 3 (%+v)", len(incs.Incidents), incs.Incidents)
	}
	var alerts struct{ Alerts []alertJSON }
	s.getJSON("/api/v1/alerts?min_level=high&limit=100", &alerts)
	titles := map[string]bool{}
	for _, a := range alerts.Alerts {
		titles[a.RuleTitle] = true
	}
	for _, want := range []string{"SSH brute force from one source", "SSH login succeeds after brute force", "PowerShell downloads and runs code", "Path traversal or file disclosure attempt in a URL"} {
		if !titles[want] {
			t.Errorf("no %q alert (got %v)", want, titles)
		}
	}
	if r := s.search("tags:demo", 1); r.Total < 500 {
		t.Errorf("tags:demo: %d events, want the scenario's ~750", r.Total)
	}
}
