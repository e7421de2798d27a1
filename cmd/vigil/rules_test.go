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
