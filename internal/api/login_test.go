package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
	"github.com/vigilsec/vigil/internal/metrics"
)

func TestLoginLocks(t *testing.T) { metatest.Engines(t, testLoginLocks) }

func testLoginLocks(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	as, err := auth.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	as.SetLoginThrottle(auth.NewThrottle(auth.LoginLimits{MaxFailures: 2, MaxSourceFailures: 4}, nil))
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
	mux := http.NewServeMux()
	New(Options{Auth: as, Audit: al, Metrics: metrics.New()}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	call := func(token, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
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
	th := as.LoginThrottle()
	fail := func(user string, known bool, src string) {
		for range 2 {
			r, err := th.Begin(user, known, netip.MustParseAddr(src))
			if err != nil {
				t.Fatal(err)
			}
			r.Done(false)
		}
	}
	fail("alice", true, "192.0.2.1")
	fail("bob", true, "192.0.2.2")
	fail("typed-secret", false, "192.0.2.2") // 192.0.2.2: 4 failures, locked for all

	if code, _ := call(viewer, "GET", "/api/v1/login/locks", ""); code != http.StatusForbidden {
		t.Errorf("viewer GET locks: got %d, want 403", code)
	}
	if code, _ := call(viewer, "POST", "/api/v1/login/unlock", `{"user":"alice"}`); code != http.StatusForbidden {
		t.Errorf("viewer POST unlock: got %d, want 403", code)
	}
	code, body := call(admin, "GET", "/api/v1/login/locks", "")
	var got struct {
		Locks []auth.Lock `json:"locks"`
		Total int         `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil {
		t.Fatalf("GET locks: got %d %s (%v), want 200", code, body, err)
	}
	if got.Total != 4 || len(got.Locks) != 4 {
		t.Errorf("got %d locks (total %d), want 4", len(got.Locks), got.Total)
	}
	if strings.Contains(body, "typed-secret") {
		t.Errorf("locks list a name no user has: %s", body)
	}

	for _, tc := range []struct {
		name, body string
		want       int
		wantBody   string
	}{
		{"nothing", `{}`, 400, "give user, source or both"},
		{"unknown field", `{"usr":"alice"}`, 400, "unknown field"},
		{"bad source", `{"source":"192.0.2.300"}`, 400, "source:"},
		{"zoned source", `{"source":"fe80::1%eth0"}`, 400, "without a zone"},
		{"long user", `{"user":"` + strings.Repeat("a", 65) + `"}`, 400, "64 characters"},
		{"user", `{"user":"alice"}`, 200, `{"lifted":1}`},
		{"source", `{"source":"192.0.2.2"}`, 200, `{"lifted":3}`},
		{"nothing left", `{"user":"alice","source":"192.0.2.2"}`, 200, `{"lifted":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(admin, "POST", "/api/v1/login/unlock", tc.body)
			if code != tc.want || !strings.Contains(body, tc.wantBody) {
				t.Errorf("got %d %s, want %d with %q", code, body, tc.want, tc.wantBody)
			}
		})
	}
	if _, total := th.Locks(10); total != 0 {
		t.Errorf("got %d locks after unlocking, want 0", total)
	}
	es, err := al.List(ctx, audit.Filter{Action: "login.unlock"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].Actor != "admin-token" {
		t.Errorf("got %d login.unlock entries (%+v), want 3 by admin-token", len(es), es)
	}
}

// TestLoginLocksListBound: GET /api/v1/login/locks lists at most
// maxLocksListed locks; total counts them all.
func TestLoginLocksListBound(t *testing.T) {
	ctx := context.Background()
	db := metatest.Open(t)
	as, err := auth.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	th := auth.NewThrottle(auth.LoginLimits{MaxFailures: 1, MaxEntries: 10_000}, nil)
	as.SetLoginThrottle(th)
	for i := range maxLocksListed + 1 {
		r, err := th.Begin("someone", false, netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		r.Done(false)
	}
	admin, _, err := as.CreateToken(ctx, "admin-token", auth.RoleAdmin, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(Options{Auth: as, Metrics: metrics.New()}).Register(mux)
	req := httptest.NewRequest("GET", "/api/v1/login/locks", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	var got struct {
		Locks []auth.Lock `json:"locks"`
		Total int         `json:"total"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil {
		t.Fatalf("got %d %.200s (%v), want 200", w.Code, w.Body, err)
	}
	if len(got.Locks) != maxLocksListed || got.Total != maxLocksListed+1 {
		t.Errorf("got %d locks listed of %d, want %d of %d", len(got.Locks), got.Total, maxLocksListed, maxLocksListed+1)
	}
}
