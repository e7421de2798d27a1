// Package agents is the server's side of the host agents: its own agent
// CA, enrollment tokens, enrollment (a certificate request and an
// identity in, a client certificate out), the mutual-TLS listener that
// holds one persistent connection per agent, the agents' status and
// revocation. What an agent and the server say is internal/agentwire.
package agents

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/ingest"
)

// Bounds and defaults.
const (
	// DefaultCertValidity is how long an agent certificate is valid.
	DefaultCertValidity = 30 * 24 * time.Hour
	// DefaultTokenExpiry is an enrollment token's life when none is given.
	DefaultTokenExpiry = 24 * time.Hour
	// MaxTokenExpiry bounds an enrollment token's life.
	MaxTokenExpiry = 365 * 24 * time.Hour
	// MaxTokenUses bounds an enrollment token's use count (a fleet
	// roll-out sets it to the fleet's size).
	MaxTokenUses = 100_000
	// MaxTokenName bounds an enrollment token's name.
	MaxTokenName = 128
	// TokenPrefix starts every enrollment token, so that one found in a
	// log or a repository is recognised.
	TokenPrefix = "vigil_enroll_"
	// lastSeenEvery is how often a connected agent's last_seen is
	// written to the database (it is kept in memory in between).
	lastSeenEvery = 30 * time.Second
)

// Errors.
var (
	// ErrToken means an enrollment token is unknown, expired or used up.
	// The three are not told apart to the caller.
	ErrToken = errors.New("enrollment token unknown, expired or used up")
	// ErrRevoked means the agent was revoked: it may not enroll or
	// connect again.
	ErrRevoked = errors.New("agent revoked")
	// ErrNotFound means no agent has the id.
	ErrNotFound = errors.New("no such agent")
	// ErrDisabled means the agent listener is not configured.
	ErrDisabled = errors.New("agent listener disabled (set agents.listen)")
)

// Options configure a Service.
type Options struct {
	// DB is the metadata database (migration 8 applied).
	DB *sql.DB
	// Dir holds the agent CA (DATA/agents). Empty: no CA, enrollment
	// answers ErrDisabled (the listener is off).
	Dir string
	// Audit records enrollments (nil: none).
	Audit *audit.Log
	Log   *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// CertValidity is an agent certificate's life (0: the default).
	CertValidity time.Duration
	// Advertise is the host:port given to agents to connect to; empty:
	// the host the agent enrolled through with the listener's port.
	Advertise string
}

// Service is the agents' state: the store, the CA and the live
// connections.
type Service struct {
	o  Options
	db *sql.DB
	ca *CA

	mu sync.Mutex
	// online holds the connected agents by id.
	online map[string]*session
	// listenPort is the agent listener's port, once it listens.
	listenPort string
	// sink takes the agents' records and stats counts them (SetSink).
	sink  ingest.Sink
	stats ingest.Stats

	// idleTimeout and handshakeTimeout are IdleTimeout and
	// HandshakeTimeout (tests shorten them).
	idleTimeout, handshakeTimeout time.Duration
	// maxConns and maxPerSource are MaxConnections and
	// MaxConnectionsPerSource (tests lower them).
	maxConns, maxPerSource int
	// recordRate is RecordsPerSecond (tests lower it).
	recordRate float64
	// batchSlots holds one token per batch being decoded and delivered
	// (MaxBatchesInFlight); batchWait, if set, is called when a batch
	// waits for a slot (tests).
	batchSlots chan struct{}
	batchWait  func()
	// changed, if set, is called after a connection's state changed: a
	// heartbeat applied, a disconnection recorded (tests wait on it).
	changed func()
}

// session is one connected agent.
type session struct {
	conn      net.Conn
	serial    string
	connected time.Time
	lastSeen  time.Time
	written   time.Time // last_seen last written to the database
	hb        agentwire.Heartbeat

	// Of log shipping, used by the connection's goroutine alone: the
	// highest record number stored, the agent's hostname, its rate.
	seq      uint64
	hostname string
	bucket   bucket
	// stored and duplicates count the records stored and those dropped
	// as resent on this connection (s.mu).
	stored, duplicates int64
}

// Open returns the service, loading or creating the CA in o.Dir.
func Open(o Options) (*Service, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CertValidity <= 0 {
		o.CertValidity = DefaultCertValidity
	}
	s := &Service{o: o, db: o.DB, online: map[string]*session{}, idleTimeout: IdleTimeout, handshakeTimeout: HandshakeTimeout,
		maxConns: MaxConnections, maxPerSource: MaxConnectionsPerSource, recordRate: RecordsPerSecond,
		batchSlots: make(chan struct{}, MaxBatchesInFlight)}
	if o.Dir != "" {
		ca, err := LoadCA(o.Dir, o.Now())
		if err != nil {
			return nil, err
		}
		s.ca = ca
	}
	return s, nil
}

// CA returns the agent CA (nil when disabled).
func (s *Service) CA() *CA { return s.ca }

// EnrollToken is an enrollment token as listed (never its secret).
type EnrollToken struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	MaxUses int       `json:"max_uses"`
	Uses    int       `json:"uses"`
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// CreateToken makes an enrollment token valid for expiresIn (0: the
// default) and maxUses enrollments (0: one), and returns its secret,
// which is shown once: only its SHA-256 is stored.
func (s *Service) CreateToken(ctx context.Context, name string, expiresIn time.Duration, maxUses int) (string, EnrollToken, error) {
	if name == "" || len(name) > MaxTokenName {
		return "", EnrollToken{}, fmt.Errorf("name: want 1 to %d bytes", MaxTokenName)
	}
	switch {
	case expiresIn == 0:
		expiresIn = DefaultTokenExpiry
	case expiresIn < 0 || expiresIn > MaxTokenExpiry:
		return "", EnrollToken{}, fmt.Errorf("expires_in: want more than 0 and at most %s", MaxTokenExpiry)
	}
	switch {
	case maxUses == 0:
		maxUses = 1
	case maxUses < 0 || maxUses > MaxTokenUses:
		return "", EnrollToken{}, fmt.Errorf("max_uses: want 1 to %d", MaxTokenUses)
	}
	now := s.o.Now()
	secret := TokenPrefix + randomString(32)
	t := EnrollToken{ID: randomString(10), Name: name, Created: now.UTC(), Expires: now.Add(expiresIn).UTC(), MaxUses: maxUses}
	_, err := s.db.ExecContext(ctx, `INSERT INTO agent_enrollment_tokens (id, name, hash, created, expires, max_uses, uses) VALUES (?, ?, ?, ?, ?, ?, 0)`,
		t.ID, t.Name, hashSecret(secret), now.UnixNano(), t.Expires.UnixNano(), maxUses)
	if err != nil {
		return "", EnrollToken{}, fmt.Errorf("storing the enrollment token: %w", err)
	}
	return secret, t, nil
}

// ListTokens lists the enrollment tokens, newest first.
func (s *Service) ListTokens(ctx context.Context) ([]EnrollToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created, expires, max_uses, uses FROM agent_enrollment_tokens ORDER BY created DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("listing enrollment tokens: %w", err)
	}
	defer rows.Close()
	out := []EnrollToken{}
	for rows.Next() {
		var t EnrollToken
		var created, expires int64
		if err := rows.Scan(&t.ID, &t.Name, &created, &expires, &t.MaxUses, &t.Uses); err != nil {
			return nil, fmt.Errorf("listing enrollment tokens: %w", err)
		}
		t.Created, t.Expires = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// Enrollment is a checked enrollment request.
type Enrollment struct {
	agentwire.EnrollRequest
	// Host is the host the agent reached the server through (the
	// request's Host), for the endpoint it is told.
	Host string
	// Source is the agent's address, for the audit log.
	Source string
}

// Enroll checks an enrollment token and a certificate request and issues
// the agent's certificate. The agent id comes from the machine-id and
// the request's key: enrolling again with the same key is the same agent
// (its hostname and certificate are replaced; the old certificate is no
// longer accepted). The token's use, the agent's row and the audit entry
// commit together.
func (s *Service) Enroll(ctx context.Context, e Enrollment) (*agentwire.EnrollResponse, error) {
	if s.ca == nil {
		return nil, ErrDisabled
	}
	if err := e.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	csr, err := CheckCSR([]byte(e.CSR))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	id, err := agentwire.AgentID(e.MachineID, csr.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	now := s.o.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("enrolling: %w", err)
	}
	defer tx.Rollback()
	var tokID, tokName string
	err = tx.QueryRowContext(ctx, `SELECT id, name FROM agent_enrollment_tokens WHERE hash = ?`, hashSecret(e.Token)).Scan(&tokID, &tokName)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrToken
	}
	if err != nil {
		return nil, fmt.Errorf("enrolling: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE agent_enrollment_tokens SET uses = uses + 1 WHERE id = ? AND expires > ? AND uses < max_uses`, tokID, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("enrolling: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return nil, ErrToken
	}
	var revoked int
	var before struct {
		Hostname string `json:"hostname"`
		Serial   string `json:"cert_serial"`
	}
	err = tx.QueryRowContext(ctx, `SELECT revoked, hostname, cert_serial FROM agents WHERE id = ?`, id).Scan(&revoked, &before.Hostname, &before.Serial)
	existed := err == nil
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("enrolling: %w", err)
	case revoked != 0:
		return nil, ErrRevoked
	}
	cert, certPEM, err := s.ca.SignAgent(id, csr.PublicKey, now, s.o.CertValidity)
	if err != nil {
		return nil, err
	}
	serial := serialString(cert)
	_, err = tx.ExecContext(ctx, `INSERT INTO agents (id, machine_id, hostname, os, version, cert_serial, enrolled, last_seen, revoked)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0)
		ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os, version = excluded.version,
			cert_serial = excluded.cert_serial, enrolled = excluded.enrolled`,
		id, e.MachineID, e.Hostname, e.OS, e.Version, serial, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("enrolling: %w", err)
	}
	if s.o.Audit != nil {
		after := map[string]any{"hostname": e.Hostname, "machine_id": e.MachineID, "cert_serial": serial,
			"cert_expires": cert.NotAfter.UTC(), "token_id": tokID, "source": e.Source, "re_enrolled": existed}
		entry := audit.Entry{Actor: "enrollment-token:" + tokName, Action: "agent.enroll", Target: id, After: mustJSON(after)}
		if existed {
			entry.Before = mustJSON(before)
		}
		if err := s.o.Audit.RecordTx(ctx, tx, entry); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("enrolling: %w", err)
	}
	s.o.Log.Info("agent enrolled", "agent", id, "hostname", e.Hostname, "re_enrolled", existed, "source", e.Source)
	return &agentwire.EnrollResponse{AgentID: id, Certificate: string(certPEM), CA: string(s.ca.PEM), Endpoint: s.endpoint(e.Host)}, nil
}

// ErrBadRequest wraps what is wrong with an enrollment request.
var ErrBadRequest = errors.New("bad enrollment request")

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings, times and booleans
	}
	return b
}

func serialString(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }

// endpoint is the host:port agents are told to connect to.
func (s *Service) endpoint(reqHost string) string {
	if s.o.Advertise != "" {
		return s.o.Advertise
	}
	s.mu.Lock()
	port := s.listenPort
	s.mu.Unlock()
	host := reqHost
	if h, _, err := net.SplitHostPort(reqHost); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" || port == "" {
		return ""
	}
	return net.JoinHostPort(host, port)
}

// authorize checks at the handshake that the agent exists, is not
// revoked, and presents its current certificate.
func (s *Service) authorize(ctx context.Context, id, serial string) error {
	if !agentwire.IsAgentID(id) {
		return fmt.Errorf("certificate names no agent (%q)", id)
	}
	var revoked int
	var current string
	err := s.db.QueryRowContext(ctx, `SELECT revoked, cert_serial FROM agents WHERE id = ?`, id).Scan(&revoked, &current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	case err != nil:
		return fmt.Errorf("checking agent %s: %w", id, err)
	case revoked != 0:
		return fmt.Errorf("%w: %s", ErrRevoked, id)
	case current != serial:
		return fmt.Errorf("agent %s: certificate %s was replaced by a later enrollment", id, serial)
	}
	return nil
}

// Agent is an agent as listed.
type Agent struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// Status is online (connected now), offline, or revoked.
	Status   string     `json:"status"`
	Version  string     `json:"version"`
	OS       string     `json:"os"`
	LastSeen *time.Time `json:"last_seen"`
	Enrolled time.Time  `json:"enrolled"`
	// Of a connected agent: what it last reported.
	Arch          string  `json:"arch,omitempty"`
	UptimeSeconds int64   `json:"uptime_seconds,omitempty"`
	RSSBytes      int64   `json:"rss_bytes,omitempty"`
	CPUSeconds    float64 `json:"cpu_seconds,omitempty"`
	Address       string  `json:"address,omitempty"`
	// Health of its log shipping: the disk buffer's size, the records it
	// dropped (oldest first) because the buffer was full, the age of the
	// oldest record not acknowledged.
	BufferBytes int64   `json:"buffer_bytes,omitempty"`
	Dropped     int64   `json:"dropped,omitempty"`
	LagSeconds  float64 `json:"lag_seconds,omitempty"`
	// FIM is its file integrity monitoring's health (nil when off).
	FIM *agentwire.FIMHealth `json:"fim,omitempty"`
}

// Status values.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
	StatusRevoked = "revoked"
)

// List returns every enrolled agent, by hostname then id.
func (s *Service) List(ctx context.Context) ([]Agent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, hostname, os, version, enrolled, last_seen, revoked FROM agents ORDER BY hostname, id`)
	if err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	defer rows.Close()
	out := []Agent{}
	for rows.Next() {
		var a Agent
		var enrolled, lastSeen int64
		var revoked int
		if err := rows.Scan(&a.ID, &a.Hostname, &a.OS, &a.Version, &enrolled, &lastSeen, &revoked); err != nil {
			return nil, fmt.Errorf("listing agents: %w", err)
		}
		a.Enrolled = time.Unix(0, enrolled).UTC()
		if lastSeen != 0 {
			t := time.Unix(0, lastSeen).UTC()
			a.LastSeen = &t
		}
		a.Status = StatusOffline
		if revoked != 0 {
			a.Status = StatusRevoked
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range out {
		a := &out[i]
		se, ok := s.online[a.ID]
		if !ok || a.Status == StatusRevoked {
			continue
		}
		a.Status = StatusOnline
		t := se.lastSeen.UTC()
		a.LastSeen = &t
		a.Address = se.conn.RemoteAddr().String()
		if se.hb.Version != "" {
			a.Version, a.OS = se.hb.Version, se.hb.OS
		}
		a.Arch, a.UptimeSeconds, a.RSSBytes, a.CPUSeconds = se.hb.Arch, se.hb.UptimeSeconds, se.hb.RSSBytes, se.hb.CPUSeconds
		a.BufferBytes, a.Dropped, a.LagSeconds = se.hb.BufferBytes, se.hb.Dropped, se.hb.LagSeconds
		a.FIM = se.hb.FIM
	}
	return out, nil
}

// Revoke marks the agent revoked and closes its connection: it cannot
// connect or enroll again.
func (s *Service) Revoke(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE agents SET revoked = 1 WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("revoking agent %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s.mu.Lock()
	se := s.online[id]
	s.mu.Unlock()
	if se != nil {
		se.conn.Close()
	}
	s.o.Log.Info("agent revoked", "agent", id, "was_connected", se != nil)
	return nil
}
