package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/csvsafe"
)

// listMembers answers GET /api/v1/alerts/{id}/members: the subjects of a
// campaign alert, a page at a time (?kind=, ?prefix=, ?after=, ?limit=,
// ?offset=), or all of them as CSV (?format=csv), written a page at a
// time so that a campaign of a million addresses costs a page of memory.
func (a *API) listMembers(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	id := r.PathValue("id")
	if _, err := a.o.Alerts.Get(r.Context(), id); err != nil {
		notFoundOr(w, err)
		return
	}
	f := alert.MemberFilter{Kind: v.Get("kind"), Prefix: v.Get("prefix"), After: v.Get("after")}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &f.Limit}, {"offset", &f.Offset}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, p.name+": want a non-negative integer")
				return
			}
			*p.dst = n
		}
	}
	switch v.Get("format") {
	case "", "json":
		ms, err := a.o.Alerts.Members(r.Context(), id, f)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		// A full page may have more after it. The store pages by 1,000
		// by default and by at most 100,000 (alert.MemberFilter): a limit
		// past that gives a page of 100,000, which is full too.
		page := f.Limit
		if page == 0 {
			page = 1000
		}
		next := ""
		if len(ms) > 0 && len(ms) == min(page, 100000) {
			next = ms[len(ms)-1].Value
		}
		writeJSON(w, http.StatusOK, map[string]any{"members": ms, "next_after": next})
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="alert-`+id+`-members.csv"`)
		// Members are values from logs: a user name can be a formula.
		cw := csvsafe.NewWriter(w)
		cw.Write([]string{"kind", "value", "first_seen", "last_seen", "count"})
		f.Limit, f.Offset = 10000, 0
		for {
			ms, err := a.o.Alerts.Members(r.Context(), id, f)
			if err != nil {
				// The header is sent: the error can only end the body.
				cw.Write([]string{"error", err.Error()})
				break
			}
			for _, m := range ms {
				cw.Write([]string{m.Kind, m.Value, m.FirstSeen.Format(time.RFC3339Nano), m.LastSeen.Format(time.RFC3339Nano), strconv.FormatInt(m.Count, 10)})
			}
			if len(ms) < f.Limit {
				break
			}
			f.After = ms[len(ms)-1].Value
			f.Kind = ms[len(ms)-1].Kind
		}
		cw.Flush()
	default:
		writeError(w, http.StatusBadRequest, "format: want json or csv")
	}
}
