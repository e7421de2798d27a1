package httpin

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/ingesttest"
)

// newEvents decodes body with the direct decoder and returns its events,
// failing if they pass limit bytes.
func newEvents(body []byte, ct string, limit int) ([]string, error) {
	d, err := decodeOTLP(body, ct, limit)
	if err != nil {
		return nil, err
	}
	msgs, err := d.messages(ingest.Raw{}, limit)
	d.release()
	if err != nil {
		return nil, err
	}
	return eventTexts(msgs), nil
}

// oldEvents decodes body with the pdata path the direct decoder replaced.
func oldEvents(body []byte, ct string) ([]string, error) {
	req, err := pdataDecode(body, ct)
	if err != nil {
		return nil, err
	}
	return eventTexts(pdataMessages(req.Logs(), ingest.Raw{})), nil
}

func eventTexts(msgs []ingest.Raw) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Data)
	}
	return out
}

// Protobuf writers for hand-built bodies.
func pbTag(f, wire int) []byte { return binary.AppendUvarint(nil, uint64(f)<<3|uint64(wire)) }
func pbMsg(f int, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(binary.AppendUvarint(pbTag(f, wireLen), uint64(len(body))), body...)
}
func pbStr(f int, s string) []byte          { return pbMsg(f, []byte(s)) }
func pbVarint(f int, v uint64) []byte       { return binary.AppendUvarint(pbTag(f, wireVarint), v) }
func pbFixed64(f int, v uint64) []byte      { return binary.LittleEndian.AppendUint64(pbTag(f, wireI64), v) }
func pbFixed32(f int, v uint32) []byte      { return binary.LittleEndian.AppendUint32(pbTag(f, wireI32), v) }
func pbJoin(parts ...[]byte) []byte         { return bytes.Join(parts, nil) }
func pbKV(f int, k string, v []byte) []byte { return pbMsg(f, pbStr(1, k), pbMsg(2, v)) }

// pbRecords wraps log records in a request: one resource with attrs, one
// scope named "s".
func pbRecords(resAttrs []byte, records ...[]byte) []byte {
	var recs []byte
	for _, r := range records {
		recs = append(recs, pbMsg(2, r)...)
	}
	return pbMsg(1, pbMsg(1, resAttrs), pbMsg(2, pbMsg(1, pbStr(1, "s")), recs))
}

// allKindsLogs builds records whose bodies and attributes cover every
// AnyValue kind, with the edge values of each.
func allKindsLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("service.name", "svc")
	ra.PutStr("message", "from resource")
	ra.PutEmptyMap("k8s").PutStr("pod", "p-1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("scope")
	sl.Scope().SetVersion("v1")
	sl.Scope().Attributes().PutStr("scope.attr", "x")

	fill := func(m pcommon.Map) {
		m.PutStr("str", "plain <>& \u2028 \x01\b\f\n\t\"\\ é 😀")
		m.PutStr("empty.str", "")
		m.PutInt("int.max", math.MaxInt64)
		m.PutInt("int.min", math.MinInt64)
		for i, f := range []float64{0.5, math.Copysign(0, -1), 1e21, 1e-7, 123456789, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64} {
			m.PutDouble(fmt.Sprintf("double.%d", i), f)
		}
		m.PutBool("bool.t", true)
		m.PutBool("bool.f", false)
		m.PutEmptyBytes("bytes.empty")
		m.PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2, 0xfe, 0xff})
		m.PutEmpty("empty")
		s := m.PutEmptySlice("array")
		s.AppendEmpty()
		s.AppendEmpty().SetStr("a")
		s.AppendEmpty().SetInt(-2)
		s.AppendEmpty().SetDouble(math.NaN())
		s.AppendEmpty().SetDouble(2.5)
		s.AppendEmpty().SetBool(true)
		s.AppendEmpty().SetEmptyBytes().FromRaw([]byte("hi"))
		s.AppendEmpty().SetEmptyBytes()
		in := s.AppendEmpty().SetEmptySlice()
		in.AppendEmpty().SetStr("nested")
		in.AppendEmpty().SetEmptyBytes()
		im := s.AppendEmpty().SetEmptyMap()
		im.PutStr("z", "last")
		im.PutStr("a", "first")
		im.PutStr("a", "dup wins")
		im.PutEmpty("nil")
		im.PutStr("html", "<b>&\u2029\x7f\xff")
		s.AppendEmpty().SetEmptyMap().PutDouble("nan", math.NaN())
		m.PutEmptySlice("array.empty")
		m.PutEmptyMap("map.empty")
		deep := m.PutEmptyMap("deep")
		for i := range 17 {
			deep.PutInt(fmt.Sprintf("v%d", i), int64(i))
			deep = deep.PutEmptyMap(fmt.Sprintf("m%d", i))
		}
		deep.PutStr("bottom", "x")
		m.PutStr("str", "duplicate of an earlier key")
		m.PutEmptyMap("dotted").PutStr("key", "flattened")
		m.PutStr("dotted.key", "clashes with the flattened name")
	}

	t0 := time.Date(2024, 5, 1, 10, 0, 0, 123, time.UTC)
	bodies := []func(v pcommon.Value){
		func(v pcommon.Value) {},
		func(v pcommon.Value) { v.SetStr("") },
		func(v pcommon.Value) { v.SetStr("a body") },
		func(v pcommon.Value) { v.SetInt(-42) },
		func(v pcommon.Value) { v.SetDouble(1e-9) },
		func(v pcommon.Value) { v.SetDouble(math.Inf(-1)) },
		func(v pcommon.Value) { v.SetBool(false) },
		func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte("bytes body")) },
		func(v pcommon.Value) { v.SetEmptyBytes() },
		func(v pcommon.Value) {
			s := v.SetEmptySlice()
			s.AppendEmpty().SetStr("x")
			s.AppendEmpty().SetEmptyMap().PutInt("n", 1)
		},
		func(v pcommon.Value) { v.SetEmptySlice().AppendEmpty().SetDouble(math.NaN()) },
		func(v pcommon.Value) { fill(v.SetEmptyMap()) },
		func(v pcommon.Value) { v.SetEmptyMap() },
	}
	for i, setBody := range bodies {
		lr := sl.LogRecords().AppendEmpty()
		switch i % 3 {
		case 0:
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Hour)))
		case 1:
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0))
		}
		lr.SetSeverityNumber(plog.SeverityNumber(i * 2))
		if i%4 == 1 {
			lr.SetSeverityText("Custom")
		}
		if i%2 == 0 {
			lr.SetTraceID(pcommon.TraceID{0xab, byte(i), 15: 1})
			lr.SetSpanID(pcommon.SpanID{0xcd, byte(i), 7: 1})
		}
		lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
		lr.SetEventName("event")
		setBody(lr.Body())
		fill(lr.Attributes())
	}
	// Severities past the enum, timestamps past 2262 and before 1970.
	for _, sev := range []int32{25, 100, -3, math.MaxInt32} {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumber(sev))
		lr.SetTimestamp(pcommon.Timestamp(math.MaxUint64 - uint64(sev)))
	}
	// A second resource with two scopes, one empty.
	rl2 := ld.ResourceLogs().AppendEmpty()
	rl2.Resource().Attributes().PutStr("host.name", "h2")
	rl2.ScopeLogs().AppendEmpty()
	sl2 := rl2.ScopeLogs().AppendEmpty()
	sl2.LogRecords().AppendEmpty().Body().SetStr("second resource")
	sl2.LogRecords().AppendEmpty()
	ld.ResourceLogs().AppendEmpty()
	return ld
}

// otlpCorpus returns request bodies, in both encodings, that every
// decoder must accept: the bodies of the other tests, generated ones and
// hand-written edge cases.
func otlpCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	corpus := map[string][]byte{}
	for name, ld := range map[string]plog.Logs{"sample": sampleLogs(), "bench": benchLogs(3), "kinds": allKindsLogs(), "empty": plog.NewLogs()} {
		req := plogotlp.NewExportRequestFromLogs(ld)
		pb, err := req.MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		corpus[name+".pb"] = pb
		js, err := req.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		corpus[name+".json"] = js
	}

	str := func(s string) []byte { return pbStr(1, s) }
	for name, body := range map[string][]byte{
		"empty body": nil,
		"unknown fields of every wire type at every level": pbJoin(
			pbVarint(99, 1), pbFixed64(98, 2), pbFixed32(97, 3), pbStr(96, "x"),
			pbMsg(1,
				pbVarint(99, 1), pbStr(4, "?"),
				pbMsg(1, pbFixed32(99, 1), pbKV(1, "k", pbJoin(str("v"), pbVarint(99, 7))), pbMsg(3, pbStr(1, "url"), pbStr(2, "t"), pbStr(3, "id"), pbStr(4, "d"), pbVarint(9, 1))),
				pbMsg(2, pbFixed64(99, 1),
					pbMsg(1, pbStr(1, "n"), pbStr(2, "v"), pbKV(3, "sk", str("sv")), pbVarint(4, 2), pbStr(99, "u")),
					pbMsg(2, pbStr(99, "u"), pbMsg(5, str("b")), pbKV(6, "a", pbJoin(pbMsg(6, pbKV(1, "x", str("y")), pbVarint(9, 9)), pbStr(99, "u"))), pbKV(6, "arr", pbMsg(5, pbMsg(1, str("e")), pbVarint(8, 1))), pbVarint(7, 3), pbFixed32(8, 1), pbStr(12, "ev")),
					pbStr(3, "schema")),
				pbStr(3, "schema"))),
		"resource after scope logs, twice, merged": pbMsg(1,
			pbMsg(2, pbMsg(2, pbMsg(5, str("body")))),
			pbMsg(1, pbKV(1, "r1", str("a"))),
			pbMsg(1, pbKV(1, "r2", str("b")), pbKV(1, "r1", str("dup"))),
		),
		"scope after records, twice, merged": pbMsg(1, pbMsg(2,
			pbMsg(2, pbMsg(5, str("body"))),
			pbMsg(1, pbStr(1, "first"), pbStr(2, "v1")),
			pbMsg(1, pbStr(1, "second")),
		)),
		"oneof replaced and body merged": pbRecords(nil,
			pbJoin(pbMsg(5, str("first"), pbVarint(3, 7)), pbMsg(5), pbStr(3, "TEXT"), pbStr(3, "")),
			pbJoin(pbMsg(5, pbMsg(6, pbKV(1, "a", str("1")))), pbMsg(5, pbMsg(6, pbKV(1, "b", str("2"))))),
			pbJoin(pbMsg(5, str("x"), pbVarint(8, 3))),
			pbJoin(pbKV(6, "v", str("one")), pbMsg(6, pbStr(1, "w"), pbMsg(2, str("x")), pbMsg(2, pbVarint(2, 1)), pbStr(1, "w2"))),
		),
		"ids set, replaced and cleared": pbRecords(nil,
			pbJoin(pbMsg(9, bytes.Repeat([]byte{1}, 16)), pbMsg(10, bytes.Repeat([]byte{2}, 8))),
			pbJoin(pbMsg(9, bytes.Repeat([]byte{1}, 16)), pbMsg(9), pbMsg(10, bytes.Repeat([]byte{2}, 8)), pbMsg(10, bytes.Repeat([]byte{3}, 8))),
			pbMsg(9, make([]byte, 16)),
		),
		"severity numbers truncated to int32": pbRecords(nil,
			pbVarint(2, 1<<32|9), pbVarint(2, math.MaxUint64), pbVarint(2, 1<<31),
		),
		"timestamps": pbRecords(nil,
			pbJoin(pbFixed64(1, 0), pbFixed64(11, 1714557600000000001)),
			pbJoin(pbFixed64(1, 1), pbFixed64(11, 2)),
			pbFixed64(1, 1<<63),
		),
		"deprecated scope logs alone are used": pbMsg(1,
			pbMsg(1, pbKV(1, "host.name", str("old"))),
			pbMsg(1000, pbMsg(1, pbStr(1, "legacy")), pbMsg(2, pbMsg(5, str("legacy body")))),
		),
		"deprecated scope logs beside scope logs are not": pbMsg(1,
			pbMsg(1000, pbMsg(2, pbMsg(5, str("dropped")))),
			pbMsg(2, pbMsg(2, pbMsg(5, str("kept")))),
		),
		"invalid utf-8 and duplicate names": pbRecords(pbJoin(pbKV(1, "a\xff", str("r")), pbKV(1, "a\xfe", str("r2"))),
			pbJoin(pbMsg(5, str("bad \xff\xfe utf-8")), pbKV(6, "a\xff", str("rec")), pbKV(6, "", str("empty key")), pbKV(6, "", str("again")))),
		"flattened names clash with fixed ones": pbRecords(pbKV(1, "log.level", str("from resource")),
			pbJoin(pbStr(3, "INFO"), pbKV(6, "message", str("attr")), pbKV(6, "otel", pbMsg(6, pbKV(1, "scope", pbMsg(6, pbKV(1, "name", str("nested"))))))),
			pbJoin(pbKV(6, "@timestamp", str("attr time")), pbKV(6, "trace.id", str("attr")), pbKV(6, "event.severity", str("attr")))),
	} {
		corpus[name+".pb"] = body
	}

	kv := func(k, v string) string { return `{"key":"` + k + `","value":` + v + `}` }
	rec := func(fields string) string {
		return `{"resourceLogs":[{"resource":{"attributes":[` + kv("host.name", `{"stringValue":"web01"}`) + `]},"scopeLogs":[{"scope":{},"logRecords":[` + fields + `]}]}]}`
	}
	for name, body := range map[string]string{
		"collector filelog": rec(`{"observedTimeUnixNano":"1700000000000000000","body":{"stringValue":"Failed password for root from 198.51.100.63 port 22 ssh2"},"attributes":[` + kv("log.file.name", `{"stringValue":"auth.log"}`) + `,` + kv("log.file.path", `{"stringValue":"/var/log/auth.log"}`) + `]}`),
		"authz":             `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"authz"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityText":"INFO","body":{"stringValue":"authz otlp"}}]}]}]}`,
		"snake case":        `{"resource_logs":[{"resource":{"attributes":[{"key":"k","value":{"string_value":"v"}}],"dropped_attributes_count":1},"scope_logs":[{"scope":{"name":"n","dropped_attributes_count":"2"},"schema_url":"u","log_records":[{"time_unix_nano":1700000000000000001,"observed_time_unix_nano":"5","severity_number":"SEVERITY_NUMBER_WARN3","severity_text":"w","trace_id":"0102030405060708090A0B0C0D0E0F10","span_id":"a1a2a3a4a5a6a7a8","dropped_attributes_count":0,"event_name":"e","body":{"kvlist_value":{"values":[` + kv("i", `{"int_value":-5}`) + `,` + kv("d", `{"double_value":"NaN"}`) + `,` + kv("b", `{"bool_value":true}`) + `,` + kv("y", `{"bytes_value":"AAEC/w=="}`) + `,` + kv("a", `{"array_value":{"values":[{"int_value":"7"},null,{}]}}`) + `,{"key":"s","value":{"string_value_strindex":3},"key_strindex":1}]}}}]}]}]}`,
		"numbers and enums": rec(`{"severityNumber":9,"timeUnixNano":"0"},{"severityNumber":"SEVERITY_NUMBER_FATAL4"},{"severityNumber":"SEVERITY_NUMBER_TRACE "},{"severityNumber":-7},{"flags":4294967295,"droppedAttributesCount":"4294967295"},` +
			`{"attributes":[` + kv("i1", `{"intValue":9223372036854775807}`) + `,` + kv("i2", `{"intValue":"-9223372036854775808"}`) + `,` + kv("i3", `{"intValue":"+12"}`) + `,` + kv("i4", `{"intValue":-0}`) + `,` +
			kv("d1", `{"doubleValue":1}`) + `,` + kv("d2", `{"doubleValue":-0.0}`) + `,` + kv("d3", `{"doubleValue":1.5e300}`) + `,` + kv("d4", `{"doubleValue":"Infinity"}`) + `,` + kv("d5", `{"doubleValue":"-inf"}`) + `,` + kv("d6", `{"doubleValue":"0x1p-2"}`) + `,` + kv("d7", `{"doubleValue":0.1234567890123456789}`) + `,` + kv("d8", `{"doubleValue":123456789012345678901234567890}`) + `,` + kv("d9", `{"doubleValue":4.9e-324}`) + `,` + kv("d10", `{"doubleValue":1E-7}`) + `]}`),
		"nulls": rec(`null,{"body":null,"attributes":null,"traceId":"","spanId":"","severityText":null,"timeUnixNano":"1"},{"attributes":[null,{"key":null,"value":null},{"key":"k","value":{"stringValue":null}},{"key":"a","value":{"arrayValue":null}},{"key":"m","value":{"kvlistValue":null}},{"key":"m2","value":{"kvlistValue":{"values":null}}}]}`) +
			"",
		"unknown fields skipped":        `{"x":{"a":[1,2,{"b":null}],"c":"\u00e9"},"resourceLogs":[{"y":[true,false],"resource":{"z":1.5e3,"attributes":[{"key":"k","value":{"stringValue":"v","w":{}},"q":"r"}],"entityRefs":[{"type":"host","idKeys":["host.id",null],"descriptionKeys":[],"schemaUrl":"u","extra":1}]},"scopeLogs":[{"scope":{"name":"n","attributes":[{"key":"sk","value":{"intValue":"1"}}],"v":null},"logRecords":[{"body":{"stringValue":"b","other":[]},"unknown":{"deep":[[[[]]]]}}]}]}],"zz":"end"}`,
		"repeated members":              `{"resourceLogs":[{"resource":{"attributes":[` + kv("r1", `{"stringValue":"a"}`) + `]},"resource":{"attributes":[` + kv("r2", `{"stringValue":"b"}`) + `]},"scopeLogs":[{"scope":{"name":"first"},"scope":{"version":"v"},"logRecords":[{"body":{"stringValue":"first"},"body":{"intValue":"3"},"attributes":[` + kv("a", `{"stringValue":"1"}`) + `],"attributes":[` + kv("b", `{"stringValue":"2"}`) + `],"severityText":"one","severityText":"two","traceId":"0102030405060708090a0b0c0d0e0f10","traceId":""}]},{"logRecords":[{"body":{"kvlistValue":{"values":[` + kv("x", `{"stringValue":"1"}`) + `]},"kvlistValue":{"values":[` + kv("y", `{"stringValue":"2"}`) + `]}}},{"attributes":[{"key":"k","value":{"stringValue":"s"},"value":{},"key":"k2"}]}]}]}],"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"second resourceLogs member"}}]}]}]}`,
		"escapes":                       rec(`{"body":{"stringValue":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 lone \ud800 x \udc00\ud800\ud800\udc00 \ud800\n end"},"attributes":[` + kv(`k\u00e9y\ud800`, `{"stringValue":"v"}`) + `,` + kv(`k\u00c3\u00a9y`, `{"stringValue":"v2"}`) + `,` + kv(`\u0000`, `{"stringValue":"nul"}`) + `]}`),
		"deprecated scope logs ignored": `{"resourceLogs":[{"deprecatedScopeLogs":[{"logRecords":[{"body":{"stringValue":"dropped"}}]}],"resource":{}}]}`,
		"null request":                  `null`,
		"empty request":                 ` {} `,
		"bytes":                         rec(`{"attributes":[` + kv("b1", `{"bytesValue":""}`) + `,` + kv("b2", `{"bytesValue":"aGk="}`) + `]}`),
	} {
		corpus[name+".json"] = []byte(body)
	}
	return corpus
}

// TestOTLPDecoderEquivalence decodes the corpus with the direct decoder
// and with the pdata path it replaced and compares the events.
func TestOTLPDecoderEquivalence(t *testing.T) {
	for name, body := range otlpCorpus(t) {
		t.Run(name, func(t *testing.T) {
			ct := ctJSON
			if strings.HasSuffix(name, ".pb") {
				ct = ctProtobuf
			}
			want, err := oldEvents(body, ct)
			if err != nil {
				t.Fatalf("pdata decoder: %v", err)
			}
			got, err := newEvents(body, ct, otlpMaxEvents(DefaultMaxBodySize))
			if err != nil {
				t.Fatalf("got error %v, want %d events", err, len(want))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events differ from pdata's (-pdata +direct):\n%s", diff)
			}
			for _, ev := range got {
				if !json.Valid([]byte(ev)) {
					t.Errorf("event %q is not valid JSON", ev)
				}
			}
		})
	}
}

// strictWalk is the depth walker of the pdata path extended to the
// messages it skipped (deprecated_scope_logs, entity_refs) and to
// protobuf's range of field numbers: where pdata accepts a body that the
// direct decoder refuses, this must refuse it too.
func strictWalk(b []byte, kind pdataPBKind, depth int) error {
	if depth > maxProtoDepth {
		return errProtoTooDeep
	}
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("malformed field tag")
		}
		if f := tag >> 3; f == 0 || f > math.MaxInt32 {
			return fmt.Errorf("invalid field number %d", f)
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
		case 1, 5:
			size := 8
			if wire == 5 {
				size = 4
			}
			if len(b) < size {
				return errors.New("truncated fixed field")
			}
			b = b[size:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errors.New("malformed length")
			}
			sub := b[n : n+int(l)]
			b = b[n+int(l):]
			child, ok := pdataPBChildren[[2]int{int(kind), field}]
			switch {
			case kind == pdataPBResourceLogs && field == 1000:
				child, ok = pdataPBScopeLogs, true
			case kind == pdataPBResource && field == 3:
				child, ok = pbEntityRef, true
			}
			if ok {
				if err := strictWalk(sub, child, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unsupported wire type %d", wire)
		}
	}
	return nil
}

// pbEntityRef is the kind of Resource.entity_refs for strictWalk.
const pbEntityRef pdataPBKind = 100

// fuzzLimit bounds the events of one fuzz input.
const fuzzLimit = 1 << 20

// fuzzSeeds returns the corpus bodies of one encoding, with the large
// generated ones split into one request per record: the fuzzer minimizes
// every input that finds new coverage, which takes long on large ones.
func fuzzSeeds(f *testing.F, suffix string) [][]byte {
	var seeds [][]byte
	for name, body := range otlpCorpus(f) {
		if strings.HasSuffix(name, suffix) && len(body) <= 4096 {
			seeds = append(seeds, body)
		}
	}
	ld := allKindsLogs()
	rl := ld.ResourceLogs().At(0)
	lrs := rl.ScopeLogs().At(0).LogRecords()
	for i := range lrs.Len() {
		one := plog.NewLogs()
		orl := one.ResourceLogs().AppendEmpty()
		rl.Resource().CopyTo(orl.Resource())
		osl := orl.ScopeLogs().AppendEmpty()
		rl.ScopeLogs().At(0).Scope().CopyTo(osl.Scope())
		lrs.At(i).CopyTo(osl.LogRecords().AppendEmpty())
		req := plogotlp.NewExportRequestFromLogs(one)
		var b []byte
		var err error
		if suffix == ".pb" {
			b, err = req.MarshalProto()
		} else {
			b, err = req.MarshalJSON()
		}
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

func FuzzOTLPProto(f *testing.F) {
	for _, b := range fuzzSeeds(f, ".pb") {
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		// A small body can expand quadratically (each record repeats its
		// resource): past fuzzLimit the direct decoder stops, and the
		// pdata path, which does not, is not run.
		got, err := newEvents(in, ctProtobuf, fuzzLimit)
		if errors.Is(err, errTooLarge) {
			return
		}
		for _, ev := range got {
			if !json.Valid([]byte(ev)) {
				t.Fatalf("event %q is not valid JSON", ev)
			}
		}
		if err == nil {
			if werr := strictWalk(in, pdataPBRequest, 0); werr != nil {
				t.Fatalf("accepted a body the bounds refuse: %v", werr)
			}
		}
		want, oldErr := oldEvents(in, ctProtobuf)
		switch {
		case err == nil && oldErr == nil:
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("events differ from pdata's (-pdata +direct):\n%s", diff)
			}
		case err == nil:
			t.Fatalf("accepted a body pdata refuses: %v", oldErr)
		case oldErr == nil && strictWalk(in, pdataPBRequest, 0) == nil:
			t.Fatalf("refused a body pdata accepts: %v", err)
		}
	})
}

// hasEmptyName reports whether a JSON document has a member named "":
// pdata's JSON decoder (json-iterator) takes one for the end of its
// object and ignores the rest of it, where the direct decoder skips the
// member like any unknown one.
func hasEmptyName(in []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(in))
	type frame struct{ object, wantKey bool }
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object {
			if stack[top].wantKey {
				if tok == json.Delim('}') {
					stack = stack[:top]
					continue
				}
				if tok == "" {
					return true
				}
				stack[top].wantKey = false
				continue
			}
			stack[top].wantKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim(']'):
			stack = stack[:top]
		}
	}
}

func FuzzOTLPJSON(f *testing.F) {
	for _, b := range fuzzSeeds(f, ".json") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// A small body can expand quadratically (each record repeats its
		// resource): past fuzzLimit the direct decoder stops, and the
		// pdata path, which does not, is not run.
		got, err := newEvents(in, ctJSON, fuzzLimit)
		if errors.Is(err, errTooLarge) {
			return
		}
		for _, ev := range got {
			if !json.Valid([]byte(ev)) {
				t.Fatalf("event %q is not valid JSON", ev)
			}
		}
		if err == nil {
			if !json.Valid(in) {
				t.Fatal("accepted invalid JSON")
			}
			if berr := boundedJSON(in); berr != nil {
				t.Fatalf("accepted a body the bounds refuse: %v", berr)
			}
		}
		if hasEmptyName(in) {
			return
		}
		want, oldErr := oldEvents(in, ctJSON)
		switch {
		case err == nil && oldErr == nil:
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("events differ from pdata's (-pdata +direct):\n%s", diff)
			}
		case err == nil:
			// The direct decoder takes SEVERITY_NUMBER_TRACE (pdata's
			// table misspells it), base64 in the URL alphabet or
			// without padding (as the protobuf JSON mapping allows),
			// and numbers past float64's range in unknown fields, which
			// json-iterator refuses even as it skips them.
			msg := oldErr.Error()
			if !bytes.Contains(in, []byte("SEVERITY_NUMBER_TRACE")) && !strings.Contains(msg, "base64") &&
				!strings.Contains(msg, "readNumberAsString") && !strings.Contains(msg, "value out of range") {
				t.Fatalf("accepted a body pdata refuses: %v", oldErr)
			}
		case oldErr == nil && json.Valid(in) && !errors.Is(err, strconv.ErrRange):
			// json-iterator wraps some integers past their field's
			// range instead of refusing them; the direct decoder
			// refuses them.
			t.Fatalf("refused valid JSON pdata accepts: %v", err)
		}
	})
}

// TestOTLPBounds hits each bound of the decoder and of the events it
// writes, at the limit and one past it.
func TestOTLPBounds(t *testing.T) {
	t.Run("protobuf depth", func(t *testing.T) {
		// An AnyValue nesting n arrays, and a record attribute holding it.
		value := func(n int) []byte {
			v := pbStr(1, "leaf")
			for range n {
				v = pbMsg(5, pbMsg(1, v))
			}
			return v
		}
		nested := func(n int) []byte { return pbRecords(nil, pbKV(6, "a", value(n))) }
		// The deepest the old walker accepted.
		n := 0
		for pdataCheckProtoDepth(nested(n+1)) == nil {
			n++
		}
		if _, err := newEvents(nested(n), ctProtobuf, math.MaxInt); err != nil {
			t.Errorf("%d nested arrays: got %v, want them accepted", n, err)
		}
		_, err := newEvents(nested(n+1), ctProtobuf, math.MaxInt)
		if !errors.Is(err, errProtoTooDeep) {
			t.Errorf("%d nested arrays: got %v, want %v", n+1, err, errProtoTooDeep)
		}
		// deprecated_scope_logs, which the old walker did not look into
		// (pdata's decoder, which recurses, then took any depth).
		deep := pbMsg(1, pbMsg(1000, pbMsg(2, pbKV(6, "a", value(n+1)))))
		if _, err := newEvents(deep, ctProtobuf, math.MaxInt); !errors.Is(err, errProtoTooDeep) {
			t.Errorf("deprecated scope logs: got %v, want %v", err, errProtoTooDeep)
		}
		if _, err := oldEvents(deep, ctProtobuf); err != nil {
			t.Errorf("deprecated scope logs: pdata path got %v, want it accepted", err)
		}
	})
	t.Run("json depth", func(t *testing.T) {
		// The request object is level 1: an unknown member holding k
		// nested arrays reaches level k+1.
		nested := func(k int) []byte {
			return []byte(`{"x":` + strings.Repeat("[", k) + strings.Repeat("]", k) + `}`)
		}
		if _, err := newEvents(nested(MaxDepth-1), ctJSON, math.MaxInt); err != nil {
			t.Errorf("depth %d: got %v, want it accepted", MaxDepth, err)
		}
		if _, err := newEvents(nested(MaxDepth), ctJSON, math.MaxInt); !errors.Is(err, errTooDeep) {
			t.Errorf("depth %d: got %v, want %v", MaxDepth+1, err, errTooDeep)
		}
	})
	t.Run("flattened depth", func(t *testing.T) {
		// Maps nested maxFlatDepth deep are flattened; one more level is
		// written as JSON text.
		nested := func(n int) []byte {
			v := pbStr(1, "leaf")
			for i := n; i > 0; i-- {
				v = pbMsg(6, pbKV(1, fmt.Sprint(i), v))
			}
			return pbRecords(nil, pbKV(6, "m", v))
		}
		for _, tt := range []struct {
			levels int
			want   string
		}{
			{maxFlatDepth, `{"otel.scope.name":"s","m.1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16":"leaf"}`},
			{maxFlatDepth + 1, `{"otel.scope.name":"s","m.1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16":"{\"17\":\"leaf\"}"}`},
		} {
			got, err := newEvents(nested(tt.levels), ctProtobuf, math.MaxInt)
			if err != nil || len(got) != 1 || got[0] != tt.want {
				t.Errorf("%d levels: got %q, %v, want %s", tt.levels, got, err, tt.want)
			}
		}
	})
	t.Run("body length", func(t *testing.T) {
		// Spans address the body with 31 bits.
		if err := spannable(extraBit - 1); err != nil {
			t.Errorf("%d bytes: got %v, want it decodable", extraBit-1, err)
		}
		if err := spannable(extraBit); err == nil {
			t.Errorf("%d bytes: got no error, want one", extraBit)
		}
	})
	t.Run("records per request", func(t *testing.T) {
		// A limit that three empty records ({} and the overhead each) fit.
		limit := 3 * (otlpEventOverhead + 2)
		for _, tt := range []struct {
			ct   string
			body func(n int) []byte
		}{
			{ctProtobuf, func(n int) []byte { return pbMsg(1, pbMsg(2, bytes.Repeat(pbMsg(2), n))) }},
			{ctJSON, func(n int) []byte {
				return []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}` + strings.Repeat(`,{}`, n-1) + `]}]}]}`)
			}},
		} {
			if got, err := newEvents(tt.body(3), tt.ct, limit); err != nil || len(got) != 3 {
				t.Errorf("%s, 3 records: got %d events, %v, want 3", tt.ct, len(got), err)
			}
			_, err := newEvents(tt.body(4), tt.ct, limit)
			if !errors.Is(err, errTooLarge) || !strings.Contains(err.Error(), "more than 3 log records") {
				t.Errorf("%s, 4 records: got %v, want more than 3 log records", tt.ct, err)
			}
		}
	})
	t.Run("events per request", func(t *testing.T) {
		body := pbRecords(pbKV(1, "host.name", pbStr(1, "web01")), pbMsg(5, pbStr(1, "a")), pbMsg(5, pbStr(1, "b")))
		d, err := decodeOTLP(body, ctProtobuf, math.MaxInt)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := d.messages(ingest.Raw{}, math.MaxInt)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, m := range msgs {
			total += len(m.Data) + otlpEventOverhead
		}
		if _, err := d.messages(ingest.Raw{}, total); err != nil {
			t.Errorf("limit %d, the events' size: got %v, want them written", total, err)
		}
		if _, err := d.messages(ingest.Raw{}, total-1); !errors.Is(err, errTooLarge) {
			t.Errorf("limit %d: got %v, want %v", total-1, err, errTooLarge)
		}
	})
}

// TestOTLPExpansionRefused sends bodies that expand past the bound on the
// events of one request.
func TestOTLPExpansionRefused(t *testing.T) {
	maxRecords := otlpMaxEvents(DefaultMaxBodySize) / (otlpEventOverhead + 2)
	for _, tt := range []struct {
		name string
		body []byte
	}{
		// A resource attribute of 256 KiB repeated in 300 records: 75 MiB
		// of events from a 256 KiB request.
		{"resource repeated", pbMsg(1, pbMsg(1, pbKV(1, "big", pbStr(1, strings.Repeat("x", 256<<10)))), pbMsg(2, bytes.Repeat(pbMsg(2), 300)))},
		// Empty records, two bytes each: refused while decoding.
		{"empty records", pbMsg(1, pbMsg(2, bytes.Repeat(pbMsg(2), maxRecords+1)))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := &ingesttest.Sink{}
			srv, stats := newTestServer(t, Config{}, sink)
			status, _, got := post(t, srv, "POST", "/v1/logs", tt.body, map[string]string{"Authorization": "Bearer good", "Content-Type": ctProtobuf})
			if status != 413 || !bytes.Contains(got, []byte("send fewer")) {
				t.Errorf("got status %d (%q), want 413 asking for fewer records", status, got)
			}
			if n := len(sink.Messages()); n != 0 {
				t.Errorf("got %d messages stored, want none", n)
			}
			if got := stats.RejectedCount(InputOTLP, "too_large"); got != 1 {
				t.Errorf("got %d too_large rejections, want 1", got)
			}
		})
	}
}

// TestOTLPDifferences pins where the direct decoder deliberately differs
// from the pdata path it replaced.
func TestOTLPDifferences(t *testing.T) {
	rec := func(fields string) string {
		return `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{` + fields + `}]}]}]}`
	}
	tests := []struct {
		name, ct, body string
		oldOK, newOK   bool
		why            string
	}{
		{"json member named empty", ctJSON, `{"":1,` + rec(`"body":{"stringValue":"x"}`)[1:], true, true,
			`json-iterator ends the object at a member named "" (dropping the records after it); it is skipped like any unknown member`},
		{"severity TRACE", ctJSON, rec(`"severityNumber":"SEVERITY_NUMBER_TRACE"`), false, true, `pdata's table spells it "SEVERITY_NUMBER_TRACE "`},
		{"base64 url unpadded", ctJSON, rec(`"attributes":[{"key":"b","value":{"bytesValue":"-_8"}}]`), false, true, "the protobuf JSON mapping allows both alphabets, padded or not"},
		{"timestamp past uint64", ctJSON, rec(`"timeUnixNano":91700000000000000001`), true, false, "json-iterator wraps it"},
		{"huge number in unknown member", ctJSON, rec(`"x":1e999`), false, true, "json-iterator refuses it even while skipping it"},
		{"NUL after the request", ctJSON, "{}\x00", false, false, "not JSON"},
		{"protobuf field number past int32", ctProtobuf, string(pbRecords(nil, append(binary.AppendUvarint(nil, (1<<32|5)<<3|2), 0))), true, false,
			"pdata truncates field numbers to int32 (this one becomes the body) and its depth walker did not"},
		{"protobuf group in entity_refs", ctProtobuf, string(pbMsg(1, pbMsg(1, pbMsg(3, pbTag(9, 3), pbTag(9, 4), pbStr(2, "t"))))), true, false,
			"groups were refused everywhere the old walker looked, which was not there"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, oldErr := oldEvents([]byte(tt.body), tt.ct)
			got, err := newEvents([]byte(tt.body), tt.ct, math.MaxInt)
			if (oldErr == nil) != tt.oldOK || (err == nil) != tt.newOK {
				t.Fatalf("got pdata %v, direct %v; want pdata ok=%v, direct ok=%v (%s)", oldErr, err, tt.oldOK, tt.newOK, tt.why)
			}
			if tt.oldOK && tt.newOK && cmp.Equal(want, got) {
				t.Errorf("got the same events %q from both, want them to differ (%s)", got, tt.why)
			}
		})
	}
}

// BenchmarkOTLPDecode turns the 100 records of BenchmarkOTLP's request into
// messages, without the handler around it, with the pdata path the direct
// decoder replaced and with the direct decoder.
func BenchmarkOTLPDecode(b *testing.B) {
	req := plogotlp.NewExportRequestFromLogs(benchLogs(100))
	pb, err := req.MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	js, err := req.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	for _, enc := range []struct {
		name, ct string
		body     []byte
	}{{"protobuf", ctProtobuf, pb}, {"json", ctJSON, js}} {
		b.Run("pdata/"+enc.name, func(b *testing.B) {
			b.SetBytes(int64(len(enc.body)))
			b.ReportAllocs()
			for b.Loop() {
				req, err := pdataDecode(enc.body, enc.ct)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(pdataMessages(req.Logs(), ingest.Raw{})); n != 100 {
					b.Fatalf("got %d messages, want 100", n)
				}
			}
		})
		b.Run("direct/"+enc.name, func(b *testing.B) {
			b.SetBytes(int64(len(enc.body)))
			b.ReportAllocs()
			for b.Loop() {
				d, err := decodeOTLP(enc.body, enc.ct, math.MaxInt)
				if err != nil {
					b.Fatal(err)
				}
				msgs, err := d.messages(ingest.Raw{}, math.MaxInt)
				d.release()
				if err != nil || len(msgs) != 100 {
					b.Fatalf("got %d messages, %v, want 100", len(msgs), err)
				}
			}
		})
	}
}
