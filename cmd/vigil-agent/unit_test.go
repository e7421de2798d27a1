package main

import (
	"os"
	"strings"
	"testing"
)

// TestSystemdUnit checks the packaged unit's hardening: the agent runs
// with no new privileges, a read-only system but for its data directory,
// and the footprint bounds.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../../packaging/vigil-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/vigil-agent run --data /var/lib/vigil-agent",
		"NoNewPrivileges=yes",
		"ProtectSystem=strict",
		"ReadWritePaths=/var/lib/vigil-agent",
		"PrivateTmp=yes",
		"ProtectKernelModules=yes",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"SystemCallFilter=@system-service",
		"MemoryDenyWriteExecute=yes",
		"UMask=0077",
		"MemoryMax=128M",
		"Restart=always",
	} {
		if !lines[want] {
			t.Errorf("packaging/vigil-agent.service lacks %q", want)
		}
	}
}

func TestRunCommandLine(t *testing.T) {
	var out, errb strings.Builder
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"run", "--data", t.TempDir(), "--fim", "/etc"}, "not enrolled"},
		{[]string{"run", "--data", t.TempDir(), "--fim", "etc"}, "--fim \"etc\": want an absolute path"},
		{[]string{"run", "--data", t.TempDir(), "--fim", "/etc", "--fim-scan-interval", "59s"}, "--fim-scan-interval: want at least 1m0s"},
		{[]string{"run", "--data", t.TempDir(), "--fim", "/etc", "--fim-hash-rate", "1048575"}, "--fim-hash-rate: want at least 1048576"},
		{[]string{"run", "--data", t.TempDir(), "--fim", "/etc", "--fim-ignore", "[x"}, "--fim-ignore"},
		{[]string{"run", "--data", t.TempDir(), "--fim", "/etc", "--fim-max-files", "-1"}, "--fim-max-files"},
		{[]string{"run", "--data", t.TempDir()}, "not enrolled"},
		{[]string{"run", "--data", t.TempDir(), "--buffer-size", "1048575"}, "--buffer-size: want at least 1048576 bytes"},
		{[]string{"run", "--data", t.TempDir(), "--inventory-interval", "59s"}, "--inventory-interval: want at least 1m0s, got 59s"},
		{[]string{"run", "--data", t.TempDir(), "--file", "/var/log/[x"}, "syntax error in pattern"},
		{[]string{"enroll", "--server", "http://127.0.0.1:1", "--data", t.TempDir(), "--token", ""}, "--token"},
		{[]string{"enroll", "extra"}, "unexpected argument"},
	} {
		err := run(t.Context(), tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("vigil-agent %v: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	if err := run(t.Context(), []string{"version"}, &out, &errb); err != nil || !strings.Contains(out.String(), "vigil-agent dev") {
		t.Errorf("version: got %q, %v", out.String(), err)
	}
}
