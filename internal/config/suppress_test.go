package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSuppressionMaxExpiry(t *testing.T) {
	if got := Default().Alerts.SuppressionMaxExpiry; got != 30*24*time.Hour {
		t.Errorf("default: got %s, want 720h", got)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		want       time.Duration
		wantErr    string
	}{
		{"set", "alerts:\n  suppression_max_expiry: 72h\n", 72 * time.Hour, ""},
		{"zero", "alerts:\n  suppression_max_expiry: 0s\n", 0, "alerts.suppression_max_expiry"},
		{"negative", "alerts:\n  suppression_max_expiry: -1h\n", 0, "alerts.suppression_max_expiry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".yml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Validate: got %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.Alerts.SuppressionMaxExpiry != tc.want {
				t.Errorf("got %s, %v, want %s", c.Alerts.SuppressionMaxExpiry, err, tc.want)
			}
		})
	}
}
