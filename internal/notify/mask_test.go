package notify

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigilsec/vigil/internal/auth"
)

// auditEntry is one call of an Auditor.
type auditEntry struct {
	Action, Target string
	Before, After  any
}

type auditLog struct {
	mu      sync.Mutex
	entries []auditEntry
}

func (l *auditLog) record(_ *http.Request, action, target string, before, after any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, auditEntry{action, target, before, after})
}

func (l *auditLog) actions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		out = append(out, e.Action+" "+e.Target)
	}
	return out
}

// auditedServer mounts the route API as an admin, recording into log.
func auditedServer(t *testing.T, n *Notifier, log *auditLog) string {
	t.Helper()
	mux := http.NewServeMux()
	n.Register(mux, func(_ auth.Permission, h http.Handler) http.Handler { return h }, log.record)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1/routes"
}

const (
	slackURL  = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc"
	basicURL  = "https://alice:s3cret-pass@alerts.example.com/in"
	apiKeyURL = "https://alerts.example.com/in?api_key=k-0123456789&team=soc"
)

func TestRouteMaskedURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{slackURL, "https://hooks.slack.com/***"},
		{basicURL, "https://alice:***@alerts.example.com/in"},
		{apiKeyURL, "https://alerts.example.com/in?api_key=***&team=soc"},
		{"https://alerts.example.com/in", "https://alerts.example.com/in"},
	} {
		rt := Route{Name: "r", Type: TypeWebhook, URL: tc.in, Secret: "hmac", Email: &EmailConfig{Password: "pw"}}
		m := rt.Masked()
		if m.URL != tc.want || m.Secret != masked || m.Email.Password != masked {
			t.Errorf("Masked(%q): got url %q secret %q password %q, want %q, ***, ***", tc.in, m.URL, m.Secret, m.Email.Password, tc.want)
		}
		if rt.URL != tc.in {
			t.Errorf("Masked changed the route's URL to %q", rt.URL)
		}
	}
}

// TestRouteAPISecretsWriteOnly: the API never answers a route's secrets,
// and a route sent back as read keeps them.
func TestRouteAPISecretsWriteOnly(t *testing.T) {
	for _, u := range []string{slackURL, basicURL, apiKeyURL} {
		t.Run(u, func(t *testing.T) {
			n := newNotifier(t, testOptions())
			base := auditedServer(t, n, &auditLog{})
			code, created := call(t, "POST", base, "", `{"name":"soc","type":"webhook","url":"`+u+`","secret":"hmac-key"}`)
			if code != http.StatusCreated {
				t.Fatalf("create: got %d %v, want 201", code, created)
			}
			id := created["id"].(string)
			for _, path := range []string{base, base + "/" + id} {
				code, body := call(t, "GET", path, "", "")
				if code != http.StatusOK {
					t.Fatalf("GET %s: got %d", path, code)
				}
				for _, secret := range []string{"cccccccccccccccccccccccc", "s3cret-pass", "k-0123456789", "hmac-key"} {
					if s := jsonString(t, body); strings.Contains(s, secret) {
						t.Errorf("GET %s: answer holds %q: %s", path, secret, s)
					}
				}
			}
			// Send the masked URL back, as an admin would after reading the
			// route, with a change beside it.
			masked, _ := created["url"].(string)
			code, patched := call(t, "PATCH", base+"/"+id, "", `{"url":"`+masked+`","secret":"***","min_level":"high"}`)
			if code != http.StatusOK || patched["min_level"] != "high" || patched["url"] != masked {
				t.Fatalf("patch with the masked url: got %d %v", code, patched)
			}
			stored, err := n.GetRoute(t.Context(), id)
			if err != nil || stored.URL != u || stored.Secret != "hmac-key" {
				t.Errorf("after patch: stored url %q secret %q (%v), want %q and the secret kept", stored.URL, stored.Secret, err, u)
			}
		})
	}
}

func TestRouteAPIMaskedURLRefused(t *testing.T) {
	n := newNotifier(t, testOptions())
	base := auditedServer(t, n, &auditLog{})
	_, created := call(t, "POST", base, "", `{"name":"soc","type":"webhook","url":"`+apiKeyURL+`"}`)
	id := created["id"].(string)
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"create with a masked url", "POST", "", `{"name":"x","type":"webhook","url":"https://h.example/?token=***"}`},
		{"patch keeping the mask on another host", "PATCH", "/" + id, `{"url":"https://evil.example/in?api_key=***&team=soc"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := call(t, tc.method, base+tc.path, "", tc.body)
			if msg, _ := out["error"].(string); code != http.StatusBadRequest || !strings.Contains(msg, "mask") {
				t.Errorf("got %d %v, want 400 naming the mask", code, out)
			}
		})
	}
	if stored, _ := n.GetRoute(t.Context(), id); stored.URL != apiKeyURL {
		t.Errorf("stored url: got %q, want %q", stored.URL, apiKeyURL)
	}
	// A new URL without the mask replaces the stored one.
	if code, _ := call(t, "PATCH", base+"/"+id, "", `{"url":"https://other.example/in"}`); code != http.StatusOK {
		t.Fatalf("patch with a new url: got %d", code)
	}
	if stored, _ := n.GetRoute(t.Context(), id); stored.URL != "https://other.example/in" {
		t.Errorf("stored url after a new one: got %q", stored.URL)
	}
}

// TestRouteAPIAudit: every change and test through the API is recorded,
// with secrets masked; refused and unknown ones are not.
func TestRouteAPIAudit(t *testing.T) {
	n := newNotifier(t, testOptions())
	log := &auditLog{}
	base := auditedServer(t, n, log)
	_, created := call(t, "POST", base, "", `{"name":"soc","type":"webhook","url":"`+basicURL+`","secret":"hmac-key"}`)
	id := created["id"].(string)
	call(t, "PATCH", base+"/"+id, "", `{"min_level":"high"}`)
	call(t, "PATCH", base+"/"+id, "", `{"min_level":"urgent"}`) // refused: not recorded
	call(t, "POST", base+"/"+id+"/test", "", "")                // fails to deliver: recorded all the same
	call(t, "POST", base+"/nope/test", "", "")                  // unknown: not recorded
	call(t, "DELETE", base+"/"+id, "", "")
	call(t, "DELETE", base+"/"+id, "", "") // gone: not recorded
	want := []string{"route.create " + id, "route.update " + id, "route.test " + id, "route.delete " + id}
	if diff := cmp.Diff(want, log.actions()); diff != "" {
		t.Errorf("audited (-want +got):\n%s", diff)
	}
	for _, e := range log.entries {
		for _, v := range []any{e.Before, e.After} {
			rt, ok := v.(Route)
			if !ok {
				continue
			}
			if rt.Secret == "hmac-key" || strings.Contains(rt.URL, "s3cret-pass") {
				t.Errorf("%s: recorded secrets: %+v", e.Action, rt)
			}
		}
	}
	if len(log.entries) == 4 {
		if u, _ := log.entries[1].Before.(Route); u.MinLevel != "" {
			t.Errorf("route.update before: min_level %q, want the route before the change", u.MinLevel)
		}
		if u, _ := log.entries[1].After.(Route); u.MinLevel != "high" {
			t.Errorf("route.update after: min_level %q, want high", u.MinLevel)
		}
	}
}

func TestRestoreURL(t *testing.T) {
	for _, tc := range []struct {
		name, sent, stored, want string
		invalid                  bool
	}{
		{"unchanged", apiKeyURL, apiKeyURL, apiKeyURL, false},
		{"masked form", "https://alerts.example.com/in?api_key=***&team=soc", apiKeyURL, apiKeyURL, false},
		{"new url", "https://x.example/", apiKeyURL, "https://x.example/", false},
		{"mask elsewhere", "https://x.example/?api_key=***", apiKeyURL, "", true},
		{"mask with a changed parameter", "https://alerts.example.com/in?api_key=***&team=red", apiKeyURL, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := restoreURL(tc.sent, tc.stored)
			if tc.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("got %q, %v, want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v, want %q", got, err, tc.want)
			}
		})
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
