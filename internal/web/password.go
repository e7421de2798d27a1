package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/vigilsec/vigil/internal/auth"
)

// changePassword is the settings page's "Your account" form: a signed-in
// user changes their own password (current password, then the new one
// twice). The current password is checked as a sign-in is, through the
// login throttle. The change ends every session of the user, this one
// too, in its transaction; the user then gets a fresh session, so that
// they stay signed in here while every other browser is signed out.
func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, s *session) {
	const to = "/settings#account"
	cur, next, again := r.PostFormValue("current"), r.PostFormValue("password"), r.PostFormValue("password2")
	if next != again {
		back(w, r, to, "", errors.New("the two new passwords differ; nothing changed"))
		return
	}
	ch := auth.Change{Actor: s.Username}
	if c.o.Audit != nil {
		ch.Audit = c.o.Audit.RecordTx
	}
	client := c.o.ClientIP.Resolve(r)
	res, err := c.o.Auth.ChangeOwnPassword(r.Context(), ch, auth.Credentials{Username: s.Username, Password: cur, Source: client.Addr}, next)
	var refused *auth.RefusedError
	switch {
	case errors.As(err, &refused):
		back(w, r, to, "", errors.New("too many password checks; try again in "+refused.RetryAfter.String()))
		return
	case errors.Is(err, auth.ErrBadLogin):
		back(w, r, to, "", errors.New("the current password is wrong; nothing changed"))
		return
	case errors.Is(err, auth.ErrPasswordPolicy):
		back(w, r, to, "", err)
		return
	case errors.Is(err, auth.ErrSSOUser):
		back(w, r, to, "", errors.New("you sign in with single sign-on and have no password here; nothing changed"))
		return
	case err != nil:
		c.fail(w, err)
		return
	}
	id, err := c.createSession(r, s.Username)
	if err != nil {
		// The password is changed and every session ended: the user
		// signs in again with the new one.
		c.o.Log.Error("console session after a password change", "err", err)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	c.setCookie(w, r, sessionCookie, id, int(c.o.SessionMax.Seconds()))
	msg := "Password changed."
	if n := res.SessionsEnded - 1; n == 1 {
		msg += " Your 1 other session was signed out."
	} else if n > 1 {
		msg += " Your " + strconv.Itoa(n) + " other sessions were signed out."
	}
	back(w, r, to, msg, nil)
}

// setUserDisabled disables or enables the user with id as the API and
// vigil user do (auth.UpdateUser): the change, the end of the user's
// sessions and the audit entry in one transaction, and never the last
// enabled admin.
func (c *Console) setUserDisabled(ctx context.Context, s *session, id string, disable bool) error {
	users, err := c.o.Auth.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.ID != id {
			continue
		}
		ch := auth.Change{Actor: s.Username}
		if c.o.Audit != nil {
			ch.Audit = c.o.Audit.RecordTx
		}
		_, err := c.o.Auth.UpdateUser(ctx, ch, u.Username, auth.UserUpdate{Disabled: &disable})
		return err
	}
	return fmt.Errorf("user id %q: %w", id, auth.ErrNoUser)
}
