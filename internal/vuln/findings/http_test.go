package findings

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// testAPI mounts s's API behind a Require that takes the caller's role
// from the X-Role header and its name from X-User (the server's Require
// authenticates a token; the e2e tests cover that).
func testAPI(t *testing.T, s *Service) (*httptest.Server, *[]string) {
	t.Helper()
	var audited []string
	mux := http.NewServeMux()
	s.Register(mux, HTTPOptions{
		Require: func(p auth.Permission, h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !auth.Role(r.Header.Get("X-Role")).Can(p) {
					writeError(w, http.StatusForbidden, "forbidden")
					return
				}
				h.ServeHTTP(w, r)
			})
		},
		Audit: func(_ *http.Request, action, target string, _, _ any) { audited = append(audited, action) },
		Actor: func(r *http.Request) string { return "user:" + r.Header.Get("X-User") },
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs, &audited
}

func call(t *testing.T, method, url, role, user, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Role", role)
	req.Header.Set("X-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const jsonUpload = `{"asset":{"name":"=HYPERLINK(\"http://x\")","criticality":"high","tags":["internet-facing"]},
	"packages":[{"ecosystem":"Go","name":"example.com/lib","version":"v1.0.0","location":"go.mod:3","kind":"go.mod"},
	{"ecosystem":"Go","name":"example.com/other","version":"v1.1.0","location":"go.mod:4","kind":"go.mod"}],
	"findings":[{"id":"made-up"}]}`

const cdxUpload = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[
	{"type":"library","name":"lib","version":"v1.0.0","purl":"pkg:golang/example.com/lib@v1.0.0"},
	{"type":"library","name":"requests","version":"2.0.0","purl":"pkg:pypi/requests@2.0.0"}]}`

func TestAPI(t *testing.T) { metatest.Engines(t, testAPIRoles) }

func testAPIRoles(t *testing.T) {
	s, _, _ := newTestService(t)
	hs, audited := testAPI(t, s)
	base := hs.URL + "/api/v1/vulnerabilities"

	if code, b := call(t, "POST", base+"/scans", "viewer", "vic", jsonUpload); code != 403 {
		t.Errorf("viewer upload: got %d, want 403: %s", code, b)
	}
	code, b := call(t, "POST", base+"/scans", "analyst", "ann", jsonUpload)
	if code != 200 || !strings.Contains(b, `"new":2`) {
		t.Fatalf("analyst upload: got %d %s, want 200 with 2 new findings", code, b)
	}
	code, b = call(t, "POST", base+"/scans?asset=image-1&tag=internet-facing", "analyst", "ann", cdxUpload)
	if code != 200 || !strings.Contains(b, `"new":1`) || !strings.Contains(b, `"skipped":1`) {
		t.Fatalf("SBOM upload: got %d %s, want 200, 1 new, 1 skipped (PyPI)", code, b)
	}

	code, b = call(t, "GET", base+"/findings?priority=p1&asset=scan:=HYPERLINK(\"http://x\")", "viewer", "vic", "")
	var page struct {
		Findings []Finding `json:"findings"`
		Total    int       `json:"total"`
	}
	if code != 200 || json.Unmarshal([]byte(b), &page) != nil || page.Total != 1 {
		t.Fatalf("viewer list: got %d %s, want 200 with the one P1 finding of the asset", code, b)
	}
	id := page.Findings[0].ID
	for _, tc := range []struct {
		name, method, path, role, user, body string
		want                                 int
	}{
		{"viewer reads", "GET", "/findings/" + id, "viewer", "vic", "", 200},
		{"viewer summary", "GET", "/summary", "viewer", "vic", "", 200},
		{"viewer assets", "GET", "/assets?limit=10", "viewer", "vic", "", 200},
		{"assets page past the bound", "GET", "/assets?limit=1001", "viewer", "vic", "", 400},
		{"unknown finding", "GET", "/findings/nope", "viewer", "vic", "", 404},
		{"bad filter", "GET", "/findings?state=closed", "viewer", "vic", "", 400},
		{"bad kev", "GET", "/findings?kev=maybe", "viewer", "vic", "", 400},
		{"page past the bound", "GET", "/findings?limit=1001", "viewer", "vic", "", 400},
		{"ingest may not read", "GET", "/findings", "ingest", "i", "", 403},
		{"viewer may not request", "POST", "/findings/" + id + "/accept", "viewer", "vic", `{"reason":"x","expires_in":"30d"}`, 403},
		{"no expiry", "POST", "/findings/" + id + "/accept", "analyst", "ann", `{"reason":"x"}`, 400},
		{"expiry past a year", "POST", "/findings/" + id + "/accept", "analyst", "ann", `{"reason":"x","expires_in":"400d"}`, 400},
		{"unknown field", "POST", "/findings/" + id + "/accept", "analyst", "ann", `{"reason":"x","expires_in":"30d","by":"me"}`, 400},
		{"body past the bound", "POST", "/findings/" + id + "/accept", "analyst", "ann", `{"reason":"` + strings.Repeat("r", maxActionBody) + `"}`, 400},
		{"analyst requests", "POST", "/findings/" + id + "/accept", "analyst", "ann", `{"reason":"behind the WAF","expires":"2099-06-01"}`, 201},
		{"analyst may not approve", "POST", "/findings/" + id + "/accept/approve", "analyst", "bob", ``, 403},
		{"admin requester may not approve", "POST", "/findings/" + id + "/accept/approve", "admin", "ann", ``, 403},
		{"another admin approves", "POST", "/findings/" + id + "/accept/approve", "admin", "root", `{"reason":"ok"}`, 200},
		{"nothing left to reject", "POST", "/findings/" + id + "/accept/reject", "admin", "root", ``, 409},
		{"reopen by hand", "POST", "/findings/" + id + "/state", "analyst", "ann", `{"state":"reopened"}`, 200},
		{"viewer may not change state", "POST", "/findings/" + id + "/state", "viewer", "vic", `{"state":"false_positive","reason":"x"}`, 403},
		{"false positive needs a reason", "POST", "/findings/" + id + "/state", "analyst", "ann", `{"state":"false_positive"}`, 400},
		{"false positive", "POST", "/findings/" + id + "/state", "analyst", "ann", `{"state":"false_positive","reason":"test fixture"}`, 200},
		{"bad upload", "POST", "/scans", "analyst", "ann", `{"asset":{"name":"x"}}`, 400},
		{"upload: unknown field", "POST", "/scans", "analyst", "ann", `{"asset":{"name":"x"},"packages":[],"extra":1}`, 400},
		{"upload: SBOM without an asset", "POST", "/scans", "analyst", "ann", cdxUpload, 400},
		{"upload: not JSON", "POST", "/scans", "analyst", "ann", `PK\x03\x04`, 400},
	} {
		if code, b := call(t, tc.method, base+tc.path, tc.role, tc.user, tc.body); code != tc.want {
			t.Errorf("%s: got %d, want %d: %s", tc.name, code, tc.want, b)
		}
	}
	want := "vulnerability.scan.upload vulnerability.scan.upload vulnerability.acceptance.request vulnerability.acceptance.approve vulnerability.finding.state vulnerability.finding.state"
	if got := strings.Join(*audited, " "); got != want {
		t.Errorf("audited: got %s, want %s", got, want)
	}

	code, b = call(t, "GET", base+"/assets", "viewer", "vic", "")
	var assets struct {
		Assets []AssetSummary `json:"assets"`
		Total  int            `json:"total"`
	}
	if code != 200 || json.Unmarshal([]byte(b), &assets) != nil || assets.Total != 2 || len(assets.Assets) != 2 {
		t.Fatalf("assets: got %d %s, want both assets", code, b)
	}
	// Sorted by name: "=HYPERLINK..." before "image-1".
	if a := assets.Assets[0]; a.ID != `scan:=HYPERLINK("http://x")` || a.Criticality != "high" || a.Packages != 2 ||
		a.OpenByPriority["P1"] != 0 || a.OpenByPriority["P4"] != 1 || a.KEV != 0 {
		t.Errorf("first asset: got %+v, want the scan upload: high, 2 packages, its P1 closed (false positive), one P4 open", a)
	}
	if a := assets.Assets[1]; a.ID != "sbom:image-1" || a.Kind != KindSBOM || len(a.Tags) != 1 {
		t.Errorf("second asset: got %+v, want sbom:image-1 tagged", a)
	}

	// CSV: the asset name an uploader chose is not a formula.
	code, b = call(t, "GET", base+"/findings.csv?asset="+url.QueryEscape(`scan:=HYPERLINK("http://x")`), "viewer", "vic", "")
	if code != 200 {
		t.Fatalf("csv: got %d %s", code, b)
	}
	recs, err := csv.NewReader(strings.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	if len(recs) != 3 || recs[1][1] != `'=HYPERLINK("http://x")` {
		t.Errorf("csv: got %q, want a header and 2 rows, the asset name guarded with a quote", recs)
	}
	if code, _ := call(t, "GET", base+"/findings.csv?priority=P9", "viewer", "vic", ""); code != 400 {
		t.Errorf("csv with a bad filter: got %d, want 400", code)
	}
}

func TestUploadWithoutAdvisories(t *testing.T) {
	s, err := Open(Options{DB: metatest.Open(t), VulnDB: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs, audited := testAPI(t, s)
	if code, b := call(t, "POST", hs.URL+"/api/v1/vulnerabilities/scans", "analyst", "ann", jsonUpload); code != 503 || !strings.Contains(b, "vulndb import") {
		t.Errorf("got %d %s, want 503 naming vigil vulndb import", code, b)
	}
	if len(*audited) != 0 {
		t.Errorf("audited %v, want nothing", *audited)
	}
}

// TestConcurrentUploads holds MaxConcurrentUploads uploads while their
// bodies are still being sent: one more is refused with 429.
func TestConcurrentUploads(t *testing.T) {
	s, _, _ := newTestService(t)
	started := make(chan struct{}, MaxConcurrentUploads)
	s.uploadStarted = func() { started <- struct{}{} }
	hs, _ := testAPI(t, s)
	url := hs.URL + "/api/v1/vulnerabilities/scans"
	var writers []*io.PipeWriter
	done := make(chan int, MaxConcurrentUploads)
	for range MaxConcurrentUploads {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req, _ := http.NewRequest("POST", url, pr)
		req.Header.Set("X-Role", "analyst")
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		pw.Write([]byte(jsonUpload[:10]))
		<-started
	}
	if code, b := call(t, "POST", url, "analyst", "ann", jsonUpload); code != http.StatusTooManyRequests {
		t.Errorf("upload past the bound: got %d %s, want 429", code, b)
	}
	for _, pw := range writers {
		pw.Write([]byte(jsonUpload[10:]))
		pw.Close()
	}
	for range MaxConcurrentUploads {
		if code := <-done; code != 200 {
			t.Errorf("held upload: got %d, want 200", code)
		}
	}
	// The slots are free again.
	if code, b := call(t, "POST", url, "analyst", "ann", jsonUpload); code != 200 {
		t.Errorf("upload after the others: got %d %s, want 200", code, b)
	}
}

func TestUploadBounds(t *testing.T) {
	defer func(b, p int) { uploadLimit, packageLimit = b, p }(uploadLimit, packageLimit)
	uploadLimit, packageLimit = len(jsonUpload), 2
	if _, _, err := ParseUpload([]byte(jsonUpload), UploadAsset{}); err != nil {
		t.Errorf("at both bounds: %v", err)
	}
	if _, _, err := ParseUpload([]byte(jsonUpload+" "), UploadAsset{}); err == nil {
		t.Error("a byte past the body bound: got no error")
	}
	packageLimit = 1
	if _, _, err := ParseUpload([]byte(jsonUpload), UploadAsset{}); err == nil || !strings.Contains(err.Error(), "at most 1 per upload") {
		t.Errorf("past the package bound: got %v", err)
	}
	packageLimit = 10
	for _, body := range []string{
		`{"asset":{"name":"x"},"packages":[{"ecosystem":"Go","name":"a\u0000b","version":"1"}]}`,
		`{"asset":{"name":"x"},"packages":[{"ecosystem":"Go","name":"","version":"1"}]}`,
		`{"asset":{"name":"x"},"packages":[{"ecosystem":"Go","name":"a","version":"` + strings.Repeat("1", maxVersionLen+1) + `"}]}`,
		`{"asset":{"name":"x"},"packages":[]} {}`,
		`[]`,
	} {
		if _, _, err := ParseUpload([]byte(body), UploadAsset{}); err == nil {
			t.Errorf("%.60s: got no error", body)
		}
	}
}

func FuzzParseUpload(f *testing.F) {
	f.Add([]byte(jsonUpload))
	f.Add([]byte(cdxUpload))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"a","name":"x","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:golang/x@v1.0.0"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, _, err := ParseUpload(data, UploadAsset{Name: "fuzz"})
		if err != nil {
			return
		}
		if inv.Asset.Name == "" || len(inv.Packages) > packageLimit {
			t.Fatalf("accepted %+v", inv.Asset)
		}
		for _, p := range inv.Packages {
			if p.Name == "" || p.Ecosystem == "" || len(p.Version) > maxVersionLen {
				t.Fatalf("accepted package %+v", p)
			}
		}
	})
}
