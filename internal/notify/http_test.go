package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// apiServer mounts the route API behind a require that lets a request
// through when its X-Test-Role header has the permission.
func apiServer(t *testing.T, n *Notifier) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	n.Register(mux, func(perm auth.Permission, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			role := auth.Role(r.Header.Get("X-Test-Role"))
			if role == "" {
				role = auth.RoleAdmin
			}
			if !role.Can(perm) {
				writeError(w, http.StatusForbidden, "forbidden")
				return
			}
			h.ServeHTTP(w, r)
		})
	}, nil)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, url, role, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if role != "" {
		req.Header.Set("X-Test-Role", role)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: response %q is not a JSON object: %v", method, url, b, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", method, url, ct)
		}
	}
	return resp.StatusCode, out
}

func TestRouteAPI(t *testing.T) {
	n := newNotifier(t, testOptions())
	rc, hook := newReceiver(t, nil)
	api := apiServer(t, n)
	base := api.URL + "/api/v1/routes"

	code, created := call(t, "POST", base, "", `{"name":"soc","type":"webhook","url":"`+hook.URL+`","secret":"topsecret","min_level":"high","tags":["attack.t1110"],"digest":"10m"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: got %d %v, want 201", code, created)
	}
	id, _ := created["id"].(string)
	want := map[string]any{
		"id": id, "name": "soc", "type": "webhook", "url": hook.URL, "secret": "***", "min_level": "high",
		"tags": []any{"attack.t1110"}, "digest": "10m0s", "enabled": true,
		"stats": map[string]any{"pending": 0.0, "delivered": 0.0, "dead": 0.0},
	}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("created route (-want +got):\n%s", diff)
	}
	stored, err := n.GetRoute(t.Context(), id)
	if err != nil || stored.Secret != "topsecret" {
		t.Fatalf("stored secret: got %q, %v, want topsecret", stored.Secret, err)
	}

	code, got := call(t, "GET", base+"/"+id, "viewer", "")
	if code != http.StatusOK || got["secret"] != "***" || got["name"] != "soc" {
		t.Errorf("get: got %d %v", code, got)
	}
	code, list := call(t, "GET", base, "viewer", "")
	if routes, _ := list["routes"].([]any); code != http.StatusOK || len(routes) != 1 {
		t.Errorf("list: got %d %v, want one route", code, list)
	}

	// PATCH: the masked secret comes back as "***" and must be kept.
	code, patched := call(t, "PATCH", base+"/"+id, "", `{"name":"soc-2","secret":"***","min_level":"critical","digest":""}`)
	if code != http.StatusOK || patched["name"] != "soc-2" || patched["min_level"] != "critical" || patched["digest"] != nil {
		t.Errorf("patch: got %d %v", code, patched)
	}
	if stored, _ := n.GetRoute(t.Context(), id); stored.Secret != "topsecret" || stored.Digest != 0 || len(stored.Tags) != 1 {
		t.Errorf("after patch: secret %q digest %s tags %v, want secret kept, digest off, tags kept", stored.Secret, stored.Digest, stored.Tags)
	}
	if code, _ := call(t, "PATCH", base+"/"+id, "", `{"url":"ftp://x"}`); code != http.StatusBadRequest {
		t.Errorf("patch with bad url: got %d, want 400", code)
	}

	// Test sends an X-Vigil-Event: test message, signed.
	code, res := call(t, "POST", base+"/"+id+"/test", "", "")
	if code != http.StatusOK || res["delivered"] != true {
		t.Fatalf("test: got %d %v", code, res)
	}
	reqs := rc.requests()
	if len(reqs) != 1 || reqs[0].header.Get("X-Vigil-Event") != "test" || !Verify("topsecret", reqs[0].body, reqs[0].header.Get("X-Vigil-Signature")) {
		t.Errorf("test delivery: got %d requests, first %v", len(reqs), reqs)
	}

	// Permissions: viewers read, only admins change.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "", `{"name":"x","type":"webhook","url":"http://h"}`},
		{"PATCH", "/" + id, `{"name":"y"}`},
		{"DELETE", "/" + id, ""},
		{"POST", "/" + id + "/test", ""},
	} {
		if code, _ := call(t, c.method, base+c.path, "analyst", c.body); code != http.StatusForbidden {
			t.Errorf("%s %s as analyst: got %d, want 403", c.method, c.path, code)
		}
	}

	if code, _ := call(t, "DELETE", base+"/"+id, "", ""); code != http.StatusNoContent {
		t.Errorf("delete: got %d, want 204", code)
	}
	if code, _ := call(t, "GET", base+"/"+id, "", ""); code != http.StatusNotFound {
		t.Errorf("get after delete: got %d, want 404", code)
	}
	if code, _ := call(t, "POST", base+"/"+id+"/test", "", ""); code != http.StatusNotFound {
		t.Errorf("test after delete: got %d, want 404", code)
	}
}

func TestRouteAPIValidation(t *testing.T) {
	n := newNotifier(t, testOptions())
	api := apiServer(t, n)
	tests := []struct {
		name, body, wantErr string
	}{
		{"unknown type", `{"name":"x","type":"pager","url":"http://h"}`, `unknown type "pager"`},
		{"bad scheme", `{"name":"x","type":"webhook","url":"file:///etc/passwd"}`, `url scheme "file" is not http or https`},
		{"bad level", `{"name":"x","type":"webhook","url":"http://h","min_level":"urgent"}`, `unknown min_level "urgent"`},
		{"email without host", `{"name":"x","type":"email","email":{"from":"a@example.org","to":["b@example.org"]}}`, "email host is required"},
		{"email without to", `{"name":"x","type":"email","email":{"host":"smtp","from":"a@example.org"}}`, "email to is required"},
		{"email without from", `{"name":"x","type":"email","email":{"host":"smtp","to":["b@example.org"]}}`, "email from"},
		{"no name", `{"type":"webhook","url":"http://h"}`, "name is required"},
		{"not json", `{"name":`, "invalid route JSON"},
		{"empty", ``, "empty request body"},
		{"bad digest", `{"name":"x","type":"webhook","url":"http://h","digest":"often"}`, "invalid route JSON"},
		{"unknown field", `{"name":"x","type":"webhook","url":"http://h","min_levl":"high"}`, `unknown route field "min_levl"`},
		{"mask as secret", `{"name":"x","type":"webhook","url":"http://h","secret":"***"}`, "mask"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := call(t, "POST", api.URL+"/api/v1/routes", "", tt.body)
			if code != http.StatusBadRequest {
				t.Fatalf("got %d %v, want 400", code, out)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error: got %q, want it to contain %q", msg, tt.wantErr)
			}
		})
	}
	if rs, _ := n.ListRoutes(t.Context()); len(rs) != 0 {
		t.Errorf("routes after invalid requests: got %d, want 0", len(rs))
	}
}

func TestRouteAPITestFailureReportsError(t *testing.T) {
	n := newNotifier(t, testOptions())
	_, hook := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusUnauthorized })
	api := apiServer(t, n)
	_, created := call(t, "POST", api.URL+"/api/v1/routes", "", `{"name":"x","type":"webhook","url":"`+hook.URL+`/path/with-token"}`)
	code, out := call(t, "POST", api.URL+"/api/v1/routes/"+created["id"].(string)+"/test", "", "")
	if code != http.StatusBadGateway || out["delivered"] != false {
		t.Fatalf("test of failing route: got %d %v, want 502 delivered=false", code, out)
	}
	msg, _ := out["error"].(string)
	if !strings.Contains(msg, "401") || strings.Contains(msg, "with-token") {
		t.Errorf("error %q: want the status and no URL path", msg)
	}
}

func TestRouteSurvivesReopen(t *testing.T) { metatest.Engines(t, testRouteSurvivesReopen) }

func testRouteSurvivesReopen(t *testing.T) {
	n := newNotifier(t, testOptions())
	rt := mustCreate(t, n, Route{Name: "persist", Type: TypeWebhook, URL: "https://h.example/x", Secret: "s", Digest: time.Minute, Tags: []string{"a"}})
	n2, err := Open(t.Context(), n.db, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	got, err := n2.GetRoute(t.Context(), rt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rt, got); diff != "" {
		t.Errorf("reopened route (-want +got):\n%s", diff)
	}
}
