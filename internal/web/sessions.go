package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/auth"
)

// Sessions on the settings page: a user sees their own sessions and signs
// out one of them, or every one but this; an admin sees everyone's and
// signs out any. Sessions are named by their short ID (auth.SessionID),
// never by their secret. The API's GET and DELETE /api/v1/sessions do the
// same for admins' tokens.

// sessionClient is where a request comes from, as a new session keeps it.
type sessionClient struct {
	source, userAgent string
}

func (c *Console) sessionClientOf(r *http.Request) sessionClient {
	cl := sessionClient{userAgent: cleanUserAgent(r.UserAgent())}
	if a := c.o.ClientIP.Resolve(r).Addr; a.IsValid() {
		cl.source = a.String()
	}
	return cl
}

// cleanUserAgent returns what is kept of a User-Agent header, which the
// client writes: valid UTF-8, every character that does not print (control
// characters, line and paragraph separators, bidirectional overrides,
// zero-width characters) a space, spaces at the ends trimmed, and at most
// auth.MaxUserAgentLength bytes, cut at a character boundary.
func cleanUserAgent(ua string) string {
	var b strings.Builder
	for _, r := range ua {
		if !unicode.IsPrint(r) {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > auth.MaxUserAgentLength {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// sessionsData is the sessions part of the settings page.
type sessionsData struct {
	// Current is the short ID of the session viewing the page.
	Current string
	// Mine are the user's own live sessions; MineTotal counts them.
	Mine      []auth.Session
	MineTotal int
	// All are every user's sessions (admins only); AllTotal counts them.
	All      []auth.Session
	AllTotal int
	// Idle and Max are the session lifetimes, in words.
	Idle, Max string
}

// lifetime says a session lifetime in words: "30 minutes", "12 hours".
func lifetime(d time.Duration) string {
	n, unit := int64(d/time.Second), "second"
	switch {
	case d%time.Hour == 0:
		n, unit = int64(d/time.Hour), "hour"
	case d%time.Minute == 0:
		n, unit = int64(d/time.Minute), "minute"
	}
	if n != 1 {
		unit += "s"
	}
	return strconv.FormatInt(n, 10) + " " + unit
}

func (c *Console) sessionsData(r *http.Request, s *session) (sessionsData, error) {
	d := sessionsData{Current: s.shortID, Idle: lifetime(c.o.SessionIdle), Max: lifetime(c.o.SessionMax)}
	lt := auth.SessionLifetimes{Idle: c.o.SessionIdle, Max: c.o.SessionMax}
	var err error
	d.Mine, d.MineTotal, err = c.o.Auth.ListSessions(r.Context(), auth.SessionFilter{User: s.Username, Lifetimes: lt, Now: c.o.Now()})
	if err != nil {
		return d, err
	}
	if s.Role.Can(auth.PermAdmin) {
		d.All, d.AllTotal, err = c.o.Auth.ListSessions(r.Context(), auth.SessionFilter{Lifetimes: lt, Now: c.o.Now()})
	}
	return d, err
}

func (c *Console) sessionChange(s *session) auth.Change {
	ch := auth.Change{Actor: s.Username}
	if c.o.Audit != nil {
		ch.Audit = c.o.Audit.RecordTx
	}
	return ch
}

// revokeSession signs out one session: the user's own, or, for an admin,
// anyone's. Signing out the session in use is signing out.
func (c *Console) revokeSession(w http.ResponseWriter, r *http.Request, s *session) {
	const to = "/settings#sessions"
	id := r.PathValue("id")
	owner := s.Username
	if s.Role.Can(auth.PermAdmin) {
		owner = ""
	}
	gone, err := c.o.Auth.RevokeSession(r.Context(), c.sessionChange(s), id, owner)
	if errors.Is(err, auth.ErrNoSession) {
		back(w, r, to, "", errors.New("no such session (it may have ended already)"))
		return
	}
	if err != nil {
		back(w, r, to, "", err)
		return
	}
	if id == s.shortID {
		c.setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	msg := "Session " + gone.ID + " signed out."
	if gone.Username != s.Username {
		msg = "Session " + gone.ID + " of " + gone.Username + " signed out."
	}
	back(w, r, to, msg, nil)
}

// revokeOtherSessions signs out every session of the user but this one.
func (c *Console) revokeOtherSessions(w http.ResponseWriter, r *http.Request, s *session) {
	n, err := c.o.Auth.RevokeOtherSessions(r.Context(), c.sessionChange(s), s.Username, s.shortID)
	msg := "Signed out everywhere else: " + strconv.Itoa(n) + " other sessions ended."
	if n == 1 {
		msg = "Signed out everywhere else: 1 other session ended."
	}
	back(w, r, "/settings#sessions", msg, err)
}
