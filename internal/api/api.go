// Package api serves Vigil's REST API: search, tokens, health, readiness and
// metrics. Every route but /healthz and /readyz needs a bearer token whose
// role allows the request.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/incident"
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/logevery"
	"github.com/vigilsec/vigil/internal/metrics"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/ruleset"
	"github.com/vigilsec/vigil/internal/rulestate"
	"github.com/vigilsec/vigil/internal/searchlimit"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/timeparse"
)

// MaxQueryLength bounds the q parameter.
const MaxQueryLength = 16 << 10

// Options are what the API serves from.
type Options struct {
	Store   store.Store
	Auth    *auth.Service
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Search runs searches within the server's search limits (nil: a
	// limiter with the default limits).
	Search *searchlimit.Limiter
	// Ready reports nil when the server accepts traffic.
	Ready func() error
	// Dependencies, if set, lists what the server needs and whether each
	// answers; /readyz shows them and is not ready while one fails.
	Dependencies func(context.Context) []Dependency
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Alerts lists stored alerts.
	Alerts *alert.Store
	// Recorder manages suppressions.
	Recorder *alert.Recorder
	// Incidents manages incidents.
	Incidents *incident.Manager
	// Audit records every change.
	Audit *audit.Log
	// Runner runs playbooks and manual response actions.
	Runner *respond.Runner
	// ReloadPlaybooks loads the playbooks again.
	ReloadPlaybooks func() error
	// Intel reports threat-intel feeds (nil when none are configured).
	Intel *intel.Manager
	// Rules returns the rule set in force.
	Rules func() *ruleset.Loaded
	// Reload loads the rules again.
	Reload func() error
	// RuleState enables and disables rules: the same State the console
	// changes and the detection path filters with. Nil answers 500 to its
	// endpoints.
	RuleState *rulestate.State
}

// API is the REST API.
type API struct {
	o Options
	// triage assigns and acknowledges alerts, as the console does.
	triage *alert.Triager
	// readyLog spaces out the log line of a failing dependency (load
	// balancers ask /readyz every few seconds).
	readyLog logevery.Every
	// deps is the last check of Options.Dependencies, shared by /readyz
	// callers for a second.
	deps depCache
}

// New returns the API.
func New(o Options) *API {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Ready == nil {
		o.Ready = func() error { return nil }
	}
	if o.Search == nil {
		o.Search = searchlimit.New(searchlimit.Limits{})
	}
	a := &API{o: o}
	if o.Alerts != nil {
		topts := alert.TriageOptions{Now: o.Now}
		if o.Audit != nil {
			topts.Audit = o.Audit.RecordTx
		}
		a.triage = alert.NewTriager(o.Alerts, topts)
	}
	return a
}

// Register mounts the API's routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		body := map[string]any{}
		depsOK := true
		if a.o.Dependencies != nil {
			var deps map[string]string
			var failed []Dependency
			deps, failed, depsOK = checkDependencies(a.deps.get(a.o.Dependencies, a.o.Now()))
			body["dependencies"] = deps
			for _, d := range failed {
				if a.readyLog.Due(time.Minute) {
					a.o.Log.Warn("readyz: a dependency does not answer", "dependency", d.Name, "err", d.Err)
				}
			}
		}
		if err := a.o.Ready(); err != nil {
			status, reason := "not ready", err.Error()
			if de, ok := errors.AsType[*DegradedError](err); ok {
				status, reason = "degraded", de.Reason
			}
			body["status"], body["reason"] = status, reason
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		if !depsOK {
			body["status"], body["reason"] = "not ready", "a dependency does not answer"
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		body["status"] = "ready"
		writeJSON(w, http.StatusOK, body)
	})
	mux.Handle("GET /metrics", a.Require(auth.PermRead, promhttp.HandlerFor(a.o.Metrics.Registry, promhttp.HandlerOpts{})))
	mux.Handle("GET /api/v1/search", a.Require(auth.PermRead, http.HandlerFunc(a.search)))
	mux.Handle("GET /api/v1/status", a.Require(auth.PermRead, http.HandlerFunc(a.status)))
	mux.Handle("GET /api/v1/alerts", a.Require(auth.PermRead, http.HandlerFunc(a.listAlerts)))
	mux.Handle("GET /api/v1/alerts/{id}/members", a.Require(auth.PermRead, http.HandlerFunc(a.listMembers)))
	a.registerIncidents(mux)
	a.registerTriage(mux)
	mux.Handle("GET /api/v1/audit/verify", a.Require(auth.PermAdmin, http.HandlerFunc(a.verifyAudit)))
	mux.Handle("GET /api/v1/rules", a.Require(auth.PermRead, http.HandlerFunc(a.listRules)))
	mux.Handle("POST /api/v1/rules/reload", a.Require(auth.PermWrite, http.HandlerFunc(a.reloadRules)))
	mux.Handle("POST /api/v1/rules/{id}/disable", a.Require(auth.PermWrite, http.HandlerFunc(a.ruleState(true))))
	mux.Handle("POST /api/v1/rules/{id}/enable", a.Require(auth.PermWrite, http.HandlerFunc(a.ruleState(false))))
	mux.Handle("GET /api/v1/intel", a.Require(auth.PermRead, http.HandlerFunc(a.intelStatus)))
	mux.Handle("GET /api/v1/users", a.Require(auth.PermAdmin, http.HandlerFunc(a.listUsers)))
	mux.Handle("POST /api/v1/users", a.Require(auth.PermAdmin, http.HandlerFunc(a.createUser)))
	a.registerUsers(mux)
	mux.Handle("GET /api/v1/tokens", a.Require(auth.PermAdmin, http.HandlerFunc(a.listTokens)))
	mux.Handle("POST /api/v1/tokens", a.Require(auth.PermAdmin, http.HandlerFunc(a.createToken)))
	mux.Handle("DELETE /api/v1/tokens/{id}", a.Require(auth.PermAdmin, http.HandlerFunc(a.revokeToken)))
	a.registerLogin(mux)
	a.registerSessions(mux)
}

type principalKey struct{}

// PrincipalFrom returns the caller authenticated by Require.
func PrincipalFrom(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(principalKey{}).(*auth.Principal)
	return p
}

// BearerToken returns the token of an "Authorization: Bearer T" header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Require wraps h so that only callers with permission perm reach it:
// no or bad credentials → 401, a role without the permission → 403.
func (a *API) Require(perm auth.Permission, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.o.Auth.Authenticate(r.Context(), BearerToken(r))
		switch {
		case errors.Is(err, auth.ErrUnauthorized), errors.Is(err, auth.ErrExpired):
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		case err != nil:
			a.o.Log.Error("authenticating request", "err", err)
			writeError(w, http.StatusInternalServerError, "authentication failed")
			return
		case !p.Can(perm):
			writeError(w, http.StatusForbidden, "role "+string(p.Role)+" may not do this")
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	v := r.URL.Query()
	q := v.Get("q")
	if len(q) > MaxQueryLength {
		writeError(w, http.StatusBadRequest, "query longer than 16 KiB")
		return
	}
	parsed, warns, err := query.ParseWarn(q, query.Options{})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := a.o.Now()
	req := store.SearchRequest{Query: parsed}
	if req.From, err = timeparse.Parse(v.Get("from"), now); err != nil {
		writeError(w, http.StatusBadRequest, "from: "+err.Error())
		return
	}
	if req.To, err = timeparse.Parse(v.Get("to"), now); err != nil {
		writeError(w, http.StatusBadRequest, "to: "+err.Error())
		return
	}
	for name, dst := range map[string]*int{"limit": &req.Limit, "offset": &req.Offset} {
		s := v.Get(name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, name+": want a non-negative integer")
			return
		}
		*dst = n
	}
	res, err := a.o.Search.Search(r.Context(), a.o.Store, searchUser(r.Context()), req)
	if err != nil {
		if r.Context().Err() != nil {
			return // client went away
		}
		// Bounds (busy 429, too many groups or memory 422, timeout 503)
		// and bad requests say what was wrong; anything else is logged
		// and answered without its detail.
		status, msg, retry := searchlimit.Public(err)
		if status == http.StatusInternalServerError {
			a.o.Log.Error("search failed", "query", q, "err", err)
		}
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retry))
		}
		writeError(w, status, msg)
		return
	}
	a.o.Metrics.QuerySeconds.Observe(time.Since(start).Seconds())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(AppendResult(nil, res, Warnings(parsed, warns, res, query.SeenFields)...))
}

// searchUser names the caller for the per-user search limit: the API
// token it authenticated with.
func searchUser(ctx context.Context) string {
	p := PrincipalFrom(ctx)
	if p == nil {
		return ""
	}
	if p.TokenID != "" {
		return "token:" + p.TokenID
	}
	return "user:" + p.Name
}

// IsAggregateResult reports whether res is an aggregate's table (Columns
// and Rows) rather than events.
func IsAggregateResult(res *store.Result) bool {
	return res.Rows != nil || (res.Columns != nil && res.Events == nil)
}

// Warnings returns the warnings of a search: those of parsing it
// (query.ParseWarn), then those that need the data (query.Advise: field
// names no event has, with suggestions; words such as user.name=root when
// nothing matched). fields is the set of known field names, usually
// query.SeenFields.
func Warnings(q *query.Query, parsed []query.Warning, res *store.Result, fields query.FieldSet) []string {
	empty := res.Total == 0
	if IsAggregateResult(res) {
		empty = len(res.Rows) == 0
	}
	var out []string
	for _, w := range parsed {
		out = append(out, w.String())
	}
	for _, w := range query.Advise(q, fields, empty) {
		out = append(out, w.String())
	}
	return out
}

// AppendResult appends the JSON form of a search result: {"total": N,
// "events": [...]} for event results (each event flat, with "_id"), and
// {"columns": [...], "rows": [[...]]} for aggregates. An event query with
// a fields pipe gives {"total": N, "columns": [...], "events": [...]}
// where each event has exactly the columns, in their order (null when the
// event lacks the field; an array when it has several values), and no
// "_id". Warnings, when there are any, follow as "warnings": [...].
func AppendResult(b []byte, res *store.Result, warnings ...string) []byte {
	b = appendResult(b, res)
	if len(warnings) == 0 {
		return b
	}
	b = append(b[:len(b)-1], `,"warnings":`...)
	ws, _ := json.Marshal(warnings)
	b = append(b, ws...)
	return append(b, '}')
}

func appendResult(b []byte, res *store.Result) []byte {
	if IsAggregateResult(res) {
		b = append(b, `{"columns":`...)
		cols, _ := json.Marshal(nonNil(res.Columns))
		b = append(b, cols...)
		b = append(b, `,"rows":[`...)
		for i, row := range res.Rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for j, cell := range row {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendCell(b, cell)
			}
			b = append(b, ']')
		}
		return append(b, "]}"...)
	}
	b = append(b, `{"total":`...)
	b = strconv.AppendInt(b, res.Total, 10)
	if res.Columns != nil {
		b = append(b, `,"columns":`...)
		cols, _ := json.Marshal(res.Columns)
		b = append(b, cols...)
	}
	b = append(b, `,"events":[`...)
	for i, h := range res.Events {
		if i > 0 {
			b = append(b, ',')
		}
		if res.Columns != nil {
			b = AppendProjected(b, h.Event, res.Columns)
			continue
		}
		if h.ID == "" {
			b = h.Event.AppendJSON(b)
			continue
		}
		// AppendJSON always opens with {"@timestamp":...; put "_id" first.
		b = append(b, `{"_id":`...)
		b = event.AppendString(b, h.ID)
		b = append(b, ',')
		n := len(b)
		b = h.Event.AppendJSON(b)
		b = append(b[:n], b[n+1:]...) // drop its opening brace
	}
	return append(b, "]}"...)
}

// AppendProjected appends ev as a JSON object of exactly cols, in order:
// a field's value, an array when it has several, null when it has none.
// Values are looked up as the query language does (query.FieldValues), so
// @timestamp, tags and the other reserved names work too.
func AppendProjected(b []byte, ev *event.Event, cols []string) []byte {
	b = append(b, '{')
	var vals []event.Value
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = event.AppendString(b, c)
		b = append(b, ':')
		vals = vals[:0]
		query.FieldValues(ev, c, func(v event.Value) bool {
			vals = append(vals, v)
			return true
		})
		switch len(vals) {
		case 0:
			b = append(b, "null"...)
		case 1:
			b = vals[0].AppendJSON(b)
		default:
			b = append(b, '[')
			for j, v := range vals {
				if j > 0 {
					b = append(b, ',')
				}
				b = v.AppendJSON(b)
			}
			b = append(b, ']')
		}
	}
	return append(b, '}')
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func appendCell(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		return event.Float(x).AppendJSON(b)
	case string:
		return event.AppendString(b, x)
	case time.Time:
		b = append(b, '"')
		b = x.UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	st, err := a.o.Store.Stats(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"store": map[string]any{"bytes": st.Bytes, "partitions": st.Partitions, "events": st.Events,
			"oldest": st.Oldest, "newest": st.Newest},
	})
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := a.o.Auth.ListTokens(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if toks == nil {
		toks = []auth.Token{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": toks})
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name    string   `json:"name"`
		Role    string   `json:"role"`
		Tags    []string `json:"tags"`
		Expires string   `json:"expires"` // RFC 3339 time or a duration from now ("30d")
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// No default role: a token has the role its creator chose.
	role, err := auth.ParseTokenRole(req.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var expires time.Time
	if req.Expires != "" {
		if d, derr := timeparse.Duration(req.Expires); derr == nil {
			expires = a.o.Now().Add(d)
		} else if expires, err = time.Parse(time.RFC3339, req.Expires); err != nil {
			writeError(w, http.StatusBadRequest, "expires: want an RFC 3339 time or a duration such as 30d")
			return
		}
	}
	secret, tok, err := a.o.Auth.CreateToken(r.Context(), req.Name, role, req.Tags, expires)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.audit(r, "token.create", tok.ID, nil, tok) // the secret is never recorded
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "id": tok.ID, "name": tok.Name, "role": tok.Role, "expires": tok.Expires})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := a.o.Auth.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	a.audit(r, "token.revoke", r.PathValue("id"), nil, nil)
	w.WriteHeader(http.StatusNoContent)
}

// decodeBody reads a JSON request body of at most 1 MiB into v, refusing
// unknown fields.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("invalid JSON body: " + err.Error())
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.o.Auth.ListUsers(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us})
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	u, err := a.o.Auth.CreateUser(r.Context(), req.Username, req.Password, role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.audit(r, "user.create", u.ID, nil, u) // never the password
	writeJSON(w, http.StatusCreated, u)
}

func (a *API) intelStatus(w http.ResponseWriter, r *http.Request) {
	feeds := []intel.FeedStatus{}
	if a.o.Intel != nil {
		feeds = a.o.Intel.Status()
	}
	writeJSON(w, http.StatusOK, map[string]any{"feeds": feeds})
}
