package config

import (
	"strings"
	"testing"
	"time"
)

func TestAgentsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"disabled by default", func(c *Config) {}, ""},
		{"listen", func(c *Config) { c.Agents.Listen = "0.0.0.0:8443" }, ""},
		{"listen without a port", func(c *Config) { c.Agents.Listen = "0.0.0.0" }, "agents.listen"},
		{"advertise", func(c *Config) { c.Agents.Advertise = "vigil.example.com:8443" }, ""},
		{"advertise without a port", func(c *Config) { c.Agents.Advertise = "vigil.example.com" }, "agents.advertise"},
		{"validity at the bound", func(c *Config) { c.Agents.CertValidity = 366 * 24 * time.Hour }, ""},
		{"validity past the bound", func(c *Config) { c.Agents.CertValidity = 367 * 24 * time.Hour }, "agents.cert_validity"},
		{"negative validity", func(c *Config) { c.Agents.CertValidity = -time.Hour }, "agents.cert_validity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
	c, err := Load("", []string{"VIGIL_AGENTS_LISTEN=127.0.0.1:9443"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Agents.Listen != "127.0.0.1:9443" {
		t.Errorf("VIGIL_AGENTS_LISTEN: got %q, want 127.0.0.1:9443", c.Agents.Listen)
	}
}
