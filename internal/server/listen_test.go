package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/connlimit"
)

// startListener serves h on a loopback listener with cfg's limits.
func startListener(t *testing.T, cfg config.HTTPServer, h http.Handler, trustProxy ...string) (*httpListener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	all := config.Default()
	all.HTTPServer, all.TrustProxy = cfg, trustProxy
	hl, err := newHTTPListener(ln, all, h, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	go hl.serve()
	t.Cleanup(func() { hl.srv.Close() })
	return hl, ln.Addr().String()
}

func testHTTPConfig() config.HTTPServer {
	c := config.Default().HTTPServer
	c.ReadHeaderTimeout, c.ReadTimeout, c.IdleTimeout, c.WriteTimeout = 300*time.Millisecond, 600*time.Millisecond, time.Second, time.Second
	return c
}

// serverClosed waits for the server to close c, and reports how long that
// took; it fails if it does not happen within limit.
func serverClosed(t *testing.T, c net.Conn, limit time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server did not close a slow connection within %v", limit)
	}
}

// TestSlowClientsCutOff: headers or a body dribbled byte by byte are cut
// off by the read-header and read timeouts, while other clients are served
// meanwhile.
func TestSlowClientsCutOff(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "slow body", http.StatusRequestTimeout)
			return
		}
		io.WriteString(w, "ok")
	})
	cfg := testHTTPConfig()
	_, addr := startListener(t, cfg, h)
	tests := []struct {
		name  string
		start string // sent at once
		drip  string // then one byte every 100 ms
	}{
		{"headers dribbled", "GET /x HTTP/1.1\r\nHost: x\r\n", strings.Repeat("X-Slow: y\r\n", 100)},
		{"body dribbled", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", strings.Repeat("a", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tt.start)
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for i := range len(tt.drip) {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond): // the slow client's own pace
					}
					if _, err := c.Write([]byte{tt.drip[i]}); err != nil {
						return
					}
				}
			}()
			// Meanwhile another client is served.
			resp, err := http.Get("http://" + addr + "/x")
			if err != nil {
				t.Fatalf("a normal client during the slow one: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("a normal client during the slow one: got %d, want 200", resp.StatusCode)
			}
			start := time.Now()
			serverClosed(t, c, 10*time.Second)
			if took := time.Since(start); took > cfg.ReadTimeout+2*time.Second {
				t.Errorf("closed after %v, want about the read timeout %v", took, cfg.ReadTimeout)
			}
		})
	}
}

// TestConnectionCapPerSource: past its per-source share, a source's new
// connections are closed at once; another source is served.
func TestConnectionCapPerSource(t *testing.T) {
	cfg := testHTTPConfig()
	cfg.ReadHeaderTimeout, cfg.ReadTimeout = 30*time.Second, 30*time.Second // the held connections stay
	cfg.MaxConnectionsPerSource = 3
	hl, addr := startListener(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	dial := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for range 6 {
		held = append(held, dial("127.0.0.1"))
	}
	closed := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++
		}
	}
	if closed != 3 {
		t.Errorf("connections closed by the server: got %d, want 3", closed)
	}
	other := dial("127.0.0.2")
	io.WriteString(other, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(other), nil)
	if err != nil {
		t.Fatalf("another source: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("another source: got %d, want 200", resp.StatusCode)
	}
	if got := hl.ln.Listener.Addr().String(); got != addr {
		t.Errorf("listener address %s, want %s", got, addr)
	}
}

// TestTrustedProxyNotCappedPerSource: a trusted reverse proxy carries many
// clients' connections: only the total cap bounds it.
func TestTrustedProxyNotCappedPerSource(t *testing.T) {
	cfg := testHTTPConfig()
	cfg.ReadHeaderTimeout, cfg.ReadTimeout = 30*time.Second, 30*time.Second
	cfg.MaxConnectionsPerSource, cfg.MaxConnections = 2, 5
	hl, addr := startListener(t, cfg, http.NotFoundHandler(), "127.0.0.1")
	for range 7 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for hl.lim.Open() != 5 || hl.lim.Refused(connlimit.ErrTotal) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("open %d, refused for the total %d: want 5 and 2", hl.lim.Open(), hl.lim.Refused(connlimit.ErrTotal))
		}
		time.Sleep(5 * time.Millisecond) // polling the accept loop
	}
	if got := hl.lim.Refused(connlimit.ErrPerSource); got != 0 {
		t.Errorf("refused per source: got %d, want 0 for a trusted proxy", got)
	}
}

// TestMaxHeaderBytes: headers past http_server.max_header_bytes are
// answered 431.
func TestMaxHeaderBytes(t *testing.T) {
	cfg := testHTTPConfig()
	cfg.MaxHeaderBytes = 4 << 10
	_, addr := startListener(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	tests := []struct {
		name   string
		header int
		want   int
	}{
		{"within", 1 << 10, http.StatusOK},
		{"past", 16 << 10, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			req.Header.Set("X-Big", strings.Repeat("b", tt.header))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestHTTPS: with a certificate the listener speaks TLS 1.2 or later only.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeTestCert(t, dir)
	cfg := testHTTPConfig()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	_, addr := startListener(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("request without TLS state")
		}
		io.WriteString(w, "ok")
	}))
	tests := []struct {
		name    string
		max     uint16
		wantErr bool
	}{
		{"tls 1.3", tls.VersionTLS13, false},
		{"tls 1.2", tls.VersionTLS12, false},
		{"tls 1.1 refused", tls.VersionTLS11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tt.max}}}
			resp, err := c.Get("https://" + addr + "/healthz")
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("handshake succeeded, want it refused")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("got %d, want 200", resp.StatusCode)
			}
		})
	}
	// Plain HTTP on the HTTPS port gets no page.
	resp, err := http.Get("http://" + addr + "/healthz")
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on the HTTPS listener")
		}
	}
}

func TestHTTPSBadCertificate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	all := config.Default()
	all.HTTPServer = testHTTPConfig()
	all.HTTPServer.TLSCert, all.HTTPServer.TLSKey = bad, bad
	_, err = newHTTPListener(ln, all, http.NotFoundHandler(), nil, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "https: loading certificate") {
		t.Fatalf("got %v, want a certificate loading error", err)
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
