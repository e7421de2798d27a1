package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Password hashing parameters: argon2id with OWASP's recommended minimum
// (19 MiB, 2 passes, 1 lane). They are stored with each hash, so they can
// be raised later without invalidating existing passwords.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 12

// User is a person who logs in to the console.
type User struct {
	ID       string    `json:"id"`
	Username string    `json:"username"`
	Role     Role      `json:"role"`
	Created  time.Time `json:"created"`
	Disabled bool      `json:"disabled"`
	// LastLogin is the user's last console sign-in as the audit log
	// records it (zero: none recorded). ListUsers and GetUser fill it.
	LastLogin time.Time `json:"last_login,omitzero"`
	// SSO is the issuer of the single sign-on provider the user signs in
	// with, who has no password; empty for a user with a password.
	SSO string `json:"sso,omitempty"`
}

// ErrBadLogin is returned for a wrong username or password (never saying
// which).
var ErrBadLogin = errors.New("wrong username or password")

// HashPassword returns the PHC-style argon2id encoding of password.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether password matches an encoding made by
// HashPassword (with whatever parameters it records).
func CheckPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<18 || t > 16 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || len(key) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

func validUsername(u string) error {
	if u == "" || len(u) > 64 {
		return errors.New("username must be 1 to 64 characters")
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return fmt.Errorf("username %q: use letters, digits and . _ - @", u)
		}
	}
	return nil
}

// CreateUser adds a user without an audit entry (the caller records
// one); AddUser records it in the same transaction.
func (s *Service) CreateUser(ctx context.Context, username, password string, role Role) (User, error) {
	return s.AddUser(ctx, Change{}, username, password, role)
}

// Credentials are what a sign-in presents.
type Credentials struct {
	Username string
	Password string
	// Source is the client's address (package clientip); the zero Addr
	// is one shared unknown source.
	Source netip.Addr
}

// MaxPasswordLength is the longest password accepted: longer ones are
// refused when set and fail without being hashed when presented.
const MaxPasswordLength = 1024

// ErrUnknownUser is the ErrBadLogin of a user name that names no user. It
// is for the server's own records (an audit entry must not keep a name
// that may be a password typed in the wrong field); a caller must answer
// it exactly as ErrBadLogin.
var ErrUnknownUser = fmt.Errorf("%w (no such user)", ErrBadLogin)

// SetLoginThrottle replaces the throttle Login uses (call it before
// serving). Open installs one with the default limits.
func (s *Service) SetLoginThrottle(t *Throttle) { s.throttle = t }

// LoginThrottle returns the throttle Login uses.
func (s *Service) LoginThrottle() *Throttle { return s.throttle }

// Login checks credentials and returns the user's principal. The attempt
// first reserves its place with the login throttle, atomically and before
// the password is hashed: a refused attempt returns a *RefusedError
// (wrapping ErrLoginBusy or ErrLoginLocked) without hashing anything. A
// wrong user name or password, or a disabled user, returns ErrBadLogin
// (ErrUnknownUser when the name names no user).
func (s *Service) Login(ctx context.Context, c Credentials) (*Principal, error) {
	if err := s.throttle.Precheck(c.Source); err != nil {
		return nil, err
	}
	var (
		hash, role string
		disabled   bool
		known      bool
	)
	if validUsername(c.Username) == nil {
		err := s.db.QueryRowContext(ctx, `SELECT hash, role, disabled FROM users WHERE username = ?`, c.Username).Scan(&hash, &role, &disabled)
		switch {
		case err == nil:
			known = true
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("looking up user: %w", err)
		}
	}
	res, err := s.throttle.Begin(c.Username, known, c.Source)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() { res.Done(ok) }()
	if len(c.Password) > MaxPasswordLength {
		return nil, ErrBadLogin // no such password was ever set: nothing to hash
	}
	if !known {
		// Spend the time of a real check so that timing does not tell
		// which user names exist (a name no user may have, too long or
		// with other characters, is refused as fast as it is parsed:
		// that tells nothing).
		if validUsername(c.Username) == nil {
			CheckPassword(dummyHash, c.Password)
		}
		return nil, ErrUnknownUser
	}
	if !CheckPassword(hash, c.Password) || disabled {
		return nil, ErrBadLogin
	}
	ok = true
	return &Principal{Name: c.Username, Role: Role(role)}, nil
}

var dummyHash = HashPassword("not a real password, only for timing")

// ListUsers returns every user.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, username, role, created, disabled, sso_issuer FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		var role string
		var created int64
		if err := rows.Scan(&u.ID, &u.Username, &role, &created, &u.Disabled, &u.SSO); err != nil {
			return nil, err
		}
		u.Role, u.Created = Role(role), time.Unix(0, created).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	rows.Close()
	for i := range out {
		var err error
		if out[i].LastLogin, err = s.lastLogin(ctx, out[i].Username); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetUserDisabled disables or re-enables a user.
func (s *Service) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, disabled, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %q: %w", id, sql.ErrNoRows)
	}
	return nil
}
