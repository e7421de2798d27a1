package agents

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/auth"
)

// testAPI mounts s's API with every caller let through, and the
// source of a request taken from its X-Test-Source header.
func testAPI(t *testing.T, s *Service) (*httptest.Server, *[]string) {
	t.Helper()
	var audited []string
	// The admin routes, without the authentication Require does in the
	// server (tested by the e2e authorization matrix).
	open := http.NewServeMux()
	s.Register(open, HTTPOptions{
		Require: func(_ auth.Permission, h http.Handler) http.Handler { return h },
		Audit:   func(_ *http.Request, action, target string, _, _ any) { audited = append(audited, action+" "+target) },
		Source:  func(r *http.Request) netip.Addr { a, _ := netip.ParseAddr(r.Header.Get("X-Test-Source")); return a },
	})
	hs := httptest.NewServer(open)
	t.Cleanup(hs.Close)
	return hs, &audited
}

func post(t *testing.T, url, src, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("X-Test-Source", src)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTP(t *testing.T) {
	s, _, _ := newService(t)
	hs, audited := testAPI(t, s)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"no name", `{}`, 400},
		{"bad duration", `{"name":"t","expires_in":"soon"}`, 400},
		{"negative duration", `{"name":"t","expires_in":"-1h"}`, 400},
		{"unknown field", `{"name":"t","group":"x"}`, 400},
		{"body past the bound", `{"name":"` + strings.Repeat("n", maxTokenBody) + `"}`, 400},
		{"ok", `{"name":"t","expires_in":"7d","max_uses":3}`, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, b := post(t, hs.URL+"/api/v1/agents/enrollment-tokens", "192.0.2.1", tc.body); got != tc.want {
				t.Errorf("got HTTP %d, want %d: %s", got, tc.want, b)
			}
		})
	}
	if len(*audited) != 1 || !strings.HasPrefix((*audited)[0], "agent.token.create ") {
		t.Errorf("audited: got %v, want one agent.token.create", *audited)
	}

	tok, _, err := s.CreateToken(context.Background(), "t", time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, "m1", "web")
	good, _ := json.Marshal(h.request(t, tok).EnrollRequest)
	code, b := post(t, hs.URL+agentwire.EnrollPath, "192.0.2.1", string(good))
	if code != 200 {
		t.Fatalf("enroll: HTTP %d: %s", code, b)
	}
	var res agentwire.EnrollResponse
	json.Unmarshal([]byte(b), &res)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"body past the bound", `{"token":"` + strings.Repeat("t", agentwire.MaxEnrollBody) + `"}`, 400},
		{"not JSON", `hello`, 400},
		{"unknown field", strings.Replace(string(good), `{`, `{"admin":true,`, 1), 400},
		{"wrong token", strings.Replace(string(good), tok, "vigil_enroll_nope", 1), 401},
	} {
		t.Run("enroll "+tc.name, func(t *testing.T) {
			if got, b := post(t, hs.URL+agentwire.EnrollPath, "192.0.2.1", tc.body); got != tc.want {
				t.Errorf("got HTTP %d, want %d: %s", got, tc.want, b)
			}
		})
	}

	// Revocation: 404 for what is no agent id, 204, then re-enrolling is
	// 403.
	if got, _ := post(t, hs.URL+"/api/v1/agents/..%2f..%2fetc/revoke", "192.0.2.1", ""); got != 404 {
		t.Errorf("revoking a malformed id: got HTTP %d, want 404", got)
	}
	if got, _ := post(t, hs.URL+"/api/v1/agents/00000000000000000000000000000000/revoke", "192.0.2.1", ""); got != 404 {
		t.Errorf("revoking an unknown agent: got HTTP %d, want 404", got)
	}
	if got, b := post(t, hs.URL+"/api/v1/agents/"+res.AgentID+"/revoke", "192.0.2.1", ""); got != 204 {
		t.Errorf("revoke: got HTTP %d, want 204: %s", got, b)
	}
	if got, _ := post(t, hs.URL+agentwire.EnrollPath, "192.0.2.2", string(good)); got != 403 {
		t.Errorf("re-enrolling a revoked agent: got HTTP %d, want 403", got)
	}
	if n := len(*audited); n != 2 || (*audited)[1] != "agent.revoke "+res.AgentID {
		t.Errorf("audited: got %v, want agent.revoke %s last", *audited, res.AgentID)
	}
}

func TestEnrollRateLimit(t *testing.T) {
	s, _, _ := newService(t)
	hs, _ := testAPI(t, s)
	// Refused requests count too: the limit is on attempts.
	for i := range EnrollPerSource {
		if got, b := post(t, hs.URL+agentwire.EnrollPath, "198.51.100.9", `{}`); got != 400 {
			t.Fatalf("attempt %d: got HTTP %d, want 400: %s", i+1, got, b)
		}
	}
	req, _ := http.NewRequest("POST", hs.URL+agentwire.EnrollPath, strings.NewReader(`{}`))
	req.Header.Set("X-Test-Source", "198.51.100.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("attempt %d: got HTTP %d (Retry-After %q), want 429 with Retry-After", EnrollPerSource+1, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got, _ := post(t, hs.URL+agentwire.EnrollPath, "198.51.100.10", `{}`); got != 400 {
		t.Errorf("another source: got HTTP %d, want 400 (not limited)", got)
	}
}

func TestListenerTimeouts(t *testing.T) {
	s, _, _ := newService(t)
	s.idleTimeout, s.handshakeTimeout = 300*time.Millisecond, 300*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A peer that never starts the handshake is closed at its bound.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("silent peer: read data, want the connection closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("silent peer: not closed by the server within 10 s")
	}
	t.Logf("silent peer closed after %s", time.Since(start).Round(time.Millisecond))

	// An agent that goes quiet after its handshake is closed at the idle
	// bound and shown offline.
	changed := watch(s)
	tok, _, _ := s.CreateToken(context.Background(), "t", time.Hour, 1)
	h := newHost(t, "m1", "web")
	res, err := s.Enroll(context.Background(), h.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	pair := keyPair(t, res, h)
	ac, err := dialAgent(t, l.Addr().String(), s.CA().Pool(), pair, accepted)
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	ac.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := ac.Read(make([]byte, 1)); err == nil {
		t.Error("quiet agent: read data, want the connection closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("quiet agent: not closed by the server within 10 s")
	}
	waitFor(t, changed, func() bool {
		list, _ := s.List(context.Background())
		return len(list) == 1 && list[0].Status == StatusOffline
	})
}

func TestListenerConnectionBounds(t *testing.T) {
	s, _, _ := newService(t)
	s.maxConns, s.maxPerSource = 10, 2
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Two connections from one source are held (in their handshake);
	// the third is closed at once.
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	conns[2].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conns[2].Read(make([]byte, 1)); err == nil {
		t.Error("third connection: read data, want it closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("third connection from the source: still open after 10 s, want it refused")
	}
	conns[0].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := conns[0].Read(make([]byte, 1)); err == nil {
		t.Error("first connection: read data, want none")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("first connection: got %v, want it held (a read timeout)", err)
	}
}
