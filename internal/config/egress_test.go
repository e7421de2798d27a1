package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/respond"
)

func TestEgressAndDestinations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yml")
	yml := `egress:
  allow: [10.20.0.0/16, "192.168.7.7"]
respond:
  http_destinations:
    hr:
      url: "https://10.20.1.5/api/users/{{.Target}}/lock"
      method: put
      headers: {Authorization: "Bearer t0ken"}
      body: '{"user": "{{.Target}}"}'
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if diff := cmp.Diff([]string{"10.20.0.0/16", "192.168.7.7"}, cfg.Egress.Allow); diff != "" {
		t.Errorf("egress.allow (-want +got):\n%s", diff)
	}
	want := map[string]respond.Destination{"hr": {URL: "https://10.20.1.5/api/users/{{.Target}}/lock", Method: "put",
		Headers: map[string]string{"Authorization": "Bearer t0ken"}, Body: `{"user": "{{.Target}}"}`}}
	if diff := cmp.Diff(want, cfg.Respond.HTTPDestinations); diff != "" {
		t.Errorf("destinations (-want +got):\n%s", diff)
	}

	env, err := Load("", []string{"VIGIL_EGRESS_ALLOW=127.0.0.1/32, ::1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"127.0.0.1/32", "::1"}, env.Egress.Allow); diff != "" {
		t.Errorf("VIGIL_EGRESS_ALLOW (-want +got):\n%s", diff)
	}
}

func TestEgressValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bad prefix", func(c *Config) { c.Egress.Allow = []string{"10.0.0.0/33"} }, "egress.allow"},
		{"metadata destination", func(c *Config) {
			c.Respond.HTTPDestinations = map[string]respond.Destination{"m": {URL: "http://169.254.169.254/latest/"}}
		}, "respond.http_destinations: destination \"m\": host 169.254.169.254: 169.254.169.254 is link-local"},
		{"loopback destination without allow", func(c *Config) {
			c.Respond.HTTPDestinations = map[string]respond.Destination{"l": {URL: "http://127.0.0.1:9000/x"}}
		}, "allow it with egress.allow"},
		{"template in the host", func(c *Config) {
			c.Respond.HTTPDestinations = map[string]respond.Destination{"h": {URL: "https://{{.Target}}/x"}}
		}, "not its scheme or host"},
		{"loop in a body", func(c *Config) {
			c.Respond.HTTPDestinations = map[string]respond.Destination{"b": {URL: "https://hr.example/", Body: `{{range 9}}{{end}}`}}
		}, "range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	c := Default()
	c.Egress.Allow = []string{"127.0.0.1/32"}
	c.Respond.HTTPDestinations = map[string]respond.Destination{"l": {URL: "http://127.0.0.1:9000/x"}}
	if err := c.Validate(); err != nil {
		t.Errorf("an allow-listed loopback destination: %v", err)
	}
}
