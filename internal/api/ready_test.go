package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

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
