package api

import (
	"net/http"
)

// verifyAudit walks the audit log's hash chain (GET /api/v1/audit/verify).
// A broken chain is still a 200: the report is the answer, and its ok and
// break fields say what was found.
func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request) {
	rep, err := a.o.Audit.Verify(r.Context())
	if err != nil {
		a.o.Log.Error("verifying audit log", "err", err)
		writeError(w, http.StatusInternalServerError, "verifying audit log: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
