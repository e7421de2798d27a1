package web

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
)

// Login throttling: after limitFree failures of one client address or one
// username, further attempts are refused (429) for a window that starts at
// limitBase and doubles with every further failure, up to limitMax. A
// success clears the username's and the address's record; records without
// a failure for limitForget are forgotten.
const (
	limitFree    = 5
	limitBase    = 15 * time.Second
	limitMax     = 15 * time.Minute
	limitForget  = time.Hour
	limitEntries = 100_000
	maxUsername  = 128
)

type limitEntry struct {
	fails int
	last  time.Time
	until time.Time
}

// limiter counts failed logins per key ("ip:..." and "user:...").
type limiter struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*limitEntry
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, m: map[string]*limitEntry{}}
}

// blocked returns how long key must still wait, or 0.
func (l *limiter) blocked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		return 0
	}
	if d := e.until.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// fail records a failed login for key.
func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.m[key]
	if e == nil || now.Sub(e.last) > limitForget {
		if len(l.m) >= limitEntries {
			l.pruneLocked(now)
		}
		e = &limitEntry{}
		l.m[key] = e
	}
	e.fails++
	e.last = now
	if e.fails >= limitFree {
		d := limitBase << min(e.fails-limitFree, 16)
		e.until = now.Add(min(d, limitMax))
	}
}

// pruneLocked drops forgotten entries; if every entry is recent it drops
// unlocked ones, so a flood of addresses cannot grow the map without bound
// nor lift a running lockout.
func (l *limiter) pruneLocked(now time.Time) {
	for k, e := range l.m {
		if now.Sub(e.last) > limitForget {
			delete(l.m, k)
		}
	}
	if len(l.m) < limitEntries {
		return
	}
	for k, e := range l.m {
		if !now.Before(e.until) {
			delete(l.m, k)
		}
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type loginData struct {
	Title    string
	CSRF     string
	Next     string
	Username string
	Error    string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, _ := c.lookupSession(r); s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, loginData{Next: r.URL.Query().Get("next")})
}

// renderLogin shows the login form with a fresh login CSRF token, a
// double-submit cookie: the form must send back the cookie's value.
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, code int, d loginData) {
	d.Title = "Sign in"
	d.CSRF = randomToken()
	d.Next = safeNext(d.Next)
	c.setCookie(w, r, loginCSRFCookie, d.CSRF, 3600)
	c.tmpl.render(w, code, "login", d)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ck, err := r.Cookie(loginCSRFCookie)
	tok := r.PostFormValue(csrfField)
	if err != nil || tok == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(tok)) != 1 {
		http.Error(w, "missing or invalid CSRF token", http.StatusForbidden)
		return
	}
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	next := r.PostFormValue("next")
	// No user name is longer (auth allows 64 characters); cutting it keeps
	// the limiter's keys and the audit log small whatever is posted.
	if len(username) > maxUsername {
		username = username[:maxUsername]
	}
	ipKey, userKey := "ip:"+clientIP(r), "user:"+username
	if wait := max(c.limiter.blocked(ipKey), c.limiter.blocked(userKey)); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		c.renderLogin(w, r, http.StatusTooManyRequests, loginData{Next: next, Username: username,
			Error: "Too many failed attempts. Try again in " + wait.Round(time.Second).String() + "."})
		return
	}
	p, err := c.o.Auth.Login(r.Context(), username, password)
	if err != nil {
		if !errors.Is(err, auth.ErrBadLogin) {
			c.o.Log.Error("console login", "err", err)
		}
		c.limiter.fail(ipKey)
		c.limiter.fail(userKey)
		c.audit(r.Context(), username, "console.login_failed", username, nil)
		c.renderLogin(w, r, http.StatusUnauthorized, loginData{Next: next, Username: username, Error: "Wrong username or password."})
		return
	}
	c.limiter.reset(ipKey)
	c.limiter.reset(userKey)
	id, err := c.createSession(r.Context(), p.Name)
	if err != nil {
		c.o.Log.Error("console login", "err", err)
		http.Error(w, "could not start a session", http.StatusInternalServerError)
		return
	}
	c.audit(r.Context(), p.Name, "console.login", p.Name, nil)
	c.setCookie(w, r, loginCSRFCookie, "", -1)
	c.setCookie(w, r, sessionCookie, id, int(c.o.SessionMax.Seconds()))
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.deleteSession(r.Context(), s.idHash)
	c.audit(r.Context(), s.Username, "console.logout", s.Username, nil)
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
