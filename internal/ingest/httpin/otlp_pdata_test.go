package httpin

// This file keeps, for tests only, the OTLP decoder that the direct
// decoder (otlpwire.go, otlpjson.go, otlpevent.go) replaced: a wire walker
// bounding depth, then the OpenTelemetry collector's pdata. The
// equivalence test and the fuzz targets decode the same bodies with both
// and compare the events.

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest"
)

// pdataDecode checks the nesting of body without recursion, then decodes it
// with pdata (whose decoders recurse into nested attribute values).
func pdataDecode(body []byte, ct string) (plogotlp.ExportRequest, error) {
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
	if err := pdataCheckProtoDepth(body); err != nil {
		return req, fmt.Errorf("otlp protobuf: %w", err)
	}
	if err := req.UnmarshalProto(body); err != nil {
		return req, fmt.Errorf("otlp protobuf: %w", err)
	}
	return req, nil
}

// pdataMessages turns every log record into a message.
func pdataMessages(ld plog.Logs, base ingest.Raw) []ingest.Raw {
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
				buf = pdataAppendLogRecord(buf[:0], seen, rl.Resource().Attributes(), sl.Scope(), lrs.At(k))
				m := base
				m.Data = append([]byte(nil), buf...)
				msgs = append(msgs, m)
			}
		}
	}
	return msgs
}

// pdataAppendLogRecord writes a log record as one flat JSON object with ECS
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
func pdataAppendLogRecord(b []byte, seen map[string]struct{}, res pcommon.Map, scope pcommon.InstrumentationScope, lr plog.LogRecord) []byte {
	w := pdataFlatWriter{b: append(b, '{'), seen: seen}
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
		lvl = pdataSeverityName(lr.SeverityNumber())
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

// pdataFlatWriter writes the members of one flat JSON object, each name once.
type pdataFlatWriter struct {
	b    []byte
	seen map[string]struct{}
	n    int
}

// key writes the member name k and reports true, or reports false if k
// was already written.
func (w *pdataFlatWriter) key(k string) bool {
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

func (w *pdataFlatWriter) str(k, v string) {
	if v != "" && w.key(k) {
		w.b = event.AppendString(w.b, v)
	}
}

// pdataMaxFlatDepth bounds the flattening of nested attribute maps; deeper
// values are written as JSON text.
const pdataMaxFlatDepth = 16

func (w *pdataFlatWriter) flatMap(prefix string, m pcommon.Map, depth int) {
	m.Range(func(k string, v pcommon.Value) bool {
		name := prefix + k
		switch {
		case v.Type() == pcommon.ValueTypeEmpty:
		case v.Type() == pcommon.ValueTypeMap && depth < pdataMaxFlatDepth:
			w.flatMap(name+".", v.Map(), depth+1)
		default:
			if w.key(name) {
				w.b = pdataAppendScalar(w.b, v)
			}
		}
		return true
	})
}

// pdataSeverityName maps an OTLP severity number to a level name.
func pdataSeverityName(n plog.SeverityNumber) string {
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

// pdataAppendScalar writes an attribute value as JSON.
func pdataAppendScalar(b []byte, v pcommon.Value) []byte {
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
			b = pdataAppendScalar(b, e)
		}
		return append(b, ']')
	case pcommon.ValueTypeMap:
		return event.AppendString(b, v.AsString())
	}
	return append(b, "null"...)
}

// Protobuf message kinds on the paths to AnyValue in an
// ExportLogsServiceRequest (opentelemetry-proto field numbers).
type pdataPBKind uint8

const (
	pdataPBRequest pdataPBKind = iota
	pdataPBResourceLogs
	pdataPBResource
	pdataPBScopeLogs
	pdataPBScope
	pdataPBLogRecord
	pdataPBKeyValue
	pdataPBAnyValue
	pdataPBArrayValue
	pdataPBKVList
)

// pdataPBChildren maps (kind, field number) to the kind of the embedded message.
var pdataPBChildren = map[[2]int]pdataPBKind{
	{int(pdataPBRequest), 1}:      pdataPBResourceLogs,
	{int(pdataPBResourceLogs), 1}: pdataPBResource,
	{int(pdataPBResourceLogs), 2}: pdataPBScopeLogs,
	{int(pdataPBResource), 1}:     pdataPBKeyValue,
	{int(pdataPBScopeLogs), 1}:    pdataPBScope,
	{int(pdataPBScopeLogs), 2}:    pdataPBLogRecord,
	{int(pdataPBScope), 3}:        pdataPBKeyValue,
	{int(pdataPBLogRecord), 5}:    pdataPBAnyValue,
	{int(pdataPBLogRecord), 6}:    pdataPBKeyValue,
	{int(pdataPBKeyValue), 2}:     pdataPBAnyValue,
	{int(pdataPBAnyValue), 5}:     pdataPBArrayValue,
	{int(pdataPBAnyValue), 6}:     pdataPBKVList,
	{int(pdataPBArrayValue), 1}:   pdataPBAnyValue,
	{int(pdataPBKVList), 1}:       pdataPBKeyValue,
}

// pdataMaxProtoDepth bounds message nesting in an OTLP request: the fixed
// structure takes 5 levels, each nested attribute value 2 or 3.
const pdataMaxProtoDepth = 64

var errPdataProtoTooDeep = fmt.Errorf("protobuf nested deeper than %d levels", pdataMaxProtoDepth)

// pdataCheckProtoDepth walks the wire format along the message fields that can
// nest (attribute values) and fails if they nest deeper than pdataMaxProtoDepth
// or the encoding is malformed. Its own recursion is bounded by that depth.
func pdataCheckProtoDepth(b []byte) error {
	return pdataWalkProto(b, pdataPBRequest, 0)
}

func pdataWalkProto(b []byte, kind pdataPBKind, depth int) error {
	if depth > pdataMaxProtoDepth {
		return errPdataProtoTooDeep
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
			if child, ok := pdataPBChildren[[2]int{int(kind), field}]; ok {
				if err := pdataWalkProto(sub, child, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unsupported wire type %d", wire)
		}
	}
	return nil
}
