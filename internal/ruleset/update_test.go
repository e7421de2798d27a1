package ruleset

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return buf.Bytes()
}

const testRule = `title: Test rule
id: 5f1f7b7e-3c1a-4a6e-9d59-2b1f0f0c0a01
logsource:
  product: linux
  service: sshd
detection:
  sel:
    event.outcome: failure
  condition: sel
level: low
`

func TestUpdateInstallsPackage(t *testing.T) {
	pkg := zipOf(t, map[string]string{"rules/linux/a.yml": testRule, "README.md": "not a rule", "rules/bad.yml": "title: [unclosed"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(pkg) }))
	defer srv.Close()
	dest := filepath.Join(t.TempDir(), "rules", "sigmahq")
	os.MkdirAll(dest, 0o750)
	os.WriteFile(filepath.Join(dest, "stale.yml"), []byte(testRule), 0o600)
	res, err := Update(context.Background(), srv.Client(), srv.URL+"/sigma.zip", dest)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 2 || res.Rules != 1 || len(res.Errors) != 1 {
		t.Errorf("files %d rules %d errors %v; want 2, 1, one error", res.Files, res.Rules, res.Errors)
	}
	if _, err := os.Stat(filepath.Join(dest, "rules", "linux", "a.yml")); err != nil {
		t.Errorf("rule not installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "stale.yml")); !os.IsNotExist(err) {
		t.Errorf("old rules not replaced: %v", err)
	}
}

func TestUpdateRefuses(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		status  int
		wantErr string
	}{
		{"zip slip", zipOf(t, map[string]string{"../../evil.yml": testRule}), 200, "outside the package"},
		{"not a zip", []byte("<html>"), 200, "not a zip"},
		{"no rules", zipOf(t, map[string]string{"x.txt": "x"}), 200, "no .yml"},
		{"http error", nil, 404, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write(tt.body)
			}))
			defer srv.Close()
			dest := filepath.Join(t.TempDir(), "rules")
			os.MkdirAll(dest, 0o750)
			os.WriteFile(filepath.Join(dest, "keep.yml"), []byte(testRule), 0o600)
			_, err := Update(context.Background(), srv.Client(), srv.URL, dest)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dest, "keep.yml")); err != nil {
				t.Errorf("a failed update touched the installed rules: %v", err)
			}
		})
	}
}
