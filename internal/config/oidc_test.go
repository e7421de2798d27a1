package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/oidc"
)

// TestOIDCKeysLoad: the oidc section from the file, the secret from the
// environment; role map keys keep their dots, at signs and commas; the
// secret never shows when the configuration is printed.
func TestOIDCKeysLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yml")
	yml := `oidc:
  issuer: https://idp.example.com/realms/corp
  client_id: vigil
  redirect_url: https://vigil.example.com/auth/oidc/callback
  role_claim: realm_access.roles
  role_map:
    vigil-analysts: analyst
    "cn=admins,ou=groups,dc=example,dc=com": admin
    ops.team@example.com: viewer
  allowed_domains: [example.com]
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "from-the-environment-0123"
	c, err := Load(path, []string{"VIGIL_OIDC_CLIENT_SECRET=" + secret, "VIGIL_OIDC_SCOPES=openid,email,groups"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("got %v, want valid", err)
	}
	o := c.OIDC
	if o.ClientSecret.Reveal() != secret || o.ClientID != "vigil" || o.RoleClaim != "realm_access.roles" || o.DefaultRole != "none" ||
		!slices.Equal(o.Scopes, []string{"openid", "email", "groups"}) || o.Name != "idp.example.com" {
		t.Errorf("got %+v, want the file's keys, the environment's secret and scopes, and defaults", o)
	}
	want := map[string]string{"vigil-analysts": "analyst", "cn=admins,ou=groups,dc=example,dc=com": "admin", "ops.team@example.com": "viewer"}
	if fmt.Sprint(o.RoleMap) != fmt.Sprint(want) {
		t.Errorf("role_map: got %v, want %v", o.RoleMap, want)
	}
	if s := fmt.Sprintf("%+v", c); strings.Contains(s, secret) {
		t.Errorf("the printed configuration holds the secret")
	}
}

func TestOIDCValidate(t *testing.T) {
	base := func() Config {
		c := Default()
		c.OIDC = oidc.Config{Issuer: "http://127.0.0.1:9998/", ClientID: "vigil", ClientSecret: "x",
			RedirectURL: "http://127.0.0.1:8080/auth/oidc/callback", RoleMap: map[string]string{"a": "analyst"}}
		return c
	}
	tests := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{"off by default", func(c *Config) { c.OIDC = oidc.Config{} }, ""},
		{"a loopback issuer the egress policy refuses", nil,
			"oidc.issuer: 127.0.0.1 is loopback, which the egress policy refuses; add it to egress.allow"},
		{"allowed", func(c *Config) { c.Egress.Allow = []string{"127.0.0.1/32"} }, ""},
		{"a public issuer", func(c *Config) { c.OIDC.Issuer = "https://login.example.com/" }, ""},
		{"the section's own errors", func(c *Config) { c.OIDC.RoleMap["b"] = "root" }, `oidc.role_map.b: "root" is not viewer`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			if tt.mod != nil {
				tt.mod(&c)
			}
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
