package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestValidateLogin covers every sign-in bound: each is checked, with an
// error naming its key.
func TestValidateLogin(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"explicit hashing", func(c *Config) { c.Login.MaxHashing = 4 }, ""},
		{"negative hashing", func(c *Config) { c.Login.MaxHashing = -1 }, "login.max_hashing: -1 is outside 0..1024"},
		{"huge hashing", func(c *Config) { c.Login.MaxHashing = 1025 }, "login.max_hashing"},
		{"no hashing per source", func(c *Config) { c.Login.MaxHashingPerSource = 0 }, "login.max_hashing_per_source"},
		{"per source over global", func(c *Config) { c.Login.MaxHashing, c.Login.MaxHashingPerSource = 2, 3 }, "login.max_hashing_per_source: 3"},
		{"no failures", func(c *Config) { c.Login.MaxFailures = 0 }, "login.max_failures: must be at least 1"},
		{"no source failures", func(c *Config) { c.Login.MaxSourceFailures = 0 }, "login.max_source_failures"},
		{"no user failures", func(c *Config) { c.Login.MaxUserFailures = 0 }, "login.max_user_failures"},
		{"short lock", func(c *Config) { c.Login.LockBase = time.Millisecond }, "login.lock_base: must be at least 1s"},
		{"lock max under base", func(c *Config) { c.Login.LockMax = 10 * time.Second }, "login.lock_max: 10s is shorter than lock_base"},
		{"short forget", func(c *Config) { c.Login.Forget = 0 }, "login.forget"},
		{"short remember", func(c *Config) { c.Login.Remember = 0 }, "login.remember"},
		{"short audit window", func(c *Config) { c.Login.AuditWindow = 0 }, "login.audit_window"},
		{"tiny table", func(c *Config) { c.Login.MaxEntries = 10 }, "login.max_entries: 10 is below 1000"},
		{"trusted proxies", func(c *Config) { c.TrustProxy = []string{"127.0.0.1/32", "10.0.0.0/8", "::1"} }, ""},
		{"bad trusted proxy", func(c *Config) { c.TrustProxy = []string{"127.0.0.1/32", "proxy.example"} }, "trust_proxy[1]"},
		{"zoned trusted proxy", func(c *Config) { c.TrustProxy = []string{"fe80::1%eth0"} }, "zones are not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoginKeysLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yml")
	yml := "login:\n  max_hashing: 3\n  max_failures: 7\n  audit_window: 5m\n  secure_cookies: true\ntrust_proxy: [10.0.0.0/8]\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"VIGIL_LOGIN_MAX_HASHING_PER_SOURCE=1", "VIGIL_TRUST_PROXY=127.0.0.1/32, ::1"})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Login
	if l.MaxHashing != 3 || l.MaxFailures != 7 || l.AuditWindow != 5*time.Minute || !l.SecureCookies || l.MaxHashingPerSource != 1 || l.MaxSourceFailures != 20 {
		t.Errorf("got %+v, want the file's values, the environment's per-source cap and defaults", l)
	}
	if want := []string{"127.0.0.1/32", "::1"}; !slices.Equal(c.TrustProxy, want) {
		t.Errorf("got trust_proxy %q, want %q (the environment over the file)", c.TrustProxy, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("got %v, want valid", err)
	}
}
