package api

import (
	"net/http"

	"github.com/vigilsec/vigil/internal/audit"
)

// verifyAudit walks the audit log's hash chain (GET /api/v1/audit/verify,
// with any number of anchor=SEQ:HASH). A broken chain is still a 200: the
// report is the answer, and its ok and break fields say what was found.
func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request) {
	var anchors []audit.Anchor
	for _, s := range r.URL.Query()["anchor"] {
		an, err := audit.ParseAnchor(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		anchors = append(anchors, an)
	}
	rep, err := a.o.Audit.Verify(r.Context(), anchors...)
	if err != nil {
		a.o.Log.Error("verifying audit log", "err", err)
		writeError(w, http.StatusInternalServerError, "verifying audit log: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// Audit records a change made by the caller of r under its token's name,
// as the API's own handlers do: for endpoints other packages mount behind
// Require (the notification routes).
func (a *API) Audit(r *http.Request, action, target string, before, after any) {
	a.audit(r, action, target, before, after)
}
