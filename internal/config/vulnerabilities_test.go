package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVulnerabilitiesSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yml")
	os.WriteFile(path, []byte("vulnerabilities:\n  db: /srv/vulndb\n  sla:\n    p1: 3d\n    p4: 2w\n  check_interval: 1m\n  reconcile_interval: 2h\n"), 0o600)
	cfg, err := Load(path, []string{"VIGIL_VULNERABILITIES_SLA_P2=240h"})
	if err != nil {
		t.Fatal(err)
	}
	v := cfg.Vulnerabilities
	got := []time.Duration{time.Duration(v.SLA.P1), time.Duration(v.SLA.P2), time.Duration(v.SLA.P3), time.Duration(v.SLA.P4)}
	want := []time.Duration{72 * time.Hour, 240 * time.Hour, 90 * 24 * time.Hour, 14 * 24 * time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sla.p%d: got %v, want %v", i+1, got[i], want[i])
		}
	}
	if v.DB != "/srv/vulndb" || v.CheckInterval != time.Minute || v.ReconcileInterval != 2*time.Hour {
		t.Errorf("got db %q check_interval %v reconcile_interval %v, want /srv/vulndb 1m 2h", v.DB, v.CheckInterval, v.ReconcileInterval)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
	cfg.Vulnerabilities.SLA.P3 = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "vulnerabilities") || !strings.Contains(err.Error(), "sla.p3") {
		t.Errorf("p3 of 0: got %v, want an error naming vulnerabilities and sla.p3", err)
	}
}
