package agents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/agentwire"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/timeparse"
)

// Auditor records a change made by an API caller (api.API.Audit).
type Auditor func(r *http.Request, action, target string, before, after any)

// HTTPOptions are what the API routes need from the server.
type HTTPOptions struct {
	// Require wraps a handler so that only callers with perm reach it.
	Require func(perm auth.Permission, h http.Handler) http.Handler
	// Audit records token creation and revocation (nil: none).
	Audit Auditor
	// Source returns a request's client address (the rate limit of
	// enrollment); nil: the TCP peer.
	Source func(*http.Request) netip.Addr
}

// Register mounts the agents' API on mux:
//
//	POST /api/v1/agents/enrollment-tokens  admin   {"name", "expires_in", "max_uses"} → {"token", ...}
//	GET  /api/v1/agents/enrollment-tokens  admin   {"tokens": [...]} (never the secrets)
//	POST /api/v1/agents/enroll             the enrollment token alone (agentwire.EnrollRequest)
//	GET  /api/v1/agents                    read    {"agents": [...]}
//	POST /api/v1/agents/{id}/revoke        admin
//	GET  /api/v1/agents/{id}/packages      read    {"packages": [...]}
//	GET  /api/v1/agents/{id}/inventory     read    the other sections
//	GET  /api/v1/agents/{id}/inventory/history  read  {"changes": [...], "next"}
func (s *Service) Register(mux *http.ServeMux, o HTTPOptions) {
	if o.Audit == nil {
		o.Audit = func(*http.Request, string, string, any, any) {}
	}
	if o.Source == nil {
		o.Source = peer
	}
	h := &handlers{s: s, o: o, lim: newLimiter(s.o.Now, EnrollPerSource, EnrollWindow, maxSources)}
	mux.Handle("POST /api/v1/agents/enrollment-tokens", o.Require(auth.PermAdmin, http.HandlerFunc(h.createToken)))
	mux.Handle("GET /api/v1/agents/enrollment-tokens", o.Require(auth.PermAdmin, http.HandlerFunc(h.listTokens)))
	mux.HandleFunc("POST "+agentwire.EnrollPath, h.enroll)
	mux.Handle("GET /api/v1/agents", o.Require(auth.PermRead, http.HandlerFunc(h.list)))
	mux.Handle("POST /api/v1/agents/{id}/revoke", o.Require(auth.PermAdmin, http.HandlerFunc(h.revoke)))
	mux.Handle("GET /api/v1/agents/{id}/packages", o.Require(auth.PermRead, http.HandlerFunc(h.packages)))
	mux.Handle("GET /api/v1/agents/{id}/inventory", o.Require(auth.PermRead, http.HandlerFunc(h.inventory)))
	mux.Handle("GET /api/v1/agents/{id}/inventory/history", o.Require(auth.PermRead, http.HandlerFunc(h.history)))
}

type handlers struct {
	s   *Service
	o   HTTPOptions
	lim *limiter
}

func peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// maxTokenBody bounds the body of a token creation.
const maxTokenBody = 4 << 10

// readJSON reads one JSON value of at most max bytes into v, refusing
// unknown fields.
func readJSON(body io.Reader, max int, v any) error {
	b, err := io.ReadAll(io.LimitReader(body, int64(max)+1))
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if len(b) > max {
		return fmt.Errorf("body larger than %d bytes", max)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON body: more than one value")
	}
	return nil
}

func (h *handlers) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name      string `json:"name"`
		ExpiresIn string `json:"expires_in"` // a duration: "24h", "7d"
		MaxUses   int    `json:"max_uses"`
	}
	if err := readJSON(r.Body, maxTokenBody, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ttl time.Duration
	if req.ExpiresIn != "" {
		d, err := timeparse.Duration(req.ExpiresIn)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "expires_in: want a positive duration such as 24h or 7d")
			return
		}
		ttl = d
	}
	secret, tok, err := h.s.CreateToken(r.Context(), req.Name, ttl, req.MaxUses)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	h.o.Audit(r, "agent.token.create", tok.ID, nil, tok) // never the secret
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "id": tok.ID, "name": tok.Name,
		"expires": tok.Expires, "max_uses": tok.MaxUses})
}

func (h *handlers) listTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := h.s.ListTokens(r.Context())
	if err != nil {
		h.s.o.Log.Error("listing enrollment tokens", "err", err)
		writeError(w, http.StatusInternalServerError, "listing enrollment tokens failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": toks})
}

func (h *handlers) enroll(w http.ResponseWriter, r *http.Request) {
	src := h.o.Source(r)
	if ok, wait := h.lim.allow(src); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "too many enrollments from this address: try again later")
		return
	}
	var req agentwire.EnrollRequest
	if err := readJSON(r.Body, agentwire.MaxEnrollBody, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	res, err := h.s.Enroll(r.Context(), Enrollment{EnrollRequest: req, Host: host, Source: src.String()})
	switch {
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrToken):
		writeError(w, http.StatusUnauthorized, err.Error())
	case errors.Is(err, ErrRevoked):
		writeError(w, http.StatusForbidden, "this agent was revoked: it may not enroll again")
	case errors.Is(err, ErrDisabled):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		h.s.o.Log.Error("enrolling an agent", "err", err)
		writeError(w, http.StatusInternalServerError, "enrollment failed")
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	as, err := h.s.List(r.Context())
	if err != nil {
		h.s.o.Log.Error("listing agents", "err", err)
		writeError(w, http.StatusInternalServerError, "listing agents failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": as})
}

func (h *handlers) revoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !agentwire.IsAgentID(id) {
		writeError(w, http.StatusNotFound, ErrNotFound.Error())
		return
	}
	err := h.s.Revoke(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		h.s.o.Log.Error("revoking an agent", "err", err)
		writeError(w, http.StatusInternalServerError, "revoking the agent failed")
		return
	}
	h.o.Audit(r, "agent.revoke", id, nil, map[string]string{"status": StatusRevoked})
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
