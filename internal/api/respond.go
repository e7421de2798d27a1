package api

import (
	"net/http"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/timeparse"
)

func (a *API) registerRespond(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/playbooks", a.Require(auth.PermRead, http.HandlerFunc(a.listPlaybooks)))
	mux.Handle("POST /api/v1/playbooks/reload", a.Require(auth.PermAdmin, http.HandlerFunc(a.reloadPlaybooks)))
	mux.Handle("POST /api/v1/incidents/{id}/playbooks/{name}", a.Require(auth.PermWrite, http.HandlerFunc(a.runPlaybook)))
	mux.Handle("POST /api/v1/incidents/{id}/actions", a.Require(auth.PermWrite, http.HandlerFunc(a.manualAction)))
	mux.Handle("POST /api/v1/incidents/{id}/actions/{action}/approve", a.Require(auth.PermWrite, http.HandlerFunc(a.decide(true))))
	mux.Handle("POST /api/v1/incidents/{id}/actions/{action}/reject", a.Require(auth.PermWrite, http.HandlerFunc(a.decide(false))))
}

// listPlaybooks answers the playbooks with their parameters masked
// (respond.Playbook.Masked): viewers read this list, and an admin reads
// secrets from the playbook files, not from here.
func (a *API) listPlaybooks(w http.ResponseWriter, r *http.Request) {
	pbs := a.o.Runner.Playbooks()
	out := make([]*respond.Playbook, len(pbs))
	for i, p := range pbs {
		out[i] = p.Masked()
	}
	writeJSON(w, http.StatusOK, map[string]any{"playbooks": out})
}

func (a *API) reloadPlaybooks(w http.ResponseWriter, r *http.Request) {
	if err := a.o.ReloadPlaybooks(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.audit(r, "playbooks.reload", "playbooks", nil, map[string]int{"playbooks": len(a.o.Runner.Playbooks())})
	a.listPlaybooks(w, r)
}

func (a *API) runPlaybook(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if err := a.o.Runner.RunManual(r.Context(), name, id, actor(r)); err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "playbook.run", id, nil, map[string]string{"playbook": name})
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "started", "playbook": name})
}

func (a *API) manualAction(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string            `json:"name"`
		Target string            `json:"target"`
		TTL    string            `json:"ttl"`
		With   map[string]string `json:"with"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := timeparse.Duration(req.TTL)
		if err != nil {
			writeError(w, http.StatusBadRequest, "ttl: "+err.Error())
			return
		}
		ttl = d
	}
	act, err := a.o.Runner.Manual(r.Context(), r.PathValue("id"), actor(r), req.Name, req.Target, ttl, req.With)
	if err != nil {
		notFoundOr(w, err)
		return
	}
	// The runner recorded the action and its audit entries.
	writeJSON(w, http.StatusCreated, act)
}

func (a *API) decide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, action := r.PathValue("id"), r.PathValue("action")
		if err := a.o.Runner.Decide(r.Context(), id, action, actor(r), approve); err != nil {
			notFoundOr(w, err)
			return
		}
		// The runner recorded the decision with its audit entry.
		status := "approved"
		if !approve {
			status = "rejected"
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": status})
	}
}
