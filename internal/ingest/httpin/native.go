package httpin

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// writeJSON writes v as the JSON response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

type nativeError struct {
	Error string `json:"error"`
}

// nativeFail answers a native API request with a JSON error.
func nativeFail(w http.ResponseWriter, status int, msg string) {
	setRetry(w, status)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	}
	writeJSON(w, status, nativeError{msg})
}

func authFailure(st authStatus) (int, string) {
	switch st {
	case authMissing:
		return http.StatusUnauthorized, "missing credentials: send Authorization: Bearer <token>"
	case authInvalid:
		return http.StatusUnauthorized, "invalid token"
	}
	return http.StatusForbidden, "token is not allowed to ingest events"
}

// native serves POST /api/v1/ingest: a JSON object, a JSON array of
// objects, or NDJSON. Each object becomes one FormatJSON message.
func (h *Handlers) native(w http.ResponseWriter, r *http.Request) {
	p, st := h.authenticate(r, InputNative)
	if st != authOK {
		status, msg := authFailure(st)
		nativeFail(w, status, msg)
		return
	}
	if !h.acquire() {
		h.stats.Rejected(InputNative, "busy", 1)
		nativeFail(w, http.StatusTooManyRequests, errBusy.Error())
		return
	}
	defer h.release()
	body, err := h.readBody(w, r)
	if err != nil {
		status := statusOf(err)
		h.stats.Rejected(InputNative, rejectReason(status), 1)
		nativeFail(w, status, err.Error())
		return
	}
	msgs, err := h.nativeMessages(body, p, r.RemoteAddr, time.Now())
	if err == nil && len(msgs) == 0 {
		err = errNoData
	}
	if err != nil {
		h.stats.Rejected(InputNative, "bad_request", 1)
		nativeFail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.submit(r, InputNative, msgs); err != nil {
		if errors.Is(err, errClientGone) {
			return
		}
		nativeFail(w, statusOf(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Accepted int `json:"accepted"`
	}{len(msgs)})
}

func (h *Handlers) nativeMessages(body []byte, p Principal, peer string, now time.Time) ([]ingest.Raw, error) {
	tags := h.tags(p)
	var msgs []ingest.Raw
	err := splitObjects(body, func(obj []byte) error {
		msgs = append(msgs, ingest.Raw{
			Data:     obj,
			Format:   ingest.FormatJSON,
			Input:    InputNative,
			Received: now,
			Peer:     peer,
			Tags:     tags,
		})
		return nil
	})
	return msgs, err
}
