// Package agent is the host agent's own logic (cmd/vigil-agent): its
// identity (machine-id and a key it generates and keeps), enrollment with
// a Vigil server, and the persistent mutual-TLS connection that carries
// its heartbeats. It links only the standard library and
// internal/agentwire, so that the agent stays small.
package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/atomicfile"
)

// Files in the agent's data directory.
const (
	keyFile       = "agent.key"  // the agent's private key (0600)
	certFile      = "agent.crt"  // its certificate, from the server
	caFile        = "ca.crt"     // the server's agent CA
	stateFile     = "agent.json" // id, server, endpoint
	machineIDFile = "machine-id" // a generated machine-id, where the OS has none
)

// machineIDPaths are where Linux keeps the machine-id (systemd, then
// D-Bus).
var machineIDPaths = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// State is what enrollment leaves in the data directory's agent.json.
type State struct {
	AgentID  string `json:"agent_id"`
	Server   string `json:"server"`
	Endpoint string `json:"endpoint"`
}

// MachineID returns the host's machine-id: on Linux /etc/machine-id
// (or D-Bus's copy); elsewhere, or where neither exists, a random id
// generated once and kept in dir.
func MachineID(dir string) (string, error) {
	if runtime.GOOS == "linux" {
		for _, p := range machineIDPaths {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			id := strings.TrimSpace(string(b))
			if agentwire.CheckMachineID(id) == nil {
				return id, nil
			}
		}
	}
	p := filepath.Join(dir, machineIDFile)
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if err := agentwire.CheckMachineID(id); err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generating a machine-id: %w", err)
	}
	id := hex.EncodeToString(raw)
	if err := atomicfile.Write(p, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// LoadKey returns the agent's private key from dir, generating an
// ECDSA P-256 key (kept 0600) at first use. The key never leaves the
// host: enrollment sends a certificate request signed with it.
func LoadKey(dir string) (*ecdsa.PrivateKey, error) {
	p := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(p)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM block", p)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		key, ok := k.(*ecdsa.PrivateKey)
		if !ok || key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%s: not an ECDSA P-256 key", p)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the agent key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the agent key: %w", err)
	}
	if err := atomicfile.Write(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

// LoadState reads agent.json from dir.
func LoadState(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("%s is not enrolled: run vigil-agent enroll first", dir)
	}
	if err != nil {
		return st, fmt.Errorf("reading the agent state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}
