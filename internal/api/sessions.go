package api

import (
	"errors"
	"net/http"

	"github.com/vigilsec/vigil/internal/auth"
)

// registerSessions mounts the console sessions' admin endpoints: list
// them, and end one. Sessions are people's (the console's); a token is
// nobody's session, so only an admin's token sees or ends them, and the
// console lets each person end their own.
func (a *API) registerSessions(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/sessions", a.Require(auth.PermAdmin, http.HandlerFunc(a.listSessions)))
	mux.Handle("DELETE /api/v1/sessions/{id}", a.Require(auth.PermAdmin, http.HandlerFunc(a.revokeSession)))
}

// listSessions answers GET /api/v1/sessions[?user=NAME]: the live console
// sessions, most recently used first, at most auth.MaxSessionsListed
// (total counts them all). A session shows its short ID, never its secret.
func (a *API) listSessions(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if len(user) > 64 {
		writeError(w, http.StatusBadRequest, "user: longer than any user name (64 characters)")
		return
	}
	ss, total, err := a.o.Auth.ListSessions(r.Context(), auth.SessionFilter{User: user, Now: a.o.Now()})
	if err != nil {
		a.o.Log.Error("listing sessions", "err", err)
		writeError(w, http.StatusInternalServerError, "listing sessions failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": ss, "total": total})
}

// revokeSession answers DELETE /api/v1/sessions/{id}: the session ends at
// once (its next request goes to the login page), audited as
// session.revoke in the same transaction.
func (a *API) revokeSession(w http.ResponseWriter, r *http.Request) {
	id, err := auth.ParseSessionID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	c := auth.Change{Actor: actor(r)}
	if a.o.Audit != nil {
		c.Audit = a.o.Audit.RecordTx
	}
	_, err = a.o.Auth.RevokeSession(r.Context(), c, id, "")
	switch {
	case errors.Is(err, auth.ErrNoSession):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		a.o.Log.Error("revoking a session", "err", err)
		writeError(w, http.StatusInternalServerError, "revoking the session failed")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
