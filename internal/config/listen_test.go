package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestValidateListeners covers the HTTP listener's and the syslog
// listeners' bounds: each is checked, with an error naming its key.
func TestValidateListeners(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(pem, []byte("not checked here"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"https", func(c *Config) { c.HTTPServer.TLSCert, c.HTTPServer.TLSKey = pem, pem }, ""},
		{"cert without key", func(c *Config) { c.HTTPServer.TLSCert = pem }, "tls_cert and tls_key go together"},
		{"missing cert file", func(c *Config) { c.HTTPServer.TLSCert, c.HTTPServer.TLSKey = filepath.Join(dir, "nope"), pem }, "http_server.tls_cert"},
		{"short read header timeout", func(c *Config) { c.HTTPServer.ReadHeaderTimeout = time.Millisecond }, "http_server.read_header_timeout: must be at least 1s"},
		{"short read timeout", func(c *Config) { c.HTTPServer.ReadTimeout = 0 }, "http_server.read_timeout: must be at least 1s"},
		{"short write timeout", func(c *Config) { c.HTTPServer.WriteTimeout = time.Millisecond }, "http_server.write_timeout"},
		{"short idle timeout", func(c *Config) { c.HTTPServer.IdleTimeout = 0 }, "http_server.idle_timeout"},
		{"header timeout over read timeout", func(c *Config) { c.HTTPServer.ReadHeaderTimeout = time.Hour }, "is longer than read_timeout"},
		{"tiny header bound", func(c *Config) { c.HTTPServer.MaxHeaderBytes = 100 }, "http_server.max_header_bytes"},
		{"huge header bound", func(c *Config) { c.HTTPServer.MaxHeaderBytes = 2 << 20 }, "http_server.max_header_bytes"},
		{"no connections", func(c *Config) { c.HTTPServer.MaxConnections = 0 }, "http_server.max_connections: must be at least 1"},
		{"no connections per source", func(c *Config) { c.HTTPServer.MaxConnectionsPerSource = 0 }, "http_server.max_connections_per_source"},
		{"syslog per source", func(c *Config) { c.Syslog.MaxConnectionsPerSource = -1 }, "syslog.max_connections_per_source"},
		{"ingest read timeout", func(c *Config) { c.Ingest.ReadTimeout = time.Millisecond }, "ingest.read_timeout"},
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

func TestListenerKeysLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yml")
	yml := "http_server:\n  read_timeout: 45s\n  max_connections_per_source: 8\nsyslog:\n  max_connections_per_source: 3\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, []string{"VIGIL_HTTP_SERVER_IDLE_TIMEOUT=7s", "VIGIL_INGEST_READ_TIMEOUT=2m"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"read timeout from file", cfg.HTTPServer.ReadTimeout, 45 * time.Second},
		{"http per source from file", cfg.HTTPServer.MaxConnectionsPerSource, 8},
		{"syslog per source from file", cfg.Syslog.MaxConnectionsPerSource, 3},
		{"idle timeout from env", cfg.HTTPServer.IdleTimeout, 7 * time.Second},
		{"ingest read timeout from env", cfg.Ingest.ReadTimeout, 2 * time.Minute},
		{"default write timeout", cfg.HTTPServer.WriteTimeout, time.Minute},
		{"default http connections", cfg.HTTPServer.MaxConnections, 4096},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(cfg.UnknownEnv) != 0 {
		t.Errorf("unknown env: %v", cfg.UnknownEnv)
	}
}
