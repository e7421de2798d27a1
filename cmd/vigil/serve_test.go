package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/vigilsec/vigil/internal/config"
)

// Every flag of serve that is a setting reaches the configuration through
// the loader's flag layer; none is applied by hand or forgotten.
func TestServeFlagsAreALoaderLayer(t *testing.T) {
	notSettings := []string{"config", "check-config", "pprof", "help"}
	cmd := newServeCmd()
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if slices.Contains(notSettings, f.Name) {
			return
		}
		if _, ok := serveFlags[f.Name]; !ok {
			t.Errorf("flag --%s has no configuration key in serveFlags", f.Name)
		}
	})
	for name := range serveFlags {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("serveFlags names --%s, which serve does not have", name)
		}
	}

	args := []string{"--http", "127.0.0.1:9999", "--shutdown-timeout", "3s", "--demo",
		"--rules", "a", "--rules", "b,c", "--trust-proxy", "10.0.0.0/8,192.168.0.0/16", "--syslog-udp", ""}
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	environ := []string{"VIGIL_HTTP=127.0.0.1:1", "VIGIL_SYSLOG_TCP=127.0.0.1:2", "VIGIL_SHUTDOWN_TIMEOUT=1m"}
	cfg, err := config.Load("", environ, flagLayer(cmd.Flags()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP != "127.0.0.1:9999" {
		t.Errorf("http: got %q, want the flag's 127.0.0.1:9999 over the environment's", cfg.HTTP)
	}
	if cfg.Syslog.TCP != "127.0.0.1:2" {
		t.Errorf("syslog.tcp: got %q, want the environment's 127.0.0.1:2 (no flag given)", cfg.Syslog.TCP)
	}
	if cfg.ShutdownTimeout != 3*time.Second {
		t.Errorf("shutdown_timeout: got %v, want 3s", cfg.ShutdownTimeout)
	}
	if !cfg.Demo {
		t.Error("demo: got false, want true")
	}
	if want := []string{"a", "b,c"}; !slices.Equal(cfg.Rules, want) {
		t.Errorf("rules: got %q, want %q (repeatable, not split)", cfg.Rules, want)
	}
	if want := []string{"10.0.0.0/8", "192.168.0.0/16"}; !slices.Equal(cfg.TrustProxy, want) {
		t.Errorf("trust_proxy: got %q, want %q", cfg.TrustProxy, want)
	}
	if cfg.Syslog.UDP != "" {
		t.Errorf("syslog.udp: got %q, want empty (an empty flag disables the listener)", cfg.Syslog.UDP)
	}
	if d := config.Default(); cfg.Data != d.Data || cfg.Alerts != d.Alerts {
		t.Errorf("settings without flag or variable: got data %q alerts %+v, want the defaults", cfg.Data, cfg.Alerts)
	}
}

// --check-config validates the whole configuration, flags included, and
// names the key of each problem.
func TestServeCheckConfig(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"serve", "--check-config", "--data", t.TempDir(), "--syslog-tcp", "nonsense", "--shutdown-timeout", "-1s"}, &out, &errb)
	if code == 0 {
		t.Fatalf("exit 0 for an invalid configuration; stdout %q", out.String())
	}
	for _, want := range []string{"syslog.tcp", "shutdown_timeout"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr does not name %s: %q", want, errb.String())
		}
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"serve", "--check-config", "--data", t.TempDir(), "--syslog-udp", "", "--syslog-tcp", "127.0.0.1:0"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d for a valid configuration: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "configuration OK") {
		t.Errorf("stdout %q, want configuration OK", out.String())
	}
}
