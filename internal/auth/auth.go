// Package auth identifies API callers: bearer tokens with roles, stored as
// SHA-256 hashes (tokens are 256-bit random secrets, so a fast hash is the
// right tool; passwords, which are not, get argon2id elsewhere).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Role is what a principal may do.
type Role string

// Roles, from most to least powerful. RoleIngest may only send events.
const (
	RoleAdmin   Role = "admin"
	RoleAnalyst Role = "analyst"
	RoleViewer  Role = "viewer"
	RoleIngest  Role = "ingest"
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleAnalyst, RoleViewer, RoleIngest:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want admin, analyst, viewer or ingest)", s)
}

// Permission is one kind of access.
type Permission int

// Permissions.
const (
	// PermIngest sends events.
	PermIngest Permission = iota
	// PermRead reads events, alerts, incidents, rules.
	PermRead
	// PermWrite changes alerts, incidents, rules.
	PermWrite
	// PermAdmin manages users, tokens and settings.
	PermAdmin
)

// Can reports whether role r has permission p.
func (r Role) Can(p Permission) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleAnalyst:
		return p == PermIngest || p == PermRead || p == PermWrite
	case RoleViewer:
		return p == PermRead
	case RoleIngest:
		return p == PermIngest
	}
	return false
}

// Principal is an authenticated caller.
type Principal struct {
	// Name is the token's (or user's) name, for audit records.
	Name string
	Role Role
	// Tags are source tags added to events ingested with this token.
	Tags []string
	// TokenID identifies the token used, if any.
	TokenID string
}

// Can reports whether p has permission perm.
func (p *Principal) Can(perm Permission) bool { return p != nil && p.Role.Can(perm) }

// Errors of Authenticate.
var (
	// ErrUnauthorized means no valid credentials were presented.
	ErrUnauthorized = errors.New("invalid or missing token")
	// ErrExpired means the token was valid but has expired.
	ErrExpired = errors.New("token expired")
)

// Token describes an API token (never its secret).
type Token struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	Tags     []string  `json:"tags,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// TokenPrefix starts every token Vigil generates, so leaked tokens are easy
// to recognise in code and logs.
const TokenPrefix = "vgl_"

// Service authenticates tokens against the meta database.
type Service struct {
	db  *sql.DB
	now func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cached

	// throttle limits password checks (Login).
	throttle *Throttle
}

type cached struct {
	p       *Principal
	expires time.Time // token expiry (zero: none)
	until   time.Time // cache entry expiry
}

// cacheTTL bounds how long a lookup is trusted without the database;
// revocation through this Service takes effect at once regardless.
const cacheTTL = 30 * time.Second

// Open creates the token table if needed.
func Open(ctx context.Context, db *sql.DB) (*Service, error) {
	return &Service{db: db, now: time.Now, cache: map[[32]byte]cached{}, throttle: NewThrottle(LoginLimits{}, nil)}, nil
}

func hashToken(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// CreateToken makes a new token and returns its secret, which is shown once
// and never stored.
func (s *Service) CreateToken(ctx context.Context, name string, role Role, tags []string, expires time.Time) (string, Token, error) {
	secret := TokenPrefix + randomID(32)
	t, err := s.insert(ctx, name, secret, role, tags, expires)
	return secret, t, err
}

// EnsureToken creates a token with the given secret unless one with that
// secret exists (then it is left as it is). It backs --bootstrap-token.
func (s *Service) EnsureToken(ctx context.Context, name, secret string, role Role) error {
	if len(secret) < 16 {
		return errors.New("bootstrap token must be at least 16 characters")
	}
	h := hashToken(secret)
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM api_tokens WHERE hash = ?`, h[:]).Scan(&id)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("looking up bootstrap token: %w", err)
	}
	_, err = s.insert(ctx, name, secret, role, nil, time.Time{})
	return err
}

func (s *Service) insert(ctx context.Context, name, secret string, role Role, tags []string, expires time.Time) (Token, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Token{}, err
	}
	if name == "" {
		return Token{}, errors.New("token name must not be empty")
	}
	if tags == nil {
		tags = []string{}
	}
	tj, _ := json.Marshal(tags)
	t := Token{ID: randomID(10), Name: name, Role: role, Tags: tags, Created: s.now().UTC(), Expires: expires}
	h := hashToken(secret)
	var exp int64
	if !expires.IsZero() {
		exp = expires.UnixNano()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (id, name, hash, role, tags, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, name, h[:], string(role), string(tj), t.Created.UnixNano(), exp)
	if err != nil {
		return Token{}, fmt.Errorf("storing token %q: %w", name, err)
	}
	return t, nil
}

// Authenticate returns the principal of a token secret.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" || len(secret) > 512 {
		return nil, ErrUnauthorized
	}
	h := hashToken(secret)
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[h]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		if !c.expires.IsZero() && !now.Before(c.expires) {
			return nil, ErrExpired
		}
		return c.p, nil
	}
	var (
		id, name, role, tags string
		dbHash               []byte
		exp                  int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, name, hash, role, tags, expires FROM api_tokens WHERE hash = ?`, h[:]).
		Scan(&id, &name, &dbHash, &role, &tags, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("looking up token: %w", err)
	}
	if subtle.ConstantTimeCompare(dbHash, h[:]) != 1 {
		return nil, ErrUnauthorized
	}
	p := &Principal{Name: name, Role: Role(role), TokenID: id}
	_ = json.Unmarshal([]byte(tags), &p.Tags)
	var expires time.Time
	if exp != 0 {
		expires = time.Unix(0, exp)
	}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache) // bounded: a flood of distinct valid tokens cannot grow it
	}
	s.cache[h] = cached{p: p, expires: expires, until: now.Add(cacheTTL)}
	s.mu.Unlock()
	// last_used is advisory; a failure to record it must not refuse a valid caller.
	_, _ = s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ?`, now.UnixNano(), id)
	if !expires.IsZero() && !now.Before(expires) {
		return nil, ErrExpired
	}
	return p, nil
}

// ListTokens returns every token, newest first.
func (s *Service) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, role, tags, created, expires, last_used FROM api_tokens ORDER BY created DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var (
			t                       Token
			role, tags              string
			created, expires, lastU int64
		)
		if err := rows.Scan(&t.ID, &t.Name, &role, &tags, &created, &expires, &lastU); err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		t.Role = Role(role)
		_ = json.Unmarshal([]byte(tags), &t.Tags)
		t.Created = time.Unix(0, created).UTC()
		if expires != 0 {
			t.Expires = time.Unix(0, expires).UTC()
		}
		if lastU != 0 {
			t.LastUsed = time.Unix(0, lastU).UTC()
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken deletes a token by id; it stops working at once.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("revoking token %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoking token %q: %w", id, sql.ErrNoRows)
	}
	s.mu.Lock()
	for h, c := range s.cache {
		if c.p.TokenID == id {
			delete(s.cache, h)
		}
	}
	s.mu.Unlock()
	return nil
}
