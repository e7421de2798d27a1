package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/audit"
)

// Errors of single sign-on.
var (
	// ErrSSONameTaken refuses a first single sign-on whose user name is
	// already a user's that the provider's subject is not linked to:
	// a name someone may choose at the provider must never open
	// another person's account.
	ErrSSONameTaken = errors.New("the user name belongs to an account not linked to this sign-in")
	// ErrSSODisabled refuses the single sign-on of a disabled user.
	ErrSSODisabled = errors.New("the user is disabled")
	// ErrSSOUser refuses to set a password for a user of single sign-on:
	// they sign in at their provider only.
	ErrSSOUser = errors.New("the user signs in with single sign-on and has no password")
)

// ValidUsername reports whether u may be a user name: 1 to 64 letters,
// digits and . _ - @.
func ValidUsername(u string) error { return validUsername(u) }

// SSOIdentity is a person a single sign-on provider vouched for.
type SSOIdentity struct {
	// Issuer and Subject identify them at the provider.
	Issuer  string
	Subject string
	// Username is the name for a new user (an existing one keeps theirs).
	Username string
	// Role is the role the provider's claims map to, re-applied at every
	// sign-in.
	Role Role
}

// Bounds of an SSOIdentity.
const (
	maxSSOIssuer  = 2048
	maxSSOSubject = 255 // OpenID Connect Core's bound
)

// SSOLogin signs in a person the provider vouched for. The user linked
// to their (issuer, subject) signs in with the role given, which replaces
// the one they had (audited as user.update). A person signing in for the
// first time gets a user of that name, without a password, linked to
// them (audited as user.create); a name already taken is refused with
// ErrSSONameTaken, and a disabled user with ErrSSODisabled. The change
// and its audit entry are one transaction.
func (s *Service) SSOLogin(ctx context.Context, c Change, id SSOIdentity) (User, error) {
	if id.Issuer == "" || len(id.Issuer) > maxSSOIssuer || id.Subject == "" || len(id.Subject) > maxSSOSubject {
		return User{}, fmt.Errorf("single sign-on: the issuer (1 to %d bytes) and subject (1 to %d) must be set", maxSSOIssuer, maxSSOSubject)
	}
	if err := personRole(id.Role); err != nil {
		return User{}, fmt.Errorf("single sign-on: %w", err)
	}
	var u User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			role    string
			created int64
		)
		err := tx.QueryRowContext(ctx, `SELECT id, username, role, created, disabled FROM users WHERE sso_issuer = ? AND sso_subject = ?`,
			id.Issuer, id.Subject).Scan(&u.ID, &u.Username, &role, &created, &u.Disabled)
		switch {
		case err == nil:
			u.Role, u.Created, u.SSO = Role(role), timeOf(created), id.Issuer
			if u.Disabled {
				return fmt.Errorf("user %q: %w", u.Username, ErrSSODisabled)
			}
			if u.Role == id.Role {
				return nil
			}
			before := u
			u.Role = id.Role
			if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, string(u.Role), u.ID); err != nil {
				return fmt.Errorf("updating user %q: %w", u.Username, err)
			}
			return c.record(ctx, tx, audit.Entry{Action: "user.update", Target: u.ID, Before: auditJSON(before),
				After: auditJSON(struct {
					User
					Reason string `json:"reason"`
				}{u, "role from single sign-on"})})
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("looking up the user of %s: %w", id.Issuer, err)
		}
		if err := validUsername(id.Username); err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE username = ?)`, id.Username).Scan(&taken); err != nil {
			return fmt.Errorf("looking up user %q: %w", id.Username, err)
		}
		if taken {
			return fmt.Errorf("user %q: %w", id.Username, ErrSSONameTaken)
		}
		u = User{ID: randomID(10), Username: id.Username, Role: id.Role, Created: s.now().UTC(), SSO: id.Issuer}
		_, err = tx.ExecContext(ctx, `INSERT INTO users (id, username, hash, role, created, sso_issuer, sso_subject) VALUES (?, ?, '', ?, ?, ?, ?)`,
			u.ID, u.Username, string(u.Role), u.Created.UnixNano(), id.Issuer, id.Subject)
		if err != nil {
			return fmt.Errorf("storing user %q: %w", id.Username, err)
		}
		return c.record(ctx, tx, audit.Entry{Action: "user.create", Target: u.ID, After: auditJSON(u)})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}
