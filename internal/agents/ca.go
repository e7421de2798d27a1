package agents

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/atomicfile"
)

// CA is the server's own agent certificate authority: an ECDSA P-256 key
// and a self-signed certificate kept in DATA/agents (the key 0600). It
// signs the agents' client certificates and the agent listener's server
// certificate, and nothing else; the key never leaves the server.
type CA struct {
	Cert *x509.Certificate
	// PEM is Cert in PEM, as agents receive it.
	PEM []byte
	key *ecdsa.PrivateKey
}

// File names in the CA's directory.
const (
	caKeyFile  = "ca.key"
	caCertFile = "ca.crt"
)

// caValidity is how long the agent CA is valid: agents trust it for as
// long, and replacing it means enrolling every agent again.
const caValidity = 20 * 365 * 24 * time.Hour

// LoadCA reads the agent CA from dir, creating it (and dir, 0700) at
// first use.
func LoadCA(dir string, now time.Time) (*CA, error) {
	keyPath, certPath := filepath.Join(dir, caKeyFile), filepath.Join(dir, caCertFile)
	keyPEM, kerr := os.ReadFile(keyPath)
	certPEM, cerr := os.ReadFile(certPath)
	switch {
	case kerr == nil && cerr == nil:
		return parseCA(keyPEM, certPEM)
	case errors.Is(kerr, os.ErrNotExist) && errors.Is(cerr, os.ErrNotExist):
		return createCA(dir, now)
	case kerr != nil && !errors.Is(kerr, os.ErrNotExist):
		return nil, fmt.Errorf("reading the agent CA key: %w", kerr)
	case cerr != nil && !errors.Is(cerr, os.ErrNotExist):
		return nil, fmt.Errorf("reading the agent CA certificate: %w", cerr)
	default:
		// One of the two without the other: making a new CA would lock
		// every enrolled agent out, so an operator decides.
		return nil, fmt.Errorf("agent CA in %s is incomplete (%s and %s must both exist): restore the missing file, or remove both to make a new CA and enroll every agent again", dir, caKeyFile, caCertFile)
	}
}

func parseCA(keyPEM, certPEM []byte) (*CA, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("agent CA key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("agent CA key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("agent CA key: not an ECDSA key")
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return nil, errors.New("agent CA certificate: no PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("agent CA certificate: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("agent CA: the key does not match the certificate")
	}
	return &CA{Cert: cert, PEM: certPEM, key: key}, nil
}

func createCA(dir string, now time.Time) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the agent CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Vigil agent CA", Organization: []string{"Vigil"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating the agent CA certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the agent CA key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// The key is written first: a crash between the two leaves a key
	// without a certificate, which LoadCA reports instead of replacing.
	if err := atomicfile.Write(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, caCertFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, PEM: certPEM, key: key}, nil
}

func randomSerial() *big.Int {
	// 128 random bits, positive (RFC 5280 allows up to 20 octets).
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// Errors of CheckCSR.
var ErrBadCSR = errors.New("bad certificate request")

// CheckCSR parses a PEM certificate request from an agent and checks it:
// at most agentwire.MaxCSR bytes, one CERTIFICATE REQUEST block, a valid
// signature (the agent holds the key), an ECDSA P-256 key.
func CheckCSR(p []byte) (*x509.CertificateRequest, error) {
	if len(p) > agentwire.MaxCSR {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadCSR, agentwire.MaxCSR)
	}
	b, rest := pem.Decode(p)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: want one PEM CERTIFICATE REQUEST block", ErrBadCSR)
	}
	if len(rest) > 0 && len(trimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrBadCSR, err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: want an ECDSA P-256 key", ErrBadCSR)
	}
	return csr, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// SignAgent issues an agent's client certificate for pub: CN the agent
// id, client authentication only, no names, valid from now for validity.
// Nothing else of the request is copied into it.
func (ca *CA) SignAgent(agentID string, pub crypto.PublicKey, now time.Time, validity time.Duration) (*x509.Certificate, []byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: agentID, Organization: []string{"Vigil agent"}},
		NotBefore:    now.Add(-5 * time.Minute), // clocks of agents drift
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.sign(tmpl, pub)
}

// ServerCertificate issues the agent listener's certificate, for a fresh
// key, named agentwire.ServerName, valid for validity.
func (ca *CA) ServerCertificate(now time.Time, validity time.Duration) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating the agent listener key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: agentwire.ServerName},
		DNSNames:     []string{agentwire.ServerName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	cert, _, err := ca.sign(tmpl, &key.PublicKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, []byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing a certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the signed certificate: %w", err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// Pool returns a pool holding the CA alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}
