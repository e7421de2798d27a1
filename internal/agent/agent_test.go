package agent

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/agents"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func TestIdentityKept(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("key mode: got %o, want 600", got)
	}
	k2, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Error("second LoadKey made a new key, want the one kept")
	}
	m1, err := MachineID(dir)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := MachineID(dir)
	if m1 == "" || m1 != m2 {
		t.Errorf("machine-id: got %q then %q, want one stable id", m1, m2)
	}
	// A damaged kept id is reported, not replaced (where the OS has none).
	if _, err := os.Stat(machineIDPaths[0]); err != nil {
		os.WriteFile(filepath.Join(dir, machineIDFile), []byte("../../x\n"), 0o600)
		if _, err := MachineID(dir); err == nil {
			t.Error("damaged machine-id file: got nil, want an error")
		}
	}
}

// testServer is an agents service behind an httptest server (its API)
// and a listener.
func testServer(t *testing.T) (*agents.Service, *httptest.Server) {
	t.Helper()
	db := metatest.Open(t)
	svc, err := agents.Open(agents.Options{DB: db, Dir: filepath.Join(t.TempDir(), "agents")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := svc.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	mux := http.NewServeMux()
	svc.Register(mux, agents.HTTPOptions{Require: func(auth.Permission, http.Handler) http.Handler {
		return http.NotFoundHandler() // only enrollment is used here
	}})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return svc, hs
}

func TestEnrollAndRun(t *testing.T) {
	ctx := context.Background()
	svc, hs := testServer(t)
	tok, _, err := svc.CreateToken(ctx, "t", time.Hour, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := Enroll(ctx, EnrollOptions{Server: hs.URL, Token: tok, Dir: dir, Hostname: "h1", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Enroll(ctx, EnrollOptions{Server: hs.URL, Token: tok, Dir: dir, Hostname: "h1-renamed", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if again.AgentID != st.AgentID {
		t.Errorf("re-enrollment: got id %s, want %s", again.AgentID, st.AgentID)
	}
	if _, err := Enroll(ctx, EnrollOptions{Server: hs.URL, Token: tok, Dir: t.TempDir(), Hostname: "h2"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("third use of a two-use token: got %v, want a 401 refusal", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	connected := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(runCtx, RunOptions{Dir: dir, Version: "test", Heartbeat: time.Second, OnConnected: func() { connected <- struct{}{} }})
	}()
	select {
	case <-connected:
	case err := <-done:
		t.Fatalf("run ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not connected within 10 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel: got %v, want nil", err)
	}
}

func TestEnrollRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		o    EnrollOptions
		want string
	}{
		{"no scheme", EnrollOptions{Server: "vigil:8080", Token: "t"}, "--server"},
		{"ftp", EnrollOptions{Server: "ftp://vigil", Token: "t"}, "--server"},
		{"no token", EnrollOptions{Server: "http://vigil"}, "--token"},
		{"hostname with a space", EnrollOptions{Server: "http://127.0.0.1:1", Token: "t", Hostname: "a b"}, "hostname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Dir = t.TempDir()
			_, err := Enroll(ctx, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
	// A server answering with a certificate for another key is not
	// believed.
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"agent_id":"x","certificate":"","ca":"","endpoint":"127.0.0.1:1"}`))
	}))
	defer liar.Close()
	if _, err := Enroll(ctx, EnrollOptions{Server: liar.URL, Token: "t", Dir: t.TempDir(), Hostname: "h"}); err == nil || !strings.Contains(err.Error(), "agent id") {
		t.Errorf("answer for another id: got %v, want refused", err)
	}
}

func TestRunRefuses(t *testing.T) {
	if err := Run(context.Background(), RunOptions{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not enrolled") {
		t.Errorf("not enrolled: got %v, want an error saying so", err)
	}
	if err := Run(context.Background(), RunOptions{Dir: t.TempDir(), Heartbeat: 11 * time.Second}); err == nil || !strings.Contains(err.Error(), "--heartbeat") {
		t.Errorf("heartbeat past the bound: got %v, want refused", err)
	}
}
