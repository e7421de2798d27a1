package api

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/store"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
	}{
		{"Bearer abc", "abc"},
		{"bearer abc", "abc"},
		{"BEARER  abc \t", "abc"},
		{"Bearer a b", "a b"},
		{"Bearer ", ""},
		{"Bearer", ""},
		{"Basic YWJjOg==", ""},
		{"Token abc", ""},
		{"", ""},
		{"Bearerabc", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if got := BearerToken(r); got != tt.want {
			t.Errorf("BearerToken(%q): got %q, want %q", tt.header, got, tt.want)
		}
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x ", "Basic abc", "", "Bearer", "BEARER \x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		got := BearerToken(r)
		if got == "" {
			return
		}
		if !strings.EqualFold(header[:7], "bearer ") {
			t.Fatalf("BearerToken(%q) = %q from a header that is not a bearer one", header, got)
		}
		if got != strings.TrimSpace(got) || !strings.Contains(header, got) {
			t.Fatalf("BearerToken(%q) = %q, want the trimmed rest of the header", header, got)
		}
	})
}

// TestRequire: no or bad credentials answer 401 with a challenge, a
// failing lookup 500 without detail, a role without the permission 403;
// a caller with it reaches the handler, which finds it in the context.
func TestRequire(t *testing.T) {
	ctx := t.Context()
	db := metatest.Open(t)
	as, err := auth.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	admin, adminTok, err := as.CreateToken(ctx, "admin-token", auth.RoleAdmin, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, err := as.CreateToken(ctx, "viewer-token", auth.RoleViewer, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := as.CreateToken(ctx, "old-token", auth.RoleAdmin, nil, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Auth: as})
	var seen *auth.Principal
	h := a.Require(auth.PermAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = PrincipalFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	call := func(header string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/api/v1/x", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	tests := []struct {
		name      string
		header    string
		want      int
		wantError string
	}{
		{"no header", "", http.StatusUnauthorized, auth.ErrUnauthorized.Error()},
		{"unknown token", "Bearer vgl_nope", http.StatusUnauthorized, auth.ErrUnauthorized.Error()},
		{"expired", "Bearer " + expired, http.StatusUnauthorized, auth.ErrExpired.Error()},
		{"without the permission", "Bearer " + viewer, http.StatusForbidden, "role viewer may not do this"},
		{"allowed", "Bearer " + admin, http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			w := call(tt.header)
			if w.Code != tt.want {
				t.Fatalf("got status %d (%s), want %d", w.Code, w.Body, tt.want)
			}
			if tt.want == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") != `Bearer realm="vigil"` {
				t.Errorf("got WWW-Authenticate %q, want the bearer challenge", w.Header().Get("WWW-Authenticate"))
			}
			if tt.wantError == "" {
				if seen == nil || seen.Name != "admin-token" || seen.TokenID != adminTok.ID {
					t.Errorf("handler saw principal %+v, want admin-token (%s)", seen, adminTok.ID)
				}
				return
			}
			if seen != nil {
				t.Error("the handler ran for a refused request")
			}
			var body struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != tt.wantError {
				t.Errorf("got body %s, want error %q", w.Body, tt.wantError)
			}
		})
	}
	// The lookup fails (the database is gone): 500, without the cause.
	db.Close()
	w := call("Bearer vgl_never_seen_before")
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"authentication failed"`) {
		t.Errorf("lookup failure: got %d %s, want 500 authentication failed", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "closed") {
		t.Errorf("lookup failure: body %s shows the cause", w.Body)
	}
}

func TestSearchUser(t *testing.T) {
	with := func(p *auth.Principal) context.Context {
		return context.WithValue(context.Background(), principalKey{}, p)
	}
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"nobody", context.Background(), ""},
		{"token", with(&auth.Principal{Name: "ci", TokenID: "t1"}), "token:t1"},
		{"console user", with(&auth.Principal{Name: "alice"}), "user:alice"},
	}
	for _, tt := range tests {
		if got := searchUser(tt.ctx); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestIsAggregateResult(t *testing.T) {
	tests := []struct {
		name string
		res  store.Result
		want bool
	}{
		{"events", store.Result{Events: []store.Hit{}}, false},
		{"nothing", store.Result{}, false},
		{"projected events", store.Result{Columns: []string{"a"}, Events: []store.Hit{}}, false},
		{"rows", store.Result{Rows: [][]any{}}, true},
		{"columns without events", store.Result{Columns: []string{"n"}}, true},
	}
	for _, tt := range tests {
		if got := IsAggregateResult(&tt.res); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAppendCell(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{int64(-7), `-7`},
		{42, `42`},
		{1.5, `1.5`},
		{"a \"quoted\"\n<b>", `"a \"quoted\"\n<b>"`},
		{time.Date(2026, 5, 1, 12, 0, 0, 5, time.FixedZone("x", 3600)), `"2026-05-01T11:00:00.000000005Z"`},
		{[]string{"a", "b"}, `["a","b"]`},
		{make(chan int), `null`}, // not JSON
		{math.Inf(1), `null`},
	}
	for _, tt := range tests {
		got := string(appendCell(nil, tt.in))
		if got != tt.want {
			t.Errorf("appendCell(%#v): got %s, want %s", tt.in, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendCell(%#v): %s is not JSON", tt.in, got)
		}
	}
}

func TestDecodeBody(t *testing.T) {
	type req struct {
		Name string `json:"name"`
	}
	tests := []struct {
		name    string
		body    string
		want    req
		wantErr string
	}{
		{"ok", `{"name":"x"}`, req{Name: "x"}, ""},
		{"unknown field", `{"name":"x","admin":true}`, req{}, `invalid JSON body: json: unknown field "admin"`},
		{"not JSON", `name=x`, req{}, "invalid JSON body: "},
		{"empty", ``, req{}, "invalid JSON body: EOF"},
		{"over 1 MiB", `{"name":"` + strings.Repeat("x", 1<<20) + `"}`, req{}, "invalid JSON body: http: request body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			var got req
			err := decodeBody(httptest.NewRecorder(), r, &got)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("decoded mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one starting %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	writeError(w, http.StatusTeapot, `no "tea" <here>`)
	if w.Code != http.StatusTeapot || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("got %d %q, want 418 application/json", w.Code, w.Header().Get("Content-Type"))
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"error": `no "tea" <here>`}, body); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}
