package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/metrics"
)

func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		ready      error
		wantStatus int
		wantBody   map[string]string
	}{
		{"ready", nil, http.StatusOK, map[string]string{"status": "ready"}},
		{"starting", errors.New("starting or stopping"), http.StatusServiceUnavailable,
			map[string]string{"status": "not ready", "reason": "starting or stopping"}},
		{"degraded", fmt.Errorf("wrapped: %w", &DegradedError{Reason: "disk full: the event store cannot write until space is freed"}), http.StatusServiceUnavailable,
			map[string]string{"status": "degraded", "reason": "disk full: the event store cannot write until space is freed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			New(Options{Metrics: metrics.New(), Ready: func() error { return tt.ready }}).Register(mux)
			for _, path := range []string{"/readyz", "/healthz"} {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if path == "/healthz" {
					if rec.Code != http.StatusOK {
						t.Errorf("/healthz: got %d, want 200 (liveness does not depend on readiness)", rec.Code)
					}
					continue
				}
				if rec.Code != tt.wantStatus {
					t.Errorf("/readyz: got %d, want %d", rec.Code, tt.wantStatus)
				}
				var got map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("/readyz body %q: %v", rec.Body, err)
				}
				if len(got) != len(tt.wantBody) || got["status"] != tt.wantBody["status"] || got["reason"] != tt.wantBody["reason"] {
					t.Errorf("/readyz body: got %v, want %v", got, tt.wantBody)
				}
			}
		})
	}
}

// /readyz lists the dependencies and is not ready while one does not
// answer, without telling an unauthenticated client why.
func TestReadyzDependencies(t *testing.T) {
	nats := errors.New("nats: dial tcp 10.0.0.7:4222: connection refused")
	mux := http.NewServeMux()
	New(Options{Metrics: metrics.New(), Ready: func() error { return nil },
		Dependencies: func(context.Context) []Dependency {
			return []Dependency{{Name: "metadata"}, {Name: "nats", Err: nats}}
		}}).Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("got %d, want 503", rec.Code)
	}
	var got struct {
		Status       string
		Dependencies map[string]string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != "not ready" || got.Dependencies["metadata"] != "ok" || got.Dependencies["nats"] != "unavailable" {
		t.Errorf("got %+v, want not ready, metadata ok, nats unavailable", got)
	}
	if strings.Contains(rec.Body.String(), "10.0.0.7") {
		t.Errorf("the body tells an unauthenticated client the reason: %s", rec.Body)
	}
}

// /readyz callers share one check of the dependencies a second: an
// unauthenticated caller cannot make the server ping its database and
// events server at the rate it asks.
func TestReadyzDependencyCheckShared(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	checks := 0
	mux := http.NewServeMux()
	New(Options{Metrics: metrics.New(), Now: func() time.Time { return now },
		Dependencies: func(context.Context) []Dependency {
			checks++
			return []Dependency{{Name: "metadata"}}
		}}).Register(mux)
	get := func() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("/readyz: %d", rec.Code)
		}
	}
	for range 100 {
		get()
	}
	if checks != 1 {
		t.Errorf("100 calls within a second ran %d checks, want 1", checks)
	}
	now = now.Add(time.Second)
	get()
	if checks != 2 {
		t.Errorf("a call a second later: %d checks, want 2", checks)
	}
}
