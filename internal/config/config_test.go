package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/respond"
)

func TestLoadLayers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yml")
	yml := "data: /var/lib/vigil\nhttp: 0.0.0.0:9000\nsyslog:\n  tcp: 0.0.0.0:6514\n  tags: [edge]\nretention:\n  max_age: 72h\n  max_size: 10GiB\nfiles:\n  - paths: [/var/log/auth.log]\n    format: text\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, []string{"VIGIL_HTTP=127.0.0.1:9999", "VIGIL_SYSLOG_TAGS=a, b", "VIGIL_BOOTSTRAP_TOKEN=s3cret", "VIGIL_SHUTDOWN_TIMEOUT=3s", "VIGIL_MEMORY_LIMIT=1GiB", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data from file", cfg.Data, "/var/lib/vigil"},
		{"http from env over file", cfg.HTTP, "127.0.0.1:9999"},
		{"syslog tcp from file", cfg.Syslog.TCP, "0.0.0.0:6514"},
		{"syslog udp default", cfg.Syslog.UDP, "127.0.0.1:5514"},
		{"tags from env", strings.Join(cfg.Syslog.Tags, "|"), "a|b"},
		{"token from env", cfg.BootstrapToken, "s3cret"},
		{"max age", cfg.Retention.MaxAge, 72 * time.Hour},
		{"max size", cfg.Retention.MaxSize, ByteSize(10 << 30)},
		{"file input", cfg.Files[0].Paths[0], "/var/log/auth.log"},
		{"default batch", cfg.Pipeline.BatchSize, Default().Pipeline.BatchSize},
		{"shutdown timeout from env", cfg.ShutdownTimeout, 3 * time.Second},
		{"default shutdown timeout", Default().ShutdownTimeout, 10 * time.Second},
		{"default memory limit", Default().MemoryLimit, ByteSize(320 << 20)},
		{"memory limit from env", cfg.MemoryLimit, ByteSize(1 << 30)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("htp: 1\n"), 0o600)
	tests := []struct {
		name    string
		path    string
		env     []string
		wantErr string
	}{
		{"unknown key in file", bad, nil, "htp"},
		{"missing file", filepath.Join(dir, "nope.yml"), nil, "no such file"},
		{"bad duration", "", []string{"VIGIL_RETENTION_MAX_AGE=soon"}, "max_age"},
		{"bad size", "", []string{"VIGIL_RETENTION_MAX_SIZE=12XB"}, "invalid size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestUnknownEnvIsListed(t *testing.T) {
	cfg, err := Load("", []string{"VIGIL_HTPP=x", "VIGIL_TOKEN=t", "VIGIL_HTTP=127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.UnknownEnv, ",") != "VIGIL_HTPP,VIGIL_TOKEN" || cfg.HTTP != "127.0.0.1:1" {
		t.Errorf("UnknownEnv %v, HTTP %q", cfg.UnknownEnv, cfg.HTTP)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad http", func(c *Config) { c.HTTP = "nonsense" }, "http:"},
		{"tls without cert", func(c *Config) { c.Syslog.TLS = "127.0.0.1:6514" }, "tls_cert"},
		{"zero queue", func(c *Config) { c.Pipeline.QueueSize = 0 }, "queue_size"},
		{"bad level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"file without paths", func(c *Config) { c.Files = []File{{}} }, "files[0].paths"},
		{"bad incident level", func(c *Config) { c.Incidents.MinLevel = "urgent" }, "incidents.min_level"},
		{"bad alert level", func(c *Config) { c.Alerts.MinLevel = "" }, "alerts.min_level"},
		{"syslog disabled", func(c *Config) { c.Syslog.UDP, c.Syslog.TCP = "", "" }, ""},
		{"zero shutdown timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout"},
		{"negative shutdown timeout", func(c *Config) { c.ShutdownTimeout = -time.Second }, "shutdown_timeout"},
		{"memory limit too small", func(c *Config) { c.MemoryLimit = 1 << 20 }, "memory_limit"},
		{"no memory limit", func(c *Config) { c.MemoryLimit = 0 }, ""},
		{"victorialogs engine", func(c *Config) { c.Store.Engine = EngineVictoriaLogs }, ""},
		{"victorialogs keeping events for ever", func(c *Config) { c.Store.Engine, c.Retention.MaxAge = EngineVictoriaLogs, 0 }, ""},
		{"victorialogs under a day", func(c *Config) { c.Store.Engine, c.Retention.MaxAge = EngineVictoriaLogs, time.Hour }, "retention.max_age"},
		{"unknown engine", func(c *Config) { c.Store.Engine = "mysql" }, "store.engine"},
		{"ingest role", func(c *Config) { c.Role, c.NATS = RoleIngest, "nats://127.0.0.1:4222" }, ""},
		{"detect role without nats", func(c *Config) { c.Role = RoleDetect }, "role detect: needs nats"},
		{"nats replicas", func(c *Config) { c.Role, c.NATS, c.NATSReplicas = RoleDetect, "nats://127.0.0.1:4222", 3 }, ""},
		{"too many nats replicas", func(c *Config) { c.Role, c.NATS, c.NATSReplicas = RoleDetect, "nats://127.0.0.1:4222", 7 }, "nats_replicas"},
		{"nats with role all", func(c *Config) { c.NATS = "nats://127.0.0.1:4222" }, "nats: set with role all"},
		{"api role", func(c *Config) {
			c.Role, c.Events, c.Postgres = RoleAPI, "http://127.0.0.1:9428", "postgres://vigil@127.0.0.1/vigil"
		}, ""},
		{"api role without stores", func(c *Config) { c.Role = RoleAPI }, "role api: needs events and postgres"},
		{"api role with nats", func(c *Config) {
			c.Role, c.Events, c.Postgres, c.NATS = RoleAPI, "http://127.0.0.1:9428", "postgres://vigil@127.0.0.1/vigil", "nats://127.0.0.1:4222"
		}, "nats: set with role api"},
		{"unknown role", func(c *Config) { c.Role = "leader" }, "is not all, ingest, detect or api"},
		{"template in a shell script", func(c *Config) {
			c.Respond.Commands = map[string][]string{"block_ip": {"sh", "-c", "nft add element inet filter b { {{.Target}} }"}}
		}, "respond.commands.block_ip: sh -c"},
		{"positional parameter", func(c *Config) {
			c.Respond.Commands = map[string][]string{"block_ip": {"sh", "-c", `nft add element inet filter b { "$1" }`, "sh", "{{.Target}}"}}
		}, ""},
		{"rule title in a batch line", func(c *Config) {
			c.Respond.BatchCommands = map[string]respond.BatchCommand{"block_ip": {Argv: []string{"nft", "-f", "-"}, Line: "# {{.Rule}}"}}
		}, "respond.batch_commands.block_ip.line"},
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
