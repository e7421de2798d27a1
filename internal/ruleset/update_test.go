package ruleset

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigilsec/vigil/internal/egress"
)

// loopback allows the tests' servers, which listen on 127.0.0.1: the
// egress policy refuses loopback unless an admin allows it.
var loopback = egress.MustNew("127.0.0.1/32")

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
	res, err := Update(context.Background(), loopback, srv.URL+"/sigma.zip", dest)
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
			_, err := Update(context.Background(), loopback, srv.URL, dest)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dest, "keep.yml")); err != nil {
				t.Errorf("a failed update touched the installed rules: %v", err)
			}
		})
	}
}

// TestUpdateEgress is finding 4 of issue 10 for rule downloads: a package
// URL on a refused address, directly or behind a redirect from an allowed
// server, is not fetched.
func TestUpdateEgress(t *testing.T) {
	var hits atomic.Int32
	pkg := zipOf(t, map[string]string{"a.yml": testRule})
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.Write(pkg) }))
	defer inner.Close()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	outer := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/sigma.zip", http.StatusFound)
	})}}
	outer.Start()
	defer outer.Close()
	for _, tc := range []struct {
		name   string
		policy *egress.Policy
		url    string
	}{
		{"default policy", nil, inner.URL + "/sigma.zip"},
		{"redirect to loopback", egress.MustNew("127.0.0.2/32"), outer.URL + "/sigma.zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "rules")
			if _, err := Update(context.Background(), tc.policy, tc.url, dest); !errors.Is(err, egress.ErrRefused) {
				t.Errorf("got %v, want the egress refusal", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback server got %d requests, want 0", n)
	}
}
