package findings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/timeparse"
)

// Auditor records a change made by an API caller (api.API.Audit).
type Auditor func(r *http.Request, action, target string, before, after any)

// HTTPOptions are what the API routes need from the server.
type HTTPOptions struct {
	// Require wraps a handler so that only callers with perm reach it.
	Require func(perm auth.Permission, h http.Handler) http.Handler
	// Audit records every change (nil: none).
	Audit Auditor
	// Actor names the authenticated caller for the history and the
	// two-person rule ("user:ann", "token:ci/<id>").
	Actor func(*http.Request) string
}

// maxActionBody bounds the body of a state change or an acceptance.
const maxActionBody = 16 << 10

// Register mounts the vulnerability API on mux:
//
//	GET  /api/v1/vulnerabilities/findings                        read
//	GET  /api/v1/vulnerabilities/findings.csv                    read
//	GET  /api/v1/vulnerabilities/findings/{id}                   read
//	POST /api/v1/vulnerabilities/findings/{id}/state             write
//	POST /api/v1/vulnerabilities/findings/{id}/accept            write
//	POST /api/v1/vulnerabilities/findings/{id}/accept/approve    admin
//	POST /api/v1/vulnerabilities/findings/{id}/accept/reject     admin
//	GET  /api/v1/vulnerabilities/summary                         read
//	GET  /api/v1/vulnerabilities/assets                          read
//	POST /api/v1/vulnerabilities/scans                           write
func (s *Service) Register(mux *http.ServeMux, o HTTPOptions) {
	if o.Audit == nil {
		o.Audit = func(*http.Request, string, string, any, any) {}
	}
	if o.Actor == nil {
		o.Actor = func(*http.Request) string { return "unknown" }
	}
	h := &handlers{s: s, o: o, uploads: make(chan struct{}, MaxConcurrentUploads)}
	const base = "/api/v1/vulnerabilities"
	mux.Handle("GET "+base+"/findings", o.Require(auth.PermRead, http.HandlerFunc(h.list)))
	mux.Handle("GET "+base+"/findings.csv", o.Require(auth.PermRead, http.HandlerFunc(h.csv)))
	mux.Handle("GET "+base+"/findings/{id}", o.Require(auth.PermRead, http.HandlerFunc(h.get)))
	mux.Handle("POST "+base+"/findings/{id}/state", o.Require(auth.PermWrite, http.HandlerFunc(h.state)))
	mux.Handle("POST "+base+"/findings/{id}/accept", o.Require(auth.PermWrite, http.HandlerFunc(h.accept)))
	mux.Handle("POST "+base+"/findings/{id}/accept/approve", o.Require(auth.PermAdmin, http.HandlerFunc(h.decide(true))))
	mux.Handle("POST "+base+"/findings/{id}/accept/reject", o.Require(auth.PermAdmin, http.HandlerFunc(h.decide(false))))
	mux.Handle("GET "+base+"/summary", o.Require(auth.PermRead, http.HandlerFunc(h.summary)))
	mux.Handle("GET "+base+"/assets", o.Require(auth.PermRead, http.HandlerFunc(h.assets)))
	mux.Handle("POST "+base+"/scans", o.Require(auth.PermWrite, http.HandlerFunc(h.upload)))
}

type handlers struct {
	s *Service
	o HTTPOptions
	// uploads holds a token per upload being read and reconciled.
	uploads chan struct{}
}

// MaxConcurrentUploads bounds the scan uploads read at once: each may
// hold up to MaxUploadBytes and its decoded packages in memory.
const MaxConcurrentUploads = 2

// readBody reads at most max bytes.
func readBody(r io.Reader, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: body larger than %d bytes", ErrInvalid, max)
	}
	return b, nil
}

// readJSON reads one JSON value of at most max bytes into v, refusing
// unknown fields.
func readJSON(r io.Reader, max int, v any) error {
	b, err := readBody(r, max)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: invalid JSON body: %w", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: invalid JSON body: more than one value", ErrInvalid)
	}
	return nil
}

// fail answers err with its status.
func (h *handlers) fail(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrSamePerson):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, ErrNoAdvisories):
		writeError(w, http.StatusServiceUnavailable, "no advisory database on the server: vigil vulndb import fills it")
	default:
		h.s.o.Log.Error(what, "err", err)
		writeError(w, http.StatusInternalServerError, what+" failed")
	}
}

// filter reads a Filter from the query: state and priority (repeated or
// comma-separated), asset, vulnerability, package, kev, sla_breached,
// limit, offset.
func filter(r *http.Request) (Filter, error) {
	q := r.URL.Query()
	var f Filter
	list := func(key string) []string {
		var out []string
		for _, v := range q[key] {
			for _, x := range strings.Split(v, ",") {
				if x = strings.TrimSpace(x); x != "" {
					out = append(out, x)
				}
			}
		}
		return out
	}
	f.State, f.Priority, f.Asset = list("state"), list("priority"), q.Get("asset")
	f.Vulnerability, f.Package = q.Get("vulnerability"), q.Get("package")
	if len(f.State) > len(States) || len(f.Priority) > len(priorities) {
		return f, fmt.Errorf("%w: too many state or priority values", ErrInvalid)
	}
	for i, p := range f.Priority {
		f.Priority[i] = strings.ToUpper(p)
	}
	for _, b := range []struct {
		key string
		dst **bool
	}{{"kev", &f.KEV}, {"sla_breached", &f.SLABreached}} {
		if v := q.Get(b.key); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return f, fmt.Errorf("%w: %s: want true or false", ErrInvalid, b.key)
			}
			*b.dst = &x
		}
	}
	for _, n := range []struct {
		key string
		dst *int
	}{{"limit", &f.Limit}, {"offset", &f.Offset}} {
		if v := q.Get(n.key); v != "" {
			x, err := strconv.Atoi(v)
			if err != nil {
				return f, fmt.Errorf("%w: %s: want a number", ErrInvalid, n.key)
			}
			*n.dst = x
		}
	}
	return f, nil
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		h.fail(w, "listing findings", err)
		return
	}
	fs, total, err := h.s.List(r.Context(), f)
	if err != nil {
		h.fail(w, "listing findings", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"findings": fs, "total": total})
}

func (h *handlers) csv(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err == nil {
		// The filter is checked before the first byte is written.
		_, _, err = f.where(h.s.now())
	}
	if err != nil {
		h.fail(w, "exporting findings", err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="vulnerability-findings.csv"`)
	if _, err := h.s.ExportCSV(r.Context(), w, f); err != nil {
		// The status is sent: the export ends short.
		h.s.o.Log.Error("exporting findings", "err", err)
	}
}

func (h *handlers) get(w http.ResponseWriter, r *http.Request) {
	f, err := h.s.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, "reading a finding", err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (h *handlers) summary(w http.ResponseWriter, r *http.Request) {
	sum, err := h.s.Summary(r.Context())
	if err != nil {
		h.fail(w, "summarising findings", err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func (h *handlers) assets(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r) // limit and offset
	if err != nil {
		h.fail(w, "listing assets", err)
		return
	}
	as, total, err := h.s.Assets(r.Context(), f.Limit, f.Offset)
	if err != nil {
		h.fail(w, "listing assets", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"assets": as, "total": total})
}

func (h *handlers) state(w http.ResponseWriter, r *http.Request) {
	var req struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	if err := readJSON(r.Body, maxActionBody, &req); err != nil {
		h.fail(w, "changing a finding's state", err)
		return
	}
	id := r.PathValue("id")
	from, err := h.s.SetState(r.Context(), id, req.State, h.o.Actor(r), req.Reason)
	if err != nil {
		h.fail(w, "changing a finding's state", err)
		return
	}
	h.o.Audit(r, "vulnerability.finding.state", id, map[string]string{"state": from}, map[string]string{"state": req.State, "reason": req.Reason})
	h.get(w, r)
}

func (h *handlers) accept(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason    string `json:"reason"`
		Expires   string `json:"expires"`    // RFC 3339 or a date
		ExpiresIn string `json:"expires_in"` // a duration: "90d"
	}
	if err := readJSON(r.Body, maxActionBody, &req); err != nil {
		h.fail(w, "requesting a risk acceptance", err)
		return
	}
	var until time.Time
	switch {
	case req.Expires != "" && req.ExpiresIn != "":
		h.fail(w, "", fmt.Errorf("%w: give expires or expires_in, not both", ErrInvalid))
		return
	case req.Expires != "":
		t, err := time.Parse(time.RFC3339, req.Expires)
		if err != nil {
			t, err = time.Parse(time.DateOnly, req.Expires)
		}
		if err != nil {
			h.fail(w, "", fmt.Errorf("%w: expires: want RFC 3339 or YYYY-MM-DD", ErrInvalid))
			return
		}
		until = t
	case req.ExpiresIn != "":
		d, err := timeparse.Duration(req.ExpiresIn)
		if err != nil {
			h.fail(w, "", fmt.Errorf("%w: expires_in: want a duration such as 90d", ErrInvalid))
			return
		}
		until = h.s.now().Add(d)
	default:
		h.fail(w, "", fmt.Errorf("%w: expires or expires_in is required", ErrInvalid))
		return
	}
	id := r.PathValue("id")
	a, err := h.s.RequestAcceptance(r.Context(), id, h.o.Actor(r), req.Reason, until)
	if err != nil {
		h.fail(w, "requesting a risk acceptance", err)
		return
	}
	h.o.Audit(r, "vulnerability.acceptance.request", id, nil, a)
	writeJSON(w, http.StatusCreated, a)
}

func (h *handlers) decide(approve bool) http.HandlerFunc {
	action, what := "vulnerability.acceptance.reject", "rejecting a risk acceptance"
	if approve {
		action, what = "vulnerability.acceptance.approve", "approving a risk acceptance"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Reason string `json:"reason"`
		}
		if r.ContentLength != 0 {
			if err := readJSON(r.Body, maxActionBody, &req); err != nil {
				h.fail(w, what, err)
				return
			}
		}
		id := r.PathValue("id")
		a, err := h.s.DecideAcceptance(r.Context(), id, h.o.Actor(r), approve, req.Reason)
		if err != nil {
			h.fail(w, what, err)
			return
		}
		h.o.Audit(r, action, id, map[string]string{"status": AcceptPending}, a)
		writeJSON(w, http.StatusOK, a)
	}
}

func (h *handlers) upload(w http.ResponseWriter, r *http.Request) {
	select {
	case h.uploads <- struct{}{}:
		defer func() { <-h.uploads }()
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("%d scan uploads are in progress: try again later", MaxConcurrentUploads))
		return
	}
	if h.s.uploadStarted != nil {
		h.s.uploadStarted()
	}
	body, err := readBody(r.Body, uploadLimit)
	if err != nil {
		h.fail(w, "reading a scan upload", err)
		return
	}
	q := r.URL.Query()
	inv, skipped, err := ParseUpload(body, UploadAsset{Name: q.Get("asset"), Criticality: q.Get("criticality"), Tags: q["tag"]})
	if err != nil {
		h.fail(w, "reading a scan upload", err)
		return
	}
	res, err := h.s.Reconcile(r.Context(), inv)
	if err != nil {
		h.fail(w, "reconciling a scan upload", err)
		return
	}
	h.o.Audit(r, "vulnerability.scan.upload", inv.Asset.ID, nil, res)
	writeJSON(w, http.StatusOK, map[string]any{"result": res, "skipped": skipped})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
