package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIRulesCoverage checks what vigil rules coverage counts from the
// rules' ATT&CK tags: techniques and sub-techniques by id, tactics by
// name, and neither groups, software, data sources nor malformed tags.
func TestCLIRulesCoverage(t *testing.T) {
	dir := t.TempDir()
	rule := func(name, id string, tags ...string) {
		body := "title: " + name + "\nid: " + id + "\nstatus: test\nlevel: high\ntags:\n"
		for _, tag := range tags {
			body += "  - " + tag + "\n"
		}
		body += "logsource:\n  product: windows\n  category: process_creation\ndetection:\n  sel:\n    Image|endswith: '\\x.exe'\n  condition: sel\n"
		if err := os.WriteFile(filepath.Join(dir, name+".yml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rule("one", "5f6a1c3e-0f5e-4b8e-9c4e-3a1f2b7c9d01", "attack.execution", "attack.t1059.001", "attack.g0032", "attack.s1101", "attack.ds0005")
	rule("two", "5f6a1c3e-0f5e-4b8e-9c4e-3a1f2b7c9d02", "attack.Execution", "attack.stealth", "attack.T1059.001", "attack.t1033", "attack.t1059x", "cve.2021-44228")
	r := runCLI(t, "rules", "coverage", "--no-builtin", "--rules", dir)
	if r.code != 0 {
		t.Fatalf("rules coverage: got status %d, stderr %q", r.code, r.stderr)
	}
	_, got, ok := strings.Cut(r.stdout, "ATT&CK: ")
	if !ok {
		t.Fatalf("rules coverage: no ATT&CK section in %q", r.stdout)
	}
	want := "2 techniques and sub-techniques, 2 tactics covered\n" +
		"TECHNIQUE  RULES\n" +
		"T1033      1\n" +
		"T1059.001  2\n"
	if got != want {
		t.Errorf("rules coverage ATT&CK section: got\n%s\nwant\n%s", got, want)
	}
}

func TestCLIRulesLintAnomaly(t *testing.T) {
	dir := t.TempDir()
	good := "id: a\ntitle: New process\nlevel: low\nanomaly: {kind: first_seen, entity: [user.name], fields: [process.name]}\n"
	write := func(name, s string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodFile := write("good/a.yml", good)
	write("bad/a.yml", good)
	write("bad/b.yml", "id: a\ntitle: Same id\nlevel: low\nanomaly: {kind: spike}\n")
	write("bad/c.yml", "id: c\ntitle: t\nlevel: low\nanomaly: {kind: sometimes}\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"valid", []string{goodFile}, 0, []string{"1 anomaly rules: 0 errors"}},
		{"bundled", []string{"../../internal/anomaly/builtin"}, 0, []string{"5 anomaly rules: 0 errors"}},
		{"errors", []string{filepath.Join(dir, "bad")}, 1, []string{`unknown kind "sometimes"`, `rule id "a" already used`, "2 anomaly rules: 2 errors"}},
		{"missing path", []string{filepath.Join(dir, "missing")}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"rules", "lint", "--anomaly"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit status: got %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout %q: want %q in it", r.stdout, w)
				}
			}
		})
	}
}
