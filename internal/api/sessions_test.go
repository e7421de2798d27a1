package api

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/metrics"
)

// apiFixture is the API over a fresh meta database with an admin and a
// viewer token.
type apiFixture struct {
	srv           *httptest.Server
	auth          *auth.Service
	audit         *audit.Log
	admin, viewer string
}

func newAPIFixture(t *testing.T) (*apiFixture, func(secret, user string) string) {
	t.Helper()
	ctx := t.Context()
	db := metatest.Open(t)
	as, err := auth.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	al, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	f := &apiFixture{auth: as, audit: al}
	if f.admin, _, err = as.CreateToken(ctx, "admin-token", auth.RoleAdmin, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if f.viewer, _, err = as.CreateToken(ctx, "viewer-token", auth.RoleViewer, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(Options{Auth: as, Audit: al, Metrics: metrics.New()}).Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	// addSession stores a live console session as package web makes it.
	addSession := func(secret, user string) string {
		t.Helper()
		h := sha256.Sum256([]byte(secret))
		now := time.Now().UnixNano()
		if _, err := db.Exec(`INSERT INTO console_sessions (id_hash, username, csrf, created, last_seen, short_id, source, user_agent)
			VALUES (?, ?, 'csrf', ?, ?, ?, '198.51.100.4', 'Mozilla/5.0 test')`, h[:], user, now, now, auth.SessionID(h[:])); err != nil {
			t.Fatal(err)
		}
		return auth.SessionID(h[:])
	}
	return f, addSession
}

func (f *apiFixture) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSessionsEndpoints(t *testing.T) { metatest.Engines(t, testSessionsEndpoints) }

func testSessionsEndpoints(t *testing.T) {
	f, addSession := newAPIFixture(t)
	const aliceSecret = "alice-session-secret-0123456789abcdef"
	alice := addSession(aliceSecret, "alice")
	bob := addSession("bob-session-secret-0123456789abcdef", "bob")

	tests := []struct {
		name, method, path, token string
		wantCode                  int
		wantBody                  string
	}{
		{"list without a token", "GET", "/api/v1/sessions", "", 401, "invalid or missing token"},
		{"list as a viewer", "GET", "/api/v1/sessions", f.viewer, 403, "role viewer may not do this"},
		{"list all", "GET", "/api/v1/sessions", f.admin, 200, `"total":2`},
		{"list one user's", "GET", "/api/v1/sessions?user=alice", f.admin, 200, `"id":"` + alice + `","username":"alice"`},
		{"list a user name past the bound", "GET", "/api/v1/sessions?user=" + strings.Repeat("a", 65), f.admin, 400, "longer than any user name"},
		{"list at the bound", "GET", "/api/v1/sessions?user=" + strings.Repeat("a", 64), f.admin, 200, `"sessions":[]`},
		{"revoke as a viewer", "DELETE", "/api/v1/sessions/" + alice, f.viewer, 403, "may not do this"},
		{"revoke not an id", "DELETE", "/api/v1/sessions/" + strings.Repeat("z", 16), f.admin, 400, "want the 16 hex digits"},
		{"revoke unknown", "DELETE", "/api/v1/sessions/0000000000000000", f.admin, 404, "no such session"},
		{"revoke", "DELETE", "/api/v1/sessions/" + alice, f.admin, 204, ""},
		{"revoke again", "DELETE", "/api/v1/sessions/" + alice, f.admin, 404, "no such session"},
		{"list after", "GET", "/api/v1/sessions", f.admin, 200, `"total":1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.call(t, tt.method, tt.path, tt.token, "")
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tt.wantCode, tt.wantBody)
			}
			h := sha256.Sum256([]byte(aliceSecret))
			if strings.Contains(body, aliceSecret) || strings.Contains(body, fmt.Sprintf("%x", h[:])) {
				t.Errorf("answer holds a session's secret or whole hash: %s", body)
			}
		})
	}
	var list struct {
		Sessions []auth.Session
		Total    int
	}
	_, body := f.call(t, "GET", "/api/v1/sessions", f.admin, "")
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Sessions) != 1 || list.Sessions[0].ID != bob || list.Sessions[0].Source != "198.51.100.4" || list.Sessions[0].UserAgent != "Mozilla/5.0 test" {
		t.Errorf("sessions: got %+v, want bob's with its source and user agent", list.Sessions)
	}
	entries, err := f.audit.List(t.Context(), audit.Filter{Action: "session.revoke"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Actor != "admin-token" || entries[0].Target != alice {
		t.Errorf("audit: got %+v, want one session.revoke of %s by admin-token", entries, alice)
	}
}

func TestCreateTokenRole(t *testing.T) { metatest.Engines(t, testCreateTokenRole) }

func testCreateTokenRole(t *testing.T) {
	f, _ := newAPIFixture(t)
	tests := []struct {
		name, body string
		wantCode   int
		wantBody   string
	}{
		{"no role", `{"name":"shipper"}`, 400, `{"error":"role is required: one of ingest, viewer, analyst, admin"}`},
		{"empty role", `{"name":"shipper","role":""}`, 400, `{"error":"role is required: one of ingest, viewer, analyst, admin"}`},
		{"unknown role", `{"name":"shipper","role":"root"}`, 400, `{"error":"unknown role \"root\": want one of ingest, viewer, analyst, admin"}`},
		{"ingest", `{"name":"shipper","role":"ingest"}`, 201, `"role":"ingest"`},
		{"admin when asked", `{"name":"automation","role":"admin"}`, 201, `"role":"admin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.call(t, "POST", "/api/v1/tokens", f.admin, tt.body)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %s, want %d with %s", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	var list struct {
		Tokens []map[string]any
	}
	_, body := f.call(t, "GET", "/api/v1/tokens", f.admin, "")
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Tokens) != 4 {
		t.Fatalf("tokens: got %d, want 4 (the fixture's two and the two made): %s", len(list.Tokens), body)
	}
	for _, tok := range list.Tokens {
		if r, _ := tok["role"].(string); r == "" {
			t.Errorf("token %v: listed without its role", tok["name"])
		}
	}
}
