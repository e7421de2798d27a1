package httpin

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/vigilsec/vigil/internal/event"
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
	req, err := decodeOTLP(body, ct)
	if err != nil {
		h.stats.Rejected(InputOTLP, "bad_request", 1)
		otlpFail(w, ct, http.StatusBadRequest, err.Error())
		return
	}
	base := ingest.Raw{Format: ingest.FormatJSON, Input: InputOTLP, Received: time.Now(), Peer: r.RemoteAddr, Tags: h.tags(p)}
	msgs := otlpMessages(req.Logs(), base)
	if err := h.submit(r, InputOTLP, msgs); err != nil {
		if errors.Is(err, errClientGone) {
			return
		}
		otlpFail(w, ct, statusOf(err), err.Error())
		return
	}
	resp := plogotlp.NewExportResponse()
	var out []byte
	if ct == ctProtobuf {
		out, err = resp.MarshalProto()
	} else {
		out, err = resp.MarshalJSON()
	}
	if err != nil {
		otlpFail(w, ct, http.StatusInternalServerError, "encoding response")
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// decodeOTLP checks the nesting of body without recursion, then decodes it
// with pdata (whose decoders recurse into nested attribute values).
func decodeOTLP(body []byte, ct string) (plogotlp.ExportRequest, error) {
	req := plogotlp.NewExportRequest()
	if ct == ctJSON {
		if err := boundedJSON(body); err != nil {
			return req, fmt.Errorf("otlp json: %w", err)
		}
		if err := req.UnmarshalJSON(body); err != nil {
			return req, fmt.Errorf("otlp json: %w", err)
		}
		return req, nil
	}
	if err := checkProtoDepth(body); err != nil {
		return req, fmt.Errorf("otlp protobuf: %w", err)
	}
	if err := req.UnmarshalProto(body); err != nil {
		return req, fmt.Errorf("otlp protobuf: %w", err)
	}
	return req, nil
}

// otlpMessages turns every log record into a message.
func otlpMessages(ld plog.Logs, base ingest.Raw) []ingest.Raw {
	msgs := make([]ingest.Raw, 0, ld.LogRecordCount())
	seen := make(map[string]struct{}, 32)
	var buf []byte
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				clear(seen)
				buf = appendLogRecord(buf[:0], seen, rl.Resource().Attributes(), sl.Scope(), lrs.At(k))
				m := base
				m.Data = append([]byte(nil), buf...)
				msgs = append(msgs, m)
			}
		}
	}
	return msgs
}

// appendLogRecord writes a log record as one flat JSON object with ECS
// names:
//
//	@timestamp          time_unix_nano, else observed_time_unix_nano
//	message             the body, when it is not a map
//	otel.body.<k>       the body's entries, when it is a map (nested maps flattened with dots)
//	log.level           severity_text, else derived from severity_number
//	event.severity      severity_number
//	trace.id, span.id   hex ids
//	otel.scope.name, otel.scope.version
//	<attribute name>    each record attribute, then each resource attribute
//	                    (service.name, host.name, ... keep their names), nested
//	                    maps flattened with dots, arrays as JSON arrays
//
// The first writer of a name wins, in the order above, so the object never
// holds a key twice.
func appendLogRecord(b []byte, seen map[string]struct{}, res pcommon.Map, scope pcommon.InstrumentationScope, lr plog.LogRecord) []byte {
	w := flatWriter{b: append(b, '{'), seen: seen}
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	if ts != 0 && w.key(fieldTimestamp) {
		w.b = append(w.b, '"')
		w.b = ts.AsTime().UTC().AppendFormat(w.b, time.RFC3339Nano)
		w.b = append(w.b, '"')
	}
	body := lr.Body()
	switch body.Type() {
	case pcommon.ValueTypeEmpty:
	case pcommon.ValueTypeMap:
		w.flatMap("otel.body.", body.Map(), 0)
	case pcommon.ValueTypeStr:
		w.str("message", body.Str())
	default:
		w.str("message", body.AsString())
	}
	lvl := lr.SeverityText()
	if lvl == "" {
		lvl = severityName(lr.SeverityNumber())
	}
	w.str("log.level", lvl)
	if n := lr.SeverityNumber(); n != 0 && w.key("event.severity") {
		w.b = strconv.AppendInt(w.b, int64(n), 10)
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		w.str("trace.id", id.String())
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		w.str("span.id", id.String())
	}
	w.str("otel.scope.name", scope.Name())
	w.str("otel.scope.version", scope.Version())
	w.flatMap("", lr.Attributes(), 0)
	w.flatMap("", res, 0)
	return append(w.b, '}')
}

// flatWriter writes the members of one flat JSON object, each name once.
type flatWriter struct {
	b    []byte
	seen map[string]struct{}
	n    int
}

// key writes the member name k and reports true, or reports false if k
// was already written.
func (w *flatWriter) key(k string) bool {
	if _, dup := w.seen[k]; dup {
		return false
	}
	w.seen[k] = struct{}{}
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = event.AppendString(w.b, k)
	w.b = append(w.b, ':')
	return true
}

func (w *flatWriter) str(k, v string) {
	if v != "" && w.key(k) {
		w.b = event.AppendString(w.b, v)
	}
}

// maxFlatDepth bounds the flattening of nested attribute maps; deeper
// values are written as JSON text.
const maxFlatDepth = 16

func (w *flatWriter) flatMap(prefix string, m pcommon.Map, depth int) {
	m.Range(func(k string, v pcommon.Value) bool {
		name := prefix + k
		switch {
		case v.Type() == pcommon.ValueTypeEmpty:
		case v.Type() == pcommon.ValueTypeMap && depth < maxFlatDepth:
			w.flatMap(name+".", v.Map(), depth+1)
		default:
			if w.key(name) {
				w.b = appendScalar(w.b, v)
			}
		}
		return true
	})
}

// severityName maps an OTLP severity number to a level name.
func severityName(n plog.SeverityNumber) string {
	switch {
	case n <= 0:
		return ""
	case n <= 4:
		return "trace"
	case n <= 8:
		return "debug"
	case n <= 12:
		return "info"
	case n <= 16:
		return "warn"
	case n <= 20:
		return "error"
	}
	return "fatal"
}

// appendScalar writes an attribute value as JSON.
func appendScalar(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return event.AppendString(b, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
			return event.AppendString(b, v.AsString())
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeBytes:
		return event.AppendString(b, base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()))
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b = append(b, '[')
		for i := range s.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			e := s.At(i)
			if e.Type() == pcommon.ValueTypeMap || e.Type() == pcommon.ValueTypeSlice {
				b = event.AppendString(b, e.AsString())
				continue
			}
			b = appendScalar(b, e)
		}
		return append(b, ']')
	case pcommon.ValueTypeMap:
		return event.AppendString(b, v.AsString())
	}
	return append(b, "null"...)
}

// Protobuf message kinds on the paths to AnyValue in an
// ExportLogsServiceRequest (opentelemetry-proto field numbers).
type pbKind uint8

const (
	pbRequest pbKind = iota
	pbResourceLogs
	pbResource
	pbScopeLogs
	pbScope
	pbLogRecord
	pbKeyValue
	pbAnyValue
	pbArrayValue
	pbKVList
)

// pbChildren maps (kind, field number) to the kind of the embedded message.
var pbChildren = map[[2]int]pbKind{
	{int(pbRequest), 1}:      pbResourceLogs,
	{int(pbResourceLogs), 1}: pbResource,
	{int(pbResourceLogs), 2}: pbScopeLogs,
	{int(pbResource), 1}:     pbKeyValue,
	{int(pbScopeLogs), 1}:    pbScope,
	{int(pbScopeLogs), 2}:    pbLogRecord,
	{int(pbScope), 3}:        pbKeyValue,
	{int(pbLogRecord), 5}:    pbAnyValue,
	{int(pbLogRecord), 6}:    pbKeyValue,
	{int(pbKeyValue), 2}:     pbAnyValue,
	{int(pbAnyValue), 5}:     pbArrayValue,
	{int(pbAnyValue), 6}:     pbKVList,
	{int(pbArrayValue), 1}:   pbAnyValue,
	{int(pbKVList), 1}:       pbKeyValue,
}

// maxProtoDepth bounds message nesting in an OTLP request: the fixed
// structure takes 5 levels, each nested attribute value 2 or 3.
const maxProtoDepth = 64

var errProtoTooDeep = fmt.Errorf("protobuf nested deeper than %d levels", maxProtoDepth)

// checkProtoDepth walks the wire format along the message fields that can
// nest (attribute values) and fails if they nest deeper than maxProtoDepth
// or the encoding is malformed. Its own recursion is bounded by that depth.
func checkProtoDepth(b []byte) error {
	return walkProto(b, pbRequest, 0)
}

func walkProto(b []byte, kind pbKind, depth int) error {
	if depth > maxProtoDepth {
		return errProtoTooDeep
	}
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("malformed field tag")
		}
		b = b[n:]
		field, wire := int(tag>>3), tag&7
		switch wire {
		case 0:
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return errors.New("malformed varint")
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return errors.New("truncated fixed64")
			}
			b = b[8:]
		case 5:
			if len(b) < 4 {
				return errors.New("truncated fixed32")
			}
			b = b[4:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errors.New("malformed length")
			}
			sub := b[n : n+int(l)]
			b = b[n+int(l):]
			if child, ok := pbChildren[[2]int{int(kind), field}]; ok {
				if err := walkProto(sub, child, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unsupported wire type %d", wire)
		}
	}
	return nil
}
