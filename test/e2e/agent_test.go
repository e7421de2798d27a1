package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	agentOnce sync.Once
	agentBin  string
	agentErr  error
)

// buildAgent builds ./cmd/vigil-agent once (VIGIL_E2E_AGENT_BIN tests a
// binary built elsewhere), as TestMain builds vigil.
func buildAgent(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		if bin := os.Getenv("VIGIL_E2E_AGENT_BIN"); bin != "" {
			agentBin = bin
			return
		}
		dir, err := os.MkdirTemp("", "vigil-agent-e2e-")
		if err != nil {
			agentErr = err
			return
		}
		agentBin = filepath.Join(dir, "vigil-agent")
		out, err := exec.Command("go", "build", "-o", agentBin, "../../cmd/vigil-agent").CombinedOutput()
		if err != nil {
			agentErr = err
			agentBin = string(out)
		}
	})
	if agentErr != nil {
		t.Fatalf("building vigil-agent: %v\n%s", agentErr, agentBin)
	}
	return agentBin
}

type agentRow struct {
	ID       string  `json:"id"`
	Hostname string  `json:"hostname"`
	Status   string  `json:"status"`
	Version  string  `json:"version"`
	LastSeen *string `json:"last_seen"`
	RSSBytes int64   `json:"rss_bytes"`
}

func (s *server) agents() []agentRow {
	s.t.Helper()
	resp, b := s.request("GET", "/api/v1/agents", testToken, nil)
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET /api/v1/agents: HTTP %d: %s", resp.StatusCode, b)
	}
	var r struct {
		Agents []agentRow `json:"agents"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("GET /api/v1/agents: %v: %s", err, b)
	}
	return r.Agents
}

// waitAgent polls the list until the agent has status (within 10 s).
func (s *server) waitAgent(id, status string) agentRow {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, a := range s.agents() {
			if a.ID == id && a.Status == status {
				return a
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("agent %s not %s within 10 s: %+v\n%s", id, status, s.agents(), tail(s.log.String(), 20))
		}
		time.Sleep(50 * time.Millisecond) // polling the vigil serve process
	}
}

func enroll(t *testing.T, s *server, token, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command(buildAgent(t), "enroll", "--server", "http://"+s.http, "--data", dir)
	cmd.Env = append(os.Environ(), "VIGIL_AGENT_TOKEN="+token) // kept out of the process list
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), err
	}
	// "enrolled as agent ID; it connects to HOST:PORT"
	f := strings.Fields(string(out))
	if len(f) < 4 {
		t.Fatalf("enroll output: %q", out)
	}
	return f[3][:len(f[3])-1], nil
}

type agentProc struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

// lockedBuffer is a buffer the agent process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog polls the agent's log for s (within 10 s).
func (p *agentProc) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("agent log lacks %q within 10 s:\n%s", s, p.log)
		}
		time.Sleep(20 * time.Millisecond) // polling the vigil-agent process
	}
}

func startAgent(t *testing.T, dir string, extra ...string) *agentProc {
	t.Helper()
	args := append([]string{"run", "--data", dir, "--heartbeat", "1s"}, extra...)
	p := &agentProc{cmd: exec.Command(buildAgent(t), args...), log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (p *agentProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// TestAgent: a real vigil-agent enrolls into a real vigil serve, shows
// online while it runs and offline once killed, enrolls again as the same
// agent, stays a second agent beside another data directory on the same
// host, and once revoked is refused; a certificate of another CA is
// refused at the agent listener.
func TestAgent(t *testing.T) {
	agentAddr := freePort(t, "tcp")
	s := startServer(t, serverOpts{extra: []string{"--agents-listen", agentAddr}})
	buildAgent(t)

	resp, b := s.request("POST", "/api/v1/agents/enrollment-tokens", testToken, strings.NewReader(`{"name":"e2e","expires_in":"1h","max_uses":4}`))
	if resp.StatusCode != 201 {
		t.Fatalf("creating an enrollment token: HTTP %d: %s", resp.StatusCode, b)
	}
	var tok struct {
		Token string `json:"token"`
	}
	json.Unmarshal(b, &tok)

	d1 := t.TempDir()
	if out, err := enroll(t, s, "vigil_enroll_wrong", d1); err == nil || !strings.Contains(out, "401") {
		t.Errorf("enrolling with a wrong token: %v: %s; want a 401", err, out)
	}
	id, err := enroll(t, s, tok.Token, d1)
	if err != nil {
		t.Fatalf("enroll: %v: %s", err, id)
	}
	for name, mode := range map[string]os.FileMode{"agent.key": 0o600, "agent.crt": 0o600} {
		if st, err := os.Stat(filepath.Join(d1, name)); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v; want %o", name, err, st.Mode().Perm(), mode)
		}
	}
	if st, err := os.Stat(filepath.Join(s.data, "agents", "ca.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("server's CA key: %v; want mode 600", err)
	}

	// Online while it runs, within a few seconds.
	start := time.Now()
	a := startAgent(t, d1)
	row := s.waitAgent(id, "online")
	t.Logf("online %s after the agent started", time.Since(start).Round(time.Millisecond))
	host, _ := os.Hostname()
	if row.Hostname != host || row.Version != "dev" || row.LastSeen == nil || row.RSSBytes <= 0 {
		t.Errorf("online agent: got %+v, want hostname %q, version dev, last_seen, its RSS", row, host)
	}
	// Offline once killed (the kernel closes its connection).
	a.kill()
	row = s.waitAgent(id, "offline")
	if row.LastSeen == nil {
		t.Errorf("offline agent: no last_seen")
	}

	// Enrolling again from the same data directory: the same agent.
	again, err := enroll(t, s, tok.Token, d1)
	if err != nil || again != id {
		t.Errorf("re-enrollment: got id %q (%v), want %s", again, err, id)
	}
	// Another data directory on the same host (same machine-id and
	// hostname, another key): another agent.
	other, err := enroll(t, s, tok.Token, t.TempDir())
	if err != nil || other == id {
		t.Errorf("second agent with the same hostname: got id %q (%v), want one other than %s", other, err, id)
	}
	if got := len(s.agents()); got != 2 {
		t.Errorf("agents: got %d, want 2", got)
	}

	// Revoked: its connection closes, it is refused from then on.
	a = startAgent(t, d1)
	s.waitAgent(id, "online")
	resp, b = s.request("POST", "/api/v1/agents/"+id+"/revoke", testToken, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("revoke: HTTP %d: %s", resp.StatusCode, b)
	}
	s.waitAgent(id, "revoked")
	if err := dialAgentListener(agentAddr, d1); err == nil {
		t.Error("revoked agent's certificate: accepted at the listener, want refused")
	}
	if out, err := enroll(t, s, tok.Token, d1); err == nil || !strings.Contains(out, "403") {
		t.Errorf("re-enrolling a revoked agent: %v: %s; want a 403", err, out)
	}
	a.waitLog(t, "disconnected from the server")
	a.waitLog(t, "bad certificate") // its next attempt, a second later
	a.kill()

	// Token creation, the three enrollments and the revocation are in
	// the audit log, under who did them.
	audited := map[string][]string{}
	for _, action := range []string{"agent.token.create", "agent.enroll", "agent.revoke"} {
		resp, b := s.request("GET", "/api/v1/audit?limit=100&action="+action, testToken, nil)
		var log struct {
			Entries []struct{ Actor, Target string }
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &log) != nil {
			t.Fatalf("GET /api/v1/audit: HTTP %d: %s", resp.StatusCode, b)
		}
		for _, e := range log.Entries {
			audited[action] = append(audited[action], e.Actor+" "+e.Target)
		}
	}
	if got := audited["agent.enroll"]; len(got) != 3 || !strings.HasPrefix(got[0], "enrollment-token:e2e ") {
		t.Errorf("agent.enroll audit entries: got %q, want 3 by enrollment-token:e2e", got)
	}
	if got := audited["agent.revoke"]; len(got) != 1 || !strings.HasSuffix(got[0], " "+id) {
		t.Errorf("agent.revoke audit entries: got %q, want one for %s", got, id)
	}
	if got := audited["agent.token.create"]; len(got) != 1 {
		t.Errorf("agent.token.create audit entries: got %q, want one", got)
	}

	// A certificate of another CA, naming the other agent, is refused.
	foreign := t.TempDir()
	writeForeignIdentity(t, foreign, other, d1)
	if err := dialAgentListener(agentAddr, foreign); err == nil {
		t.Error("certificate of another CA: accepted at the listener, want refused")
	}
	if err := dialAgentListener(agentAddr, d1); err == nil {
		t.Error("revoked agent: accepted, want refused")
	}
}

// dialAgentListener connects with the identity in dir, sends a frame and
// reads: nil means the server sent its first frame (the acknowledgement
// of the agent's last stored record) or kept the connection for 2 s; a
// refusal shows as an error at once.
func dialAgentListener(addr, dir string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "agent.crt"), filepath.Join(dir, "agent.key"))
	if err != nil {
		return err
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "agents.vigil.invalid", Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		return err
	}
	defer c.Close()
	hb := []byte(`{"type":"heartbeat","heartbeat":{"version":"x","os":"linux","arch":"amd64"}}`)
	frame := append([]byte{0, 0, 0, byte(len(hb))}, hb...)
	if _, err := c.Write(frame); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		return nil
	}
	return err
}

// writeForeignIdentity writes into dir a certificate for agent id signed
// by a CA of the test's own (and the real agent CA from realDir as the
// roots, so that the client side of the handshake succeeds).
func writeForeignIdentity(t *testing.T, dir, id, realDir string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Vigil agent CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: id}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	ca, _ := os.ReadFile(filepath.Join(realDir, "ca.crt"))
	for name, b := range map[string][]byte{
		"agent.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"agent.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		"ca.crt":    ca,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// authzEnrollBody is a fresh enrollment request for the authorization
// matrix: a token of its own (one use) and a key of its own.
func authzEnrollBody(t *testing.T, f *authzFixture, caller string) string {
	t.Helper()
	var tok struct{ Token string }
	f.admin(t, "POST", "/api/v1/agents/enrollment-tokens", map[string]any{"name": f.unique("enroll-for-" + caller)}, &tok, 201)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return jsonBody(map[string]any{"token": tok.Token, "csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
		"machine_id": "authz-" + caller, "hostname": "authz-" + caller})
}

// authzAgent enrolls a fresh agent and returns its id.
func authzAgent(t *testing.T, f *authzFixture, caller string) string {
	t.Helper()
	got, b := f.do(t, "POST", "/api/v1/agents/enroll", authBearer, "", authzEnrollBody(t, f, caller), "")
	var out struct {
		AgentID string `json:"agent_id"`
	}
	if got != 200 || json.Unmarshal(b, &out) != nil || out.AgentID == "" {
		t.Fatalf("setup: enrolling an agent: HTTP %d: %s", got, b)
	}
	return out.AgentID
}
