package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// authzOSV is an advisory the authorization matrix's uploads match:
// example.com/authz before 1.1.0.
const authzOSV = `{"id":"GO-2099-4242","modified":"2099-01-01T00:00:00Z","aliases":["CVE-2099-4242"],"summary":"authz test",
"affected":[{"package":{"ecosystem":"Go","name":"example.com/authz"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.0"}]}]}]}`

// vulnImport imports OSV records into the server's advisory database
// (DATA/vulndb, opened by the server for each upload) with the real
// vigil vulndb import.
func vulnImport(t *testing.T, data string, records ...string) {
	t.Helper()
	src := t.TempDir()
	args := []string{"vulndb", "import", "--db", filepath.Join(data, "vulndb")}
	for i, r := range records {
		p := filepath.Join(src, "rec"+string(rune('a'+i))+".json")
		if err := os.WriteFile(p, []byte(r), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, err := exec.Command(vigilBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("vigil vulndb import: %v: %s", err, out)
	}
}

// authzVulnFinding uploads, as the admin, an asset of its own holding
// example.com/authz v1.0.0 and returns the id of its finding.
func authzVulnFinding(t *testing.T, f *authzFixture, caller string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(f.s.data, "vulndb", "vulndb.sqlite")); err != nil {
		vulnImport(t, f.s.data, authzOSV)
	}
	asset := f.unique("authz-" + caller)
	f.admin(t, "POST", "/api/v1/vulnerabilities/scans", authzUpload(asset), nil, 200)
	var list struct{ Findings []struct{ ID string } }
	f.admin(t, "GET", "/api/v1/vulnerabilities/findings?asset=scan:"+asset, nil, &list, 200)
	if len(list.Findings) != 1 {
		t.Fatalf("setup: asset %s: got %d findings, want 1", asset, len(list.Findings))
	}
	return list.Findings[0].ID
}

func authzUpload(asset string) map[string]any {
	return map[string]any{"asset": map[string]any{"name": asset},
		"packages": []map[string]string{{"ecosystem": "Go", "name": "example.com/authz", "version": "v1.0.0", "location": "go.mod:3", "kind": "go.mod"}}}
}

// authzPendingAcceptance returns a finding with a risk acceptance that
// the analyst token requested (so the admin caller may decide it).
func authzPendingAcceptance(t *testing.T, f *authzFixture, caller string) string {
	t.Helper()
	id := authzVulnFinding(t, f, caller)
	got, b := f.do(t, "POST", "/api/v1/vulnerabilities/findings/"+id+"/accept", authBearer, f.tokens["analyst"],
		`{"reason":"authz","expires_in":"30d"}`, "")
	if got != http.StatusCreated {
		t.Fatalf("setup: acceptance request as analyst: got HTTP %d, want 201: %s", got, b)
	}
	return id
}

// TestVulnFindingsUpload runs the findings' lifecycle through the real
// server: vigil vulndb import, vigil scan --server uploads of a go.mod,
// the vulnerable module upgraded (fixed) and downgraded (reopened).
func TestVulnFindingsUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startServer(t, serverOpts{})
	vulnImport(t, s.data, authzOSV)
	dir := filepath.Join(t.TempDir(), "shop")
	os.Mkdir(dir, 0o755)
	scan := func(version string) string {
		t.Helper()
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module shop\n\ngo 1.22\n\nrequire example.com/authz "+version+"\n"), 0o644)
		cmd := exec.Command(vigilBin, "scan", dir, "--db", filepath.Join(s.data, "vulndb"), "--fail-on", "none",
			"--server", "http://"+s.http, "--token", testToken)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("vigil scan --server: %v: %s", err, out)
		}
		return string(out)
	}
	get := func() (state, fixedBy string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+s.http+"/api/v1/vulnerabilities/findings?asset=shop", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list struct {
			Findings []struct {
				State   string `json:"state"`
				FixedBy string `json:"fixed_by"`
			}
			Total int
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || list.Total != 1 {
			t.Fatalf("findings of shop: got %+v, %v, want 1", list, err)
		}
		return list.Findings[0].State, list.Findings[0].FixedBy
	}
	for _, step := range []struct{ version, state, fixedBy, out string }{
		{"v1.0.0", "new", "", "1 new"},
		{"v1.0.5", "open", "", "1 unchanged"},
		{"v1.1.0", "fixed", "v1.1.0", "1 fixed"},
		{"v1.0.0", "reopened", "", "1 reopened"},
	} {
		out := scan(step.version)
		if !strings.Contains(out, step.out) {
			t.Errorf("%s: vigil scan said %q, want %q", step.version, out, step.out)
		}
		if state, fixedBy := get(); state != step.state || fixedBy != step.fixedBy {
			t.Errorf("%s: got %s fixed_by %q, want %s %q", step.version, state, fixedBy, step.state, step.fixedBy)
		}
	}
}

// TestVulnSLAAlert runs the SLA check in a real server with a P4 SLA of
// one second checked every second: a finding past due raises one alert
// (rule vuln-sla:<finding id>) through the alert path, and later checks
// do not raise it again.
func TestVulnSLAAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	cfg := filepath.Join(t.TempDir(), "vigil.yml")
	if err := os.WriteFile(cfg, []byte("alerts:\n  min_level: informational\nvulnerabilities:\n  sla: {p4: 1s}\n  check_interval: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{extra: []string{"--config", cfg}})
	vulnImport(t, s.data, authzOSV)
	upload := func(asset string) string {
		t.Helper()
		resp, b := s.request("POST", "/api/v1/vulnerabilities/scans", testToken, strings.NewReader(jsonString(t, authzUpload(asset))))
		if resp.StatusCode != 200 {
			t.Fatalf("upload %s: HTTP %d: %s", asset, resp.StatusCode, b)
		}
		resp, b = s.request("GET", "/api/v1/vulnerabilities/findings?asset="+asset, testToken, nil)
		var list struct {
			Findings []struct{ ID, Priority string }
		}
		if err := json.Unmarshal(b, &list); err != nil || len(list.Findings) != 1 || list.Findings[0].Priority != "P4" {
			t.Fatalf("findings of %s: HTTP %d %s, want one P4", asset, resp.StatusCode, b)
		}
		return list.Findings[0].ID
	}
	type alertCount struct {
		Count int64  `json:"count"`
		Level string `json:"level"`
	}
	alertsOf := func(id string) []alertCount {
		t.Helper()
		_, b := s.request("GET", "/api/v1/alerts?since=1h&limit=100&min_level=informational&rule_id=vuln-sla:"+id, testToken, nil)
		var list struct{ Alerts []alertCount }
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatalf("alerts: %v: %s", err, b)
		}
		return list.Alerts
	}
	waitAlert := func(id string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(alertsOf(id)) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no SLA alert for finding %s after 20 s", id)
			}
			time.Sleep(100 * time.Millisecond) // polling the vigil serve process
		}
	}
	first := upload("late-1")
	waitAlert(first)
	// A second finding's alert shows that later checks ran after the
	// first alert was raised: the first is still one alert, seen once.
	second := upload("late-2")
	waitAlert(second)
	if got := alertsOf(first); len(got) != 1 || got[0].Count != 1 || got[0].Level != "low" {
		t.Errorf("alerts of the first breach: got %+v, want one, count 1, level low (P4)", got)
	}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
