package api

import (
	"encoding/json"
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

func TestUpdateUser(t *testing.T) { metatest.Engines(t, testUpdateUser) }

func testUpdateUser(t *testing.T) {
	ctx := t.Context()
	db := metatest.Open(t)
	as, err := auth.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := as.CreateToken(ctx, "admin-token", auth.RoleAdmin, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, err := as.CreateToken(ctx, "viewer-token", auth.RoleViewer, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	al, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	const oldPW, newPW = "alice's old passphrase", "alice's new passphrase"
	if _, err := as.CreateUser(ctx, "alice", oldPW, auth.RoleAnalyst); err != nil {
		t.Fatal(err)
	}
	if _, err := as.CreateUser(ctx, "root", "the only admin's passphrase", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	if _, err := db.Exec(`INSERT INTO console_sessions (id_hash, username, csrf, created, last_seen) VALUES (?, 'alice', 'c', ?, ?)`, []byte{1}, now, now); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(Options{Auth: as, Audit: al, Metrics: metrics.New()}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	call := func(token, user, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("PATCH", srv.URL+"/api/v1/users/"+user, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Padding with spaces puts a valid body exactly at the bound.
	pad := func(body string, size int) string { return body + strings.Repeat(" ", size-len(body)) }
	tests := []struct {
		name, token, user, body string
		wantCode                int
		wantBody                string
	}{
		{"viewer", viewer, "alice", `{"disabled":true}`, 403, "may not do this"},
		{"no token", "", "alice", `{"disabled":true}`, 401, "invalid or missing token"},
		{"unknown user", admin, "nobody", `{"disabled":true}`, 404, `user \"nobody\": no such user`},
		{"empty object", admin, "alice", `{}`, 400, "nothing to change"},
		{"null", admin, "alice", `null`, 400, "nothing to change"},
		{"unknown field", admin, "alice", `{"hash":"x"}`, 400, `unknown field \"hash\"`},
		{"two values", admin, "alice", `{"disabled":false} {"disabled":true}`, 400, "more than one value"},
		{"not JSON", admin, "alice", `disabled=true`, 400, "invalid JSON body"},
		{"unknown role", admin, "alice", `{"role":"root"}`, 400, `unknown role \"root\"`},
		{"ingest role", admin, "alice", `{"role":"ingest"}`, 400, "role ingest is for tokens"},
		{"short password", admin, "alice", `{"password":"short"}`, 400, "at least 12 characters"},
		{"empty password", admin, "alice", `{"password":""}`, 400, "the password is empty"},
		{"long password", admin, "alice", `{"password":"` + strings.Repeat("x", auth.MaxPasswordLength+1) + `"}`, 400, "at most 1024 bytes"},
		{"body past the bound", admin, "alice", pad(`{"disabled":false}`, maxUserPatch+1), 400, "body larger than 8192 bytes"},
		{"body at the bound", admin, "alice", pad(`{"disabled":false}`, maxUserPatch), 200, `"sessions_ended":0`},
		{"last admin", admin, "root", `{"disabled":true}`, 409, "last enabled admin"},
		{"last admin demoted", admin, "root", `{"role":"viewer"}`, 409, "last enabled admin"},
		{"reset", admin, "alice", `{"password":"` + newPW + `"}`, 200, `"password_changed":true,"sessions_ended":1`},
		{"role", admin, "alice", `{"role":"viewer"}`, 200, `"role":"viewer"`},
		{"disable", admin, "alice", `{"disabled":true}`, 200, `"disabled":true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(tt.token, tt.user, tt.body)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %s, want %d with %s", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
	if _, err := as.Login(ctx, auth.Credentials{Username: "alice", Password: newPW}); err == nil {
		t.Error("alice signed in after being disabled")
	}
	es, err := al.List(ctx, audit.Filter{Action: "user.update"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 {
		t.Errorf("got %d user.update entries, want 4 (one per change made)", len(es))
	}
	for _, e := range es {
		b, _ := json.Marshal(e)
		if e.Actor != "admin-token" || strings.Contains(string(b), oldPW) || strings.Contains(string(b), newPW) {
			t.Errorf("audit entry %s: want actor admin-token and no password", b)
		}
	}
}

func FuzzParseUserPatch(f *testing.F) {
	for _, s := range []string{`{"password":"a long enough password"}`, `{"disabled":true}`, `{"role":"viewer","disabled":false}`,
		`{}`, `null`, `[]`, `{"role":"ingest"}`, `{"password":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"}`, `{"x":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		up, err := parseUserPatch(strings.NewReader(body))
		if err != nil {
			return
		}
		if len(body) > maxUserPatch {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
		if up.Password == nil && up.Disabled == nil && up.Role == nil {
			t.Fatalf("accepted %q with nothing to change", body)
		}
		if up.Password != nil && auth.ValidatePassword(*up.Password) != nil {
			t.Fatalf("accepted a password the policy refuses: %q", body)
		}
		if up.Role != nil && (*up.Role == auth.RoleIngest || !up.Role.Can(auth.PermRead)) {
			t.Fatalf("accepted role %q", *up.Role)
		}
	})
}
