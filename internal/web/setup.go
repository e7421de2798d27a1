package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
)

// The first-run setup page: while no enabled admin user exists, GET /setup
// shows a form (the setup code from the server's startup log, a user name,
// the password twice) and POST /setup creates that admin and signs them
// in. Once an admin exists both answer 404, as for any unknown page.

// setupCSRFCookie carries the setup form's double-submit CSRF token (its
// own cookie, so that a login page open in another tab does not replace
// it).
const setupCSRFCookie = "vigil_setup_csrf"

// setupActor is the audit log's actor of the account the setup creates.
const setupActor = "setup"

type setupData struct {
	Title    string
	CSRF     string
	Username string
	Error    string
}

// setupOpen reports whether the first-run setup can be completed now.
func (c *Console) setupOpen(r *http.Request) bool {
	ok, err := c.o.Setup.Open(r.Context())
	if err != nil {
		c.o.Log.Error("first-run setup", "err", err)
	}
	return ok
}

func (c *Console) setupPage(w http.ResponseWriter, r *http.Request) {
	if !c.setupOpen(r) {
		http.NotFound(w, r)
		return
	}
	c.renderSetup(w, r, http.StatusOK, setupData{})
}

func (c *Console) renderSetup(w http.ResponseWriter, r *http.Request, code int, d setupData) {
	d.Title = "Set up Vigil"
	d.CSRF = randomToken()
	c.setCookie(w, r, setupCSRFCookie, d.CSRF, 3600)
	c.tmpl.render(w, code, "setup", d)
}

func (c *Console) setup(w http.ResponseWriter, r *http.Request) {
	if !c.setupOpen(r) {
		http.NotFound(w, r)
		return
	}
	if !preSessionForm(w, r, setupCSRFCookie) {
		return
	}
	username := r.PostFormValue("username")
	if len(username) > maxUsername {
		username = username[:maxUsername]
	}
	password := r.PostFormValue("password")
	d := setupData{Username: username}
	if password != r.PostFormValue("password2") {
		d.Error = "The two passwords differ."
		c.renderSetup(w, r, http.StatusBadRequest, d)
		return
	}
	client := c.o.ClientIP.Resolve(r)
	ch := auth.Change{Actor: setupActor}
	if c.o.Audit != nil {
		ch.Audit = c.o.Audit.RecordTx
	}
	u, err := c.o.Setup.Complete(r.Context(), ch, auth.SetupRequest{
		Code: r.PostFormValue("code"), Username: username, Password: password, Source: client.Addr,
	})
	var refused *auth.RefusedError
	switch {
	case errors.Is(err, auth.ErrSetupDone):
		http.NotFound(w, r)
		return
	case errors.As(err, &refused):
		w.Header().Set("Retry-After", strconv.Itoa(int(refused.RetryAfter/time.Second)))
		d.Error = "Too many attempts. Try again in " + refused.RetryAfter.String() + "."
		c.renderSetup(w, r, http.StatusTooManyRequests, d)
		return
	case errors.Is(err, auth.ErrSetupCode):
		d.Error = "Wrong setup code. It is in the server's startup log (first run: ... enter the code ...)."
		c.renderSetup(w, r, http.StatusForbidden, d)
		return
	case errors.Is(err, auth.ErrPasswordPolicy), errors.Is(err, auth.ErrSetupName):
		d.Error = err.Error()
		c.renderSetup(w, r, http.StatusBadRequest, d)
		return
	case err != nil:
		c.o.Log.Error("first-run setup", "err", err)
		d.Error = "The account could not be created; the server's log says why."
		c.renderSetup(w, r, http.StatusInternalServerError, d)
		return
	}
	c.o.Log.Info("first-run setup done: admin account created", "user", u.Username, "source", sourceString(auth.SourcePrefix(client.Addr)))
	id, err := c.createSession(r, u.Username)
	if err != nil {
		// The account exists: its owner signs in on the login page.
		c.o.Log.Error("console session after the first-run setup", "err", err)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	c.audit(r.Context(), u.Username, "console.login", u.Username, map[string]string{"source": sourceString(auth.SourcePrefix(client.Addr)), "via": "setup"})
	c.setCookie(w, r, setupCSRFCookie, "", -1)
	c.setCookie(w, r, sessionCookie, id, int(c.o.SessionMax.Seconds()))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
