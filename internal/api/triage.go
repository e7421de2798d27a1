package api

import (
	"errors"
	"net/http"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/auth"
)

// registerTriage mounts alert triage. It goes through the same
// alert.Triager as the console's, which audits every change (one entry
// per alert), so the handlers record nothing themselves.
func (a *API) registerTriage(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/alerts/{id}/ack", a.Require(auth.PermWrite, http.HandlerFunc(a.ackAlert)))
	mux.Handle("PATCH /api/v1/alerts/{id}", a.Require(auth.PermWrite, http.HandlerFunc(a.patchAlert)))
}

// ackAlert records that the caller acknowledged the alert, and answers
// with the alert.
func (a *API) ackAlert(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.triage.Ack(r.Context(), []string{id}, actor(r)); err != nil {
		a.triageError(w, err)
		return
	}
	a.writeAlert(w, r, id)
}

// patchAlert changes an alert's triage: {"assignee": "bob"} assigns it,
// {"assignee": ""} unassigns it.
func (a *API) patchAlert(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Assignee *string `json:"assignee"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Assignee == nil {
		writeError(w, http.StatusBadRequest, "nothing to change: send assignee")
		return
	}
	id := r.PathValue("id")
	if err := a.triage.Assign(r.Context(), []string{id}, *req.Assignee, actor(r)); err != nil {
		a.triageError(w, err)
		return
	}
	a.writeAlert(w, r, id)
}

func (a *API) writeAlert(w http.ResponseWriter, r *http.Request, id string) {
	al, err := a.triage.Get(r.Context(), id)
	if err != nil {
		a.triageError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, al)
}

// triageError answers 404 for an unknown alert, 400 for a change that
// cannot be made, and 500 (logged) for anything else.
func (a *API) triageError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, alert.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, alert.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		a.o.Log.Error("triaging alert", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}
