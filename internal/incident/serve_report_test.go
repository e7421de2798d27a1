package incident

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestServeReport pins the one report responder of the API and the
// console: formats, headers, and nothing written for a bad format.
func TestServeReport(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	inc := &Incident{ID: "0123abcd", Title: "Brute force on web1", Status: StatusNew, Severity: "high",
		Created: now.Add(-time.Hour), Updated: now, Entities: map[string][]string{"host": {"web1"}}, Tags: []string{}}
	const csp = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
	tests := []struct {
		query, ctype, file, body string
	}{
		{"", "text/markdown; charset=utf-8", "incident-0123abcd.md", "# Incident report: Brute force on web1"},
		{"?format=md", "text/markdown; charset=utf-8", "incident-0123abcd.md", "# Incident report: Brute force on web1"},
		{"?format=markdown", "text/markdown; charset=utf-8", "incident-0123abcd.md", "# Incident report: Brute force on web1"},
		{"?format=html", "text/html; charset=utf-8", "incident-0123abcd.html", "<title>Incident report: Brute force on web1</title>"},
	}
	for _, tt := range tests {
		t.Run("format"+tt.query, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := ServeReport(w, httptest.NewRequest(http.MethodGet, "/incidents/0123abcd/report"+tt.query, nil), inc, now); err != nil {
				t.Fatalf("ServeReport: %v", err)
			}
			h := w.Result().Header
			for _, c := range []struct{ name, want string }{
				{"Content-Type", tt.ctype},
				{"Content-Disposition", `attachment; filename="` + tt.file + `"`},
				{"Content-Security-Policy", csp},
			} {
				if got := h.Get(c.name); got != c.want {
					t.Errorf("%s: got %q, want %q", c.name, got, c.want)
				}
			}
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("got status %d and body %.200q, want 200 and a body with %q", w.Code, w.Body.String(), tt.body)
			}
		})
	}
	t.Run("unknown format", func(t *testing.T) {
		w := httptest.NewRecorder()
		err := ServeReport(w, httptest.NewRequest(http.MethodGet, "/incidents/0123abcd/report?format=pdf", nil), inc, now)
		if err == nil || err.Error() != `report format "pdf": want md or html` {
			t.Errorf("got error %v, want the unknown format named", err)
		}
		if len(w.Result().Header) != 0 || w.Body.Len() != 0 {
			t.Errorf("got headers %v and body %q written, want nothing (the caller answers)", w.Result().Header, w.Body.String())
		}
	})
}
