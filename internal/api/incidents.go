package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/timeparse"
)

func (a *API) registerIncidents(mux *http.ServeMux) {
	read := func(h http.HandlerFunc) http.Handler { return a.Require(auth.PermRead, h) }
	write := func(h http.HandlerFunc) http.Handler { return a.Require(auth.PermWrite, h) }
	mux.Handle("GET /api/v1/alerts/{id}", read(a.getAlert))
	mux.Handle("GET /api/v1/incidents", read(a.listIncidents))
	mux.Handle("POST /api/v1/incidents", write(a.createIncident))
	mux.Handle("GET /api/v1/incidents/metrics", read(a.incidentMetrics))
	mux.Handle("GET /api/v1/incidents/{id}", read(a.getIncident))
	mux.Handle("PATCH /api/v1/incidents/{id}", write(a.patchIncident))
	mux.Handle("POST /api/v1/incidents/{id}/comments", write(a.commentIncident))
	mux.Handle("POST /api/v1/incidents/{id}/tasks", write(a.addTask))
	mux.Handle("PATCH /api/v1/incidents/{id}/tasks/{task}", write(a.patchTask))
	mux.Handle("POST /api/v1/incidents/{id}/observables", write(a.flagObservable))
	mux.Handle("POST /api/v1/incidents/{id}/merge", write(a.mergeIncidents))
	mux.Handle("POST /api/v1/incidents/{id}/split", write(a.splitIncident))
	mux.Handle("GET /api/v1/incidents/{id}/report", read(a.incidentReport))
	mux.Handle("GET /api/v1/risk", read(a.listRisk))
	mux.Handle("GET /api/v1/suppressions", read(a.listSuppressions))
	mux.Handle("POST /api/v1/suppressions", write(a.createSuppression))
	mux.Handle("DELETE /api/v1/suppressions/{id}", write(a.deleteSuppression))
	a.registerRespond(mux)
	mux.Handle("GET /api/v1/audit", a.Require(auth.PermAdmin, http.HandlerFunc(a.listAudit)))
}

// actor names the caller for audit records and timelines.
func actor(r *http.Request) string {
	if p := PrincipalFrom(r.Context()); p != nil {
		return p.Name
	}
	return "unknown"
}

// audit records a change; a failure to record it is logged loudly but does
// not undo the change that already happened.
func (a *API) audit(r *http.Request, action, target string, before, after any) {
	if a.o.Audit == nil {
		return
	}
	if err := a.o.Audit.Record(r.Context(), actor(r), action, target, before, after); err != nil {
		a.o.Log.Error("audit record lost", "action", action, "target", target, "err", err)
	}
}

// notFoundOr answers 404 for ErrNotFound errors and 400 for others.
func notFoundOr(w http.ResponseWriter, err error) {
	if errors.Is(err, incident.ErrNotFound) || errors.Is(err, alert.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

func (a *API) getAlert(w http.ResponseWriter, r *http.Request) {
	al, err := a.triage.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		notFoundOr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, al)
}

func (a *API) listIncidents(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f := incident.ListFilter{Status: v.Get("status"), Assignee: v.Get("assignee")}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "limit: want a non-negative integer")
			return
		}
		f.Limit = n
	}
	incs, err := a.o.Incidents.List(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": incs})
}

func (a *API) createIncident(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title    string   `json:"title"`
		Severity string   `json:"severity"`
		Alerts   []string `json:"alerts"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	inc, err := a.o.Incidents.Create(r.Context(), actor(r), req.Title, req.Severity, req.Alerts)
	if err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "incident.create", inc.ID, nil, inc)
	writeJSON(w, http.StatusCreated, inc)
}

func (a *API) getIncident(w http.ResponseWriter, r *http.Request) {
	inc, err := a.o.Incidents.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		notFoundOr(w, err)
		return
	}
	a.addRelatedEvents(r.Context(), inc)
	if inc.Timeline == nil {
		inc.Timeline = []incident.Entry{}
	}
	if inc.Actions == nil {
		inc.Actions = []incident.Action{}
	}
	writeJSON(w, http.StatusOK, inc)
}

func (a *API) patchIncident(w http.ResponseWriter, r *http.Request) {
	var p incident.Patch
	if err := decodeBody(w, r, &p); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	before, after, err := a.o.Incidents.Update(r.Context(), r.PathValue("id"), actor(r), p)
	if err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "incident.update", after.ID, before, after)
	writeJSON(w, http.StatusOK, after)
}

func (a *API) commentIncident(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	e, err := a.o.Incidents.Comment(r.Context(), r.PathValue("id"), actor(r), req.Text)
	if err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "incident.comment", r.PathValue("id"), nil, e)
	writeJSON(w, http.StatusCreated, e)
}

func (a *API) addTask(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title    string `json:"title"`
		Assignee string `json:"assignee"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t, err := a.o.Incidents.AddTask(r.Context(), r.PathValue("id"), actor(r), req.Title, req.Assignee)
	if err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "incident.task.add", r.PathValue("id"), nil, t)
	writeJSON(w, http.StatusCreated, t)
}

func (a *API) patchTask(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Done *bool `json:"done"`
	}
	if err := decodeBody(w, r, &req); err != nil || req.Done == nil {
		writeError(w, http.StatusBadRequest, `want {"done": true|false}`)
		return
	}
	if err := a.o.Incidents.SetTaskDone(r.Context(), r.PathValue("id"), r.PathValue("task"), actor(r), *req.Done); err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "incident.task.update", r.PathValue("task"), nil, req)
	writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("task"), "done": *req.Done})
}

func (a *API) flagObservable(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
		IOC   bool   `json:"ioc"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := a.o.Incidents.FlagObservable(r.Context(), r.PathValue("id"), actor(r), req.Kind, req.Value, req.IOC); err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "incident.observable", r.PathValue("id"), nil, req)
	writeJSON(w, http.StatusOK, req)
}

func (a *API) mergeIncidents(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Incidents []string `json:"incidents"`
	}
	if err := decodeBody(w, r, &req); err != nil || len(req.Incidents) == 0 {
		writeError(w, http.StatusBadRequest, `want {"incidents": ["id", ...]}`)
		return
	}
	if err := a.o.Incidents.Merge(r.Context(), r.PathValue("id"), req.Incidents, actor(r)); err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "incident.merge", r.PathValue("id"), nil, req)
	a.getIncident(w, r)
}

func (a *API) splitIncident(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Alerts []string `json:"alerts"`
		Title  string   `json:"title"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	inc, err := a.o.Incidents.Split(r.Context(), r.PathValue("id"), req.Alerts, req.Title, actor(r))
	if err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "incident.split", r.PathValue("id"), nil, map[string]any{"new_incident": inc.ID, "alerts": req.Alerts})
	writeJSON(w, http.StatusCreated, inc)
}

func (a *API) incidentReport(w http.ResponseWriter, r *http.Request) {
	inc, err := a.o.Incidents.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		notFoundOr(w, err)
		return
	}
	a.addRelatedEvents(r.Context(), inc)
	if err := incident.ServeReport(w, r, inc, a.o.Now()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

func (a *API) incidentMetrics(w http.ResponseWriter, r *http.Request) {
	since, err := timeparse.Parse(r.URL.Query().Get("since"), a.o.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	m, err := a.o.Incidents.Metrics(r.Context(), since)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) listRisk(w http.ResponseWriter, r *http.Request) {
	rs, err := a.o.Incidents.RiskScores(r.Context(), 1, 100)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entities": rs})
}

func (a *API) listSuppressions(w http.ResponseWriter, r *http.Request) {
	ss, err := a.o.Alerts.ListSuppressions(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"suppressions": ss})
}

func (a *API) createSuppression(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RuleID  string `json:"rule_id"`
		Query   string `json:"query"`
		Reason  string `json:"reason"`
		Expires string `json:"expires"` // RFC 3339 time or a duration from now ("7d")
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sp := &alert.Suppression{RuleID: req.RuleID, Query: req.Query, Reason: req.Reason, Author: actor(r)}
	if req.Expires != "" {
		if d, err := timeparse.Duration(req.Expires); err == nil {
			sp.Expires = a.o.Now().Add(d)
		} else if t, err := timeparse.Parse(req.Expires, a.o.Now()); err == nil && t.After(a.o.Now()) {
			sp.Expires = t
		} else {
			writeError(w, http.StatusBadRequest, "expires: want a future RFC 3339 time or a duration such as 7d")
			return
		}
	}
	p := PrincipalFrom(r.Context())
	if err := a.o.Recorder.AddSuppression(r.Context(), sp, p != nil && p.Can(auth.PermAdmin)); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, alert.ErrForbidden) {
			code = http.StatusForbidden
		}
		writeError(w, code, err.Error())
		return
	}
	a.audit(r, "suppression.create", sp.ID, nil, sp)
	writeJSON(w, http.StatusCreated, sp)
}

func (a *API) deleteSuppression(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	before, err := a.o.Alerts.GetSuppression(r.Context(), id)
	if err != nil {
		notFoundOr(w, err)
		return
	}
	if err := a.o.Recorder.RemoveSuppression(r.Context(), id); err != nil {
		notFoundOr(w, err)
		return
	}
	a.audit(r, "suppression.delete", id, before, nil)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	f := audit.Filter{Actor: v.Get("actor"), Action: v.Get("action"), Target: v.Get("target")}
	var err error
	if f.Since, err = timeparse.Parse(v.Get("since"), a.o.Now()); err != nil {
		writeError(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	if s := v.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil {
			writeError(w, http.StatusBadRequest, "limit: want an integer")
			return
		}
	}
	es, err := a.o.Audit.List(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}
