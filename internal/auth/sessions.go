package auth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/audit"
)

// Console sessions as people see them. The console (package web) keeps
// its sessions in console_sessions, keyed by the SHA-256 of the secret in
// the browser's cookie; these functions list and end them for the console
// and the API. A session is never shown by its secret nor by its whole
// hash: its ID is the first SessionIDLength hex digits of the hash, which
// tell nothing about the cookie and are enough to name one live session.

// SessionIDLength is the length of a session's ID: 16 hex digits, the
// first 64 bits of the SHA-256 of the session's secret.
const SessionIDLength = 16

// Default session lifetimes: the console ends a session unused for
// DefaultSessionIdle, and any session DefaultSessionMax after sign-in.
const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
)

// MaxSessionsListed bounds a ListSessions answer; its total counts them
// all.
const MaxSessionsListed = 1000

// ErrNoSession means no live session has the ID given (or none the caller
// may see).
var ErrNoSession = errors.New("no such session")

// Session is a console session, without its secret.
type Session struct {
	// ID is the short ID of the session (SessionID).
	ID       string    `json:"id"`
	Username string    `json:"username"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	// Source is the client address the session signed in from.
	Source string `json:"source,omitempty"`
	// UserAgent is the browser's User-Agent at sign-in, cut to
	// MaxUserAgentLength bytes of printable text.
	UserAgent string `json:"user_agent,omitempty"`
	// Expires is when the session ends unless it is used before (the idle
	// limit) or at the latest (the absolute limit).
	Expires time.Time `json:"expires,omitzero"`
}

// MaxUserAgentLength bounds the User-Agent kept with a session.
const MaxUserAgentLength = 256

// SessionID returns the short ID of the session whose secret hashes to
// idHash.
func SessionID(idHash []byte) string {
	return hex.EncodeToString(idHash[:min(len(idHash), SessionIDLength/2)])
}

// ParseSessionID checks a session ID given by a caller: exactly
// SessionIDLength lower-case hex digits.
func ParseSessionID(s string) (string, error) {
	if len(s) != SessionIDLength {
		return "", fmt.Errorf("session id %.40q: want the %d hex digits a session listing shows", s, SessionIDLength)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", fmt.Errorf("session id %q: want the %d hex digits a session listing shows", s, SessionIDLength)
		}
	}
	return s, nil
}

// SessionLifetimes are the console's session limits; zero fields take the
// defaults.
type SessionLifetimes struct {
	Idle, Max time.Duration
}

func (l SessionLifetimes) withDefaults() SessionLifetimes {
	if l.Idle <= 0 {
		l.Idle = DefaultSessionIdle
	}
	if l.Max <= 0 {
		l.Max = DefaultSessionMax
	}
	return l
}

// SessionFilter selects the sessions ListSessions returns.
type SessionFilter struct {
	// User keeps the sessions of one user ("": everyone's).
	User string
	// Lifetimes leave out sessions past them (expired, not yet removed).
	Lifetimes SessionLifetimes
	// Now is the time they are judged at (zero: the Service's clock).
	Now time.Time
}

// ListSessions returns the live console sessions f selects, most recently
// used first, at most MaxSessionsListed, and how many there are in all.
func (s *Service) ListSessions(ctx context.Context, f SessionFilter) ([]Session, int, error) {
	lt := f.Lifetimes.withDefaults()
	now := f.Now
	if now.IsZero() {
		now = s.now()
	}
	where := `last_seen >= ? AND created >= ?`
	args := []any{now.Add(-lt.Idle).UnixNano(), now.Add(-lt.Max).UnixNano()}
	if f.User != "" {
		where += ` AND username = ?`
		args = append(args, f.User)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM console_sessions WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting sessions: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT short_id, username, created, last_seen, source, user_agent FROM console_sessions
		WHERE `+where+` ORDER BY last_seen DESC, short_id LIMIT ?`, append(args, MaxSessionsListed)...)
	if err != nil {
		return nil, 0, fmt.Errorf("listing sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var (
			ss                Session
			created, lastSeen int64
		)
		if err := rows.Scan(&ss.ID, &ss.Username, &created, &lastSeen, &ss.Source, &ss.UserAgent); err != nil {
			return nil, 0, fmt.Errorf("listing sessions: %w", err)
		}
		ss.Created, ss.LastSeen = timeOf(created), timeOf(lastSeen)
		ss.Expires = sessionExpiry(ss.Created, ss.LastSeen, lt)
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing sessions: %w", err)
	}
	return out, total, nil
}

func sessionExpiry(created, lastSeen time.Time, lt SessionLifetimes) time.Time {
	idle, abs := lastSeen.Add(lt.Idle), created.Add(lt.Max)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// RevokeSession ends the session with ID id, audited as session.revoke
// (the session before, never its secret) in the same transaction. With
// owner set, only a session of that user is ended: another user's is
// ErrNoSession, as an unknown one is, so that an owner learns nothing of
// other people's sessions.
func (s *Service) RevokeSession(ctx context.Context, c Change, id, owner string) (Session, error) {
	if _, err := ParseSessionID(id); err != nil {
		return Session{}, err
	}
	var out Session
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q := `SELECT id_hash, short_id, username, created, last_seen, source, user_agent FROM console_sessions WHERE short_id = ?`
		args := []any{id}
		if owner != "" {
			q += ` AND username = ?`
			args = append(args, owner)
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("looking up session %s: %w", id, err)
		}
		var hashes [][]byte
		for rows.Next() {
			var (
				h                 []byte
				created, lastSeen int64
			)
			if err := rows.Scan(&h, &out.ID, &out.Username, &created, &lastSeen, &out.Source, &out.UserAgent); err != nil {
				rows.Close()
				return fmt.Errorf("looking up session %s: %w", id, err)
			}
			out.Created, out.LastSeen = timeOf(created), timeOf(lastSeen)
			hashes = append(hashes, h)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("looking up session %s: %w", id, err)
		}
		switch len(hashes) {
		case 0:
			return fmt.Errorf("session %s: %w", id, ErrNoSession)
		case 1:
		default:
			// Two live sessions whose hashes share 64 bits: so unlikely
			// that ending either on a guess is the wrong answer.
			return fmt.Errorf("session %s names %d sessions; revoke the user's sessions instead", id, len(hashes))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, hashes[0]); err != nil {
			return fmt.Errorf("revoking session %s: %w", id, err)
		}
		return c.record(ctx, tx, audit.Entry{Action: "session.revoke", Target: id, Before: auditJSON(out)})
	})
	if err != nil {
		return Session{}, err
	}
	return out, nil
}

// RevokeOtherSessions ends every console session of username but the one
// with ID keep ("" keeps none), audited as session.revoke_others (the
// user, the session kept and how many ended) in the same transaction. It
// returns how many sessions ended.
func (s *Service) RevokeOtherSessions(ctx context.Context, c Change, username, keep string) (int, error) {
	if keep != "" {
		if _, err := ParseSessionID(keep); err != nil {
			return 0, err
		}
	}
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE username = ? AND (? = '' OR short_id != ?)`, username, keep, keep)
		if err != nil {
			return fmt.Errorf("revoking the sessions of %q: %w", username, err)
		}
		n, _ = res.RowsAffected()
		return c.record(ctx, tx, audit.Entry{Action: "session.revoke_others", Target: username, After: auditJSON(map[string]any{
			"username": username, "kept": keep, "sessions_ended": n,
		})})
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
