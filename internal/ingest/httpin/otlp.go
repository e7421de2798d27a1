package httpin

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

const (
	ctProtobuf = "application/x-protobuf"
	ctJSON     = "application/json"
)

// gRPC status codes used in OTLP error responses (google.rpc.Status).
const (
	rpcInvalidArgument   = 3
	rpcPermissionDenied  = 7
	rpcResourceExhausted = 8
	rpcUnavailable       = 14
	rpcUnauthenticated   = 16
)

// otlpFail answers with a google.rpc.Status in the request's encoding, as
// the OTLP/HTTP specification asks.
func otlpFail(w http.ResponseWriter, ct string, status int, msg string) {
	setRetry(w, status)
	code := rpcUnavailable
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		code = rpcInvalidArgument
	case http.StatusUnauthorized:
		code = rpcUnauthenticated
	case http.StatusForbidden:
		code = rpcPermissionDenied
	case http.StatusTooManyRequests:
		code = rpcResourceExhausted
	}
	if ct == ctProtobuf {
		// Status{code = 1 (int32), message = 2 (string)}.
		b := []byte{0x08}
		b = binary.AppendUvarint(b, uint64(code))
		b = append(b, 0x12)
		b = binary.AppendUvarint(b, uint64(len(msg)))
		b = append(b, msg...)
		w.Header().Set("Content-Type", ctProtobuf)
		w.WriteHeader(status)
		w.Write(b)
		return
	}
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	w.Header().Set("Content-Type", ctJSON)
	w.WriteHeader(status)
	w.Write(b)
}

// otlp serves POST /v1/logs (OTLP/HTTP, protobuf or JSON). Each log record
// becomes one FormatJSON message: a flat object built by appendLogRecord.
func (h *Handlers) otlp(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != ctProtobuf && ct != ctJSON {
		h.stats.Rejected(InputOTLP, "bad_request", 1)
		otlpFail(w, ctJSON, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported content type %q: send %s or %s", ct, ctProtobuf, ctJSON))
		return
	}
	p, st := h.authenticate(r, InputOTLP)
	if st != authOK {
		status, msg := authFailure(st)
		otlpFail(w, ct, status, msg)
		return
	}
	if !h.acquire() {
		h.stats.Rejected(InputOTLP, "busy", 1)
		otlpFail(w, ct, http.StatusTooManyRequests, errBusy.Error())
		return
	}
	defer h.release()
	body, err := h.readBody(w, r)
	if err != nil {
		status := statusOf(err)
		h.stats.Rejected(InputOTLP, rejectReason(status), 1)
		otlpFail(w, ct, status, err.Error())
		return
	}
	limit := otlpMaxEvents(int64(h.cfg.MaxBodySize))
	d, err := decodeOTLP(body, ct, limit)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		h.stats.Rejected(InputOTLP, rejectReason(status), 1)
		otlpFail(w, ct, status, err.Error())
		return
	}
	base := ingest.Raw{Format: ingest.FormatJSON, Input: InputOTLP, Received: time.Now(), Peer: r.RemoteAddr, Tags: h.tags(p)}
	msgs, err := d.messages(base, limit)
	d.release()
	if err != nil {
		status := statusOf(err)
		h.stats.Rejected(InputOTLP, rejectReason(status), 1)
		otlpFail(w, ct, status, err.Error())
		return
	}
	if err := h.submit(r, InputOTLP, msgs); err != nil {
		if errors.Is(err, errClientGone) {
			return
		}
		otlpFail(w, ct, statusOf(err), err.Error())
		return
	}
	// An ExportLogsServiceResponse with an empty partial_success (what
	// pdata's ExportResponse encodes to).
	out := otlpOKProto
	if ct == ctJSON {
		out = otlpOKJSON
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

var (
	otlpOKProto = []byte{0x0a, 0x00}
	otlpOKJSON  = []byte(`{"partialSuccess":{}}`)
)

// decodeOTLP decodes a request body in either encoding, failing with
// errTooLarge if it holds more records than events of limit bytes could
// (so that a body of empty records fails before filling the arenas). The
// caller releases the result once done with it.
func decodeOTLP(body []byte, ct string, limit int) (*otlpLogs, error) {
	maxRecords := limit / (otlpEventOverhead + len("{}"))
	if ct == ctJSON {
		d, err := decodeOTLPJSON(body, maxRecords)
		if err != nil {
			return nil, fmt.Errorf("otlp json: %w", err)
		}
		return d, nil
	}
	d, err := decodeOTLPProto(body, maxRecords)
	if err != nil {
		return nil, fmt.Errorf("otlp protobuf: %w", err)
	}
	return d, nil
}
