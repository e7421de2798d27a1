package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/meta"
)

// Errors of the user changes.
var (
	// ErrNoUser means no user has the name given.
	ErrNoUser = errors.New("no such user")
	// ErrLastAdmin refuses a change that would leave no enabled admin
	// user: nobody could then manage users from the console.
	ErrLastAdmin = errors.New("it would leave no enabled admin user; make another user admin first")
	// ErrPasswordPolicy wraps a password that may not be set.
	ErrPasswordPolicy = errors.New("password refused")
)

// ValidatePassword reports whether password may be set: at least
// MinPasswordLength characters and at most MaxPasswordLength bytes. The
// error says which bound and never holds the password.
func ValidatePassword(password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLength {
		if n == 0 {
			return fmt.Errorf("%w: the password is empty; it must be at least %d characters", ErrPasswordPolicy, MinPasswordLength)
		}
		return fmt.Errorf("%w: it must be at least %d characters, got %d", ErrPasswordPolicy, MinPasswordLength, n)
	}
	if len(password) > MaxPasswordLength {
		return fmt.Errorf("%w: it must be at most %d bytes, got %d", ErrPasswordPolicy, MaxPasswordLength, len(password))
	}
	return nil
}

// personRole validates the role of a person: any role but ingest.
func personRole(role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if role == RoleIngest {
		return errors.New("role ingest is for tokens, not people (want admin, analyst or viewer)")
	}
	return nil
}

// Change says who changes users, and how the change is audited.
type Change struct {
	// Actor names who makes the change in the audit log: an API token's
	// name, a console user, or "cli:<os user>".
	Actor string
	// Audit, when set, appends the change's entry inside the transaction
	// that makes the change ((*audit.Log).RecordTx), so that the two
	// commit or roll back together. The entry never holds a password.
	Audit func(ctx context.Context, tx *sql.Tx, entries ...audit.Entry) error
}

// AddUser adds a user, audited as user.create within the same
// transaction.
func (s *Service) AddUser(ctx context.Context, c Change, username, password string, role Role) (User, error) {
	return s.addUser(ctx, c, username, password, role, nil)
}

// addUser is AddUser; check, when set, runs in the transaction after the
// insert and before the audit entry, and its error rolls both back (the
// first-run setup refuses there a second admin made meanwhile).
func (s *Service) addUser(ctx context.Context, c Change, username, password string, role Role, check func(tx *sql.Tx, u User) error) (User, error) {
	if err := validUsername(username); err != nil {
		return User{}, err
	}
	if err := ValidatePassword(password); err != nil {
		return User{}, err
	}
	if err := personRole(role); err != nil {
		return User{}, err
	}
	// Hashed before the transaction: argon2id takes tens of
	// milliseconds, which the database's write lock need not wait for.
	hash := HashPassword(password)
	u := User{ID: randomID(10), Username: username, Role: role, Created: s.now().UTC()}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, username, hash, role, created) VALUES (?, ?, ?, ?, ?)`,
			u.ID, username, hash, string(role), u.Created.UnixNano())
		if err != nil {
			if meta.IsUniqueViolation(err) {
				return fmt.Errorf("user %q already exists", username)
			}
			return fmt.Errorf("storing user: %w", err)
		}
		if check != nil {
			if err := check(tx, u); err != nil {
				return err
			}
		}
		return c.record(ctx, tx, audit.Entry{Action: "user.create", Target: u.ID, After: auditJSON(u)})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// UserUpdate is a change to a user: nil fields stay as they are.
type UserUpdate struct {
	Password *string
	Disabled *bool
	Role     *Role
}

// Updated is what UpdateUser did.
type Updated struct {
	User User `json:"user"`
	// PasswordChanged says a new password was set.
	PasswordChanged bool `json:"password_changed"`
	// SessionsEnded counts the console sessions the change ended.
	SessionsEnded int `json:"sessions_ended"`
}

// UpdateUser changes the password, the disabled flag or the role of the
// user named username, in one transaction with its audit entry
// (user.update: the user before and after, whether the password changed,
// how many sessions ended; never the password). A new password or
// disabling the user ends every console session of the user in the same
// transaction: a stolen session must not outlive the credential it came
// from. It returns ErrNoUser for a name no user has, and ErrLastAdmin
// rather than disable or demote the last enabled admin.
func (s *Service) UpdateUser(ctx context.Context, c Change, username string, up UserUpdate) (Updated, error) {
	if up.Password == nil && up.Disabled == nil && up.Role == nil {
		return Updated{}, errors.New("nothing to change: give a password, disabled or a role")
	}
	if err := validUsername(username); err != nil {
		return Updated{}, fmt.Errorf("user %q: %w", username, ErrNoUser)
	}
	var hash string
	if up.Password != nil {
		if err := ValidatePassword(*up.Password); err != nil {
			return Updated{}, err
		}
		hash = HashPassword(*up.Password)
	}
	if up.Role != nil {
		if err := personRole(*up.Role); err != nil {
			return Updated{}, err
		}
	}
	var res Updated
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		before, err := userByName(ctx, tx, username)
		if err != nil {
			return err
		}
		if hash != "" && before.SSO != "" {
			return fmt.Errorf("user %q: %w", username, ErrSSOUser)
		}
		after := before
		if up.Disabled != nil {
			after.Disabled = *up.Disabled
		}
		if up.Role != nil {
			after.Role = *up.Role
		}
		if before.Role == RoleAdmin && !before.Disabled && (after.Role != RoleAdmin || after.Disabled) {
			var others int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = ? AND disabled = 0 AND id != ?`,
				string(RoleAdmin), before.ID).Scan(&others); err != nil {
				return fmt.Errorf("counting admins: %w", err)
			}
			if others == 0 {
				return fmt.Errorf("user %q is the last enabled admin: %w", username, ErrLastAdmin)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, disabled = ? WHERE id = ?`,
			string(after.Role), after.Disabled, before.ID); err != nil {
			return fmt.Errorf("updating user %q: %w", username, err)
		}
		if hash != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET hash = ? WHERE id = ?`, hash, before.ID); err != nil {
				return fmt.Errorf("updating user %q: %w", username, err)
			}
		}
		res = Updated{User: after, PasswordChanged: hash != ""}
		if hash != "" || after.Disabled {
			// console_sessions is the console's table (package web),
			// keyed by user name; ending the sessions here puts it in
			// the change's transaction, and works where no console
			// runs (vigil user --data).
			r, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE username = ?`, username)
			if err != nil {
				return fmt.Errorf("ending the sessions of %q: %w", username, err)
			}
			n, _ := r.RowsAffected()
			res.SessionsEnded = int(n)
		}
		return c.record(ctx, tx, audit.Entry{Action: "user.update", Target: before.ID, Before: auditJSON(before),
			After: auditJSON(struct {
				User
				PasswordChanged bool `json:"password_changed"`
				SessionsEnded   int  `json:"sessions_ended"`
			}{after, res.PasswordChanged, res.SessionsEnded})})
	})
	if err != nil {
		return Updated{}, err
	}
	return res, nil
}

// ChangeOwnPassword sets a user's new password after checking their
// current one exactly as Login does (through the login throttle, so it
// guesses no faster than signing in; a wrong one is ErrBadLogin). Then it
// is UpdateUser with the new password: every console session of the user
// ends, the caller's too.
func (s *Service) ChangeOwnPassword(ctx context.Context, c Change, cur Credentials, newPassword string) (Updated, error) {
	if err := ValidatePassword(newPassword); err != nil {
		return Updated{}, err
	}
	if newPassword == cur.Password {
		return Updated{}, fmt.Errorf("%w: the new password is the current one", ErrPasswordPolicy)
	}
	if u, err := userByName(ctx, s.db, cur.Username); err == nil && u.SSO != "" {
		return Updated{}, fmt.Errorf("user %q: %w", cur.Username, ErrSSOUser)
	}
	if _, err := s.Login(ctx, cur); err != nil {
		return Updated{}, err
	}
	return s.UpdateUser(ctx, c, cur.Username, UserUpdate{Password: &newPassword})
}

// GetUser returns the user named username (ErrNoUser when none is).
func (s *Service) GetUser(ctx context.Context, username string) (User, error) {
	if validUsername(username) != nil {
		return User{}, fmt.Errorf("user %q: %w", username, ErrNoUser)
	}
	u, err := userByName(ctx, s.db, username)
	if err != nil {
		return User{}, err
	}
	if u.LastLogin, err = s.lastLogin(ctx, username); err != nil {
		return User{}, err
	}
	return u, nil
}

// userByName reads a user (without the last sign-in).
func userByName(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, username string) (User, error) {
	var (
		u       User
		role    string
		created int64
	)
	err := q.QueryRowContext(ctx, `SELECT id, username, role, created, disabled, sso_issuer FROM users WHERE username = ?`, username).
		Scan(&u.ID, &u.Username, &role, &created, &u.Disabled, &u.SSO)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", username, ErrNoUser)
	}
	if err != nil {
		return User{}, fmt.Errorf("looking up user %q: %w", username, err)
	}
	u.Role, u.Created = Role(role), timeOf(created)
	return u, nil
}

// lastLoginQuery finds a user's last console sign-in in the audit log
// (package web records each as console.login with the user's name as the
// target). It walks the (target, time) index backwards from the newest
// entry about that name and stops at the first sign-in, so it costs the
// entries after that sign-in, not the user's history.
const lastLoginQuery = `SELECT time FROM audit_log WHERE target = ? AND action = 'console.login' ORDER BY time DESC LIMIT 1`

// lastLogin returns the time of username's last console sign-in, or the
// zero time when the audit log has none.
func (s *Service) lastLogin(ctx context.Context, username string) (time.Time, error) {
	var ns int64
	err := s.db.QueryRowContext(ctx, lastLoginQuery, username).Scan(&ns)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the last sign-in of %q: %w", username, err)
	}
	return timeOf(ns), nil
}

// inTx runs f in a write transaction (IMMEDIATE on the meta database) and
// commits it when f returns nil.
func (s *Service) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("changing users: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("changing users: %w", err)
	}
	return nil
}

// record appends the change's audit entry, when the change is audited.
func (c Change) record(ctx context.Context, tx *sql.Tx, e audit.Entry) error {
	if c.Audit == nil {
		return nil
	}
	e.Actor = c.Actor
	if e.Actor == "" {
		e.Actor = "unknown"
	}
	if err := c.Audit(ctx, tx, e); err != nil {
		return fmt.Errorf("auditing %s: %w", e.Action, err)
	}
	return nil
}

func timeOf(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// auditJSON is v as an audit entry's before or after.
func auditJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only users and their flags, which always marshal
	}
	return b
}
