package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/vuln/findings"
)

// TestScanServer uploads vigil scan's inventory to a server's findings
// (the real API's token check and the findings service over the shared
// advisory data), then again after the vulnerable module is upgraded.
func TestScanServer(t *testing.T) {
	dbDir := importShared(t)
	ctx := context.Background()
	meta := metatest.Open(t)
	as, err := auth.Open(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}
	analyst, _, err := as.CreateToken(ctx, "ci", auth.RoleAnalyst, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, err := as.CreateToken(ctx, "v", auth.RoleViewer, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := findings.Open(findings.Options{DB: meta, VulnDB: dbDir})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a := api.New(api.Options{Auth: as, Metrics: metrics.New()})
	svc.Register(mux, findings.HTTPOptions{Require: a.Require})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	dir := filepath.Join(t.TempDir(), "shop")
	os.Mkdir(dir, 0o755)
	gomod := filepath.Join(dir, "go.mod")
	os.WriteFile(gomod, []byte("module m\n\ngo 1.22\n\nrequire github.com/wazuh/wazuh v4.5.0+incompatible\n"), 0o644)

	r := runCLI(t, "scan", dir, "--db", dbDir, "--format", "json", "--fail-on", "none", "--server", srv.URL, "--token", viewer)
	if r.code != 2 || !strings.Contains(r.stderr, "403") {
		t.Errorf("viewer token: got exit %d, stderr %q, want 2 and the server's 403", r.code, r.stderr)
	}
	r = runCLI(t, "scan", dir, "--db", dbDir, "--format", "json", "--fail-on", "none", "--server", srv.URL, "--token", analyst)
	if r.code != 0 || !strings.Contains(r.stderr, "as scan:shop:") {
		t.Fatalf("upload: got exit %d, stderr %q, want 0 and the asset scan:shop", r.code, r.stderr)
	}
	fs, total, err := svc.List(ctx, findings.Filter{Asset: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	kev := false
	for _, f := range fs {
		if f.Vulnerability == "GO-2025-3459" && f.KEV && f.Priority == "P1" && f.State == findings.StateNew {
			kev = true
		}
	}
	if total == 0 || !kev {
		t.Errorf("findings of scan:shop: got %d %+v, want GO-2025-3459 new, KEV, P1 among them", total, fs)
	}

	// The module gone from go.mod: every finding of the asset is fixed.
	os.WriteFile(gomod, []byte("module m\n\ngo 1.22\n"), 0o644)
	r = runCLI(t, "scan", dir, "--db", dbDir, "--server", srv.URL, "--token", analyst, "--asset", "shop")
	if r.code != 0 || !strings.Contains(r.stderr, "fixed") {
		t.Fatalf("second upload: got exit %d, stderr %q", r.code, r.stderr)
	}
	sum, err := svc.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ByState[findings.StateFixed] != total {
		t.Errorf("after the upgrade: got %+v, want all %d findings fixed", sum.ByState, total)
	}
}
