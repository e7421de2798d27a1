package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Issuer: "https://idp.example.com/realms/corp", ClientID: "vigil", ClientSecret: "s3cret",
			RedirectURL: "https://vigil.example.com/auth/oidc/callback", RoleMap: map[string]string{"vigil-analysts": "analyst"}}
	}
	tests := []struct {
		name string
		mod  func(c *Config)
		want []string // every message; none: valid
	}{
		{"valid", nil, nil},
		{"off", func(c *Config) { *c = Config{} }, nil},
		{"keys without an issuer", func(c *Config) { c.Issuer = "" }, []string{"oidc.issuer: must be set when the other oidc keys are"}},
		{"http on loopback", func(c *Config) { c.Issuer = "http://127.0.0.1:9998/" }, nil},
		{"http on localhost", func(c *Config) { c.Issuer = "http://localhost:9998/" }, nil},
		{"http elsewhere", func(c *Config) { c.Issuer = "http://idp.example.com/" }, []string{"http is allowed on a loopback host only"}},
		{"another scheme", func(c *Config) { c.Issuer = "ftp://idp.example.com/" }, []string{"the scheme must be https"}},
		{"issuer with a query", func(c *Config) { c.Issuer = "https://idp.example.com/?tenant=x" }, []string{"without user, query or fragment"}},
		{"no client", func(c *Config) { c.ClientID = "" }, []string{"oidc.client_id: must be set"}},
		{"public client", func(c *Config) { c.ClientSecret = "" }, nil},
		{"no redirect", func(c *Config) { c.RedirectURL = "" }, []string{"oidc.redirect_url: must be set"}},
		{"redirect elsewhere", func(c *Config) { c.RedirectURL = "https://vigil.example.com/login" }, []string{"the path must be /auth/oidc/callback"}},
		{"redirect not absolute", func(c *Config) { c.RedirectURL = "/auth/oidc/callback" }, []string{"want http(s)://host/auth/oidc/callback"}},
		{"no openid scope", func(c *Config) { c.Scopes = []string{"profile", "email"} }, []string{"must include openid"}},
		{"a scope with a space", func(c *Config) { c.Scopes = []string{"openid", "a b"} }, []string{`"a b" is not a scope`}},
		{"a role that is not", func(c *Config) { c.RoleMap["ops"] = "root" }, []string{`oidc.role_map.ops: "root" is not viewer, analyst or admin`}},
		{"ingest is not a person's", func(c *Config) { c.RoleMap["bots"] = "ingest" }, []string{`"ingest" is not viewer, analyst or admin`}},
		{"a dotted group", func(c *Config) { c.RoleMap["cn=admins,ou=groups,dc=example,dc=com"] = "admin" }, nil},
		{"role map at the bound", func(c *Config) { c.RoleMap = bigMap(MaxRoleMap) }, nil},
		{"role map past the bound", func(c *Config) { c.RoleMap = bigMap(MaxRoleMap + 1) }, []string{"10001 entries, more than 10000"}},
		{"default role", func(c *Config) { c.DefaultRole = "viewer" }, nil},
		{"default role none", func(c *Config) { c.DefaultRole = "none" }, nil},
		{"default role wrong", func(c *Config) { c.DefaultRole = "guest" }, []string{`oidc.default_role: "guest" is not viewer`}},
		{"a domain", func(c *Config) { c.AllowedDomains = []string{"example.com"} }, nil},
		{"an address for a domain", func(c *Config) { c.AllowedDomains = []string{"@example.com"} }, []string{"oidc.allowed_domains[0]"}},
		{"name at the bound", func(c *Config) { c.Name = strings.Repeat("n", maxName) }, nil},
		{"name past the bound", func(c *Config) { c.Name = strings.Repeat("n", maxName+1) }, []string{"oidc.name: 65 bytes, more than 64"}},
		{"every problem at once", func(c *Config) { c.ClientID, c.RedirectURL, c.DefaultRole = "", "", "x" },
			[]string{"oidc.client_id", "oidc.redirect_url", "oidc.default_role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			if tt.mod != nil {
				tt.mod(&c)
			}
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got valid, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error holds the secret: %v", err)
			}
		})
	}
}

func bigMap(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprint("group-", i)] = "viewer"
	}
	return m
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Issuer: "https://login.example.com/tenant/v2.0", ClientID: "x", RedirectURL: "https://v.example" + CallbackPath}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%v %s %s %s", c.Scopes, c.RoleClaim, c.DefaultRole, c.Name)
	if want := "[openid profile email] groups none login.example.com"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestSecretMasked: the client secret prints, marshals and logs as ***,
// wherever the configuration goes.
func TestSecretMasked(t *testing.T) {
	const secret = "the-client-secret-0123"
	c := Config{Issuer: "https://idp.example.com", ClientID: "vigil", ClientSecret: secret}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "oidc", c, "secret", c.ClientSecret)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "oidc", c, "secret", c.ClientSecret)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c), "%s": fmt.Sprintf("secret %s", c.ClientSecret),
		"%q": fmt.Sprintf("%q", c.ClientSecret), "json": string(js), "slog": logged.String(),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
		if !strings.Contains(out, "***") {
			t.Errorf("%s: got %s, want the secret shown as ***", name, out)
		}
	}
	if c.ClientSecret.Reveal() != secret {
		t.Errorf("Reveal: got %q, want the secret", c.ClientSecret.Reveal())
	}
	if Secret("").String() != "" {
		t.Errorf("an empty secret: got %q, want empty", Secret("").String())
	}
}
