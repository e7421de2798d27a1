package agents

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T) (*Service, *clock, *audit.Log) {
	t.Helper()
	db := metatest.Open(t)
	al, err := audit.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	s, err := Open(Options{DB: db, Dir: filepath.Join(t.TempDir(), "agents"), Audit: al, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, al
}

// host is an agent's side for tests: its key and machine-id.
type host struct {
	key       *ecdsa.PrivateKey
	machineID string
	hostname  string
}

func newHost(t *testing.T, machineID, hostname string) *host {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &host{key: k, machineID: machineID, hostname: hostname}
}

func csrPEM(t *testing.T, signer any) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "anything"}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func (h *host) request(t *testing.T, token string) Enrollment {
	return Enrollment{EnrollRequest: agentwire.EnrollRequest{Token: token, CSR: csrPEM(t, h.key), MachineID: h.machineID,
		Hostname: h.hostname, OS: "linux", Version: "test"}, Host: "vigil.example", Source: "192.0.2.1"}
}

func TestCAPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "agents")
	now := time.Now()
	ca, err := LoadCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, caKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("key mode: got %o, want 600", got)
	}
	if pub, ok := ca.Cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() || !ca.Cert.IsCA {
		t.Errorf("CA certificate: got key %T, IsCA %v; want an ECDSA P-256 CA", ca.Cert.PublicKey, ca.Cert.IsCA)
	}
	again, err := LoadCA(dir, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) {
		t.Error("second load made a new CA, want the one on disk")
	}
	// A key without its certificate is reported, not replaced.
	if err := os.Remove(filepath.Join(dir, caCertFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(dir, now); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("key without certificate: got %v, want an incomplete-CA error", err)
	}
}

func TestCheckCSR(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	good := csrPEM(t, p256)
	// A request whose signature does not verify: one byte of the
	// signature flipped.
	blk, _ := pem.Decode([]byte(good))
	bad := append([]byte(nil), blk.Bytes...)
	bad[len(bad)-3] ^= 0xff
	badSig := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: bad}))
	for _, tc := range []struct {
		name, in, want string
	}{
		{"ecdsa p-256", good, ""},
		{"ecdsa p-384", csrPEM(t, p384), "P-256"},
		{"rsa", csrPEM(t, rsaKey), "P-256"},
		{"ed25519", csrPEM(t, edKey), "P-256"},
		{"bad signature", badSig, ""},
		{"huge", good + strings.Repeat("A", agentwire.MaxCSR), "longer than"},
		{"not pem", "hello", "PEM"},
		{"a certificate", strings.Replace(good, "CERTIFICATE REQUEST", "CERTIFICATE", 2), "PEM"},
		{"data after the block", good + "extra", "after the PEM block"},
		{"garbage der", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 1, 2, 3}})), "bad certificate request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckCSR([]byte(tc.in))
			if tc.name == "bad signature" {
				// Flipping a byte of the DER either breaks its parse or
				// its signature: refused either way.
				if !errors.Is(err, ErrBadCSR) {
					t.Errorf("got %v, want ErrBadCSR", err)
				}
				return
			}
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrBadCSR) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrBadCSR about %q", err, tc.want)
			}
		})
	}
}

func FuzzCheckCSR(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := CheckCSR(b)
		if err != nil {
			return
		}
		if pub, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			t.Fatalf("accepted a request with key %T", csr.PublicKey)
		}
		if csr.CheckSignature() != nil {
			t.Fatal("accepted a request whose signature does not verify")
		}
	})
}

func TestTokens(t *testing.T) { metatest.Engines(t, testTokens) }

func testTokens(t *testing.T) {
	ctx := context.Background()
	s, clk, _ := newService(t)
	for _, tc := range []struct {
		name    string
		tokName string
		ttl     time.Duration
		uses    int
		want    string
	}{
		{"no name", "", 0, 0, "name"},
		{"long name", strings.Repeat("n", MaxTokenName+1), 0, 0, "name"},
		{"negative expiry", "t", -time.Second, 0, "expires_in"},
		{"expiry past the bound", "t", MaxTokenExpiry + time.Second, 0, "expires_in"},
		{"uses past the bound", "t", 0, MaxTokenUses + 1, "max_uses"},
		{"negative uses", "t", 0, -1, "max_uses"},
		{"at the bounds", "t", MaxTokenExpiry, MaxTokenUses, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateToken(ctx, tc.tokName, tc.ttl, tc.uses)
			if tc.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %s", err, tc.want)
			}
		})
	}

	// One use by default: the second host is refused, and the refusal
	// does not consume anything.
	once, tok, err := s.CreateToken(ctx, "once", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(once, TokenPrefix) || tok.MaxUses != 1 || !tok.Expires.Equal(tok.Created.Add(DefaultTokenExpiry)) {
		t.Errorf("default token: got %q %+v, want prefix %q, one use, expiry in %s", once, tok, TokenPrefix, DefaultTokenExpiry)
	}
	if _, err := s.Enroll(ctx, newHost(t, "m1", "a").request(t, once)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := s.Enroll(ctx, newHost(t, "m2", "b").request(t, once)); !errors.Is(err, ErrToken) {
		t.Errorf("second use of a one-use token: got %v, want ErrToken", err)
	}
	if _, err := s.Enroll(ctx, newHost(t, "m2", "b").request(t, "vigil_enroll_unknown")); !errors.Is(err, ErrToken) {
		t.Errorf("unknown token: got %v, want ErrToken", err)
	}

	// Three uses, then expiry.
	three, _, err := s.CreateToken(ctx, "three", time.Hour, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := s.Enroll(ctx, newHost(t, "m3", "c").request(t, three)); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	clk.Add(time.Hour)
	if _, err := s.Enroll(ctx, newHost(t, "m3", "c").request(t, three)); !errors.Is(err, ErrToken) {
		t.Errorf("expired token with a use left: got %v, want ErrToken", err)
	}
	toks, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uses := map[string]int{}
	for _, tk := range toks {
		uses[tk.Name] = tk.Uses
	}
	if uses["once"] != 1 || uses["three"] != 2 {
		t.Errorf("uses: got %v, want once 1 and three 2", uses)
	}
	// The secret is not stored.
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM agent_enrollment_tokens WHERE hash = ? OR id = ? OR name = ?`, once, once, once).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows holding the secret: got %d (%v), want 0", n, err)
	}
}

func TestEnrollIdentity(t *testing.T) { metatest.Engines(t, testEnrollIdentity) }

func testEnrollIdentity(t *testing.T) {
	ctx := context.Background()
	s, _, al := newService(t)
	tok, _, err := s.CreateToken(ctx, "fleet", time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	a := newHost(t, "0123456789abcdef0123456789abcdef", "web")
	first, err := s.Enroll(ctx, a.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	wantID, _ := agentwire.AgentID(a.machineID, &a.key.PublicKey)
	if first.AgentID != wantID {
		t.Errorf("agent id: got %s, want %s (machine-id and key)", first.AgentID, wantID)
	}
	blk, _ := pem.Decode([]byte(first.Certificate))
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != first.AgentID || len(cert.DNSNames) != 0 || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("certificate: CN %q, names %v, key usage %v; want CN the agent id, no names, client auth only", cert.Subject.CommonName, cert.DNSNames, cert.ExtKeyUsage)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: s.CA().Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate does not verify against the agent CA: %v", err)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got > DefaultCertValidity+time.Hour {
		t.Errorf("validity: got %s, want about %s", got, DefaultCertValidity)
	}

	// Again, renamed: the same agent, a new certificate.
	a.hostname = "web-renamed"
	second, err := s.Enroll(ctx, a.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	if second.AgentID != first.AgentID || second.Certificate == first.Certificate {
		t.Errorf("re-enrollment: got id %s (want %s) and the same certificate %v", second.AgentID, first.AgentID, second.Certificate == first.Certificate)
	}
	// Another host with the same hostname, and one with a copied
	// machine-id but its own key: two more agents.
	if _, err := s.Enroll(ctx, newHost(t, "fedcba9876543210fedcba9876543210", "web-renamed").request(t, tok)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, newHost(t, a.machineID, "clone").request(t, tok)); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("agents: got %d, want 3: %+v", len(list), list)
	}
	for _, ag := range list {
		if ag.Status != StatusOffline || ag.LastSeen != nil {
			t.Errorf("agent %s before connecting: got status %s, last seen %v; want offline, never", ag.ID, ag.Status, ag.LastSeen)
		}
	}
	// Revoked: it may not enroll again.
	if err := s.Revoke(ctx, first.AgentID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, a.request(t, tok)); !errors.Is(err, ErrRevoked) {
		t.Errorf("re-enrolling a revoked agent: got %v, want ErrRevoked", err)
	}
	if err := s.Revoke(ctx, "00000000000000000000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking an unknown agent: got %v, want ErrNotFound", err)
	}
	// Each enrollment is audited (four), the refused one not.
	rep, err := al.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'agent.enroll'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 || !rep.OK {
		t.Errorf("audit: got %d agent.enroll entries (chain ok %v), want 4", n, rep.OK)
	}
}

func TestEnrollRefusesBadRequests(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	tok, _, err := s.CreateToken(ctx, "t", time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	h := newHost(t, "m", "h")
	for _, tc := range []struct {
		name string
		edit func(e *Enrollment)
	}{
		{"rsa key", func(e *Enrollment) { e.CSR = csrPEM(t, rsaKey) }},
		{"no csr", func(e *Enrollment) { e.CSR = "" }},
		{"long hostname", func(e *Enrollment) { e.Hostname = strings.Repeat("h", agentwire.MaxHostname+1) }},
		{"hostname with a newline", func(e *Enrollment) { e.Hostname = "a\nb" }},
		{"machine id with a slash", func(e *Enrollment) { e.MachineID = "../etc" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := h.request(t, tok)
			tc.edit(&e)
			if _, err := s.Enroll(ctx, e); !errors.Is(err, ErrBadRequest) {
				t.Errorf("got %v, want ErrBadRequest", err)
			}
		})
	}
	toks, _ := s.ListTokens(ctx)
	if toks[0].Uses != 0 {
		t.Errorf("uses after refused requests: got %d, want 0", toks[0].Uses)
	}
}

func TestEnrollDisabled(t *testing.T) {
	s, err := Open(Options{DB: metatest.Open(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(context.Background(), Enrollment{}); !errors.Is(err, ErrDisabled) {
		t.Errorf("got %v, want ErrDisabled", err)
	}
}

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Now()}
	l := newLimiter(c.Now, 2, time.Minute, 2)
	for i, tc := range []struct {
		src  string
		want bool
	}{
		{"192.0.2.1", true}, {"192.0.2.1", true}, {"192.0.2.1", false}, // two per source
		{"2001:db8::1", true}, {"2001:db8::ffff", true}, {"2001:db8::2", false}, // one /64
		{"198.51.100.7", false}, // a third source past the table's bound
	} {
		if got, _ := l.allow(netip.MustParseAddr(tc.src)); got != tc.want {
			t.Errorf("request %d from %s: got %v, want %v", i, tc.src, got, tc.want)
		}
	}
	c.Add(time.Minute)
	for _, src := range []string{"198.51.100.7", "192.0.2.1"} {
		if ok, _ := l.allow(netip.MustParseAddr(src)); !ok {
			t.Errorf("next window, %s: refused, want allowed", src)
		}
	}
}

// dialAgent connects to the listener as an agent with cert and key,
// sends a heartbeat and reads: a refused certificate shows as an error
// there (TLS 1.3 reports the client's rejection after the handshake).
// An accepted agent gets nothing from the server, so the read waits out
// wait: short where acceptance is expected, long where a refusal is (so
// that a slow refusal is not taken for acceptance).
func dialAgent(t *testing.T, addr string, ca *x509.CertPool, cert tls.Certificate, wait time.Duration) (*tls.Conn, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca, ServerName: agentwire.ServerName, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		return nil, err
	}
	if err := agentwire.WriteFrame(c, &agentwire.Frame{Type: agentwire.TypeHeartbeat, Heartbeat: &agentwire.Heartbeat{Version: "9.9", OS: "linux", Arch: "amd64", RSSBytes: 1234}}); err != nil {
		c.Close()
		return nil, err
	}
	// The server's first frame to an accepted agent is the
	// acknowledgement of its last stored record; a refused one reads an
	// error.
	c.SetReadDeadline(time.Now().Add(wait))
	f, err := agentwire.ReadFrame(c, 0)
	c.SetReadDeadline(time.Time{})
	if err == nil && f.Type == agentwire.TypeAck {
		return c, nil
	}
	c.Close()
	if err == nil {
		err = fmt.Errorf("first frame %q, want an ack", f.Type)
	}
	return nil, err
}

func TestListener(t *testing.T) { metatest.Engines(t, testListener) }

// How long dialAgent waits for the server's first frame or a refusal.
const (
	accepted = 10 * time.Second
	refused  = 10 * time.Second
)

func testListener(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t)
	changed := watch(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tok, _, err := s.CreateToken(ctx, "t", time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, "m1", "web")
	res, err := s.Enroll(ctx, h.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(l.Addr().String()); res.Endpoint != net.JoinHostPort("vigil.example", port) {
		t.Errorf("endpoint: got %q, want vigil.example:%s", res.Endpoint, port)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(res.CA))
	keyDER, _ := x509.MarshalPKCS8PrivateKey(h.key)
	pair, err := tls.X509KeyPair([]byte(res.Certificate), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialAgent(t, l.Addr().String(), pool, pair, accepted)
	if err != nil {
		t.Fatalf("enrolled agent refused: %v", err)
	}
	status := func() Agent {
		t.Helper()
		list, err := s.List(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %+v", err, list)
		}
		return list[0]
	}
	// The heartbeat was read before the server's silence timed out the
	// client's read above, unless the server is slow: wait for it.
	waitFor(t, changed, func() bool { return status().Version == "9.9" })
	if got := status(); got.Status != StatusOnline || got.RSSBytes != 1234 || got.LastSeen == nil {
		t.Errorf("connected agent: got %+v, want online with its heartbeat", got)
	}
	c.Close()
	waitFor(t, changed, func() bool { return status().Status == StatusOffline })
	if got := status(); got.LastSeen == nil || got.Version != "9.9" {
		t.Errorf("after disconnecting: got %+v, want last_seen and version kept", got)
	}

	// A certificate of another CA, for the same agent id, is refused.
	other, err := LoadCA(filepath.Join(t.TempDir(), "other"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, fpem, err := other.SignAgent(res.AgentID, &h.key.PublicKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := tls.X509KeyPair(fpem, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if _, err := dialAgent(t, l.Addr().String(), pool, foreign, refused); err == nil {
		t.Error("certificate of another CA: accepted, want refused")
	}

	// Re-enrolled: the old certificate is refused, the new one accepted.
	res2, err := s.Enroll(ctx, h.request(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialAgent(t, l.Addr().String(), pool, pair, refused); err == nil {
		t.Error("certificate replaced by a re-enrollment: accepted, want refused")
	}
	pair2, _ := tls.X509KeyPair([]byte(res2.Certificate), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	c2, err := dialAgent(t, l.Addr().String(), pool, pair2, accepted)
	if err != nil {
		t.Fatalf("re-enrolled agent refused: %v", err)
	}
	defer c2.Close()
	waitFor(t, changed, func() bool { return status().Status == StatusOnline })

	// Revoked: the connection is closed and a new one refused.
	if err := s.Revoke(ctx, res.AgentID); err != nil {
		t.Fatal(err)
	}
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Error("revoked agent's connection: read succeeded, want it closed")
	}
	if got := status().Status; got != StatusRevoked {
		t.Errorf("status after revocation: got %s, want %s", got, StatusRevoked)
	}
	if _, err := dialAgent(t, l.Addr().String(), pool, pair2, refused); err == nil {
		t.Error("revoked agent: accepted, want refused")
	}
}

// keyPair is the TLS identity of an enrolled host.
func keyPair(t *testing.T, res *agentwire.EnrollResponse, h *host) tls.Certificate {
	t.Helper()
	der, _ := x509.MarshalPKCS8PrivateKey(h.key)
	pair, err := tls.X509KeyPair([]byte(res.Certificate), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// watch makes s report each change of a connection's state on the
// returned channel.
func watch(s *Service) chan struct{} {
	ch := make(chan struct{}, 1)
	s.changed = func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return ch
}

// waitFor waits until cond holds, checking it at each change s reports
// (within 10 s).
func waitFor(t *testing.T, changed chan struct{}, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-changed:
		case <-timeout:
			t.Fatal("condition not met within 10 s")
		}
	}
}
