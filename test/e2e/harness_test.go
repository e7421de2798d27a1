// Package e2e tests the real vigil binary end to end: it builds
// ./cmd/vigil once, starts `vigil serve` on free loopback ports with a
// temporary data directory, and talks to it with real syslog clients
// (rsyslog, logger, raw TCP/UDP/TLS) and HTTP.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

var vigilBin string

func TestMain(m *testing.M) {
	// VIGIL_E2E_BIN tests a binary built elsewhere (a release, or a clean
	// checkout) instead of building this tree.
	if bin := os.Getenv("VIGIL_E2E_BIN"); bin != "" {
		vigilBin = bin
		os.Exit(metatest.Main(m)) // m.Run, then stop PostgreSQL if a test started it
	}
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vigilBin = filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", vigilBin, "../../cmd/vigil")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vigil:", err)
		os.Exit(1)
	}
	code := metatest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

const testToken = "e2e-admin-token-0123456789abcdef"

// server is one running `vigil serve`.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	data    string
	http    string
	tcp     string
	udp     string
	tls     string
	args    []string
	log     *bytes.Buffer
	exited  chan struct{}
	exitErr error
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type serverOpts struct {
	data  string   // reuse a data dir (restart); empty: a new temp dir
	tls   bool     // listen for syslog over TLS
	cert  string   // with tls
	key   string   // with tls
	extra []string // more flags
}

func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	s := &server{t: t, data: o.data, log: &bytes.Buffer{}}
	if s.data == "" {
		s.data = t.TempDir()
	}
	s.http = freePort(t, "tcp")
	s.tcp = freePort(t, "tcp")
	s.udp = freePort(t, "udp")
	s.args = []string{"serve", "--data", s.data, "--http", s.http, "--syslog-tcp", s.tcp, "--syslog-udp", s.udp,
		"--bootstrap-token", testToken}
	if o.tls {
		s.tls = freePort(t, "tcp")
		s.args = append(s.args, "--syslog-tls", s.tls, "--tls-cert", o.cert, "--tls-key", o.key)
	}
	s.args = append(s.args, o.extra...)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(vigilBin, s.args...)
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	s.exited = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { s.exitErr = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.exited:
			s.t.Fatalf("vigil serve exited during start-up: %v\n%s", s.exitErr, s.log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("vigil serve not ready after 60s\n%s", s.log)
		}
		time.Sleep(50 * time.Millisecond) // polling the starting vigil serve process
	}
}

// terminate sends SIGTERM and waits for a clean exit.
func (s *server) terminate() { s.terminateWithin(60 * time.Second) }

// terminateWithin sends SIGTERM, fails the test unless the server exits
// cleanly within d, and returns how long it took.
func (s *server) terminateWithin(d time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.exitErr != nil {
			s.t.Fatalf("vigil serve exited with %v after SIGTERM\n%s", s.exitErr, tail(s.log.String(), 4000))
		}
	case <-time.After(d):
		s.cmd.Process.Kill()
		s.t.Fatalf("vigil serve did not stop within %v of SIGTERM\n%s", d, tail(s.log.String(), 4000))
	}
	return time.Since(start)
}

func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	if s.t.Failed() {
		s.t.Logf("vigil serve log:\n%s", tail(s.log.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// searchResult is the JSON of GET /api/v1/search.
type searchResult struct {
	Total   int64            `json:"total"`
	Events  []map[string]any `json:"events"`
	Columns []string         `json:"columns"`
	Rows    [][]any          `json:"rows"`
}

func (s *server) request(method, path, token string, body io.Reader) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, "http://"+s.http+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (s *server) search(q string, limit int) searchResult {
	s.t.Helper()
	v := url.Values{"q": {q}, "limit": {fmt.Sprint(limit)}}
	resp, b := s.request("GET", "/api/v1/search?"+v.Encode(), testToken, nil)
	if resp.StatusCode != 200 {
		s.t.Fatalf("search %q: HTTP %d: %s", q, resp.StatusCode, b)
	}
	var r searchResult
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("search %q: %v: %s", q, err, b)
	}
	return r
}

// waitTotal polls a search until its total reaches want (or the deadline).
func (s *server) waitTotal(q string, want int64, within time.Duration) searchResult {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := s.search(q, 10)
		if r.Total >= want || time.Now().After(deadline) {
			return r
		}
		time.Sleep(100 * time.Millisecond) // polling the vigil serve process
	}
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		return strings.TrimSuffix(fmt.Sprintf("%f", x), ".000000")
	}
	return fmt.Sprint(v)
}

func requireProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// CI installs every program the tests use (.ci/run); a developer
		// machine without it skips with the reason.
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed; .ci/run should have installed it", name)
		}
		t.Skipf("%s not installed (apt-get install it to run this test)", name)
	}
	return p
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
