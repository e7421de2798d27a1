package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vigilsec/vigil/internal/auth"
)

// maxBody bounds a route request body.
const maxBody = 1 << 20

// Register mounts the route API on mux. require wraps a handler with the
// authentication and permission check: reads need auth.PermRead, changes
// and tests auth.PermAdmin. audit records every change and test (nil
// records nothing).
func (n *Notifier) Register(mux *http.ServeMux, require func(perm auth.Permission, h http.Handler) http.Handler, audit Auditor) {
	if audit == nil {
		audit = func(*http.Request, string, string, any, any) {}
	}
	n.audit = audit
	mux.Handle("GET /api/v1/routes", require(auth.PermRead, http.HandlerFunc(n.handleList)))
	mux.Handle("POST /api/v1/routes", require(auth.PermAdmin, http.HandlerFunc(n.handleCreate)))
	mux.Handle("GET /api/v1/routes/{id}", require(auth.PermRead, http.HandlerFunc(n.handleGet)))
	mux.Handle("PATCH /api/v1/routes/{id}", require(auth.PermAdmin, http.HandlerFunc(n.handlePatch)))
	mux.Handle("DELETE /api/v1/routes/{id}", require(auth.PermAdmin, http.HandlerFunc(n.handleDelete)))
	mux.Handle("POST /api/v1/routes/{id}/test", require(auth.PermAdmin, http.HandlerFunc(n.handleTest)))
}

// routeView is a route as the API shows it: secrets masked, with its
// outbox counts.
type routeView struct {
	*Route
	Stats Counts `json:"stats"`
}

func (v routeView) MarshalJSON() ([]byte, error) {
	rb, err := v.Route.MarshalJSON()
	if err != nil {
		return nil, err
	}
	sb, err := json.Marshal(v.Stats)
	if err != nil {
		return nil, err
	}
	// rb is a JSON object: splice the stats in before its closing brace.
	out := append(rb[:len(rb)-1:len(rb)-1], []byte(`,"stats":`)...)
	out = append(out, sb...)
	return append(out, '}'), nil
}

func (n *Notifier) view(r *http.Request, rt Route) routeView {
	m := rt.Masked()
	v := routeView{Route: &m}
	if st, err := n.Stats(r.Context()); err == nil {
		v.Stats = st.Routes[rt.ID]
	}
	return v
}

func (n *Notifier) handleList(w http.ResponseWriter, r *http.Request) {
	rs, err := n.ListRoutes(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	st, _ := n.Stats(r.Context())
	out := make([]routeView, len(rs))
	for i := range rs {
		m := rs[i].Masked()
		out[i] = routeView{Route: &m, Stats: st.Routes[rs[i].ID]}
	}
	writeJSON(w, http.StatusOK, map[string]any{"routes": out})
}

func (n *Notifier) handleGet(w http.ResponseWriter, r *http.Request) {
	rt, err := n.GetRoute(r.Context(), r.PathValue("id"))
	if err != nil {
		writeRouteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n.view(r, rt))
}

func (n *Notifier) handleCreate(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var rt Route
	if err := json.Unmarshal(body, &rt); err != nil {
		writeError(w, http.StatusBadRequest, "invalid route JSON: "+err.Error())
		return
	}
	// Enabled unless the request says otherwise.
	var probe struct {
		Enabled *bool `json:"enabled"`
	}
	json.Unmarshal(body, &probe)
	rt.Enabled = probe.Enabled == nil || *probe.Enabled
	if rt.holdsMask() {
		writeError(w, http.StatusBadRequest, `"***" is the mask of a stored secret, not a secret`)
		return
	}
	created, err := n.CreateRoute(r.Context(), rt)
	if err != nil {
		writeRouteError(w, err)
		return
	}
	n.audit(r, "route.create", created.ID, nil, created.Masked())
	w.Header().Set("Location", "/api/v1/routes/"+created.ID)
	writeJSON(w, http.StatusCreated, n.view(r, created))
}

// handlePatch applies the fields present in the body to the route; secrets
// sent back as "***" keep their stored value.
func (n *Notifier) handlePatch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	old, err := n.GetRoute(r.Context(), id)
	if err != nil {
		writeRouteError(w, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		writeError(w, http.StatusBadRequest, "invalid route JSON: "+err.Error())
		return
	}
	rt := old
	// Unmarshal merges into maps and nested structs: replace the fields
	// that are present instead.
	if _, ok := keys["entities"]; ok {
		rt.Entities = nil
	}
	if _, ok := keys["email"]; ok && rt.Email != nil {
		e := *rt.Email
		rt.Email = &e
	}
	if _, ok := keys["syslog"]; ok && rt.Syslog != nil {
		s := *rt.Syslog
		rt.Syslog = &s
	}
	if err := json.Unmarshal(body, &rt); err != nil {
		writeError(w, http.StatusBadRequest, "invalid route JSON: "+err.Error())
		return
	}
	rt.ID = id
	if rt.URL, err = restoreURL(rt.URL, old.URL); err != nil {
		writeRouteError(w, err)
		return
	}
	rt.restoreSecrets(&old)
	updated, err := n.UpdateRoute(r.Context(), rt)
	if err != nil {
		writeRouteError(w, err)
		return
	}
	n.audit(r, "route.update", updated.ID, old.Masked(), updated.Masked())
	writeJSON(w, http.StatusOK, n.view(r, updated))
}

func (n *Notifier) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	old, err := n.GetRoute(r.Context(), id)
	if err == nil {
		err = n.DeleteRoute(r.Context(), id)
	}
	if err != nil {
		writeRouteError(w, err)
		return
	}
	n.audit(r, "route.delete", id, old.Masked(), nil)
	w.WriteHeader(http.StatusNoContent)
}

func (n *Notifier) handleTest(w http.ResponseWriter, r *http.Request) {
	err := n.Test(r.Context(), r.PathValue("id"))
	if !errors.Is(err, ErrNotFound) {
		// A test sends a message: recorded whether it was delivered or not.
		n.audit(r, "route.test", r.PathValue("id"), nil, map[string]bool{"delivered": err == nil})
	}
	switch {
	case errors.Is(err, ErrNotFound):
		writeRouteError(w, err)
	case err != nil:
		// The route exists but its destination failed: say why.
		writeJSON(w, http.StatusBadGateway, map[string]any{"delivered": false, "error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"delivered": true})
	}
}

// routeFields are the top-level keys a route body may carry ("id" and
// "stats" are accepted and ignored, so a route read from the API can be sent
// back as it is).
var routeFields = map[string]bool{
	"id": true, "name": true, "type": true, "url": true, "secret": true, "min_level": true,
	"tags": true, "rules": true, "entities": true, "rate_limit": true, "digest": true,
	"email": true, "syslog": true, "enabled": true, "stats": true,
}

// checkFields rejects unknown top-level keys, so that a misspelt filter
// does not silently widen a route.
func checkFields(body []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return fmt.Errorf("invalid route JSON: %w", err)
	}
	for k := range keys {
		if !routeFields[k] {
			return fmt.Errorf("unknown route field %q", k)
		}
	}
	return nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, errors.New("empty request body: want a route JSON object")
	}
	if err := checkFields(b); err != nil {
		return nil, err
	}
	return b, nil
}

func writeRouteError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
