package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/oidc"
)

// Single sign-on: /auth/oidc/login starts the provider's sign-in with a
// state cookie; /auth/oidc/callback finishes it (package oidc checks the
// state, the code, the ID token and the role), makes or updates the user
// (auth.SSOLogin) and starts a session exactly as a password sign-in does.
const (
	// oidcCookie carries a sign-in's state to the callback. It is
	// SameSite=Lax, unlike the console's other cookies: the callback is
	// a navigation from the provider's site, which a Strict cookie would
	// not follow.
	oidcCookie     = "vigil_oidc"
	oidcCookiePath = "/auth/oidc/"
	// maxLoggedError bounds an error of the provider in the server log.
	maxLoggedError = 1024
)

func (c *Console) setOIDCCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: value, Path: oidcCookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: c.o.SecureCookies || c.isTLS(r),
	})
}

// ssoBegin sends the browser to the provider.
func (c *Console) ssoBegin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	authURL, cookie, err := c.o.OIDC.Begin(r.Context(), next)
	if err != nil {
		c.o.Log.Warn("single sign-on: the provider could not be reached", "provider", c.o.OIDC.Name(), "err", bounded(err.Error(), ""))
		c.renderLogin(w, r, http.StatusBadGateway, loginData{Next: next,
			Error: "Single sign-on is unavailable: " + c.o.OIDC.Name() + " could not be reached. Try again later, or sign in with a password."})
		return
	}
	c.setOIDCCookie(w, r, cookie, int(oidc.StateLifetime.Seconds()))
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// ssoCallback finishes a sign-in at the provider.
func (c *Console) ssoCallback(w http.ResponseWriter, r *http.Request) {
	var cookie string
	if ck, err := r.Cookie(oidcCookie); err == nil {
		cookie = ck.Value
	}
	c.setOIDCCookie(w, r, "", -1) // one use, whatever happens
	ctx := r.Context()
	source := sourceString(auth.SourcePrefix(c.o.ClientIP.Resolve(r).Addr))
	code := r.URL.Query().Get("code")
	id, next, err := c.o.OIDC.Finish(ctx, cookie, r.URL.Query())
	if err != nil {
		c.ssoFailed(w, r, err, source, code)
		return
	}
	ch := auth.Change{Actor: "oidc:" + id.Username}
	if c.o.Audit != nil {
		ch.Audit = c.o.Audit.RecordTx
	}
	u, err := c.o.Auth.SSOLogin(ctx, ch, auth.SSOIdentity{Issuer: id.Issuer, Subject: id.Subject, Username: id.Username, Role: id.Role})
	if err != nil {
		c.ssoRefusedUser(w, r, err, id, source)
		return
	}
	sid, err := c.createSession(r, u.Username)
	if err != nil {
		c.o.Log.Error("single sign-on", "err", err)
		http.Error(w, "could not start a session", http.StatusInternalServerError)
		return
	}
	c.audit(ctx, u.Username, "console.login", u.Username, map[string]any{"source": source, "method": "oidc",
		"issuer": id.Issuer, "role": u.Role, "role_values": id.Values})
	c.setCookie(w, r, sessionCookie, sid, int(c.o.SessionMax.Seconds()))
	c.tmpl.render(w, http.StatusOK, "sso", &view{Partial: "sso", Title: "Signed in", User: u.Username, Role: u.Role, Data: safeNext(next)})
}

// ssoFailed answers a sign-in package oidc refused: a page that says
// why, never a token or a stack trace.
func (c *Console) ssoFailed(w http.ResponseWriter, r *http.Request, err error, source, code string) {
	name := c.o.OIDC.Name()
	var (
		refused *oidc.Refusal
		perr    *oidc.ProviderError
		status  int
		msg     string
	)
	switch {
	case errors.As(err, &refused):
		c.audit(context.WithoutCancel(r.Context()), refused.Who, "console.login_refused", refused.Who, map[string]any{
			"source": source, "method": "oidc", "reason": refused.Reason, "role_values": refused.Values})
		status, msg = http.StatusForbidden, "Single sign-on refused: "+refused.Error()
	case errors.As(err, &perr):
		c.o.Log.Info("single sign-on: the provider answered with an error", "code", perr.Code, "description", perr.Description)
		status, msg = http.StatusBadGateway, "Single sign-on failed: "+perr.Error()+"."
		if perr.Code == "access_denied" {
			status = http.StatusForbidden
		}
	case errors.Is(err, oidc.ErrState):
		status, msg = http.StatusBadRequest, "Single sign-on failed: "+err.Error()+". Start again."
	case errors.Is(err, oidc.ErrBusy):
		w.Header().Set("Retry-After", "5")
		status, msg = http.StatusServiceUnavailable, "Too many sign-ins in progress. Try again in a moment."
	case errors.Is(err, oidc.ErrToken):
		c.o.Log.Warn("single sign-on: the ID token failed verification", "provider", name, "err", bounded(err.Error(), code))
		status, msg = http.StatusBadGateway, "Single sign-on failed: the answer of "+name+" failed verification. An administrator will find why in the server log."
	default:
		c.o.Log.Warn("single sign-on failed", "provider", name, "err", bounded(err.Error(), code))
		status, msg = http.StatusBadGateway, "Single sign-on failed: "+name+" could not be used. Try again later, or sign in with a password."
	}
	c.renderLogin(w, r, status, loginData{Error: msg})
}

// ssoRefusedUser answers a sign-in the provider vouched for whose user
// Vigil refuses: a name taken by another account, a disabled user.
func (c *Console) ssoRefusedUser(w http.ResponseWriter, r *http.Request, err error, id oidc.Identity, source string) {
	var reason, msg string
	status := http.StatusForbidden
	switch {
	case errors.Is(err, auth.ErrSSONameTaken):
		reason, status = "user name taken", http.StatusConflict
		msg = "Single sign-on refused: a Vigil account named " + id.Username +
			" already exists and is not linked to this sign-in. Ask an administrator."
	case errors.Is(err, auth.ErrSSODisabled):
		reason, msg = "user disabled", "Single sign-on refused: your Vigil account is disabled."
	default:
		c.o.Log.Error("single sign-on", "err", err)
		c.renderLogin(w, r, http.StatusInternalServerError, loginData{Error: "Single sign-on failed: the account could not be stored. Try again."})
		return
	}
	c.audit(context.WithoutCancel(r.Context()), id.Username, "console.login_refused", id.Username, map[string]any{
		"source": source, "method": "oidc", "reason": reason, "issuer": id.Issuer})
	c.renderLogin(w, r, status, loginData{Error: msg})
}

// bounded cuts an error for the log, with the callback's code masked: some
// providers quote the code they refuse.
func bounded(s, code string) string {
	if code != "" {
		s = strings.ReplaceAll(s, code, "***")
	}
	if len(s) > maxLoggedError {
		s = s[:maxLoggedError] + "…"
	}
	return s
}
