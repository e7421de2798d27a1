package httpin

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// FieldESIndex is the Raw.Fields name of the index a bulk action named.
const FieldESIndex = "es.index"

// bulkItem is the outcome of one bulk action.
type bulkItem struct {
	action string // index, create, delete, update, ...
	index  string
	id     string
	status int
	// errType and reason describe a failed item.
	errType string
	reason  string
}

// bulkRequest is a decoded bulk body.
type bulkRequest struct {
	items []bulkItem
	msgs  []ingest.Raw
}

// errBulkSyntax is a request-level bulk error: the whole request is refused.
var errBulkSyntax = errors.New("malformed bulk request")

// decodeBulk decodes an Elasticsearch bulk body: NDJSON action lines, each
// but delete followed by a source line. index and create actions with a
// valid JSON object source become messages; other actions and malformed
// sources become failed items. A malformed action line fails the request.
func decodeBulk(body []byte, pathIndex string, base ingest.Raw) (*bulkRequest, error) {
	var p fastjson.Parser
	req := &bulkRequest{}
	var pending *bulkItem // action awaiting its source line
	err := splitLines(body, func(line []byte, n int) error {
		if pending != nil {
			it := *pending
			pending = nil
			if it.status == 0 {
				if err := validSource(line); err != nil {
					it.status, it.errType = http.StatusBadRequest, "document_parsing_exception"
					it.reason = fmt.Sprintf("line %d: failed to parse source: %v", n, err)
				} else {
					it.status = http.StatusCreated
					m := base
					m.Data = line
					m.Fields = map[string]string{FieldESIndex: it.index}
					req.msgs = append(req.msgs, m)
				}
			}
			req.items = append(req.items, it)
			return nil
		}
		if err := boundedJSON(line); err != nil {
			return fmt.Errorf("%w: line %d: action: %w", errBulkSyntax, n, err)
		}
		v, err := p.ParseBytes(line)
		if err != nil {
			return fmt.Errorf("%w: line %d: action: %w", errBulkSyntax, n, err)
		}
		obj, err := v.Object()
		if err != nil || obj.Len() != 1 {
			return fmt.Errorf("%w: line %d: action must be an object with one key", errBulkSyntax, n)
		}
		var it bulkItem
		var meta *fastjson.Value
		obj.Visit(func(k []byte, v *fastjson.Value) {
			it.action = string(k)
			meta = v
		})
		if meta.Type() != fastjson.TypeObject {
			return fmt.Errorf("%w: line %d: action %q: metadata must be an object", errBulkSyntax, n, it.action)
		}
		it.index = pathIndex
		if s := meta.GetStringBytes("_index"); len(s) > 0 {
			it.index = string(s)
		}
		it.id = string(meta.GetStringBytes("_id"))
		switch it.action {
		case "index", "create":
			if it.index == "" {
				it.status, it.errType, it.reason = http.StatusBadRequest, "action_request_validation_exception", "index is missing"
			}
			if it.id == "" {
				it.id = newID()
			}
			pending = &it
		case "update":
			it.status, it.errType = http.StatusBadRequest, "illegal_argument_exception"
			it.reason = "vigil accepts only index and create bulk actions"
			pending = &it // its source line follows and is skipped
		case "delete":
			it.status, it.errType = http.StatusBadRequest, "illegal_argument_exception"
			it.reason = "vigil accepts only index and create bulk actions"
			req.items = append(req.items, it)
		default:
			return fmt.Errorf("%w: line %d: unknown action %q", errBulkSyntax, n, it.action)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if pending != nil {
		return nil, fmt.Errorf("%w: the last action has no source line", errBulkSyntax)
	}
	return req, nil
}

// boundedJSON checks that line is one JSON value nested at most MaxDepth
// deep, without recursion.
func boundedJSON(line []byte) error {
	i := skipSpace(line, 0)
	if i == len(line) {
		return errNoData
	}
	end, err := scanValue(line, i)
	if err != nil {
		return err
	}
	if skipSpace(line, end) != len(line) {
		return errors.New("data after the json value")
	}
	return nil
}

// validSource checks that line is exactly one valid JSON object.
func validSource(line []byte) error {
	i := skipSpace(line, 0)
	if i == len(line) || line[i] != '{' {
		return errNotObject
	}
	if err := boundedJSON(line); err != nil {
		return err
	}
	return fastjson.ValidateBytes(line)
}

// newID returns a random document id in the style of Elasticsearch's
// auto-generated ids (20 URL-safe characters).
func newID() string {
	var b [15]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[7:], rand.Uint64())
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// appendBulkResponse writes ES's bulk response shape.
func appendBulkResponse(b []byte, took time.Duration, items []bulkItem) []byte {
	errs := false
	for _, it := range items {
		if it.status >= 300 {
			errs = true
			break
		}
	}
	b = append(b, `{"took":`...)
	b = strconv.AppendInt(b, took.Milliseconds(), 10)
	b = append(b, `,"errors":`...)
	b = strconv.AppendBool(b, errs)
	b = append(b, `,"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = event.AppendString(b, it.action)
		b = append(b, `:{"_index":`...)
		b = event.AppendString(b, it.index)
		b = append(b, `,"_id":`...)
		b = event.AppendString(b, it.id)
		if it.status < 300 {
			b = append(b, `,"_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":`...)
			b = strconv.AppendInt(b, int64(it.status), 10)
		} else {
			b = append(b, `,"status":`...)
			b = strconv.AppendInt(b, int64(it.status), 10)
			b = append(b, `,"error":{"type":`...)
			b = event.AppendString(b, it.errType)
			b = append(b, `,"reason":`...)
			b = event.AppendString(b, it.reason)
			b = append(b, '}')
		}
		b = append(b, "}}"...)
	}
	return append(b, "]}\n"...)
}

// bulk serves POST /_bulk and POST /{index}/_bulk.
func (h *Handlers) bulk(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, ok := h.esAuth(w, r)
	if !ok {
		return
	}
	if !h.acquire() {
		h.stats.Rejected(InputBulk, "busy", 1)
		esFail(w, http.StatusTooManyRequests, "es_rejected_execution_exception", errBusy.Error())
		return
	}
	defer h.release()
	body, err := h.readBody(w, r)
	if err != nil {
		status := statusOf(err)
		h.stats.Rejected(InputBulk, rejectReason(status), 1)
		esFail(w, status, esErrType(status), err.Error())
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		h.stats.Rejected(InputBulk, "bad_request", 1)
		esFail(w, http.StatusBadRequest, "action_request_validation_exception", "request body is required")
		return
	}
	base := ingest.Raw{Format: ingest.FormatJSON, Input: InputBulk, Received: time.Now(), Peer: r.RemoteAddr, Tags: h.tags(p)}
	req, err := decodeBulk(body, r.PathValue("index"), base)
	if err != nil {
		h.stats.Rejected(InputBulk, "bad_request", 1)
		esFail(w, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		return
	}
	if bad := len(req.items) - len(req.msgs); bad > 0 {
		h.stats.Rejected(InputBulk, "bad_item", bad)
	}
	if err := h.submit(r, InputBulk, req.msgs); err != nil {
		if errors.Is(err, errClientGone) {
			return
		}
		status := statusOf(err)
		esFail(w, status, esErrType(status), err.Error())
		return
	}
	out := appendBulkResponse(make([]byte, 0, 64+160*len(req.items)), time.Since(start), req.items)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

func esErrType(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "es_rejected_execution_exception"
	case http.StatusServiceUnavailable:
		return "unavailable_shards_exception"
	case http.StatusRequestEntityTooLarge:
		return "content_too_long_exception"
	}
	return "parse_exception"
}
