package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
)

// Cookie names. The session cookie carries a random 256-bit id; the
// database keeps only its SHA-256, so a copy of the database opens no
// session.
const (
	sessionCookie    = "vigil_session"
	loginCSRFCookie  = "vigil_login_csrf"
	csrfHeader       = "X-CSRF-Token"
	csrfField        = "csrf_token"
	touchGranularity = time.Minute
)

// contentSecurityPolicy allows scripts, styles and images from the
// console's own origin only: no inline script, no inline event handlers, no
// inline styles, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// session is a logged-in user.
type session struct {
	idHash []byte
	// shortID names the session in listings (auth.SessionID).
	shortID  string
	Username string
	Role     auth.Role
	CSRF     string
	Created  time.Time
	LastSeen time.Time
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// createSession stores a new session for username, signed in by r, and
// returns its id. The session keeps where it was started from (r's client
// address and User-Agent), for the session listings.
func (c *Console) createSession(r *http.Request, username string) (id string, err error) {
	ctx := r.Context()
	id = randomToken()
	now := c.o.Now().UnixNano()
	h := hashID(id)
	cl := c.sessionClientOf(r)
	_, err = c.db.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, username, csrf, created, last_seen, short_id, source, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		h, username, randomToken(), now, now, auth.SessionID(h), cl.source, cl.userAgent)
	if err != nil {
		return "", fmt.Errorf("storing session: %w", err)
	}
	// Expired sessions are removed as new ones are made, so the table
	// stays as small as the number of live sessions.
	idle, abs := now-int64(c.o.SessionIdle), now-int64(c.o.SessionMax)
	if _, err := c.db.ExecContext(ctx, `DELETE FROM console_sessions WHERE last_seen < ? OR created < ?`, idle, abs); err != nil {
		c.o.Log.Warn("pruning expired console sessions", "err", err)
	}
	return id, nil
}

// errNoSession means the request carries no live session.
var errNoSession = errors.New("no session")

// lookupSession returns the live session the request's cookie names. The
// user's role and disabled flag are read from the user table on every
// request, so disabling a user ends their sessions at once.
func (c *Console) lookupSession(r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || len(ck.Value) < 32 || len(ck.Value) > 64 {
		return nil, errNoSession
	}
	var (
		s                 session
		role              string
		disabled          bool
		created, lastSeen int64
	)
	s.idHash = hashID(ck.Value)
	s.shortID = auth.SessionID(s.idHash)
	err = c.db.QueryRowContext(r.Context(), `SELECT s.username, s.csrf, s.created, s.last_seen, u.role, u.disabled
		FROM console_sessions s JOIN users u ON u.username = s.username WHERE s.id_hash = ?`, s.idHash).
		Scan(&s.Username, &s.CSRF, &created, &lastSeen, &role, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("looking up session: %w", err)
	}
	now := c.o.Now()
	s.Created, s.LastSeen, s.Role = time.Unix(0, created), time.Unix(0, lastSeen), auth.Role(role)
	if disabled || now.Sub(s.LastSeen) > c.o.SessionIdle || now.Sub(s.Created) > c.o.SessionMax {
		c.deleteSession(r.Context(), s.idHash)
		return nil, errNoSession
	}
	if now.Sub(s.LastSeen) >= touchGranularity {
		if _, err := c.db.ExecContext(r.Context(), `UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?`, now.UnixNano(), s.idHash); err != nil {
			c.o.Log.Warn("touching console session", "err", err)
		}
	}
	return &s, nil
}

func (c *Console) deleteSession(ctx context.Context, idHash []byte) {
	if _, err := c.db.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, idHash); err != nil {
		c.o.Log.Warn("deleting console session", "err", err)
	}
}

// isTLS reports whether the request reached us over TLS: directly, or
// through a trusted proxy that says so (X-Forwarded-Proto).
func (c *Console) isTLS(r *http.Request) bool {
	return c.o.ClientIP.Resolve(r).HTTPS
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.o.SecureCookies || c.isTLS(r),
	})
}

// secure sets the headers every console response carries.
func (c *Console) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		if c.isTLS(r) {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// handlerFunc is a page handler: it sees the caller's session.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session)

// safeMethod reports whether a method changes nothing.
func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// page wraps a page handler: without a session, GET redirects to /login
// and anything else is refused; a state-changing request needs the
// session's CSRF token (form field csrf_token or header X-CSRF-Token); and
// the user's role must allow perm, exactly as the API checks it.
func (c *Console) page(perm auth.Permission, h handlerFunc) http.Handler {
	return c.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.lookupSession(r)
		if err != nil && !errors.Is(err, errNoSession) {
			c.o.Log.Error("console session", "err", err)
			http.Error(w, "session lookup failed", http.StatusInternalServerError)
			return
		}
		if s == nil {
			if !safeMethod(r.Method) {
				http.Error(w, "not logged in", http.StatusForbidden)
				return
			}
			target := "/login?next=" + url.QueryEscape(r.URL.RequestURI())
			if r.Header.Get("HX-Request") != "" {
				w.Header().Set("HX-Redirect", target)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, 2<<20)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
				return
			}
			tok := r.Header.Get(csrfHeader)
			if tok == "" {
				tok = r.PostFormValue(csrfField)
			}
			if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
				http.Error(w, "missing or invalid CSRF token", http.StatusForbidden)
				return
			}
		}
		if !s.Role.Can(perm) {
			http.Error(w, "role "+string(s.Role)+" may not do this", http.StatusForbidden)
			return
		}
		h(w, r, s)
	}))
}

// maxNext bounds the length of a redirect target after sign-in.
const maxNext = 2048

// safeNext returns where to go after signing in: next if it is a path on
// this site, otherwise "/". next is attacker-controlled (a link to
// /login?next=... can come from anywhere), so it must parse as a URL with
// no scheme, host or user, its path must start with exactly one "/", and it
// may not hold control characters or backslashes anywhere: browsers drop
// TAB, CR and LF from URLs and read "\" as "/", which would turn "/<TAB>/host"
// or "/\host" into "//host", another site.
func safeNext(next string) string {
	if next == "" || len(next) > maxNext || next[0] != '/' {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if b := next[i]; b < 0x20 || b == 0x7f || b == '\\' || b == ' ' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(next, "//") {
		return "/"
	}
	// Back to the login page would loop.
	if u.Path == "/login" || strings.HasPrefix(u.Path, "/login/") {
		return "/"
	}
	out := u.EscapedPath()
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	if len(out) > maxNext || strings.HasPrefix(out, "//") || !strings.HasPrefix(out, "/") {
		return "/"
	}
	return out
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}
