package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
)

// maxUsername bounds the user name the login form takes: no user name is
// longer (auth allows 64 characters), and cutting it keeps what is echoed
// back and handed on small whatever is posted.
const maxUsername = 128

type loginData struct {
	Title    string
	CSRF     string
	Next     string
	Username string
	Error    string
	// Setup links to the first-run setup: no admin account exists yet.
	Setup bool
	// SSO names the single sign-on provider of the "Sign in with"
	// button (empty: none configured).
	SSO string
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
	d.Setup = c.setupOpen(r)
	if c.o.OIDC != nil {
		d.SSO = c.o.OIDC.Name()
	}
	c.setCookie(w, r, loginCSRFCookie, d.CSRF, 3600)
	c.tmpl.render(w, code, "login", d)
}

// preSessionForm parses a form posted before there is a session (sign-in,
// first-run setup), bounded at 64 KiB, and checks its CSRF token against
// the cookie the form's page set (double submit). It answers the request
// and returns false when either fails.
func preSessionForm(w http.ResponseWriter, r *http.Request, cookie string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return false
	}
	ck, err := r.Cookie(cookie)
	tok := r.PostFormValue(csrfField)
	if err != nil || tok == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(tok)) != 1 {
		http.Error(w, "missing or invalid CSRF token", http.StatusForbidden)
		return false
	}
	return true
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !preSessionForm(w, r, loginCSRFCookie) {
		return
	}
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	next := r.PostFormValue("next")
	if len(username) > maxUsername {
		username = username[:maxUsername]
	}
	client := c.o.ClientIP.Resolve(r)
	now := c.o.Now()
	defer c.failed.flush(r.Context(), c, now)
	p, err := c.o.Auth.Login(r.Context(), auth.Credentials{Username: username, Password: password, Source: client.Addr})
	var refused *auth.RefusedError
	switch {
	case errors.As(err, &refused):
		// Refused before any password check: nothing was hashed and
		// nothing is audited (the refusals are counted in
		// vigil_login_refused_total).
		secs := int(refused.RetryAfter / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		msg := "Too many sign-ins in progress. Try again in a moment."
		if errors.Is(refused, auth.ErrLoginLocked) {
			msg = "Too many failed attempts. Try again in " + refused.RetryAfter.String() + "."
		}
		c.renderLogin(w, r, http.StatusTooManyRequests, loginData{Next: next, Username: username, Error: msg})
		return
	case err != nil:
		if !errors.Is(err, auth.ErrBadLogin) {
			c.o.Log.Error("console login", "err", err)
		}
		known := ""
		if errors.Is(err, auth.ErrBadLogin) && !errors.Is(err, auth.ErrUnknownUser) {
			known = username
		}
		c.failed.record(now, client.Addr, known)
		c.renderLogin(w, r, http.StatusUnauthorized, loginData{Next: next, Username: username, Error: "Wrong username or password."})
		return
	}
	id, err := c.createSession(r, p.Name)
	if err != nil {
		c.o.Log.Error("console login", "err", err)
		http.Error(w, "could not start a session", http.StatusInternalServerError)
		return
	}
	c.audit(r.Context(), p.Name, "console.login", p.Name, map[string]string{"source": sourceString(auth.SourcePrefix(client.Addr)), "method": "password"})
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
