package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/atomicfile"
)

// maxEnrollResponse bounds the server's answer (two certificates).
const maxEnrollResponse = 64 << 10

// EnrollOptions are the inputs of Enroll.
type EnrollOptions struct {
	// Server is the Vigil server's URL (https://vigil.example.com:8080).
	Server string
	// Token is the enrollment token.
	Token string
	// Dir is the agent's data directory.
	Dir string
	// ServerCA, if set, is a PEM file of the CA that signed an https
	// server's certificate (else the system's roots).
	ServerCA string
	// Hostname overrides the host's name (tests); empty: os.Hostname.
	Hostname string
	// Version is the agent's version.
	Version string
}

// Enroll enrolls the agent with the server: it sends a certificate
// request for its key with the host's machine-id and hostname, and keeps
// the certificate, the agent CA and the endpoint it gets back. Enrolling
// again (a renewal, or after a change of server) keeps the key, so the
// agent keeps its id.
func Enroll(ctx context.Context, o EnrollOptions) (State, error) {
	u, err := url.Parse(o.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return State{}, fmt.Errorf("--server: want an http(s):// URL, got %q", o.Server)
	}
	if o.Token == "" {
		return State{}, errors.New("--token: an enrollment token is needed")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return State{}, fmt.Errorf("creating %s: %w", o.Dir, err)
	}
	key, err := LoadKey(o.Dir)
	if err != nil {
		return State{}, err
	}
	mid, err := MachineID(o.Dir)
	if err != nil {
		return State{}, err
	}
	host := o.Hostname
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return State{}, fmt.Errorf("reading the hostname: %w", err)
		}
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		return State{}, fmt.Errorf("creating the certificate request: %w", err)
	}
	req := agentwire.EnrollRequest{Token: o.Token, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
		MachineID: mid, Hostname: host, OS: runtime.GOOS, Version: o.Version}
	if err := req.Check(); err != nil {
		return State{}, err
	}
	client, err := enrollClient(o.ServerCA)
	if err != nil {
		return State{}, err
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(u.String(), "/")+agentwire.EnrollPath, bytes.NewReader(body))
	if err != nil {
		return State{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return State{}, fmt.Errorf("enrolling with %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxEnrollResponse+1))
	if err != nil {
		return State{}, fmt.Errorf("reading the enrollment answer: %w", err)
	}
	if len(b) > maxEnrollResponse {
		return State{}, fmt.Errorf("enrollment answer larger than %d bytes", maxEnrollResponse)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		return State{}, fmt.Errorf("enrollment refused: %s: %s", resp.Status, e.Error)
	}
	var res agentwire.EnrollResponse
	if err := json.Unmarshal(b, &res); err != nil {
		return State{}, fmt.Errorf("decoding the enrollment answer: %w", err)
	}
	if err := checkAnswer(&res, key, mid); err != nil {
		return State{}, err
	}
	st := State{AgentID: res.AgentID, Server: u.Redacted(), Endpoint: res.Endpoint}
	sb, _ := json.MarshalIndent(st, "", "  ")
	// The certificate and CA first, the state last: a crash in between
	// leaves the previous enrollment's state, which run still reads.
	for _, f := range []struct {
		name string
		b    []byte
	}{{certFile, []byte(res.Certificate)}, {caFile, []byte(res.CA)}, {stateFile, append(sb, '\n')}} {
		if err := atomicfile.Write(filepath.Join(o.Dir, f.name), f.b, 0o600); err != nil {
			return State{}, err
		}
	}
	return st, nil
}

// checkAnswer checks that the server's answer is a certificate of the
// given CA for this agent's key and id, with an endpoint.
func checkAnswer(res *agentwire.EnrollResponse, key crypto.Signer, machineID string) error {
	wantID, err := agentwire.AgentID(machineID, key.Public())
	if err != nil {
		return err
	}
	if res.AgentID != wantID {
		return fmt.Errorf("enrollment answer: agent id %q, want %q (machine-id and key)", res.AgentID, wantID)
	}
	if res.Endpoint == "" {
		return errors.New("enrollment answer: no endpoint (is agents.listen set on the server?)")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(res.CA)) {
		return errors.New("enrollment answer: no CA certificate")
	}
	blk, _ := pem.Decode([]byte(res.Certificate))
	if blk == nil {
		return errors.New("enrollment answer: no certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("enrollment answer: %w", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("enrollment answer: certificate not of the given CA: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return errors.New("enrollment answer: the certificate is not for this agent's key")
	}
	if cert.Subject.CommonName != res.AgentID {
		return fmt.Errorf("enrollment answer: certificate names %q, want %q", cert.Subject.CommonName, res.AgentID)
	}
	return nil
}

// enrollClient is the HTTP client of enrollment: a timeout, TLS 1.2 or
// later, no redirects (the body holds the token).
func enrollClient(serverCA string) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if serverCA != "" {
		b, err := os.ReadFile(serverCA)
		if err != nil {
			return nil, fmt.Errorf("--server-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--server-ca %s: no PEM certificate", serverCA)
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Timeout: 30 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}
